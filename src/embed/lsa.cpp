// Over 600 lines on purpose: the randomized SVD's SIMD kernels, its fixed-point reduction and
// the encoder share the featuriser and the rounding that make the bits independent of ranks,
// threads and vector width; split, those invariants would span files.
// The LSA encoder: its file format, the featuriser shared by the fit and the encoder, the
// distributed randomized SVD, and the encoders (lsa, and the concatenation used for lsa+hash).
// See lsa.h for the contracts and docs/FORMATS.md for the file.
#include "embed/lsa.h"

#include <omp.h>
#include <sys/mman.h>
#include <time.h>

#include <Eigen/Dense>
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <numeric>

#include "core/error.h"
#include "core/fs.h"
#include "core/log.h"
#include "core/progress.h"
#include "core/rng.h"
#include "core/timer.h"
#include "embed/vocab.h"
#include "io/h5.h"
#include "mpi/comm.h"
#include "text/tokenize.h"

namespace trawl::embed {

namespace h5 = io::h5;
using train::linear::Csr;

// ---- the file --------------------------------------------------------------------------------

std::string LsaModel::content_checksum() const {
  uint64_t d = static_cast<uint64_t>(dim);
  uint64_t h = hash_bytes(&d, sizeof d, 0x6c73612d656e63ULL);
  h = hash_bytes(id.data(), id.size() * sizeof(uint32_t), h);
  h = hash_bytes(idf.data(), idf.size() * sizeof(float), h);
  h = hash_bytes(basis.data(), basis.size() * sizeof(float), h);
  h = hash_bytes(singular_values.data(), singular_values.size() * sizeof(double), h);
  char buf[40];
  std::snprintf(buf, sizeof buf, "lsa:%016llx", static_cast<unsigned long long>(h));
  return buf;
}

namespace {

uint64_t chunk_rows_for(uint64_t n) { return std::min<uint64_t>(std::max<uint64_t>(n, 1), 1 << 16); }

template <class T>
void write_column(h5::File& f, const std::string& name, h5::Type t, const std::vector<T>& v, uint64_t cols = 0) {
  const uint64_t rows = cols ? v.size() / cols : v.size();
  auto d = h5::Dataset::create(f, name, t, chunk_rows_for(cols ? std::max<uint64_t>(1, (1 << 16) / cols) : rows), cols);
  if (rows) d.write(0, rows, v.data());
}

void write_string_column(h5::File& f, const std::string& name, const std::vector<std::string>& v) {
  auto d = h5::Dataset::create(f, name, h5::Type::kStr, chunk_rows_for(v.size()));
  if (!v.empty()) d.append_strings(v);
}

}  // namespace

void write_lsa(const std::string& path, LsaModel& m) {
  TRAWL_ASSERT(m.df.size() == m.id.size() && m.idf.size() == m.id.size());
  TRAWL_ASSERT(m.basis.size() == m.id.size() * size_t(m.dim) && m.singular_values.size() == size_t(m.dim));
  TRAWL_ASSERT(m.input_checksum.size() == m.input_file.size());
  m.checksum = m.content_checksum();
  AtomicOutput out(path);
  {
    auto f = h5::File::create(out.temp_path());
    h5::set_format(f, kLsaFormat, kLsaFormatVersion);
    f.set_attr("dim", static_cast<int64_t>(m.dim));
    f.set_attr_u64("features", m.id.size());
    f.set_attr_u64("rows", m.rows);
    f.set_attr_u64("n_docs", m.n_docs);
    f.set_attr("vocab_checksum", m.vocab_checksum);
    f.set_attr_u64("seed", m.seed);
    f.set_attr("power_iterations", static_cast<int64_t>(m.power_iterations));
    f.set_attr("oversample", static_cast<int64_t>(m.oversample));
    f.set_attr("sample", m.sample);
    f.set_attr_u64("max_features", m.max_features);
    f.set_attr_u64("block_rows", m.block_rows);
    f.set_attr("config", m.config);
    f.set_attr("checksum", m.checksum);
    write_column(f, "id", h5::Type::kU32, m.id);
    write_column(f, "df", h5::Type::kU64, m.df);
    write_column(f, "idf", h5::Type::kF32, m.idf);
    write_column(f, "basis", h5::Type::kF32, m.basis, static_cast<uint64_t>(m.dim));
    write_column(f, "singular_values", h5::Type::kF64, m.singular_values);
    write_string_column(f, "input_file", m.input_file);
    write_string_column(f, "input_checksum", m.input_checksum);
    f.close();
  }
  out.commit();
}

LsaModel read_lsa(const std::string& path) {
  if (!path_exists(path)) throw IoError(cat(path, ": lsa encoder file does not exist (fit one with trawl-fit)"));
  auto f = h5::File::open(path);
  h5::check_format(f, kLsaFormat, kLsaFormatVersion);
  LsaModel m;
  m.trawl_version = f.has_attr("trawl-version") ? f.attr_str("trawl-version") : "";
  int64_t dim = f.attr_i64("dim");
  uint64_t V = f.attr_u64("features");
  if (dim < 1 || dim > (1 << 20))
    throw InputError(cat(path, ": attribute 'dim' = ", dim, " (expected 1..1048576)"));
  m.dim = static_cast<int>(dim);
  m.rows = f.attr_u64("rows");
  m.n_docs = f.attr_u64("n_docs");
  m.vocab_checksum = f.attr_str("vocab_checksum");
  m.seed = f.attr_u64("seed");
  m.power_iterations = static_cast<int>(f.attr_i64("power_iterations"));
  m.oversample = static_cast<int>(f.attr_i64("oversample"));
  m.sample = f.attr_f64("sample");
  m.max_features = f.attr_u64("max_features");
  m.block_rows = f.attr_u64("block_rows");
  m.config = f.attr_str("config");
  const std::string stored = f.attr_str("checksum");
  auto did = h5::Dataset::open(f, "id");
  did.expect(h5::Type::kU32, 1);
  did.expect_rows(V, "attribute 'features'");
  auto ddf = h5::Dataset::open(f, "df");
  ddf.expect(h5::Type::kU64, 1);
  ddf.expect_rows(V, "one per feature");
  auto didf = h5::Dataset::open(f, "idf");
  didf.expect(h5::Type::kF32, 1);
  didf.expect_rows(V, "one per feature");
  auto db = h5::Dataset::open(f, "basis");
  db.expect(h5::Type::kF32, 2, static_cast<uint64_t>(m.dim));
  db.expect_rows(V, "one row per feature");
  auto ds = h5::Dataset::open(f, "singular_values");
  ds.expect(h5::Type::kF64, 1);
  ds.expect_rows(static_cast<uint64_t>(m.dim), "one per dimension");
  auto din = h5::Dataset::open(f, "input_file");
  din.expect(h5::Type::kStr, 1);
  auto dck = h5::Dataset::open(f, "input_checksum");
  dck.expect(h5::Type::kStr, 1);
  dck.expect_rows(din.rows(), "one per input file");
  m.id = did.read_all<uint32_t>();
  m.df = ddf.read_all<uint64_t>();
  m.idf = didf.read_all<float>();
  m.basis = db.read_all<float>();
  m.singular_values = ds.read_all<double>();
  if (din.rows()) din.read_strings(0, din.rows(), m.input_file);
  if (dck.rows()) dck.read_strings(0, dck.rows(), m.input_checksum);
  for (size_t i = 1; i < m.id.size(); ++i)
    if (m.id[i] <= m.id[i - 1])
      throw InputError(cat(path, ", dataset 'id': not strictly increasing at row ", i, " (", m.id[i - 1], " then ",
                           m.id[i], ")"));
  m.checksum = m.content_checksum();
  if (m.checksum != stored)
    throw InputError(cat(path, ": content checksum ", m.checksum, " does not match the stored checksum ", stored,
                         " (the file was changed or corrupted; fit it again with trawl-fit)"));
  for (size_t i = 0; i < m.basis.size(); ++i)
    if (!std::isfinite(m.basis[i]))
      throw InputError(cat(path, ", dataset 'basis': non-finite value at row ", i / size_t(m.dim), ", column ",
                           i % size_t(m.dim)));
  return m;
}

bool lsa_is_complete(const std::string& path) {
  if (!path_exists(path)) return false;
  try {
    read_lsa(path);
    return true;
  } catch (const std::exception&) {
    return false;
  }
}

void select_features(const Vocab& v, uint64_t max_features, std::vector<uint32_t>* id, std::vector<uint64_t>* df,
                     std::vector<float>* idf) {
  std::vector<size_t> order(v.size());
  std::iota(order.begin(), order.end(), size_t(0));
  size_t keep = max_features == 0 ? order.size() : std::min<size_t>(order.size(), max_features);
  // Ids are unique, so (df desc, id asc) is a strict order: the selection is unique.
  std::partial_sort(order.begin(), order.begin() + keep, order.end(), [&](size_t a, size_t b) {
    return v.df[a] != v.df[b] ? v.df[a] > v.df[b] : v.id[a] < v.id[b];
  });
  order.resize(keep);
  std::sort(order.begin(), order.end());  // vocab ids are increasing: back to id order
  id->clear();
  df->clear();
  for (size_t i : order) {
    id->push_back(v.id[i]);
    df->push_back(v.df[i]);
  }
  // The same idf as the logreg featuriser: bucket_idf with one bucket per selected column.
  std::vector<uint32_t> cols(id->size());
  std::iota(cols.begin(), cols.end(), 0u);
  *idf = id->empty() ? std::vector<float>() : train::linear::bucket_idf(cols, *df, v.n_docs, uint32_t(id->size()));
}

// ---- the featuriser --------------------------------------------------------------------------

LsaFeaturizer::LsaFeaturizer(std::vector<uint32_t> ids, std::vector<float> idf) : ids_(std::move(ids)), idf_(std::move(idf)) {
  TRAWL_ASSERT(ids_.size() == idf_.size());
  size_t cap = 16;
  shift_ = 60;
  while (cap < ids_.size() * 2) cap <<= 1, --shift_;
  mask_ = cap - 1;
  slot_key_.assign(cap, 0);
  slot_col_.assign(cap, UINT32_MAX);  // UINT32_MAX marks an empty slot (columns are < 2^32 - 1)
  for (size_t c = 0; c < ids_.size(); ++c) {
    size_t h = static_cast<size_t>((uint64_t(ids_[c]) * 0x9e3779b97f4a7c15ULL) >> shift_);
    while (slot_col_[h] != UINT32_MAX) h = (h + 1) & mask_;
    slot_key_[h] = ids_[c];
    slot_col_[h] = static_cast<uint32_t>(c);
  }
}

int64_t LsaFeaturizer::column(uint32_t id) const {
  size_t h = static_cast<size_t>((uint64_t(id) * 0x9e3779b97f4a7c15ULL) >> shift_);
  for (;;) {
    if (slot_col_[h] == UINT32_MAX) return -1;
    if (slot_key_[h] == id) return slot_col_[h];
    h = (h + 1) & mask_;
  }
}

void LsaFeaturizer::rows(const uint64_t* offsets, const uint32_t* ids, size_t n, Csr* out) const {
  std::vector<uint64_t> offs(n + 1, 0);
  std::vector<uint32_t> cols;
  if (n) cols.reserve(offsets[n] - offsets[0]);
  for (size_t i = 0; i < n; ++i) {
    for (uint64_t j = offsets[i]; j < offsets[i + 1]; ++j) {
      int64_t c = column(ids[j]);
      if (c >= 0) cols.push_back(static_cast<uint32_t>(c));
    }
    offs[i + 1] = cols.size();
  }
  if (ids_.empty()) {
    out->cols = 0;
    out->offsets.assign(n + 1, 0);
    out->index.clear();
    out->value.clear();
    return;
  }
  train::linear::tfidf_rows(offs.data(), cols.data(), n, static_cast<uint32_t>(ids_.size()), idf_.data(), out);
}

// ---- the randomized SVD ------------------------------------------------------------------------
//
// Bits. Every floating-point result below is a fixed sequence of IEEE operations: this file is
// compiled with -ffp-contract=off (no multiply-add is fused unless written as fma: the dense
// kernels' are, and fma is correctly rounded in hardware or in the C library alike), the kernels
// are element-wise over the sketch columns (no reassociation), and the SIMD clones (AVX-512,
// AVX2 / FMA3, SSE2) therefore give the same bits as one another. Work split between OpenMP
// threads never splits a sum.

namespace {

using RowMat = Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
// Rows of A Z held at a time (not part of the result's identity: each column's sum runs over
// the block's rows in order, one term at a time, however they are cut).
size_t sub_rows() { return 4096; }

#define TRAWL_SIMD __attribute__((target_clones("avx512f", "avx2", "default")))
// The dense kernels multiply-add with one rounding (fma): AVX-512 and FMA3 do it in hardware;
// the default clone calls the C library's fma, correctly rounded in software — the same bits
// on every CPU, slowly on the few x86-64 CPUs without FMA3.
#define TRAWL_FMA_SIMD __attribute__((target_clones("avx512f", "fma", "default")))

int padded(int k) { return (k + 15) / 16 * 16; }

// v.assign(n, x) with transparent huge pages asked for first (before any page is touched): the
// passes read random rows of Z, of the column sums and of A Z, which with 4 KiB pages miss the
// TLB on almost every row (and fault 512 times as often on first touch).
template <class Vec, class T>
void assign_huge(Vec& v, size_t n, T x) {
  if (v.capacity() < n) {
    Vec().swap(v);
    v.reserve(n);
  }
  const uintptr_t H = uintptr_t(1) << 21;
  uintptr_t b = reinterpret_cast<uintptr_t>(v.data()), e = b + n * sizeof(T);
  b = (b + H - 1) & ~(H - 1);
  e &= ~(H - 1);
  if (e > b) ::madvise(reinterpret_cast<void*>(b), e - b, MADV_HUGEPAGE);  // advice only: errors ignored
  v.assign(n, x);
}

// Column c's block sums, fixed point: rounded to a multiple of 2^-e_c (to nearest, ties to even)
// and added as int64, e_c = 54 - ceil(log2 df_c) with df_c the rows, over every rank, that hold
// column c. A row is a unit TF-IDF vector (|a_jc| <= 1, ||a_j|| = 1), so |(A Z)_jt| <= ||Z_t||,
// which is 1 for the unit Gaussian start and ~1 after each orthonormalisation; a column's sums
// then stay below df_c·||Z_t|| <= 2^(62 - e_c) · 2^-8·||Z_t||: 2^8 of margin, checked per block
// (add_fixed). The rounding is a function of the block's sum alone, so the total does not
// depend on the order of addition, i.e. on the rank count. The resolution, df_c·2^-54, is far
// below the float sums' own rounding.
std::vector<double> fixed_scales(const mpi::Comm& comm, const std::vector<SvdBlock>& mine, size_t V) {
  std::vector<uint64_t> df(V, 0);
  for (const auto& b : mine)
    for (uint64_t p = 0; p < b.rows.offsets.back(); ++p) ++df[b.rows.index[p]];
  comm.allreduce_inplace(df, MPI_SUM);
  std::vector<double> scale(V);
  for (size_t c = 0; c < V; ++c) {
    int lg = 0;
    while ((uint64_t(1) << lg) < std::max<uint64_t>(df[c], 1)) ++lg;
    scale[c] = std::ldexp(1.0, 54 - lg);
  }
  return scale;
}

// a[t] += round(w[t]·scale) for t < k; false when some |w[t]·scale| >= 2^62 (the bound above
// broken: the caller stops). Branch-free and vectorised: runs once per touched column and block.
TRAWL_SIMD bool add_fixed(const float* __restrict w, int k, double scale, int64_t* __restrict a) {
  double m = 0.0;
  for (int t = 0; t < k; ++t) {
    const double y = double(w[t]) * scale;  // exact: a float times a power of two
    m = std::max(m, std::fabs(y));
    a[t] += static_cast<int64_t>(std::nearbyint(std::min(std::max(y, -0x1p62), 0x1p62)));
  }
  return m < 0x1p62;
}

// A barrier that waits asleep (1 ms polls) instead of in MPI's busy loop: ranks that finish a
// pass early leave their cores to the others (and to anything else on the node).
void sleepy_barrier(const mpi::Comm& comm) {
  if (comm.size() == 1) return;
  MPI_Request req;
  TRAWL_MPI_CHECK(MPI_Ibarrier(comm.raw(), &req));
  for (;;) {
    int done = 0;
    TRAWL_MPI_CHECK(MPI_Test(&req, &done, MPI_STATUS_IGNORE));
    if (done) return;
    timespec ts{0, 1000000};
    ::nanosleep(&ts, nullptr);
  }
}

// y[0,kp) = Σ_p val[p] · Z[idx[p], 0,kp) in float, the entries in order. Rows of Z a few entries
// ahead (idx[p + 3], possibly in the next rows: idx < idx_end) are prefetched: random rows of a
// matrix larger than the caches.
TRAWL_SIMD void row_product(float* __restrict y, const float* __restrict Z, const uint32_t* __restrict idx,
                            const float* __restrict val, uint64_t n, const uint32_t* idx_end, int kp) {
  for (int t = 0; t < kp; ++t) y[t] = 0.0f;
  for (uint64_t p = 0; p < n; ++p) {
    if (idx + p + 3 < idx_end) {
      const char* nx = reinterpret_cast<const char*>(Z + size_t(idx[p + 3]) * size_t(kp));
      for (int b = 0; b < kp * 4; b += 64) __builtin_prefetch(nx + b);
    }
    const float a = val[p];
    const float* __restrict z = Z + size_t(idx[p]) * size_t(kp);
    for (int t = 0; t < kp; ++t) y[t] += a * z[t];
  }
}

inline void prefetch_row(const float* p, int kp) {
  const char* c = reinterpret_cast<const char*>(p);
  for (int b = 0; b < kp * 4; b += 64) __builtin_prefetch(c + b);
}

// w[0,kp) += a · y[0,kp) in float: the block's column sums, rounded to fixed point once per
// block (add_fixed). Float halves the bytes of the pass's two random-access streams (A Z's rows
// and the sums' rows) against double; the sums run over at most a block's rows.
TRAWL_SIMD void axpy_rows(float* __restrict w, const float* __restrict y, float a, int kp) {
  for (int t = 0; t < kp; ++t) w[t] += a * y[t];
}

// ---- dense V × kp kernels (row-major, leading dimension kp, kp a multiple of 16)

// The 8-double vectors are passed by value only between inlined helpers (no ABI concerns).
#pragma GCC diagnostic ignored "-Wpsabi"
typedef double v8d __attribute__((vector_size(64)));
inline v8d load8(const double* p) {
  v8d v;
  std::memcpy(&v, p, sizeof v);
  return v;
}
inline void store8(double* p, v8d v) { std::memcpy(p, &v, sizeof v); }
inline v8d bcast8(double s) { return v8d{s, s, s, s, s, s, s, s}; }
// a·b + c per lane, rounded once (vectorised to vfmadd where the clone has FMA).
__attribute__((always_inline)) inline v8d fmadd(v8d a, v8d b, v8d c) {
  v8d r;
  for (int l = 0; l < 8; ++l) r[l] = __builtin_fma(a[l], b[l], c[l]);
  return r;
}

// G[a0+r, b0..b0+16) += Σ_{i in [i0,i1), ascending} X[i, a0+r] · Y[i, b0..b0+16), r < 4.
TRAWL_FMA_SIMD void gram_tile(const double* __restrict X, const double* __restrict Y, size_t i0, size_t i1, int kp,
                          int a0, int b0, double* __restrict G) {
  v8d c[4][2];
  for (int r = 0; r < 4; ++r) {
    c[r][0] = load8(G + size_t(a0 + r) * kp + b0);
    c[r][1] = load8(G + size_t(a0 + r) * kp + b0 + 8);
  }
  for (size_t i = i0; i < i1; ++i) {
    const double* y = Y + i * size_t(kp) + b0;
    const v8d y0 = load8(y), y1 = load8(y + 8);
    const double* x = X + i * size_t(kp) + a0;
    for (int r = 0; r < 4; ++r) {
      const v8d xr = bcast8(x[r]);
      c[r][0] = fmadd(xr, y0, c[r][0]);
      c[r][1] = fmadd(xr, y1, c[r][1]);
    }
  }
  for (int r = 0; r < 4; ++r) {
    store8(G + size_t(a0 + r) * kp + b0, c[r][0]);
    store8(G + size_t(a0 + r) * kp + b0 + 8, c[r][1]);
  }
}

// Xᵀ Y (kp × kp, row-major) of two V × kp matrices: each entry summed over the rows in order.
// sym: X = Y, only the tiles on or above the diagonal are summed, the rest mirrored (the same
// bits: the products commute).
RowMat gram(const double* X, const double* Y, size_t V, int kp, bool sym) {
  RowMat G = RowMat::Zero(kp, kp);
  const size_t step = 256;
  for (size_t i0 = 0; i0 < V; i0 += step) {
    const size_t i1 = std::min(V, i0 + step);
#pragma omp parallel for schedule(dynamic, 1)
    for (int a0 = 0; a0 < kp; a0 += 4)
      for (int b0 = sym ? a0 / 16 * 16 : 0; b0 < kp; b0 += 16) gram_tile(X, Y, i0, i1, kp, a0, b0, G.data());
  }
  if (sym)
    for (int a = 0; a < kp; ++a)
      for (int b = 0; b < a; ++b) G(a, b) = G(b, a);
  return G;
}

// C[i0+r, b0..b0+16) = Σ_{a < kin, ascending} X[i0+r, a] · M[a, b0..b0+16), r < 8.
TRAWL_FMA_SIMD void product_tile8(const double* __restrict X, const double* __restrict M, size_t i0, int kp, int kin,
                              int b0, double* __restrict C) {
  v8d c00 = {}, c01 = {}, c10 = {}, c11 = {}, c20 = {}, c21 = {}, c30 = {}, c31 = {};
  v8d c40 = {}, c41 = {}, c50 = {}, c51 = {}, c60 = {}, c61 = {}, c70 = {}, c71 = {};
  const double* x = X + i0 * size_t(kp);
  const size_t s = size_t(kp);
  for (int a = 0; a < kin; ++a) {
    const v8d m0 = load8(M + size_t(a) * s + b0), m1 = load8(M + size_t(a) * s + b0 + 8);
    v8d xr;
    xr = bcast8(x[a]), c00 = fmadd(xr, m0, c00), c01 = fmadd(xr, m1, c01);
    xr = bcast8(x[s + a]), c10 = fmadd(xr, m0, c10), c11 = fmadd(xr, m1, c11);
    xr = bcast8(x[2 * s + a]), c20 = fmadd(xr, m0, c20), c21 = fmadd(xr, m1, c21);
    xr = bcast8(x[3 * s + a]), c30 = fmadd(xr, m0, c30), c31 = fmadd(xr, m1, c31);
    xr = bcast8(x[4 * s + a]), c40 = fmadd(xr, m0, c40), c41 = fmadd(xr, m1, c41);
    xr = bcast8(x[5 * s + a]), c50 = fmadd(xr, m0, c50), c51 = fmadd(xr, m1, c51);
    xr = bcast8(x[6 * s + a]), c60 = fmadd(xr, m0, c60), c61 = fmadd(xr, m1, c61);
    xr = bcast8(x[7 * s + a]), c70 = fmadd(xr, m0, c70), c71 = fmadd(xr, m1, c71);
  }
  double* c = C + i0 * s + b0;
  store8(c, c00), store8(c + 8, c01), store8(c + s, c10), store8(c + s + 8, c11);
  store8(c + 2 * s, c20), store8(c + 2 * s + 8, c21), store8(c + 3 * s, c30), store8(c + 3 * s + 8, c31);
  store8(c + 4 * s, c40), store8(c + 4 * s + 8, c41), store8(c + 5 * s, c50), store8(c + 5 * s + 8, c51);
  store8(c + 6 * s, c60), store8(c + 6 * s + 8, c61), store8(c + 7 * s, c70), store8(c + 7 * s + 8, c71);
}

// The same for one row (the rows past the last multiple of 8): the same operations in the same
// order per entry, so the same bits.
TRAWL_FMA_SIMD void product_row(const double* __restrict X, const double* __restrict M, size_t i, int kp, int kin,
                            double* __restrict C) {
  for (int b0 = 0; b0 < kp; b0 += 16) {
    v8d c0 = {}, c1 = {};
    for (int a = 0; a < kin; ++a) {
      const v8d xr = bcast8(X[i * size_t(kp) + size_t(a)]);
      c0 = fmadd(xr, load8(M + size_t(a) * kp + b0), c0);
      c1 = fmadd(xr, load8(M + size_t(a) * kp + b0 + 8), c1);
    }
    store8(C + i * size_t(kp) + b0, c0);
    store8(C + i * size_t(kp) + b0 + 8, c1);
  }
}

// C = X · M of a V × kp matrix and a kp × kp one whose rows >= kin are zero (they are skipped).
// upper: M is upper triangular, so column b needs rows a <= b only (the terms skipped are
// x · 0, which leave a sum unchanged).
void product_into(const RowMat& X, const RowMat& M, int kin, RowMat* C, bool upper = false) {
  const int kp = int(X.cols());
  const size_t V = size_t(X.rows());
  if (C->rows() != X.rows() || C->cols() != kp) C->resize(X.rows(), kp);
  const long long tiles = static_cast<long long>(V / 8);
  auto rows_for = [&](int b0) { return upper ? std::min(kin, b0 + 16) : kin; };
#pragma omp parallel for schedule(static)
  for (long long t = 0; t < tiles; ++t)
    for (int b0 = 0; b0 < kp; b0 += 16)
      product_tile8(X.data(), M.data(), size_t(t) * 8, kp, rows_for(b0), b0, C->data());
  for (size_t i = size_t(tiles) * 8; i < V; ++i) product_row(X.data(), M.data(), i, kp, kin, C->data());
}

RowMat product(const RowMat& X, const RowMat& M, int kin) {
  RowMat C;
  product_into(X, M, kin, &C);
  return C;
}

// A kp × kp matrix with m (r × c, r, c <= kp) in its top-left corner, zeros elsewhere.
RowMat pad_square(const Eigen::MatrixXd& m, int kp) {
  RowMat p = RowMat::Zero(kp, kp);
  p.topLeftCorner(m.rows(), m.cols()) = m;
  return p;
}

// The upper Cholesky factor R of the top-left n × n of G (G = RᵀR), when G is numerically
// positive definite there (the factor's diagonal within 1e-6 of its largest entry).
bool cholesky_upper(const RowMat& G, int n, Eigen::MatrixXd* R) {
  Eigen::MatrixXd g = G.topLeftCorner(n, n);
  Eigen::LLT<Eigen::MatrixXd> llt(g);
  if (llt.info() != Eigen::Success) return false;
  const Eigen::VectorXd d = llt.matrixLLT().diagonal();
  if (!(d.minCoeff() > 1e-6 * d.maxCoeff())) return false;
  *R = llt.matrixU();
  return true;
}

Eigen::MatrixXd upper_inverse(const Eigen::MatrixXd& R) {
  Eigen::MatrixXd inv = Eigen::MatrixXd::Identity(R.rows(), R.cols());
  R.triangularView<Eigen::Upper>().solveInPlace(inv);
  return inv;
}

// Householder QR's thin Q of the first k columns of m (V × kp), padded back to kp columns: the
// fallback when a Gram matrix is not numerically positive definite (rank-deficient or badly
// conditioned input).
RowMat householder_q(const RowMat& m, int k) {
  Eigen::MatrixXd a = m.leftCols(k);
  Eigen::HouseholderQR<Eigen::MatrixXd> qr(a);
  RowMat q = RowMat::Zero(m.rows(), m.cols());
  q.leftCols(k) = qr.householderQ() * Eigen::MatrixXd::Identity(a.rows(), k);
  return q;
}

// ---- the dense steps, spread over the ranks
//
// The V feature rows of the dense V × kp matrices are cut into T fixed row tiles (T =
// min(16, ⌈V / tile_rows⌉), tile_rows 4,096 by default: not a function of the ranks); rank r owns tiles [r·T/P, (r+1)·T/P) — none when
// P > T — and holds only those rows of the matrices between the passes. A sum over rows (a Gram
// matrix, the start's column norms) is computed per tile, rows in order, and the T partial sums
// are added in tile order on every rank: the same bits at any rank count. Row-wise products
// (Q = M R⁻¹, ...) need no reduction. Every rank then runs the same small k × k factorisations
// on the same bits, so all of them reach the same decisions (Cholesky or Householder, the
// numerical rank) with no message.
class RowTiles {
 public:
  RowTiles(size_t V, uint64_t tile_rows, int ranks, int me) : V_(V), T_(tiles_for(V, tile_rows)), P_(ranks), me_(me) {}
  RowTiles(const mpi::Comm& comm, size_t V, uint64_t tile_rows) : RowTiles(V, tile_rows, comm.size(), comm.rank()) {}
  static size_t tiles_for(size_t V, uint64_t tile_rows) {
    tile_rows = std::max<uint64_t>(tile_rows, 1);
    return size_t(std::max<uint64_t>(1, std::min<uint64_t>(16, (V + tile_rows - 1) / tile_rows)));
  }
  size_t tiles() const { return T_; }
  size_t tile_begin(size_t t) const { return t * V_ / T_; }
  size_t first_tile(int r) const { return size_t(r) * T_ / size_t(P_); }
  size_t row_begin(int r) const { return tile_begin(first_tile(r)); }  // first_tile(P) = T: V
  size_t begin() const { return row_begin(me_); }
  size_t end() const { return row_begin(me_ + 1); }
  size_t rows() const { return end() - begin(); }
  int ranks() const { return P_; }
  int me() const { return me_; }
  size_t max_rows() const {
    size_t m = 0;
    for (int r = 0; r < P_; ++r) m = std::max(m, row_begin(r + 1) - row_begin(r));
    return m;
  }

 private:
  size_t V_, T_;
  int P_, me_;
};

// Every rank's slice [offset(r), offset(r+1)) of base (allocated on every rank) from rank r to
// all ranks.
template <class T, class Offset>
void share_slices(const mpi::Comm& comm, T* base, const Offset& offset) {
  for (int r = 0; r < comm.size(); ++r) comm.bcast_n(base + offset(r), offset(r + 1) - offset(r), r);
}

// Σ over the tiles, in tile order, of partial(t, out[0,n)) (out zeroed first); each rank computes
// its own tiles' partials, all ranks get every partial and the same sum.
std::vector<double> fold_tiles(const mpi::Comm& comm, const RowTiles& tl, size_t n,
                               const std::function<void(size_t, double*)>& partial) {
  std::vector<double> all(tl.tiles() * n, 0.0);
  for (size_t t = tl.first_tile(tl.me()); t < tl.first_tile(tl.me() + 1); ++t) partial(t, all.data() + t * n);
  share_slices(comm, all.data(), [&](int r) { return tl.first_tile(r) * n; });
  std::vector<double> sum(all.begin(), all.begin() + std::ptrdiff_t(n));
  for (size_t t = 1; t < tl.tiles(); ++t)
    for (size_t i = 0; i < n; ++i) sum[i] += all[t * n + i];
  return sum;
}

// Xᵀ Y (kp × kp) of two V × kp matrices of which this rank holds rows [begin, end) (X, Y have
// those rows only): per tile as gram(), tiles added in order.
RowMat tiled_gram(const mpi::Comm& comm, const RowTiles& tl, const RowMat& X, const RowMat& Y, bool sym) {
  const int kp = int(X.cols());
  const size_t n = size_t(kp) * size_t(kp);
  std::vector<double> g = fold_tiles(comm, tl, n, [&](size_t t, double* out) {
    const size_t i0 = tl.tile_begin(t) - tl.begin(), i1 = tl.tile_begin(t + 1) - tl.begin();
    RowMat p = gram(X.data() + i0 * size_t(kp), Y.data() + i0 * size_t(kp), i1 - i0, kp, sym);
    std::memcpy(out, p.data(), n * sizeof(double));
  });
  RowMat G(kp, kp);
  std::memcpy(G.data(), g.data(), n * sizeof(double));
  return G;
}

// Every rank's rows of a V-row matrix (row-major, `width` values a row), all V rows on every
// rank: *full (V × width) gets rank r's rows from r.
template <class T>
void gather_rows(const mpi::Comm& comm, const RowTiles& tl, const T* mine, size_t width, T* full) {
  if (tl.rows() && mine != full + tl.begin() * width)
    std::memcpy(full + tl.begin() * width, mine, tl.rows() * width * sizeof(T));
  share_slices(comm, full, [&](int r) { return tl.row_begin(r) * width; });
}

RowMat gather_rows(const mpi::Comm& comm, const RowTiles& tl, const RowMat& mine, size_t V) {
  RowMat full(Eigen::Index(V), mine.cols());
  gather_rows(comm, tl, mine.data(), size_t(mine.cols()), full.data());
  return full;
}

// This rank's rows of a V × kp matrix whose first k columns span the first k columns of m (m:
// this rank's rows) and are well conditioned (Cholesky QR: Q = m R⁻¹, orthonormal to
// ~1e-16·cond(m)²; Householder over all rows, on every rank alike, when that fails). The power
// iteration needs a well-conditioned basis, not an exactly orthonormal one: the final step does
// not assume it.
// Returns false when it fell back to Householder.
bool orth(const mpi::Comm& comm, const RowTiles& tl, size_t V, const RowMat& m, int k, RowMat* q) {
  const int kp = int(m.cols());
  RowMat G = tiled_gram(comm, tl, m, m, true);
  Eigen::MatrixXd R;
  if (!cholesky_upper(G, k, &R)) {
    RowMat full = householder_q(gather_rows(comm, tl, m, V), k);
    *q = full.middleRows(Eigen::Index(tl.begin()), Eigen::Index(tl.rows()));
    return false;
  }
  product_into(m, pad_square(upper_inverse(R), kp), k, q, true);
  return true;
}

// Sums every rank's accumulator rows [row_begin(r), row_begin(r+1)) into rank r's (a reduce-
// scatter by pairwise exchange: in step s each rank sends rank me+s its rows and adds rank
// me−s's copy of its own; integer sums, so the order does not matter); returns this rank's rows
// of the sums as doubles in *W, V_r × kp (columns >= k zero; reused across passes). buf: the
// receive buffer, kept across passes.
void reduce_fixed_rows(const mpi::Comm& comm, const RowTiles& tl, std::vector<int64_t>& acc, int k, int kp,
                       const std::vector<double>& scale, std::vector<int64_t>& buf, RowMat* W) {
  const int P = tl.ranks(), me = tl.me();
  int64_t* mine = acc.data() + tl.begin() * size_t(k);
  const size_t n_mine = tl.rows() * size_t(k);
  if (P > 1 && buf.size() < n_mine) buf.resize(n_mine);
  for (int step = 1; step < P; ++step) {
    const int dst = (me + step) % P, src = (me - step + P) % P;
    const int64_t* send = acc.data() + tl.row_begin(dst) * size_t(k);
    const uint64_t send_bytes = (tl.row_begin(dst + 1) - tl.row_begin(dst)) * size_t(k) * sizeof(int64_t);
    const uint64_t recv_bytes = n_mine * sizeof(int64_t);
    // Messages of at most 1 GiB; sender and receiver derive their number from the same size
    // (none when it is 0: a rank may hold no rows).
    const uint64_t chunk = uint64_t(1) << 30;
    std::vector<MPI_Request> reqs;
    for (uint64_t off = 0; off < recv_bytes; off += chunk) {
      reqs.emplace_back();
      TRAWL_MPI_CHECK(MPI_Irecv(reinterpret_cast<char*>(buf.data()) + off, static_cast<int>(std::min(chunk, recv_bytes - off)),
                                MPI_BYTE, src, 7321, comm.raw(), &reqs.back()));
    }
    for (uint64_t off = 0; off < send_bytes; off += chunk) {
      reqs.emplace_back();
      TRAWL_MPI_CHECK(MPI_Isend(reinterpret_cast<const char*>(send) + off, static_cast<int>(std::min(chunk, send_bytes - off)),
                                MPI_BYTE, dst, 7321, comm.raw(), &reqs.back()));
    }
    if (!reqs.empty()) TRAWL_MPI_CHECK(MPI_Waitall(static_cast<int>(reqs.size()), reqs.data(), MPI_STATUSES_IGNORE));
    for (size_t i = 0; i < n_mine; ++i) mine[i] += buf[i];
  }
  W->resize(Eigen::Index(tl.rows()), kp);
  for (size_t i = 0; i < tl.rows(); ++i) {
    // v·2^-e_c: the int64 rounded to double (when |v| > 2^53), then scaled exactly.
    const double inv = 1.0 / scale[tl.begin() + i];
    for (int t = 0; t < k; ++t)
      (*W)(Eigen::Index(i), t) = static_cast<double>(acc[(tl.begin() + i) * size_t(k) + size_t(t)]) * inv;
    for (int t = k; t < kp; ++t) (*W)(Eigen::Index(i), t) = 0.0;
  }
}

// acc[c·k + t] += fixed(Σ_{rows j of the block with column c, ascending} a_jc · (A_b Z)[j, t]),
// with Z, A_b Z and the column sums in float (the pass is bound by moving their rows).
class BlockPass {
 public:
  BlockPass(size_t V, int k, int kp) : k_(k), kp_(kp), cnt_(V, 0), start_(V, 0), mark_(V, 0) {
    assign_huge(W_, V * size_t(kp), 0.0f);
  }

  void run(const Csr& b, const float* Z, const std::vector<double>& scale, std::vector<int64_t>& acc) {
    const size_t n = b.rows();
    const int k = k_, kp = kp_;
    if (n == 0) return;
    touched_.clear();
    for (size_t r0 = 0; r0 < n; r0 += sub_rows()) {
      const size_t r1 = std::min(n, r0 + sub_rows()), m = r1 - r0;
      // Y = A Z for rows [r0, r1), row by row.
      if (Y_.capacity() < sub_rows() * size_t(kp)) assign_huge(Y_, sub_rows() * size_t(kp), 0.0f);
      Y_.resize(m * size_t(kp));
#pragma omp parallel for schedule(dynamic, 64)
      for (long long j = 0; j < static_cast<long long>(m); ++j) {
        const uint64_t lo = b.offsets[r0 + size_t(j)], hi = b.offsets[r0 + size_t(j) + 1];
        row_product(Y_.data() + size_t(j) * kp, Z, b.index.data() + lo, b.value.data() + lo, hi - lo,
                    b.index.data() + b.offsets[r1], kp);
      }
      // These rows' columns (CSC by counting sort; rows stay ascending within a column).
      present_.clear();
      const uint64_t p0 = b.offsets[r0], p1 = b.offsets[r1];
      for (uint64_t p = p0; p < p1; ++p) {
        uint32_t c = b.index[p];
        if (cnt_[c]++ == 0) present_.push_back(c);
      }
      uint64_t s = 0;
      for (uint32_t c : present_) {
        start_[c] = s;
        s += cnt_[c];
        cnt_[c] = 0;
        if (!mark_[c]) {
          mark_[c] = 1;
          touched_.push_back(c);
        }
      }
      crow_.resize(s);
      cval_.resize(s);
      for (size_t j = 0; j < m; ++j)
        for (uint64_t p = b.offsets[r0 + j]; p < b.offsets[r0 + j + 1]; ++p) {
          uint32_t c = b.index[p];
          uint64_t q = start_[c] + cnt_[c]++;
          crow_[q] = static_cast<uint32_t>(j);
          cval_[q] = b.value[p];
        }
      for (uint32_t c : present_) cnt_[c] = 0;
      // W[c] += a_jc · Y[j] over column c's rows in order: one thread per column.
#pragma omp parallel for schedule(dynamic, 16)
      for (long long i = 0; i < static_cast<long long>(present_.size()); ++i) {
        const uint32_t c = present_[size_t(i)];
        const uint64_t lo = start_[c];
        const uint64_t hi = size_t(i) + 1 < present_.size() ? start_[present_[size_t(i) + 1]] : crow_.size();
        float* w = W_.data() + size_t(c) * kp;
        if (size_t(i) + 1 < present_.size()) prefetch_row(W_.data() + size_t(present_[size_t(i) + 1]) * kp, kp);
        for (uint64_t q = lo; q < hi; ++q) axpy_rows(w, Y_.data() + size_t(crow_[q]) * kp, cval_[q], kp);
      }
    }
    // The block's sums into the fixed-point accumulator, once per touched column.
    long long broken = -1;
#pragma omp parallel for schedule(static)
    for (long long i = 0; i < static_cast<long long>(touched_.size()); ++i) {
      const uint32_t c = touched_[size_t(i)];
      float* w = W_.data() + size_t(c) * kp;
      if (!add_fixed(w, k, scale[c], acc.data() + size_t(c) * k)) {
#pragma omp critical
        broken = c;
      }
      std::fill(w, w + kp, 0.0f);
      mark_[c] = 0;
    }
    if (broken >= 0)
      throw InputError(cat("fit: the sums of feature column ", broken, " exceed their fixed-point range (2^8 above "
                           "what rows of norm <= 1 with entries <= 1 can reach): rows this large are not TF-IDF rows"));
  }

 private:
  int k_, kp_;
  std::vector<uint32_t> cnt_;
  std::vector<uint64_t> start_;
  std::vector<uint8_t> mark_;
  std::vector<float> W_;
  std::vector<uint32_t> present_, touched_, crow_;
  std::vector<float> cval_;
  std::vector<float> Y_;
};

// Eigen's own thread count for the dense steps: 1, so the bits do not depend on it.
struct EigenSingleThread {
  int old = Eigen::nbThreads();
  EigenSingleThread() { Eigen::setNbThreads(1); }
  ~EigenSingleThread() { Eigen::setNbThreads(old); }
};

}  // namespace

int svd_padded_columns(int dim, int oversample, uint64_t features) {
  return padded(static_cast<int>(std::min<uint64_t>(features, uint64_t(dim) + uint64_t(std::max(oversample, 0)))));
}

uint64_t svd_dense_bytes(uint64_t features, int dim, int oversample, int ranks) {
  const uint64_t kp = uint64_t(padded(dim + std::max(oversample, 0)));
  // Every rank: Z (float, 4), the block's column sums (4), the fixed-point accumulator (8) and
  // the basis at the end (8); for its rows of the dense steps (the largest rank's), W and up to
  // three more V_r × kp doubles (32).
  const uint64_t rows = RowTiles(features, SvdOptions().dense_tile_rows, std::max(ranks, 1), 0).max_rows();
  return features * kp * 24 + rows * kp * 32;
}

SvdResult randomized_svd(const mpi::Comm& comm, const std::vector<SvdBlock>& mine,
                         const std::vector<uint32_t>& column_keys, const SvdOptions& o,
                         const std::function<void(int, int)>& on_pass, const SvdState* resume,
                         const SvdAfterPass& after_pass) {
  const size_t V = column_keys.size();
  if (o.dim < 1) throw UsageError(cat("--dim ", o.dim, ": must be at least 1"));
  if (o.oversample < 0) throw UsageError(cat("--oversample ", o.oversample, ": must be >= 0"));
  if (o.power_iterations < 0) throw UsageError(cat("--power-iterations ", o.power_iterations, ": must be >= 0"));
  if (size_t(o.dim) > V)
    throw UsageError(cat("--dim ", o.dim, " exceeds the ", V, " features (columns) of the TF-IDF matrix; lower --dim "
                         "or raise --max-features"));
  const int k = static_cast<int>(std::min<size_t>(V, size_t(o.dim) + size_t(o.oversample)));
  const int kp = padded(k);
  for (auto& b : mine) {
    TRAWL_ASSERT_MSG(b.rows.cols == int64_t(V) || b.rows.rows() == 0, "svd block of ", b.rows.cols, " columns, expected ", V);
  }
  SvdResult res;
  res.features = static_cast<int>(V);
  res.dim = o.dim;
  uint64_t my_rows = 0, my_nnz = 0;
  for (auto& b : mine) my_rows += b.rows.rows(), my_nnz += b.rows.offsets.back();
  res.rows = comm.sum(my_rows);
  if (res.rows >= (uint64_t(1) << 46))
    throw UsageError(cat(res.rows, " rows: the fit supports fewer than 2^46 rows (use --sample)"));
  if (res.rows < uint64_t(o.dim))
    throw InputError(cat("--dim ", o.dim, " exceeds the ", res.rows, " non-empty TF-IDF rows (the rank of the "
                         "matrix is at most that); lower --dim or fit on more documents"));

  const int passes = o.power_iterations + 1;
  const RowTiles tl(comm, V, o.dense_tile_rows);
  const Eigen::Index mine_rows = Eigen::Index(tl.rows());
  // Z: the input of the next pass, float, V × kp (columns >= k zero), on every rank.
  std::vector<float> Z;
  assign_huge(Z, V * size_t(kp), 0.0f);
  int first = 0;
  if (resume) {
    TRAWL_ASSERT_MSG(resume->pass >= 1 && resume->pass < passes, "resume at pass ", resume->pass, " of ", passes);
    first = resume->pass;
    if (comm.root()) {
      TRAWL_ASSERT_MSG(resume->z.size() == Z.size(), "resume state of ", resume->z.size(), " values, expected ", Z.size());
      std::copy(resume->z.begin(), resume->z.end(), Z.begin());
    }
    comm.bcast_n(Z.data(), Z.size(), 0);
  } else {
    ScopedTimer timer("fit: svd: Gaussian start");
    // Z0 = Ω with unit columns, Ω[j, :] from the stream keyed by (seed, column j's token id), so
    // any rank can make any row. A Gaussian V × k matrix is well conditioned already: no
    // orthonormalisation.
    std::vector<double> om(tl.rows() * size_t(k));
    for (size_t i = 0; i < tl.rows(); ++i) {
      // Box–Muller, both outputs of each pair of uniforms: (√(-2 ln u1)·cos 2πu2, ·sin 2πu2).
      Rng r(key(o.seed, column_keys[tl.begin() + i]));
      double* row = om.data() + i * size_t(k);
      for (int t = 0; t < k; t += 2) {
        double u1 = r.uniform(), u2 = r.uniform();
        if (u1 < 1e-300) u1 = 1e-300;
        const double rad = std::sqrt(-2.0 * std::log(u1)), th = 6.283185307179586 * u2;
        row[t] = rad * std::cos(th);
        if (t + 1 < k) row[t + 1] = rad * std::sin(th);
      }
    }
    std::vector<double> ss = fold_tiles(comm, tl, size_t(k), [&](size_t tile, double* out) {
      for (size_t j = tl.tile_begin(tile); j < tl.tile_begin(tile + 1); ++j)
        for (int t = 0; t < k; ++t) {
          const double x = om[(j - tl.begin()) * size_t(k) + size_t(t)];
          out[t] += x * x;
        }
    });
    for (int t = 0; t < k; ++t) ss[size_t(t)] = ss[size_t(t)] > 0 ? 1.0 / std::sqrt(ss[size_t(t)]) : 0.0;
    for (size_t i = 0; i < tl.rows(); ++i)
      for (int t = 0; t < k; ++t)
        Z[(tl.begin() + i) * size_t(kp) + size_t(t)] = static_cast<float>(om[i * size_t(k) + size_t(t)] * ss[size_t(t)]);
    gather_rows(comm, tl, Z.data() + tl.begin() * size_t(kp), size_t(kp), Z.data());
  }
  RowMat W;  // this rank's rows of Aᵀ A Z (the last pass's)
  {
    BlockPass bp(V, k, kp);
    const std::vector<double> scale = fixed_scales(comm, mine, V);
    std::vector<int64_t> acc, recv;
    RowMat q;
    for (int pass = first; pass < passes; ++pass) {
      if (on_pass) on_pass(pass, passes);
      if (acc.empty()) assign_huge(acc, V * size_t(k), int64_t(0));
      else std::fill(acc.begin(), acc.end(), int64_t(0));
      {
        ScopedTimer timer("fit: svd: passes A^T(A Z)");
        Progress prog(cat("fit: pass ", pass + 1, "/", passes), my_nnz, "nnz");
        for (auto& b : mine) {
          bp.run(b.rows, Z.data(), scale, acc);
          prog.add(b.rows.offsets.back());
        }
        prog.finish();
      }
      sleepy_barrier(comm);  // ranks with fewer entries wait asleep for the others
      {
        ScopedTimer timer("fit: svd: dense steps between passes");
        EigenSingleThread single;
        {
          ScopedTimer t2("fit: svd: dense: reduce the column sums");
          reduce_fixed_rows(comm, tl, acc, k, kp, scale, recv, &W);
        }
        if (pass + 1 == passes) break;
        {
          ScopedTimer t2("fit: svd: dense: orthonormalise");
          if (!orth(comm, tl, V, W, k, &q)) ++res.householder_steps;  // Z = orth(Aᵀ A Z)
        }
        ScopedTimer t2("fit: svd: dense: gather Z");
        for (Eigen::Index i = 0; i < q.size(); ++i) Z[tl.begin() * size_t(kp) + size_t(i)] = static_cast<float>(q.data()[i]);
        gather_rows(comm, tl, Z.data() + tl.begin() * size_t(kp), size_t(kp), Z.data());
      }
      if (after_pass && !after_pass(pass + 1, kp, Z)) {
        res.stopped = true;
        return res;
      }
    }
  }
  // Every rank on its rows: W = Aᵀ Y with Y = A Z; G = YᵀY = Zᵀ W; Q_Y = Y P Λ^-1/2 (eigenpairs of
  // G above the noise floor); Bᵀ = Aᵀ Q_Y = W P Λ^-1/2 = M; M = Q R (Cholesky QR twice,
  // Householder when that fails); R = U Σ Xᵀ; basis = Q U.
  {
    ScopedTimer timer("fit: svd: final dense step");
    EigenSingleThread single;
    Eigen::MatrixXd G;
    {
      RowMat Zd(mine_rows, kp);
      for (Eigen::Index i = 0; i < Zd.size(); ++i) Zd.data()[i] = double(Z[tl.begin() * size_t(kp) + size_t(i)]);
      G = tiled_gram(comm, tl, Zd, W, false).topLeftCorner(k, k);
    }
    std::vector<float>().swap(Z);
    G = 0.5 * (G + Eigen::MatrixXd(G.transpose()));
    Eigen::SelfAdjointEigenSolver<Eigen::MatrixXd> es(G);
    const auto& lam = es.eigenvalues();  // ascending
    const double lmax = lam(k - 1);
    int r = 0;
    for (int i = 0; i < k; ++i)
      if (lmax > 0 && lam(i) > lmax * 1e-10) ++r;
    res.numerical_rank = r;
    if (r >= o.dim) {
      Eigen::MatrixXd P = es.eigenvectors().rightCols(r);
      Eigen::VectorXd inv = lam.tail(r).cwiseSqrt().cwiseInverse();
      RowMat M = product(W, pad_square(P * inv.asDiagonal(), kp), k);
      RowMat().swap(W);
      Eigen::MatrixXd R1, R2;
      Eigen::VectorXd sigma;
      RowMat B;  // this rank's rows of the basis (before the signs)
      RowMat G1 = tiled_gram(comm, tl, M, M, true);
      bool ok = cholesky_upper(G1, r, &R1);
      if (ok) {
        RowMat Q1;
        product_into(M, pad_square(upper_inverse(R1), kp), r, &Q1, true);
        RowMat G2 = tiled_gram(comm, tl, Q1, Q1, true);
        ok = cholesky_upper(G2, r, &R2);
        if (ok) {
          Eigen::MatrixXd R = R2 * R1.triangularView<Eigen::Upper>();
          Eigen::JacobiSVD<Eigen::MatrixXd> svd(R, Eigen::ComputeFullU);
          sigma = svd.singularValues();
          B = product(Q1, pad_square(upper_inverse(R2) * svd.matrixU().leftCols(o.dim), kp), r);
        }
      }
      if (!ok) {  // every rank alike, over all rows
        ++res.householder_steps;
        RowMat Mf = gather_rows(comm, tl, M, V);
        RowMat Q = householder_q(Mf, r);
        Eigen::MatrixXd qtm = Eigen::MatrixXd(Q.leftCols(r)).transpose() * Eigen::MatrixXd(Mf.leftCols(r));
        Eigen::JacobiSVD<Eigen::MatrixXd> svd(qtm, Eigen::ComputeFullU);
        sigma = svd.singularValues();
        B = RowMat(product(Q, pad_square(svd.matrixU().leftCols(o.dim), kp), r).middleRows(Eigen::Index(tl.begin()), mine_rows));
      }
      res.singular_values.assign(sigma.data(), sigma.data() + o.dim);
      // Column signs: the entry of largest |value| (the first such row) positive. Each rank's
      // candidate (|b|, row, b) per column; ranks hold ascending rows, so the first strictly
      // larger candidate in rank order is the first such row overall.
      std::vector<double> cand(size_t(o.dim) * 3 * size_t(tl.ranks()), 0.0);
      for (int c = 0; c < o.dim; ++c) {
        double* x = cand.data() + (size_t(tl.me()) * size_t(o.dim) + size_t(c)) * 3;
        x[0] = -1;
        for (Eigen::Index i = 0; i < B.rows(); ++i)
          if (std::fabs(B(i, c)) > x[0]) x[0] = std::fabs(B(i, c)), x[1] = double(tl.begin() + size_t(i)), x[2] = B(i, c);
      }
      share_slices(comm, cand.data(), [&](int rk) { return size_t(rk) * size_t(o.dim) * 3; });
      std::vector<double> sign(size_t(o.dim), 1.0);
      for (int c = 0; c < o.dim; ++c) {
        double best = -1;
        for (int rk = 0; rk < tl.ranks(); ++rk) {
          const double* x = cand.data() + (size_t(rk) * size_t(o.dim) + size_t(c)) * 3;
          if (x[0] > best) best = x[0], sign[size_t(c)] = x[2] < 0 ? -1.0 : 1.0;
        }
      }
      res.basis.assign(V * size_t(o.dim), 0.0);
      for (Eigen::Index i = 0; i < B.rows(); ++i)
        for (int c = 0; c < o.dim; ++c)
          res.basis[(tl.begin() + size_t(i)) * size_t(o.dim) + size_t(c)] = sign[size_t(c)] * B(i, c);
      gather_rows(comm, tl, res.basis.data() + tl.begin() * size_t(o.dim), size_t(o.dim), res.basis.data());
    }
  }
  // The same bits on every rank: the same decision everywhere, no message needed.
  if (res.numerical_rank < o.dim || res.singular_values[size_t(o.dim) - 1] <= res.singular_values[0] * 1e-5)
    throw InputError(cat("--dim ", o.dim, " exceeds the numerical rank (about ", res.numerical_rank,
                         ") of the TF-IDF matrix (", res.rows, " rows, ", V,
                         " features): its trailing singular values are ~0. Lower --dim, or fit on more "
                         "documents or features"));
  return res;
}

// ---- the encoders ---------------------------------------------------------------------------

namespace {

// out[0,d) = Σ_{q in [q0,q1)} value[q] · basis[index[q]] in float, each element summed in entry
// order from 0 (the bits of the plain y += a·x loop over the entries). The output is built in
// slabs of 64 elements held in eight 8-float registers while the row's entries stream by, so
// the accumulators never go through memory: the entry-at-a-time loop loaded and stored the
// whole 1 KiB accumulator per entry and ran at a quarter of the rate at which memory delivers
// the basis rows (bench_lsa_encoder, docs/BENCHMARKS.md). Prefetches the basis rows of the
// entries [q1, pf_end) (the next rows') while it works.
__attribute__((target_clones("avx2", "default"))) void combine_rows(const float* __restrict basis, int d,
                                                                    const uint32_t* __restrict index,
                                                                    const float* __restrict value, uint64_t q0,
                                                                    uint64_t q1, uint64_t pf_end,
                                                                    float* __restrict out) {
  const size_t row_bytes = size_t(d) * sizeof(float);
  for (uint64_t q = q1; q < pf_end; ++q) {
    const char* p = reinterpret_cast<const char*>(basis + size_t(index[q]) * size_t(d));
    for (size_t b = 0; b < row_bytes; b += 64) __builtin_prefetch(p + b);
  }
  typedef float v8 __attribute__((vector_size(32)));
  int t0 = 0;
  for (; t0 + 64 <= d; t0 += 64) {
    v8 c[8];
    for (int s = 0; s < 8; ++s) c[s] = v8{0, 0, 0, 0, 0, 0, 0, 0};
    for (uint64_t q = q0; q < q1; ++q) {
      const float* b = basis + size_t(index[q]) * size_t(d) + t0;
      const float a = value[q];
      const v8 av = {a, a, a, a, a, a, a, a};
      for (int s = 0; s < 8; ++s) {
        v8 bv;
        std::memcpy(&bv, b + 8 * s, sizeof bv);
        c[s] += av * bv;
      }
    }
    std::memcpy(out + t0, c, sizeof c);
  }
  if (t0 < d) {  // the last d mod 64 elements, entry at a time
    std::fill(out + t0, out + d, 0.0f);
    for (uint64_t q = q0; q < q1; ++q) {
      const float* b = basis + size_t(index[q]) * size_t(d);
      const float a = value[q];
      for (int t = t0; t < d; ++t) out[t] += a * b[t];
    }
  }
}

// o = acc / ‖acc‖ (zeros for a zero row), in double. The squares are summed in 8 interleaved
// partial sums (a fixed order: the same bits on every machine and SIMD clone), not one chain
// of dependent adds, which cost as much as the row's whole product.
__attribute__((target_clones("avx2", "default"))) void unit_row(const float* __restrict acc, int d,
                                                                float* __restrict o) {
  double p[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  int t = 0;
  for (; t + 8 <= d; t += 8)
    for (int u = 0; u < 8; ++u) p[u] += double(acc[t + u]) * double(acc[t + u]);
  for (int u = 0; t < d; ++t, ++u) p[u] += double(acc[t]) * double(acc[t]);
  const double ss = ((p[0] + p[1]) + (p[2] + p[3])) + ((p[4] + p[5]) + (p[6] + p[7]));
  if (ss > 0) {
    const double inv = 1.0 / std::sqrt(ss);
    for (t = 0; t < d; ++t) o[t] = static_cast<float>(double(acc[t]) * inv);
  } else {
    std::fill(o, o + d, 0.0f);
  }
}

}  // namespace

void basis_product(const LsaModel& m, const Csr& x, float* out) {
  const int d = m.dim;
  for (size_t r = 0; r < x.rows(); ++r)
    combine_rows(m.basis.data(), d, x.index.data(), x.value.data(), x.offsets[r], x.offsets[r + 1],
                 r + 2 < x.offsets.size() ? x.offsets[r + 2] : x.offsets[r + 1], out + r * size_t(d));
}

namespace {

class LsaEncoder final : public TokenIdEncoder {
 public:
  explicit LsaEncoder(std::shared_ptr<const LsaModel> m)
      : m_(std::move(m)), feat_(m_->id, m_->idf), params_(cat("dim=", m_->dim, ";lsa=", m_->checksum)) {}
  std::string name() const override { return "lsa"; }
  std::string params() const override { return params_; }
  int dim() const override { return m_->dim; }

 private:
  void encode_ids(size_t n, const std::vector<uint64_t>& offs, const std::vector<uint32_t>& ids, float* out) const override {
    TRAWL_ASSERT_MSG(offs.size() == n + 1, "lsa encoder: ", offs.size(), " token offsets for ", n, " rows");
    TRAWL_ASSERT_MSG(offs.back() <= ids.size(), "lsa encoder: last token offset past the token ids");
    const int d = m_->dim;
    const size_t piece = 512;
    const long long pieces = static_cast<long long>((n + piece - 1) / piece);
#pragma omp parallel
    {
      Csr x;
      std::vector<float> acc(static_cast<size_t>(d));
#pragma omp for schedule(dynamic, 1)
      for (long long p = 0; p < pieces; ++p) {
        const size_t r0 = size_t(p) * piece, r1 = std::min(n, r0 + piece);
        feat_.rows(offs.data() + r0, ids.data(), r1 - r0, &x);
        for (size_t r = r0; r < r1; ++r) {
          // The basis rows of the next row's entries are prefetched line by line while this
          // row's are combined: rows of a basis larger than the caches, in an order no hardware
          // prefetcher can guess.
          const size_t i = r - r0;
          const uint64_t q0 = x.offsets[i], q1 = x.offsets[i + 1];
          combine_rows(m_->basis.data(), d, x.index.data(), x.value.data(), q0, q1,
                       i + 2 < x.offsets.size() ? x.offsets[i + 2] : q1, acc.data());
          unit_row(acc.data(), d, out + r * size_t(d));
        }
      }
    }
  }

  std::shared_ptr<const LsaModel> m_;
  LsaFeaturizer feat_;
  std::string params_;
};

class ConcatEncoder final : public Encoder {
 public:
  explicit ConcatEncoder(std::vector<std::unique_ptr<Encoder>> parts) : parts_(std::move(parts)) {
    TRAWL_ASSERT(!parts_.empty());
    for (auto& p : parts_) {
      name_ += (name_.empty() ? "" : "+") + p->name();
      dim_ += p->dim();
      // "k=v;k=v" of each part, each key prefixed by the part's name.
      std::string ps = p->params();
      size_t s = 0;
      while (s <= ps.size()) {
        size_t e = ps.find(';', s);
        if (e == std::string::npos) e = ps.size();
        if (e > s) params_ += (params_.empty() ? "" : ";") + p->name() + "." + ps.substr(s, e - s);
        s = e + 1;
      }
    }
  }
  std::string name() const override { return name_; }
  std::string params() const override { return params_; }
  int dim() const override { return dim_; }
  void encode(const std::vector<std::string>& texts, const std::vector<uint64_t>& token_offsets,
              const std::vector<uint32_t>& token_ids, float* out) override {
    const size_t n = texts.size();
    if (n == 0) return;
    std::vector<std::vector<float>> parts(parts_.size());
    for (size_t i = 0; i < parts_.size(); ++i) {
      parts[i].resize(n * size_t(parts_[i]->dim()));
      parts_[i]->encode(texts, token_offsets, token_ids, parts[i].data());
    }
#pragma omp parallel for schedule(static)
    for (long long r = 0; r < static_cast<long long>(n); ++r) {
      int nonzero = 0;
      for (size_t i = 0; i < parts_.size(); ++i) {
        const int d = parts_[i]->dim();
        const float* p = parts[i].data() + size_t(r) * size_t(d);
        for (int t = 0; t < d; ++t)
          if (p[t] != 0.0f) {
            ++nonzero;
            break;
          }
      }
      const double inv = nonzero ? 1.0 / std::sqrt(double(nonzero)) : 0.0;
      float* o = out + size_t(r) * size_t(dim_);
      for (size_t i = 0; i < parts_.size(); ++i) {
        const int d = parts_[i]->dim();
        const float* p = parts[i].data() + size_t(r) * size_t(d);
        for (int t = 0; t < d; ++t) o[t] = static_cast<float>(double(p[t]) * inv);
        o += d;
      }
    }
  }

 private:
  std::vector<std::unique_ptr<Encoder>> parts_;
  std::string name_, params_;
  int dim_ = 0;
};

}  // namespace

std::unique_ptr<Encoder> make_lsa_encoder(std::shared_ptr<const LsaModel> m) {
  TRAWL_ASSERT(m && m->dim >= 1);
  return std::make_unique<LsaEncoder>(std::move(m));
}

std::unique_ptr<Encoder> make_lsa_encoder(const std::string& path) {
  return make_lsa_encoder(std::make_shared<const LsaModel>(read_lsa(path)));
}

std::unique_ptr<Encoder> make_concat_encoder(std::vector<std::unique_ptr<Encoder>> parts) {
  if (parts.empty()) throw UsageError("make_concat_encoder: no parts");
  return std::make_unique<ConcatEncoder>(std::move(parts));
}

}  // namespace trawl::embed
