// The model file (format "model", version 1; docs/FORMATS.md "Model file") and inference from
// its weights with Eigen — no LibTorch here, so scoring needs no training code.
//
// Inference works on fixed blocks of rows, each computed by one thread (OpenMP over blocks,
// single-threaded Eigen inside), so a row's outputs do not depend on the thread count.
#include "train/model.h"

#include <omp.h>

#include <Eigen/Core>
#include <algorithm>
#include <cmath>
#include <cstring>
#include <cstdio>
#include <map>

#include <zlib.h>

#include "core/error.h"
#include "core/plugin.h"
#include "core/fs.h"
#include "core/log.h"
#include "io/h5.h"
#include "train/linear.h"

namespace trawl::train {

namespace h5 = io::h5;
using RowMat = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
using Vec = Eigen::Matrix<float, 1, Eigen::Dynamic>;

namespace {

constexpr size_t kBlockRows = 256;  // rows per inference block (one thread each)

std::string shape_str(const std::vector<uint64_t>& s) {
  std::string o = "[";
  for (size_t i = 0; i < s.size(); ++i) o += cat(i ? ", " : "", s[i]);
  return o + "]";
}

bool known_kind(const std::string& k) { return k == "logreg" || k == "mlp" || k == "embbag" || k == "torchscript"; }

std::string bytes_checksum(const std::string& b) {
  uLong c = crc32(0L, Z_NULL, 0);
  size_t off = 0;
  while (off < b.size()) {  // zlib takes uInt lengths
    const size_t n = std::min<size_t>(b.size() - off, size_t(1) << 30);
    c = crc32(c, reinterpret_cast<const Bytef*>(b.data() + off), uInt(n));
    off += n;
  }
  char buf[16];
  std::snprintf(buf, sizeof buf, "%08lx", static_cast<unsigned long>(c));
  return cat("crc32:", buf, "/size:", b.size());
}

// Strings carry no chunk checksums: the vocabulary gets one over its tokens, one per line.
std::string vocab_checksum(const std::vector<std::string>& v) {
  std::string all;
  for (auto& t : v) all += t + "\n";
  return bytes_checksum(all);
}

TorchScriptLoader& torchscript_loader() {
  static TorchScriptLoader l = nullptr;
  return l;
}

// A chunked, row-extendable dataset created without object timestamps (HDF5 records creation
// and modification times by default; without them the same model gives the same bytes).
h5::Dataset create_untimed(h5::File& f, const std::string& name, h5::Type type, uint64_t rows, uint64_t cols) {
  std::string where = cat(f.path(), ", dataset '", name, "'");
  h5::Id ft(h5::file_type(type));
  uint64_t elem = H5Tget_size(ft.get());
  uint64_t row_bytes = elem * std::max<uint64_t>(cols, 1);
  uint64_t chunk_rows = std::max<uint64_t>(1, std::min<uint64_t>(std::max<uint64_t>(rows, 1), (1u << 20) / row_bytes));
  int rank = cols ? 2 : 1;
  hsize_t dims[2] = {0, cols}, maxd[2] = {H5S_UNLIMITED, cols}, chunk[2] = {chunk_rows, cols};
  h5::Id space(H5Screate_simple(rank, dims, maxd));
  h5::Id dcpl(H5Pcreate(H5P_DATASET_CREATE));
  if (!space.valid() || !dcpl.valid()) throw IoError(cat(where, ": cannot create dataspace (", h5::error_stack(), ")"));
  if (H5Pset_chunk(dcpl.get(), rank, chunk) < 0 || H5Pset_obj_track_times(dcpl.get(), 0) < 0)
    throw IoError(cat(where, ": cannot set dataset properties (", h5::error_stack(), ")"));
  if (type != h5::Type::kStr) {
    H5Pset_fill_time(dcpl.get(), H5D_FILL_TIME_NEVER);
    if (H5Pset_fletcher32(dcpl.get()) < 0) throw IoError(cat(where, ": cannot add checksums (", h5::error_stack(), ")"));
  }
  h5::Id d(H5Dcreate2(f.id(), name.c_str(), ft.get(), space.get(), H5P_DEFAULT, dcpl.get(), H5P_DEFAULT));
  if (!d.valid()) throw IoError(cat(where, ": cannot create dataset (", h5::error_stack(), ")"));
  d.reset();
  return h5::Dataset::open(f, name);
}

void check_params(const ModelHeader& h, const std::vector<Param>& params, const std::string& what) {
  auto layout = param_layout(h, what);
  if (params.size() != layout.size())
    throw UsageError(cat(what, ": a ", h.kind, " model has ", layout.size(), " parameter tensors, got ", params.size()));
  for (size_t i = 0; i < layout.size(); ++i) {
    const auto& p = params[i];
    if (p.name != layout[i].name || p.shape != layout[i].shape)
      throw UsageError(cat(what, ": parameter ", i, " is '", p.name, "' ", shape_str(p.shape), ", expected '",
                           layout[i].name, "' ", shape_str(layout[i].shape)));
    uint64_t n = 1;
    for (auto s : p.shape) n *= s;
    if (p.values.size() != n)
      throw UsageError(cat(what, ": parameter '", p.name, "' holds ", p.values.size(), " values, its shape ",
                           shape_str(p.shape), " needs ", n));
  }
}

ModelHeader read_header(const h5::File& f) {
  ModelHeader h;
  h.format_version = h5::check_format(f, kModelFormat, kModelFormatVersion);
  h.trawl_version = f.attr_str("trawl-version");
  h.kind = f.attr_str("kind");
  h.input = f.attr_str("input");
  int64_t d = f.attr_i64("input-dim"), hid = f.attr_i64("hidden");
  const int64_t bk = h.format_version >= 2 ? f.attr_i64("buckets") : 0;
  if (bk < 0 || bk > d) throw InputError(cat(f.path(), ": attribute 'buckets' = ", bk, " is not in [0, input-dim ", d, "]"));
  h.buckets = int(bk);
  if (d <= 0 || d > (int64_t(1) << 31) - 1) throw InputError(cat(f.path(), ": attribute 'input-dim' = ", d, " is not a positive int"));
  if (hid < 0 || hid > (int64_t(1) << 31) - 1) throw InputError(cat(f.path(), ": attribute 'hidden' = ", hid, " is not a non-negative int"));
  h.input_dim = int(d);
  h.hidden = int(hid);
  h.encoder = f.attr_str("encoder");
  h.encoder_params = f.attr_str("encoder-params");
  h.config = f.attr_str("config");
  h.training_summary = f.attr_str("training-summary");
  h.seed = f.attr_u64("seed");
  h.round = f.attr_u64("round");
  h.fingerprint = f.attr_str("fingerprint");
  if (h.kind == "torchscript") {
    if (h.format_version < 3)
      throw InputError(cat(f.path(), ": kind 'torchscript' in a model file of format version ", h.format_version,
                           " (torchscript models are version 3)"));
    const int64_t ml = f.attr_i64("max-length");
    if (ml < 2 || ml > (int64_t(1) << 20))
      throw InputError(cat(f.path(), ": attribute 'max-length' = ", ml, " is not in [2, 2^20]"));
    h.max_length = int(ml);
    h.lowercase = f.attr_i64("lowercase") != 0;
  }
  auto cd = h5::Dataset::open(f, "classes");
  cd.expect(h5::Type::kStr, 1);
  cd.read_strings(0, cd.rows(), h.classes);
  if (h.classes.empty()) throw InputError(cat(f.path(), ": dataset 'classes' is empty (a model needs at least one class)"));
  int64_t nc = f.attr_i64("num-classes");
  if (nc != int64_t(h.classes.size()))
    throw InputError(cat(f.path(), ": attribute 'num-classes' = ", nc, " but dataset 'classes' has ", h.classes.size(),
                         " rows"));
  param_layout(h, f.path());  // validates kind, input and sizes
  return h;
}

// ---- inference ------------------------------------------------------------------------------

// out[i·C + c] = x_i · w_c for m rows, with 8 partial sums per dot product combined in a fixed
// order: lane l sums x[k] w[k] over k ≡ l (mod 8), in increasing k. Each dot product is one
// dependent chain of d/8 adds, so the kernel runs R rows × G classes of them side by side (x's
// 8 floats loaded once for the G classes, w's once for the R rows): one chain at a time was
// bound by the add latency, not by memory (0.48 s for 2M × 256 rows, 5 classes; see
// docs/BENCHMARKS.md, "Scoring"). Interleaving changes no dot product's own order. The AVX2
// clone does the same per-lane multiplies and adds 8 wide in one register (no FMA: "avx2" does
// not enable it, so every product and sum is rounded as in the SSE2 build) — bit-identical
// results, about half the instructions.
typedef float LogregV8 __attribute__((vector_size(32)));

template <int R, int G>
__attribute__((always_inline)) inline void logreg_tile(const float* __restrict x, const float* __restrict w, int d,
                                                       size_t C, float* __restrict out) {
  LogregV8 acc[R][G];
  #pragma GCC unroll 8
  for (int r = 0; r < R; ++r)
    #pragma GCC unroll 8
    for (int g = 0; g < G; ++g) acc[r][g] = LogregV8{};
  int k = 0;
  for (; k + 8 <= d; k += 8) {
    LogregV8 xv[R], wv[G];
    #pragma GCC unroll 8
    for (int r = 0; r < R; ++r) std::memcpy(&xv[r], x + size_t(r) * size_t(d) + size_t(k), sizeof(LogregV8));
    #pragma GCC unroll 8
    for (int g = 0; g < G; ++g) std::memcpy(&wv[g], w + size_t(g) * size_t(d) + size_t(k), sizeof(LogregV8));
    #pragma GCC unroll 8
    for (int r = 0; r < R; ++r)
      #pragma GCC unroll 8
      for (int g = 0; g < G; ++g) acc[r][g] += xv[r] * wv[g];
  }
  #pragma GCC unroll 8
  for (int r = 0; r < R; ++r)
    #pragma GCC unroll 8
    for (int g = 0; g < G; ++g) {
      float a[8];
      std::memcpy(a, &acc[r][g], sizeof a);
      for (int kk = k, l = 0; kk < d; ++kk, ++l)
        a[l] += x[size_t(r) * size_t(d) + size_t(kk)] * w[size_t(g) * size_t(d) + size_t(kk)];
      out[size_t(r) * C + size_t(g)] = ((a[0] + a[4]) + (a[1] + a[5])) + ((a[2] + a[6]) + (a[3] + a[7]));
    }
}

template <int R>
__attribute__((always_inline)) inline void logreg_row_group(const float* __restrict x, const float* __restrict w, int C,
                                                            int d, float* __restrict out) {
  int c = 0;
  for (; c + 4 <= C; c += 4) logreg_tile<R, 4>(x, w + size_t(c) * size_t(d), d, size_t(C), out + c);
  switch (C - c) {
    case 3: logreg_tile<R, 3>(x, w + size_t(c) * size_t(d), d, size_t(C), out + c); break;
    case 2: logreg_tile<R, 2>(x, w + size_t(c) * size_t(d), d, size_t(C), out + c); break;
    case 1: logreg_tile<R, 1>(x, w + size_t(c) * size_t(d), d, size_t(C), out + c); break;
    default: break;
  }
}

__attribute__((target_clones("avx2", "default")))
void logreg_rows(const float* __restrict x, size_t m, const float* __restrict w, int C, int d, float* __restrict out) {
  size_t i = 0;
  const size_t pair_bytes = 2 * size_t(d) * sizeof(float);
  for (; i + 2 <= m; i += 2) {
    // Rows i+4, i+5 requested now: the hardware prefetcher stops at each 4 KiB page boundary.
    if (i + 6 <= m) {
      const char* ahead = reinterpret_cast<const char*>(x + (i + 4) * size_t(d));
      for (size_t b = 0; b < pair_bytes; b += 64) __builtin_prefetch(ahead + b);
    }
    logreg_row_group<2>(x + i * size_t(d), w, C, d, out + i * size_t(C));
  }
  if (i < m) logreg_row_group<1>(x + i * size_t(d), w, C, d, out + i * size_t(C));
}

void softmax_rows(float* p, size_t n, int C) {
  for (size_t i = 0; i < n; ++i) {
    float* r = p + i * size_t(C);
    float m = r[0];
    for (int c = 1; c < C; ++c) m = std::max(m, r[c]);
    float s = 0;
    for (int c = 0; c < C; ++c) {
      r[c] = std::exp(r[c] - m);
      s += r[c];
    }
    float inv = 1.0f / s;
    for (int c = 0; c < C; ++c) r[c] *= inv;
  }
}

class EigenModel final : public Model {
 public:
  EigenModel(const ModelHeader& h, std::vector<Param> params, int threads) : h_(h), threads_(std::max(1, threads)) {
    check_params(h_, params, "model");
    auto mat = [](const Param& p) {
      RowMat m(long(p.shape[0]), long(p.shape[1]));
      std::memcpy(m.data(), p.values.data(), p.values.size() * sizeof(float));
      return m;
    };
    auto vec = [](const Param& p) {
      Vec v(long(p.shape[0]));
      std::memcpy(v.data(), p.values.data(), p.values.size() * sizeof(float));
      return v;
    };
    if (h_.kind == "logreg") {
      w_out_ = mat(params[0]);
      b_out_ = vec(params[1]);
      feat_ = h_.input_dim;
    } else if (h_.kind == "mlp") {
      w_hid_ = mat(params[0]);
      b_hid_ = vec(params[1]);
      w_out_ = mat(params[2]);
      b_out_ = vec(params[3]);
      feat_ = h_.hidden;
    } else {
      bag_ = mat(params[0]);
      w_out_ = mat(params[1]);
      b_out_ = vec(params[2]);
      feat_ = h_.hidden;
    }
  }
  const ModelHeader& header() const override { return h_; }
  int feature_dim() const override { return feat_; }
  // With intra-op threads (--threads > 1) predict() spreads over the cores itself: a second caller
  // would only oversubscribe them.
  bool concurrent_predict() const override { return threads_ == 1 && h_.kind == "logreg" && h_.input == "embedding"; }

  void predict(const float* X, size_t n, float* probs, float* features) const override {
    if (h_.input != "embedding")
      throw UsageError(cat("predict: this ", h_.kind, " model reads token ids (input '", h_.input,
                           "'); use predict_tokens"));
    const int d = h_.input_dim, C = num_classes();
    const long nblocks = long((n + kBlockRows - 1) / kBlockRows);
#pragma omp parallel for num_threads(threads_) schedule(static)
    for (long b = 0; b < nblocks; ++b) {
      size_t r0 = size_t(b) * kBlockRows, m = std::min(kBlockRows, n - r0);
      Eigen::Map<const RowMat> x(X + r0 * size_t(d), long(m), d);
      Eigen::Map<RowMat> out(probs + r0 * size_t(C), long(m), C);
      if (h_.kind == "logreg") {
        // Row by row, one 8-lane dot product per class: each row is read from memory once
        // (then from L1) and nothing is packed, so this runs near the read bandwidth where a
        // GEMM with C = 2 columns would not. Each row's sums have a fixed order.
        logreg_rows(x.data(), m, w_out_.data(), C, d, out.data());
        if (features) std::memcpy(features + r0 * size_t(d), x.data(), m * size_t(d) * sizeof(float));
      } else {
        // GEMMs always over a full block (a short last block is zero-padded): Eigen picks its
        // kernels and blocking by the matrix sizes, so with fixed sizes a row's result does not
        // depend on the other rows of the call.
        RowMat hid(long(kBlockRows), h_.hidden), o(long(kBlockRows), C);
        if (m == kBlockRows) {
          hid.noalias() = x * w_hid_.transpose();
        } else {
          RowMat xp = RowMat::Zero(long(kBlockRows), d);
          xp.topRows(long(m)) = x;
          hid.noalias() = xp * w_hid_.transpose();
        }
        hid.rowwise() += b_hid_;
        hid = hid.cwiseMax(0.0f);
        o.noalias() = hid * w_out_.transpose();
        out = o.topRows(long(m));
        if (features) std::memcpy(features + r0 * size_t(feat_), hid.data(), m * size_t(feat_) * sizeof(float));
      }
      out.rowwise() += b_out_;
      softmax_rows(out.data(), m, C);
    }
  }

  void predict_tokens(const uint64_t* offsets, const uint32_t* ids, size_t n, float* probs,
                      float* features) const override {
    if (h_.input != "tokens")
      throw UsageError(cat("predict_tokens: this ", h_.kind, " model reads embeddings (input '", h_.input,
                           "'); use predict"));
    for (size_t i = 0; i < n; ++i)
      if (offsets[i + 1] < offsets[i])
        throw InputError(cat("predict_tokens: token offsets decrease at row ", i, " (", offsets[i], " > ",
                             offsets[i + 1], ")"));
    const int C = num_classes(), H = h_.hidden;
    const uint64_t B = uint64_t(h_.input_dim);
    const long nblocks = long((n + kBlockRows - 1) / kBlockRows);
#pragma omp parallel for num_threads(threads_) schedule(static)
    for (long b = 0; b < nblocks; ++b) {
      size_t r0 = size_t(b) * kBlockRows, m = std::min(kBlockRows, n - r0);
      RowMat f = RowMat::Zero(long(kBlockRows), H);  // full block: see predict()
      for (size_t i = 0; i < m; ++i) {
        uint64_t s = offsets[r0 + i], e = offsets[r0 + i + 1];
        if (e == s) continue;  // an empty bag is the zero vector (as torch's EmbeddingBag)
        auto row = f.row(long(i));
        for (uint64_t k = s; k < e; ++k) row += bag_.row(long(ids[k] % B));
        row /= float(e - s);
      }
      Eigen::Map<RowMat> out(probs + r0 * size_t(C), long(m), C);
      RowMat o(long(kBlockRows), C);
      o.noalias() = f * w_out_.transpose();
      out = o.topRows(long(m));
      out.rowwise() += b_out_;
      softmax_rows(out.data(), m, C);
      if (features) std::memcpy(features + r0 * size_t(H), f.data(), m * size_t(H) * sizeof(float));
    }
  }

 private:
  ModelHeader h_;
  int threads_;
  int feat_ = 0;
  RowMat w_hid_, w_out_, bag_;
  Vec b_hid_, b_out_;
};

// Logistic regression over each row's sparse tf-idf of its hashed token ids (train/linear.h
// tfidf_rows, the featuriser training used), optionally followed by the row's embedding. The
// weights are kept transposed (F × C) so a row's score gathers C contiguous floats per nonzero.
class SparseLogreg final : public Model {
 public:
  SparseLogreg(const ModelHeader& h, std::vector<Param> params, int threads) : h_(h), threads_(std::max(1, threads)) {
    check_params(h_, params, "model");
    idf_ = std::move(params[0].values);
    const size_t C = h_.classes.size(), F = size_t(h_.input_dim);
    wt_.resize(F * C);
    for (size_t c = 0; c < C; ++c)
      for (size_t j = 0; j < F; ++j) wt_[j * C + c] = params[1].values[c * F + j];
    b_ = std::move(params[2].values);
  }
  const ModelHeader& header() const override { return h_; }
  int feature_dim() const override { return 0; }
  void predict(const float*, size_t, float*, float*) const override {
    throw UsageError(cat("predict: this logreg model reads token ids (input '", h_.input, "'); use predict_tokens"));
  }
  void predict_tokens(const uint64_t* offsets, const uint32_t* ids, size_t n, float* probs, float* features) const override {
    if (h_.input != "tokens")
      throw UsageError(cat("predict_tokens: this logreg model reads '", h_.input, "'; use predict_mixed"));
    if (features) throw UsageError("predict_tokens: a logreg model over tokens has no features");
    run(offsets, ids, nullptr, n, probs);
  }
  void predict_mixed(const uint64_t* offsets, const uint32_t* ids, const float* X, size_t n, float* probs) const override {
    if (h_.input != "tokens+embedding")
      throw UsageError(cat("predict_mixed: this logreg model reads '", h_.input, "' only"));
    run(offsets, ids, X, n, probs);
  }

 private:
  void run(const uint64_t* offsets, const uint32_t* ids, const float* X, size_t n, float* probs) const {
    for (size_t i = 0; i < n; ++i)
      if (offsets[i + 1] < offsets[i])
        throw InputError(cat("predict_tokens: token offsets decrease at row ", i, " (", offsets[i], " > ", offsets[i + 1], ")"));
    const int C = int(h_.classes.size());
    const uint32_t B = uint32_t(h_.buckets);
    const int d = h_.input_dim - h_.buckets;
    const long nblocks = long((n + kBlockRows - 1) / kBlockRows);
#pragma omp parallel for num_threads(threads_) schedule(static)
    for (long b = 0; b < nblocks; ++b) {
      const size_t r0 = size_t(b) * kBlockRows, m = std::min(kBlockRows, n - r0);
      std::vector<uint64_t> off(m + 1);
      for (size_t i = 0; i <= m; ++i) off[i] = offsets[r0 + i] - offsets[r0];
      linear::Csr x;
      linear::tfidf_rows(off.data(), ids + offsets[r0], m, B, idf_.data(), &x);
      for (size_t i = 0; i < m; ++i) {
        float* z = probs + (r0 + i) * size_t(C);
        for (int c = 0; c < C; ++c) z[c] = b_[size_t(c)];
        for (uint64_t k = x.offsets[i]; k < x.offsets[i + 1]; ++k) {
          const float v = x.value[k];
          const float* w = wt_.data() + size_t(x.index[k]) * size_t(C);
          for (int c = 0; c < C; ++c) z[c] += v * w[c];
        }
        if (X) {
          const float* e = X + (r0 + i) * size_t(d);
          for (int j = 0; j < d; ++j) {
            const float* w = wt_.data() + (size_t(B) + size_t(j)) * size_t(C);
            for (int c = 0; c < C; ++c) z[c] += e[j] * w[c];
          }
        }
      }
      softmax_rows(probs + r0 * size_t(C), m, C);
    }
  }

  ModelHeader h_;
  int threads_;
  std::vector<float> idf_, wt_, b_;
};

}  // namespace

// ---- layout, writing, reading -----------------------------------------------------------------

std::vector<Param> param_layout(const ModelHeader& h, const std::string& what) {
  if (!known_kind(h.kind))
    throw InputError(cat(what, ": unknown model kind '", h.kind, "' (expected logreg, mlp, embbag or torchscript)"));
  if (h.kind == "torchscript" || h.input == "text") {
    if (h.kind != "torchscript" || h.input != "text")
      throw InputError(cat(what, ": a ", h.kind, " model cannot read input '", h.input,
                           "' (only torchscript models read 'text', and they read nothing else)"));
    if (h.classes.empty()) throw InputError(cat(what, ": the model has no classes"));
    if (h.input_dim <= 0) throw InputError(cat(what, ": vocabulary size (input dim) ", h.input_dim, " is not positive"));
    if (h.hidden != 0 || h.buckets != 0)
      throw InputError(cat(what, ": a torchscript model has hidden 0 and buckets 0, the header says ", h.hidden, " and ",
                           h.buckets));
    if (h.max_length < 2) throw InputError(cat(what, ": max length ", h.max_length, " is below 2 ([CLS] and [SEP])"));
    return {};
  }
  const bool ok_input = h.kind == "embbag" ? h.input == "tokens"
                        : h.kind == "mlp"  ? h.input == "embedding"
                                           : (h.input == "embedding" || h.input == "tokens" || h.input == "tokens+embedding");
  if (!ok_input)
    throw InputError(cat(what, ": a ", h.kind, " model reads input ",
                         h.kind == "embbag" ? "'tokens'" : h.kind == "mlp" ? "'embedding'" : "'embedding', 'tokens' or 'tokens+embedding'",
                         ", the header says '", h.input, "'"));
  if (h.classes.empty()) throw InputError(cat(what, ": the model has no classes"));
  if (h.input_dim <= 0) throw InputError(cat(what, ": input dim ", h.input_dim, " is not positive"));
  if (h.kind == "logreg" ? h.hidden != 0 : h.hidden <= 0)
    throw InputError(cat(what, ": hidden width ", h.hidden, " is invalid for a ", h.kind, " model (",
                         h.kind == "logreg" ? "must be 0" : "must be positive", ")"));
  const bool sparse = h.kind == "logreg" && h.input != "embedding";
  if (sparse ? (h.buckets <= 0 || (h.input == "tokens" ? h.buckets != h.input_dim : h.buckets >= h.input_dim))
             : h.buckets != 0)
    throw InputError(cat(what, ": buckets ", h.buckets, " do not fit a ", h.kind, " model over '", h.input,
                         "' with input dim ", h.input_dim));
  const uint64_t C = h.classes.size(), d = uint64_t(h.input_dim), H = uint64_t(h.hidden);
  if (sparse) return {{"idf", {uint64_t(h.buckets)}, {}}, {"linear.weight", {C, d}, {}}, {"linear.bias", {C}, {}}};
  if (h.kind == "logreg") return {{"linear.weight", {C, d}, {}}, {"linear.bias", {C}, {}}};
  if (h.kind == "mlp")
    return {{"hidden.weight", {H, d}, {}}, {"hidden.bias", {H}, {}}, {"output.weight", {C, H}, {}}, {"output.bias", {C}, {}}};
  return {{"bag.weight", {d, H}, {}}, {"output.weight", {C, H}, {}}, {"output.bias", {C}, {}}};
}

namespace {
void write_common_attrs(h5::File& f, const ModelHeader& h) {
  f.set_attr("kind", h.kind);
  f.set_attr("input", h.input);
  f.set_attr("input-dim", h.input_dim);
  f.set_attr("hidden", h.hidden);
  f.set_attr("buckets", h.buckets);
  f.set_attr("num-classes", int(h.classes.size()));
  f.set_attr("encoder", h.encoder);
  f.set_attr("encoder-params", h.encoder_params);
  f.set_attr("config", h.config);
  f.set_attr("training-summary", h.training_summary);
  f.set_attr_u64("seed", h.seed);
  f.set_attr_u64("round", h.round);
  f.set_attr("fingerprint", h.fingerprint);
}
}  // namespace

void write_model(const std::string& path, const ModelHeader& h, const std::vector<Param>& params) {
  check_params(h, params, path);
  for (auto& p : params)
    for (size_t i = 0; i < p.values.size(); ++i)
      if (!std::isfinite(p.values[i]))
        throw InputError(cat(path, ": parameter '", p.name, "' value ", i, " is ", p.values[i], " (training diverged?)"));
  if (h.kind == "torchscript") throw UsageError(cat(path, ": torchscript models are written by write_torchscript_model"));
  AtomicOutput out(path);
  {
    auto f = h5::File::create(out.temp_path());
    h5::set_format(f, kModelFormat, kModelFormatVersionClassic);
    write_common_attrs(f, h);
    auto cd = create_untimed(f, "classes", h5::Type::kStr, h.classes.size(), 0);
    cd.write_strings(0, h.classes.size(), h.classes.data());
    for (auto& p : params) {
      auto d = create_untimed(f, p.name, h5::Type::kF32, p.shape[0], p.shape.size() > 1 ? p.shape[1] : 0);
      d.write(0, p.shape[0], p.values.data());
    }
    f.close();
  }
  out.commit();
}


void write_torchscript_model(const std::string& path, const ModelHeader& h, const TorchScriptPayload& p) {
  if (h.kind != "torchscript") throw UsageError(cat(path, ": write_torchscript_model got a ", h.kind, " header"));
  param_layout(h, path);
  if (p.vocab.size() != size_t(h.input_dim))
    throw UsageError(cat(path, ": vocabulary of ", p.vocab.size(), " tokens but input dim ", h.input_dim));
  if (p.module.empty()) throw UsageError(cat(path, ": empty TorchScript module"));
  AtomicOutput out(path);
  {
    auto f = h5::File::create(out.temp_path());
    h5::set_format(f, kModelFormat, kModelFormatVersion);
    write_common_attrs(f, h);
    f.set_attr("max-length", h.max_length);
    f.set_attr("lowercase", h.lowercase ? 1 : 0);
    f.set_attr("module-checksum", bytes_checksum(p.module));
    f.set_attr("vocab-checksum", vocab_checksum(p.vocab));
    auto cd = create_untimed(f, "classes", h5::Type::kStr, h.classes.size(), 0);
    cd.write_strings(0, h.classes.size(), h.classes.data());
    auto vd = create_untimed(f, "vocab", h5::Type::kStr, p.vocab.size(), 0);
    vd.write_strings(0, p.vocab.size(), p.vocab.data());
    auto md = create_untimed(f, "module", h5::Type::kU8, p.module.size(), 0);
    md.write(0, p.module.size(), reinterpret_cast<const uint8_t*>(p.module.data()));
    f.close();
  }
  out.commit();
}

TorchScriptPayload read_torchscript_payload(const std::string& path, ModelHeader* header) {
  auto f = h5::File::open(path);
  ModelHeader h = read_header(f);
  if (h.kind != "torchscript")
    throw InputError(cat(path, ": a ", h.kind, " model, not a torchscript model (make one with trawl-import-model)"));
  TorchScriptPayload p;
  auto vd = h5::Dataset::open(f, "vocab");
  vd.expect(h5::Type::kStr, 1);
  vd.expect_rows(uint64_t(h.input_dim), "the vocabulary (attribute 'input-dim')");
  vd.read_strings(0, vd.rows(), p.vocab);
  const std::string vwant = f.attr_str("vocab-checksum"), vgot = vocab_checksum(p.vocab);
  if (vwant != vgot)
    throw InputError(cat(path, ": dataset 'vocab' has checksum ", vgot, " but attribute 'vocab-checksum' says ", vwant,
                         " (the file is damaged)"));
  auto md = h5::Dataset::open(f, "module");
  md.expect(h5::Type::kU8, 1);
  auto bytes = md.read_all<uint8_t>();
  p.module.assign(reinterpret_cast<const char*>(bytes.data()), bytes.size());
  const std::string want = f.attr_str("module-checksum"), got = bytes_checksum(p.module);
  if (want != got)
    throw InputError(cat(path, ": dataset 'module' has checksum ", got, " but attribute 'module-checksum' says ", want,
                         " (the file is damaged)"));
  if (header) *header = std::move(h);
  return p;
}

void set_torchscript_loader(TorchScriptLoader loader) { torchscript_loader() = loader; }

void Model::predict_texts(const std::vector<std::string>&, float*) const {
  throw UsageError(cat("predict_texts: this ", header().kind, " model reads '", header().input, "', not text"));
}

ModelHeader read_model_header(const std::string& path) {
  auto f = h5::File::open(path);
  return read_header(f);
}

std::vector<Param> read_model_params(const std::string& path, ModelHeader* header) {
  auto f = h5::File::open(path);
  ModelHeader h = read_header(f);
  auto params = param_layout(h, path);
  if (h.kind == "torchscript") {
    f.close();
    read_torchscript_payload(path, nullptr);  // validates vocabulary and module checksum
  }
  for (auto& p : params) {
    auto d = h5::Dataset::open(f, p.name);
    d.expect(h5::Type::kF32, int(p.shape.size()), p.shape.size() > 1 ? p.shape[1] : 0);
    d.expect_rows(p.shape[0], cat("parameter '", p.name, "' of shape ", shape_str(p.shape)));
    p.values = d.read_all<float>();
    for (size_t i = 0; i < p.values.size(); ++i)
      if (!std::isfinite(p.values[i]))
        throw InputError(cat(path, ": parameter '", p.name, "' value ", i, " is ", p.values[i], " (expected finite)"));
  }
  if (header) *header = std::move(h);
  return params;
}

std::unique_ptr<Model> make_model(const ModelHeader& h, std::vector<Param> params, int threads) {
  if (h.kind == "torchscript") throw UsageError("make_model: a torchscript model is loaded with Model::load");
  if (h.kind == "logreg" && h.input != "embedding") return std::make_unique<SparseLogreg>(h, std::move(params), threads);
  return std::make_unique<EigenModel>(h, std::move(params), threads);
}

void Model::predict_mixed(const uint64_t*, const uint32_t*, const float*, size_t, float*) const {
  throw UsageError(cat("predict_mixed: this ", header().kind, " model reads '", header().input, "' only"));
}

int Model::embedding_dim() const {
  const auto& h = header();
  if (h.input == "embedding") return h.input_dim;
  if (h.input == "tokens+embedding") return h.input_dim - h.buckets;
  return 0;
}

std::unique_ptr<Model> Model::load(const std::string& path, int threads) {
  if (read_model_header(path).kind == "torchscript") {
    if (torchscript_loader()) return torchscript_loader()(path, threads);
    // No LibTorch linked in: the plugin's loader (core/plugin.h), which hands over ownership.
    using PluginLoad = Model* (*)(const char* path, int threads);
    auto load = reinterpret_cast<PluginLoad>(
        plugin::torch_symbol("trawl_torch_load_model", cat(path, ": a torchscript model")));
    return std::unique_ptr<Model>(load(path.c_str(), threads));
  }
  ModelHeader h;
  auto params = read_model_params(path, &h);
  return make_model(h, std::move(params), threads);
}

bool model_is_complete(const std::string& path) {
  if (!path_exists(path)) return false;
  try {
    read_model_params(path, nullptr);
    return true;
  } catch (const Error&) {
    return false;
  }
}

void check_compatible(const ModelHeader& m, const std::string& encoder, const std::string& encoder_params, int dim,
                      const std::string& what) {
  if (m.input == "text") return;  // reads the text itself: any encoder's shards will do
  if (m.encoder != encoder || m.encoder_params != encoder_params)
    throw InputError(cat(what, ": embedded with encoder '", encoder, "' (", encoder_params, ") but the ", m.kind,
                         " model was trained on encoder '", m.encoder, "' (", m.encoder_params,
                         "); retrain the model on this pool or score a pool of that encoder"));
  const int want = m.input == "embedding" ? m.input_dim : m.input == "tokens+embedding" ? m.input_dim - m.buckets : -1;
  if (want >= 0 && want != dim)
    throw InputError(cat(what, ": embedding dim ", dim, " but the ", m.kind, " model expects dim ", want));
}

}  // namespace trawl::train
