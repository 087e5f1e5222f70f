#include "formats/scores.h"

#include <cmath>

#include "core/error.h"
#include "core/fs.h"
#include "io/h5.h"

namespace trawl::formats {

namespace h5 = io::h5;

std::string scores_file_name(const std::string& shard_path) {
  std::string b = basename(shard_path);
  if (b.size() > 3 && b.compare(b.size() - 3, 3, ".h5") == 0) b.resize(b.size() - 3);
  return b + ".scores.h5";
}

std::string class_file_tag(const std::string& cls) {
  std::string t;
  for (char ch : cls) {
    bool ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || ch == '.' ||
              ch == '_' || ch == '-';
    t += ok ? ch : '_';
  }
  if (t.empty() || t[0] == '.') t = "_" + t;
  return t;
}

namespace {

std::string join_lines(const std::vector<std::string>& v) {
  std::string s;
  for (size_t i = 0; i < v.size(); ++i) s += (i ? "\n" : "") + v[i];
  return s;
}
std::vector<std::string> split_lines(const std::string& s) {
  std::vector<std::string> v;
  size_t a = 0;
  while (a <= s.size()) {
    size_t b = s.find('\n', a);
    if (b == std::string::npos) b = s.size();
    v.push_back(s.substr(a, b - a));
    a = b + 1;
  }
  return v;
}

std::string str_or(const h5::File& f, const char* name) { return f.has_attr(name) ? f.attr_str(name) : std::string(); }

bool is_float(h5::Type t) { return t == h5::Type::kF32 || t == h5::Type::kF64 || t == h5::Type::kF16; }

}  // namespace

struct ScoresReader::Impl {
  h5::File f;
  h5::Dataset uid, probs, feats;
  ScoresInfo info;
};

ScoresReader::ScoresReader(const std::string& path) : impl_(std::make_unique<Impl>()) {
  auto& m = *impl_;
  m.f = h5::File::open(path);
  ScoresInfo& s = m.info;
  s.format_version = h5::check_format(m.f, kScoresFormat, kScoresVersion);
  s.classes = split_lines(m.f.attr_str("classes"));
  if (s.classes.size() == 1 && s.classes[0].empty()) s.classes.clear();
  if (s.classes.empty()) throw InputError(cat(path, ": attribute 'classes' is empty"));
  for (auto& c : s.classes)
    if (c.empty()) throw InputError(cat(path, ": attribute 'classes' names an empty class"));
  s.trawl_version = str_or(m.f, "trawl-version");
  s.model = str_or(m.f, "model");
  s.model_checksum = str_or(m.f, "model-checksum");
  s.model_kind = str_or(m.f, "model-kind");
  s.model_input = str_or(m.f, "model-input");
  s.source_kind = str_or(m.f, "source-kind");
  s.shard = str_or(m.f, "shard");
  s.shard_identity = str_or(m.f, "shard-identity");
  s.encoder = str_or(m.f, "encoder");
  s.encoder_params = str_or(m.f, "encoder-params");
  s.config = str_or(m.f, "config");
  s.fingerprint = str_or(m.f, "fingerprint");
  s.dim = m.f.has_attr("dim") ? int(m.f.attr_i64("dim")) : 0;

  m.uid = h5::Dataset::open(m.f, "uid");
  m.uid.expect(h5::Type::kU64, 1);
  const uint64_t n = m.uid.rows();
  s.rows = m.f.has_attr("rows") ? m.f.attr_u64("rows") : n;
  s.shard_rows = m.f.has_attr("shard-rows") ? m.f.attr_u64("shard-rows") : s.rows;
  if (m.f.has_attr("shard-rows") && !m.f.has_attr("rows"))
    throw InputError(cat(path, ": has no attribute 'rows' (an unfinished scores file); score again"));
  if (s.rows != s.shard_rows)
    throw InputError(cat(path, ": holds ", s.rows, " rows but its source ", s.shard, " has ", s.shard_rows,
                         " (an incomplete scores file)"));
  m.uid.expect_rows(s.rows, "attribute 'rows'");

  m.probs = h5::Dataset::open(m.f, "probs");
  if (m.probs.rank() != 2 || !is_float(m.probs.type()))
    throw InputError(cat(path, ": dataset 'probs' is ", m.probs.type_desc(), " of rank ", m.probs.rank(),
                         ", expected f32 [rows, classes]"));
  if (m.probs.cols() != s.classes.size())
    throw InputError(cat(path, ": attribute 'classes' names ", s.classes.size(), " classes but 'probs' has ",
                         m.probs.cols(), " columns; expected one name per column"));
  m.probs.expect_rows(s.rows, "one row of probabilities per uid");

  const bool has_feats = m.f.exists("features");
  int64_t fd = m.f.has_attr("feature-dim") ? m.f.attr_i64("feature-dim") : -1;
  if (m.f.has_attr("feature-dim") && fd < 0)
    throw InputError(cat(path, ": attribute 'feature-dim' = ", fd, " is negative"));
  if (has_feats) {
    m.feats = h5::Dataset::open(m.f, "features");
    if (m.feats.rank() != 2 || !is_float(m.feats.type()))
      throw InputError(cat(path, ": dataset 'features' is ", m.feats.type_desc(), " of rank ", m.feats.rank(),
                           ", expected f32 [rows, features]"));
    m.feats.expect_rows(s.rows, "one row of features per uid");
    if (fd >= 0 && uint64_t(fd) != m.feats.cols())
      throw InputError(cat(path, ": attribute 'feature-dim' = ", fd, " but dataset 'features' has ", m.feats.cols(),
                           " columns"));
    s.feature_dim = int(m.feats.cols());
  } else if (fd > 0) {
    throw InputError(cat(path, ": attribute 'feature-dim' = ", fd, " but the file has no 'features' dataset"));
  }
}
ScoresReader::~ScoresReader() = default;
const ScoresInfo& ScoresReader::info() const { return impl_->info; }
const std::string& ScoresReader::path() const { return impl_->f.path(); }

void ScoresReader::read(uint64_t begin, uint64_t end, std::vector<uint64_t>& uid, std::vector<float>& probs,
                        std::vector<float>* features) const {
  auto& m = *impl_;
  const auto& path = m.f.path();
  if (begin > end || end > m.info.rows)
    throw UsageError(cat(path, ": rows [", begin, ", ", end, ") are out of range (", m.info.rows, " rows)"));
  const uint64_t n = end - begin;
  const size_t C = m.info.classes.size();
  uid.resize(n);
  probs.resize(n * C);
  if (features && m.info.feature_dim == 0)
    throw InputError(cat(path, ": no 'features' dataset; this needs the model's penultimate features: rerun "
                               "trawl-score with --features"));
  if (features) features->resize(n * size_t(m.info.feature_dim));
  if (n == 0) return;
  m.uid.read(begin, n, uid.data());
  m.probs.read(begin, n, probs.data());
  for (uint64_t i = 0; i < n; ++i)
    for (size_t k = 0; k < C; ++k) {
      float p = probs[i * C + k];
      if (!(p >= -1e-4f && p <= 1.0001f))
        throw InputError(cat(path, ": dataset 'probs', row ", begin + i, " (uid ", uid[i], "), class '",
                             m.info.classes[k], "': ", p, " is not a probability (expected a finite value in [0, 1])"));
    }
  if (features) {
    const size_t F = size_t(m.info.feature_dim);
    m.feats.read(begin, n, features->data());
    for (uint64_t i = 0; i < n; ++i)
      for (size_t j = 0; j < F; ++j)
        if (!std::isfinite((*features)[i * F + j]))
          throw InputError(cat(path, ": dataset 'features', row ", begin + i, " (uid ", uid[i], "), column ", j,
                               ": ", (*features)[i * F + j], " is not finite"));
  }
}

ScoresInfo read_scores_info(const std::string& path) { return ScoresReader(path).info(); }

struct ScoresWriter::Impl {
  explicit Impl(const std::string& p) : out(p) {}
  AtomicOutput out;
  h5::File f;
  h5::Dataset uid, probs, feats;
  uint64_t rows = 0, written = 0;
  size_t C = 0, F = 0;
};

ScoresWriter::ScoresWriter(const std::string& final_path, const ScoresInfo& s, uint64_t rows, uint64_t chunk_rows)
    : impl_(std::make_unique<Impl>(final_path)) {
  auto& m = *impl_;
  if (s.classes.empty()) throw UsageError(cat(final_path, ": a scores file needs at least one class"));
  if (s.feature_dim < 0) throw UsageError(cat(final_path, ": feature_dim ", s.feature_dim, " is negative"));
  m.rows = rows;
  m.C = s.classes.size();
  m.F = size_t(s.feature_dim);
  m.f = h5::File::create(m.out.temp_path());
  h5::set_format(m.f, kScoresFormat, kScoresVersion);
  m.f.set_attr("classes", join_lines(s.classes));
  m.f.set_attr("model", s.model);
  m.f.set_attr("model-checksum", s.model_checksum);
  m.f.set_attr("model-kind", s.model_kind);
  m.f.set_attr("model-input", s.model_input);
  m.f.set_attr("source-kind", s.source_kind);
  m.f.set_attr("shard", s.shard);
  m.f.set_attr("shard-identity", s.shard_identity);
  m.f.set_attr_u64("shard-rows", rows);
  m.f.set_attr("encoder", s.encoder);
  m.f.set_attr("encoder-params", s.encoder_params);
  m.f.set_attr("dim", s.dim);
  m.f.set_attr("feature-dim", s.feature_dim);
  m.f.set_attr("config", s.config);
  if (!s.fingerprint.empty()) m.f.set_attr("fingerprint", s.fingerprint);
  const uint64_t chunk = std::max<uint64_t>(1, std::min<uint64_t>(rows, chunk_rows));
  m.uid = h5::Dataset::create(m.f, "uid", h5::Type::kU64, chunk);
  m.probs = h5::Dataset::create(m.f, "probs", h5::Type::kF32, chunk, uint64_t(m.C));
  if (m.F > 0) {
    uint64_t fc = std::max<uint64_t>(1, std::min<uint64_t>(chunk, (uint64_t(1) << 20) / (4 * uint64_t(m.F))));
    m.feats = h5::Dataset::create(m.f, "features", h5::Type::kF32, fc, uint64_t(m.F));
  }
}
ScoresWriter::~ScoresWriter() = default;

void ScoresWriter::set_attr(const std::string& name, const std::string& value) { impl_->f.set_attr(name, value); }
void ScoresWriter::set_attr(const std::string& name, int64_t value) { impl_->f.set_attr(name, value); }

void ScoresWriter::write(uint64_t begin, uint64_t n, const uint64_t* uid, const float* probs, const float* features) {
  auto& m = *impl_;
  if (n == 0) return;
  if (begin + n > m.rows)
    throw UsageError(cat(m.out.final_path(), ": rows [", begin, ", ", begin + n, ") beyond its ", m.rows, " rows"));
  m.uid.write(begin, n, uid);
  m.probs.write(begin, n, probs);
  if (m.F > 0) {
    TRAWL_ASSERT_MSG(features != nullptr, "scores file ", m.out.final_path(), ": features missing for rows ", begin);
    m.feats.write(begin, n, features);
  }
  m.written += n;
}

void ScoresWriter::commit() {
  auto& m = *impl_;
  TRAWL_ASSERT_MSG(m.written == m.rows, "scores file ", m.out.final_path(), ": wrote ", m.written, " of ", m.rows,
                   " rows");
  m.f.set_attr_u64("rows", m.rows);
  m.f.close();
  m.out.commit();
}

}  // namespace trawl::formats
