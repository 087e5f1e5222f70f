#include "formats/round.h"

#include <algorithm>

#include "core/error.h"
#include "core/fs.h"

namespace trawl::formats {

namespace h5 = io::h5;

namespace {

template <class T>
void write_column(h5::File& f, const std::string& name, h5::Type t, const std::vector<T>& v) {
  auto d = h5::Dataset::create(f, name, t, std::max<uint64_t>(1, std::min<uint64_t>(v.size(), 65536)));
  if (!v.empty()) d.append(v);
}

template <class T>
std::vector<T> read_column(const h5::File& f, const std::string& name, h5::Type t) {
  auto d = h5::Dataset::open(f, name);
  d.expect(t, 1);
  return d.read_all<T>();
}

}  // namespace

void write_retrieve_part(const std::string& path, const RetrievePart& p) {
  TRAWL_ASSERT(p.uid.size() == p.anchor.size() && p.uid.size() == p.dist.size());
  TRAWL_ASSERT(p.sample_uid.size() == p.sample_priority.size());
  AtomicOutput out(path);
  {
    auto f = h5::File::create(out.temp_path());
    h5::set_format(f, kPartFormat, kPartVersion);
    put_round_meta(f, p.meta);
    f.set_attr("part", p.part);
    f.set_attr("parts", p.parts);
    f.set_attr("state", p.state);
    f.set_attr_u64("anchors", p.anchors);
    write_column(f, "query_uid", h5::Type::kU64, p.query_uid);
    write_column(f, "labelled_uid", h5::Type::kU64, p.labelled_uid);
    write_column(f, "uid", h5::Type::kU64, p.uid);
    write_column(f, "anchor", h5::Type::kU32, p.anchor);
    write_column(f, "dist", h5::Type::kF32, p.dist);
    write_column(f, "sample_priority", h5::Type::kU64, p.sample_priority);
    write_column(f, "sample_uid", h5::Type::kU64, p.sample_uid);
    f.close();
  }
  out.commit();
}

RetrievePart read_retrieve_part(const std::string& path) {
  auto f = h5::File::open(path);
  h5::check_format(f, kPartFormat, kPartVersion);
  RetrievePart p;
  p.meta = get_round_meta(f);
  p.part = int(f.attr_i64("part"));
  p.parts = int(f.attr_i64("parts"));
  p.state = f.attr_str("state");
  p.anchors = f.attr_u64("anchors");
  p.query_uid = read_column<uint64_t>(f, "query_uid", h5::Type::kU64);
  p.labelled_uid = read_column<uint64_t>(f, "labelled_uid", h5::Type::kU64);
  p.uid = read_column<uint64_t>(f, "uid", h5::Type::kU64);
  p.anchor = read_column<uint32_t>(f, "anchor", h5::Type::kU32);
  p.dist = read_column<float>(f, "dist", h5::Type::kF32);
  p.sample_priority = read_column<uint64_t>(f, "sample_priority", h5::Type::kU64);
  p.sample_uid = read_column<uint64_t>(f, "sample_uid", h5::Type::kU64);
  if (p.anchor.size() != p.uid.size() || p.dist.size() != p.uid.size())
    throw InputError(cat(path, ": the lists' columns differ in length (uid ", p.uid.size(), ", anchor ", p.anchor.size(),
                         ", dist ", p.dist.size(), ")"));
  if (p.sample_priority.size() != p.sample_uid.size())
    throw InputError(cat(path, ": sample_priority has ", p.sample_priority.size(), " rows, sample_uid ",
                         p.sample_uid.size()));
  return p;
}

SealsState read_seals_state(const std::string& path) {
  SealsState s;
  if (path.empty()) return s;
  auto f = h5::File::open(path);
  h5::check_format(f, kSealsFormat, kSealsVersion);
  s.searched = read_column<uint64_t>(f, "searched", h5::Type::kU64);
  s.pool = read_column<uint64_t>(f, "union", h5::Type::kU64);
  return s;
}

void write_seals_state(const std::string& path, const SealsState& s, const RoundMeta& m) {
  AtomicOutput out(path);
  {
    auto f = h5::File::create(out.temp_path());
    h5::set_format(f, kSealsFormat, kSealsVersion);
    put_round_meta(f, m);
    write_column(f, "searched", h5::Type::kU64, s.searched);
    write_column(f, "union", h5::Type::kU64, s.pool);
    f.close();
  }
  out.commit();
}

}  // namespace trawl::formats
