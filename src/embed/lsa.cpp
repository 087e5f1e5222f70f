// The LSA encoder: its file format, the featuriser shared by the fit and the encoder, the
// distributed randomized SVD, and the encoders (lsa, and the concatenation used for lsa+hash).
// See lsa.h for the contracts and docs/FORMATS.md for the file.
#include "embed/lsa.h"

#include <omp.h>

#include <Eigen/Dense>
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <exception>
#include <numeric>

#include "core/error.h"
#include "core/fs.h"
#include "core/log.h"
#include "core/progress.h"
#include "core/rng.h"
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

namespace {

using u128 = unsigned __int128;
using RowMat = Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
constexpr int kFixedBits = 80;  // fixed-point scale 2^80: |partial sums| < 2^46 fit in 127 bits

// Rounds x·2^80 to an integer (ties to even), as a two's-complement 128-bit value. A function of
// x alone, so the sum of these over blocks is independent of the order of addition.
inline u128 to_fixed(double x) {
  const double y = x * 0x1p80;  // exact (a power of two; |x| < 2^46)
  if (std::fabs(y) < 0x1p51) {
    // Round to the nearest integer (ties to even) by the addition: exact below 2^51, inline.
    const double r = (y + 0x1.8p52) - 0x1.8p52;
    return static_cast<u128>(static_cast<__int128>(static_cast<int64_t>(r)));
  }
  return static_cast<u128>(static_cast<__int128>(y));  // truncation: still a function of x alone
}
inline double from_fixed(u128 v) { return std::ldexp(static_cast<double>(static_cast<__int128>(v)), -kFixedBits); }

void add_u128(void* in, void* inout, int* len, MPI_Datatype*) {
  const u128* a = static_cast<const u128*>(in);
  u128* b = static_cast<u128*>(inout);
  for (int i = 0; i < *len; ++i) b[i] += a[i];
}

// Sums every rank's accumulator into root's (integer sums: any reduction tree gives the same bits).
void reduce_fixed(const mpi::Comm& comm, std::vector<u128>& acc) {
  if (comm.size() == 1) return;
  MPI_Datatype t;
  TRAWL_MPI_CHECK(MPI_Type_contiguous(16, MPI_BYTE, &t));
  TRAWL_MPI_CHECK(MPI_Type_commit(&t));
  MPI_Op op;
  TRAWL_MPI_CHECK(MPI_Op_create(&add_u128, 1, &op));
  const size_t step = size_t(1) << 24;
  std::vector<u128> buf;
  for (size_t off = 0; off < acc.size(); off += step) {
    int n = static_cast<int>(std::min(step, acc.size() - off));
    if (comm.root()) {
      TRAWL_MPI_CHECK(MPI_Reduce(MPI_IN_PLACE, acc.data() + off, n, t, op, 0, comm.raw()));
    } else {
      TRAWL_MPI_CHECK(MPI_Reduce(acc.data() + off, nullptr, n, t, op, 0, comm.raw()));
    }
  }
  TRAWL_MPI_CHECK(MPI_Op_free(&op));
  TRAWL_MPI_CHECK(MPI_Type_free(&t));
}

// y[0,k) += a · x[0,k): element-wise (no reassociation), so every ISA clone gives the same bits.
__attribute__((target_clones("avx2", "default"))) void axpy(double* __restrict y, const double* __restrict x,
                                                               double a, int k) {
  for (int t = 0; t < k; ++t) y[t] += a * x[t];
}

// Thin Q of a V×k matrix (V >= k) with the span of m, single-threaded (bit-reproducible).
// Cholesky QR twice (CholeskyQR2: two k×k Gram matrices and triangular solves, GEMM speed);
// the second pass restores orthogonality to rounding when cond(m) < ~1e6. Householder QR when
// the Gram matrix is not numerically positive definite (m rank-deficient or too ill-conditioned).
RowMat thin_q(const RowMat& m) {
  Eigen::MatrixXd q = m;
  for (int rep = 0; rep < 2; ++rep) {
    Eigen::MatrixXd g = q.transpose() * q;
    Eigen::LLT<Eigen::MatrixXd> llt(g);
    bool ok = llt.info() == Eigen::Success;
    if (ok) {
      const Eigen::VectorXd d = llt.matrixLLT().diagonal();
      ok = d.minCoeff() > 1e-6 * d.maxCoeff();
    }
    if (!ok) {
      Eigen::MatrixXd a = m;
      Eigen::HouseholderQR<Eigen::MatrixXd> qr(a);
      Eigen::MatrixXd h = qr.householderQ() * Eigen::MatrixXd::Identity(a.rows(), a.cols());
      return h;
    }
    // q ← q R⁻¹ with R = Lᵀ (upper): solve X R = q in place.
    llt.matrixU().solveInPlace<Eigen::OnTheRight>(q);
  }
  return q;
}

// acc[c·k + t] += fixed(Σ_{rows j of the block with column c, ascending} a_jc · (A_b Z)[j, t]).
class BlockPass {
 public:
  BlockPass(size_t V, int k) : V_(V), k_(k), cnt_(V, 0), start_(V, 0) {}

  void run(const Csr& b, const double* Z, std::vector<u128>& acc) {
    const size_t n = b.rows();
    const int k = k_;
    if (n == 0) return;
    // Y = A_b Z, row by row.
    Y_.assign(n * size_t(k), 0.0);
#pragma omp parallel for schedule(dynamic, 64)
    for (long long j = 0; j < static_cast<long long>(n); ++j) {
      double* y = Y_.data() + size_t(j) * k;
      for (uint64_t p = b.offsets[j]; p < b.offsets[j + 1]; ++p)
        axpy(y, Z + size_t(b.index[p]) * k, double(b.value[p]), k);
    }
    // The block's columns (CSC by counting sort; rows stay ascending within a column).
    present_.clear();
    for (uint64_t p = 0; p < b.offsets[n]; ++p) {
      uint32_t c = b.index[p];
      if (cnt_[c]++ == 0) present_.push_back(c);
    }
    uint64_t s = 0;
    for (uint32_t c : present_) {
      start_[c] = s;
      s += cnt_[c];
      cnt_[c] = 0;
    }
    crow_.resize(s);
    cval_.resize(s);
    for (size_t j = 0; j < n; ++j)
      for (uint64_t p = b.offsets[j]; p < b.offsets[j + 1]; ++p) {
        uint32_t c = b.index[p];
        uint64_t q = start_[c] + cnt_[c]++;
        crow_[q] = static_cast<uint32_t>(j);
        cval_[q] = b.value[p];
      }
    for (uint32_t c : present_) cnt_[c] = 0;
#pragma omp parallel
    {
      std::vector<double> w(static_cast<size_t>(k));
#pragma omp for schedule(dynamic, 16)
      for (long long i = 0; i < static_cast<long long>(present_.size()); ++i) {
        const uint32_t c = present_[size_t(i)];
        // Column c's entries are at [start_[c], start of the next present column).
        const uint64_t lo = start_[c];
        const uint64_t hi = size_t(i) + 1 < present_.size() ? start_[present_[size_t(i) + 1]] : crow_.size();
        std::fill(w.begin(), w.end(), 0.0);
        for (uint64_t q = lo; q < hi; ++q) axpy(w.data(), Y_.data() + size_t(crow_[q]) * k, double(cval_[q]), k);
        u128* a = acc.data() + size_t(c) * k;
        for (int t = 0; t < k; ++t) a[t] += to_fixed(w[size_t(t)]);
      }
    }
  }

 private:
  size_t V_;
  int k_;
  std::vector<uint32_t> cnt_;
  std::vector<uint64_t> start_;
  std::vector<uint32_t> present_, crow_;
  std::vector<float> cval_;
  std::vector<double> Y_;
};

// Eigen's own thread count for the dense steps on rank 0: 1, so the bits do not depend on it.
struct EigenSingleThread {
  int old = Eigen::nbThreads();
  EigenSingleThread() { Eigen::setNbThreads(1); }
  ~EigenSingleThread() { Eigen::setNbThreads(old); }
};

}  // namespace

uint64_t svd_dense_bytes(uint64_t features, int dim, int oversample, bool root) {
  const uint64_t k = uint64_t(dim) + uint64_t(std::max(oversample, 0));
  // Z (8) + the fixed-point accumulator (16) on every rank; rank 0 also holds W in double (8),
  // the QR's copy and its Q (16) and the final basis (8 · dim/k ≤ 8).
  return features * k * (root ? 56 : 24);
}

SvdResult randomized_svd(const mpi::Comm& comm, const std::vector<SvdBlock>& mine,
                         const std::vector<uint32_t>& column_keys, const SvdOptions& o,
                         const std::function<void(int, int)>& on_pass) {
  const size_t V = column_keys.size();
  if (o.dim < 1) throw UsageError(cat("--dim ", o.dim, ": must be at least 1"));
  if (o.oversample < 0) throw UsageError(cat("--oversample ", o.oversample, ": must be >= 0"));
  if (o.power_iterations < 0) throw UsageError(cat("--power-iterations ", o.power_iterations, ": must be >= 0"));
  if (size_t(o.dim) > V)
    throw UsageError(cat("--dim ", o.dim, " exceeds the ", V, " features (columns) of the TF-IDF matrix; lower --dim "
                         "or raise --max-features"));
  const int k = static_cast<int>(std::min<size_t>(V, size_t(o.dim) + size_t(o.oversample)));
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

  // Z0 = orth(Ω), Ω[j, :] from the stream keyed by (seed, column j's token id).
  std::vector<double> Z(V * size_t(k));
  if (comm.root()) {
    EigenSingleThread single;
    RowMat om(V, k);
    for (size_t j = 0; j < V; ++j) {
      Rng r(key(o.seed, column_keys[j]));
      for (int t = 0; t < k; ++t) om(Eigen::Index(j), t) = r.normal();
    }
    RowMat q = thin_q(om);
    std::memcpy(Z.data(), q.data(), Z.size() * sizeof(double));
  }
  const int passes = o.power_iterations + 1;
  BlockPass bp(V, k);
  std::vector<u128> acc;
  RowMat W;
  for (int pass = 0; pass < passes; ++pass) {
    if (on_pass) on_pass(pass, passes);
    comm.bcast(Z);
    acc.assign(V * size_t(k), 0);
    {
      Progress prog(cat("fit: pass ", pass + 1, "/", passes), my_nnz, "nnz");
      for (auto& b : mine) {
        bp.run(b.rows, Z.data(), acc);
        prog.add(b.rows.offsets.back());
      }
      prog.finish();
    }
    reduce_fixed(comm, acc);
    if (comm.root()) {
      EigenSingleThread single;
      W.resize(Eigen::Index(V), k);
      for (size_t i = 0; i < acc.size(); ++i) W.data()[i] = from_fixed(acc[i]);
      if (pass + 1 < passes) {
        RowMat q = thin_q(W);  // Z = orth(Aᵀ A Z)
        std::memcpy(Z.data(), q.data(), Z.size() * sizeof(double));
      }
    }
  }
  std::vector<u128>().swap(acc);
  // Rank 0: W = Aᵀ Y with Y = A Z; G = YᵀY = Zᵀ W; Q_Y = Y P Λ^-1/2 (eigenpairs of G above the
  // noise floor); Bᵀ = Aᵀ Q_Y = W P Λ^-1/2 = Q2 R2; R2 = U Σ Xᵀ; basis = Q2 U.
  std::vector<double> head(2, 0.0);  // numerical rank, error flag
  if (comm.root()) {
    EigenSingleThread single;
    Eigen::Map<const RowMat> Zm(Z.data(), Eigen::Index(V), k);
    Eigen::MatrixXd G = Zm.transpose() * W;
    G = 0.5 * (G + Eigen::MatrixXd(G.transpose()));
    Eigen::SelfAdjointEigenSolver<Eigen::MatrixXd> es(G);
    const auto& lam = es.eigenvalues();  // ascending
    const double lmax = lam(k - 1);
    int r = 0;
    for (int i = 0; i < k; ++i)
      if (lmax > 0 && lam(i) > lmax * 1e-10) ++r;
    res.numerical_rank = r;
    head[0] = r;
    if (r >= o.dim) {
      Eigen::MatrixXd P = es.eigenvectors().rightCols(r);
      Eigen::VectorXd inv = lam.tail(r).cwiseSqrt().cwiseInverse();
      Eigen::MatrixXd M = W * (P * inv.asDiagonal());
      Eigen::HouseholderQR<Eigen::MatrixXd> qr(M);
      Eigen::MatrixXd R2 = qr.matrixQR().topRows(r).triangularView<Eigen::Upper>();
      Eigen::JacobiSVD<Eigen::MatrixXd> svd(R2, Eigen::ComputeFullU);
      Eigen::MatrixXd Q2 = qr.householderQ() * Eigen::MatrixXd::Identity(Eigen::Index(V), r);
      Eigen::MatrixXd B = Q2 * svd.matrixU().leftCols(o.dim);
      res.singular_values.assign(svd.singularValues().data(), svd.singularValues().data() + o.dim);
      res.basis.assign(V * size_t(o.dim), 0.0);
      for (int c = 0; c < o.dim; ++c) {
        Eigen::Index arg = 0;
        for (Eigen::Index i = 1; i < B.rows(); ++i)
          if (std::fabs(B(i, c)) > std::fabs(B(arg, c))) arg = i;
        const double s = B(arg, c) < 0 ? -1.0 : 1.0;
        for (size_t i = 0; i < V; ++i) res.basis[i * size_t(o.dim) + size_t(c)] = s * B(Eigen::Index(i), c);
      }
      if (res.singular_values[size_t(o.dim) - 1] <= res.singular_values[0] * 1e-5) head[1] = 1;
    }
  }
  comm.bcast(head);
  res.numerical_rank = static_cast<int>(head[0]);
  if (res.numerical_rank < o.dim || head[1] != 0)
    throw InputError(cat("--dim ", o.dim, " exceeds the numerical rank (about ", res.numerical_rank,
                         ") of the TF-IDF matrix (", res.rows, " rows, ", V,
                         " features): its trailing singular values are ~0. Lower --dim, or fit on more "
                         "documents or features"));
  comm.bcast(res.basis);
  comm.bcast(res.singular_values);
  return res;
}

// ---- the encoders ---------------------------------------------------------------------------

namespace {

// out[0,d) += a · b[0,d) in float, element-wise.
__attribute__((target_clones("avx2", "default"))) void axpy_f(float* __restrict y, const float* __restrict x, float a,
                                                                 int d) {
  for (int t = 0; t < d; ++t) y[t] += a * x[t];
}

class LsaEncoder final : public Encoder {
 public:
  explicit LsaEncoder(std::shared_ptr<const LsaModel> m)
      : m_(std::move(m)), feat_(m_->id, m_->idf), params_(cat("dim=", m_->dim, ";lsa=", m_->checksum)) {}
  std::string name() const override { return "lsa"; }
  std::string params() const override { return params_; }
  int dim() const override { return m_->dim; }

  void encode(const std::vector<std::string>& texts, const std::vector<uint64_t>& token_offsets,
              const std::vector<uint32_t>& token_ids, float* out) override {
    const size_t n = texts.size();
    if (n == 0) return;
    if (token_offsets.empty()) {
      std::vector<uint64_t> offs;
      std::vector<uint32_t> ids;
      text::texts_to_ids(texts, offs, ids);
      encode_ids(n, offs, ids, out);
      return;
    }
    encode_ids(n, token_offsets, token_ids, out);
  }

 private:
  void encode_ids(size_t n, const std::vector<uint64_t>& offs, const std::vector<uint32_t>& ids, float* out) const {
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
          std::fill(acc.begin(), acc.end(), 0.0f);
          for (uint64_t q = x.offsets[r - r0]; q < x.offsets[r - r0 + 1]; ++q)
            axpy_f(acc.data(), m_->basis.data() + size_t(x.index[q]) * d, x.value[q], d);
          double ss = 0;
          for (int t = 0; t < d; ++t) ss += double(acc[size_t(t)]) * double(acc[size_t(t)]);
          float* o = out + r * size_t(d);
          if (ss > 0) {
            const double inv = 1.0 / std::sqrt(ss);
            for (int t = 0; t < d; ++t) o[t] = static_cast<float>(double(acc[size_t(t)]) * inv);
          } else {
            std::fill(o, o + d, 0.0f);
          }
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
