#include "formats/subpool.h"

#include "core/error.h"
#include "core/fs.h"

namespace trawl::formats {

namespace h5 = io::h5;

void put_round_meta(h5::File& f, const RoundMeta& m) {
  f.set_attr("method", m.method);
  f.set_attr("backend", m.backend);
  f.set_attr("pool", m.pool);
  f.set_attr("labels", m.labels);
  f.set_attr_u64("round", m.round);
  f.set_attr_u64("seed", m.seed);
  f.set_attr_u64("subpool-size", m.M);
  f.set_attr("neighbours", m.K);
  f.set_attr("anchors-per-class", m.A);
  f.set_attr("ef", m.ef);
  f.set_attr("dim", m.dim);
  f.set_attr("encoder", m.encoder);
  f.set_attr("encoder-params", m.params);
  f.set_attr("config", m.config);
}

RoundMeta get_round_meta(const h5::File& f) {
  RoundMeta m;
  m.method = f.attr_str("method");
  m.backend = f.attr_str("backend");
  m.pool = f.attr_str("pool");
  m.labels = f.attr_str("labels");
  m.round = f.attr_u64("round");
  m.seed = f.attr_u64("seed");
  m.M = f.attr_u64("subpool-size");
  m.K = int(f.attr_i64("neighbours"));
  m.A = int(f.attr_i64("anchors-per-class"));
  m.ef = int(f.attr_i64("ef"));
  m.dim = int(f.attr_i64("dim"));
  m.encoder = f.attr_str("encoder");
  m.params = f.attr_str("encoder-params");
  m.config = f.attr_str("config");
  if (m.dim < 1) throw InputError(cat(f.path(), ": attribute 'dim' = ", m.dim, " (expected >= 1)"));
  return m;
}

SubpoolReader::SubpoolReader(const std::string& path) {
  f_ = h5::File::open(path);
  h5::check_format(f_, kSubpoolFormat, kSubpoolVersion);
  info_.meta = get_round_meta(f_);
  info_.candidates = f_.attr_u64("candidates");
  info_.anchors = f_.attr_u64("anchors");
  info_.labelled = f_.attr_u64("labelled");
  info_.all_unlabelled = f_.has_attr("all-unlabelled") && f_.attr_i64("all-unlabelled") == 1;
  auto du = h5::Dataset::open(f_, "uid");
  du.expect(h5::Type::kU64, 1);
  info_.rows = f_.has_attr("rows") ? f_.attr_u64("rows") : du.rows();
  du.expect_rows(info_.rows, "attribute 'rows'");
  score_ = h5::Dataset::open(f_, "score");
  score_.expect(h5::Type::kF64, 1);
  score_.expect_rows(info_.rows, "one score per uid");
  count_ = h5::Dataset::open(f_, "anchor_count");
  count_.expect(h5::Type::kI32, 1);
  count_.expect_rows(info_.rows, "one anchor count per uid");
  emb_ = h5::Dataset::open(f_, "embedding");
  emb_.expect(h5::Type::kF32, 2, uint64_t(info_.meta.dim));
  emb_.expect_rows(info_.rows, "one embedding per uid");
  uid_ = du.read_all<uint64_t>();
}

std::vector<double> SubpoolReader::scores() const { return score_.read_all<double>(); }
std::vector<int32_t> SubpoolReader::anchor_counts() const { return count_.read_all<int32_t>(); }

void SubpoolReader::read_embedding(uint64_t row, uint64_t n, float* out) const {
  if (row + n > info_.rows)
    throw UsageError(cat(path(), ": embedding rows [", row, ", ", row + n, ") beyond its ", info_.rows, " rows"));
  if (n) emb_.read(row, n, out);
}

void write_subpool(const std::string& path, const SubpoolInfo& s, const std::vector<uint64_t>& uid,
                   const std::vector<double>& score, const std::vector<int32_t>& anchor_count,
                   const std::vector<float>& embedding) {
  const uint64_t n = s.rows;
  TRAWL_ASSERT_MSG(uid.size() == n && score.size() == n && anchor_count.size() == n &&
                       embedding.size() == n * uint64_t(s.meta.dim),
                   "write_subpool: ", n, " rows but ", uid.size(), " uids, ", score.size(), " scores, ",
                   anchor_count.size(), " counts, ", embedding.size(), " floats");
  AtomicOutput out(path);
  {
    auto f = h5::File::create(out.temp_path());
    h5::set_format(f, kSubpoolFormat, kSubpoolVersion);
    put_round_meta(f, s.meta);
    f.set_attr_u64("candidates", s.candidates);
    f.set_attr_u64("anchors", s.anchors);
    f.set_attr_u64("labelled", s.labelled);
    f.set_attr("all-unlabelled", s.all_unlabelled ? 1 : 0);
    f.set_attr_u64("rows", n);
    uint64_t chunk = std::max<uint64_t>(1, std::min<uint64_t>(n, 4096));
    auto du = h5::Dataset::create(f, "uid", h5::Type::kU64, chunk);
    auto ds = h5::Dataset::create(f, "score", h5::Type::kF64, chunk);
    auto dc = h5::Dataset::create(f, "anchor_count", h5::Type::kI32, chunk);
    auto de = h5::Dataset::create(f, "embedding", h5::Type::kF32, chunk, uint64_t(s.meta.dim));
    if (n) {
      du.append(uid);
      ds.append(score);
      dc.append(anchor_count);
      de.append(embedding);
    }
    f.close();
  }
  out.commit();
}

}  // namespace trawl::formats
