#include "retrieve/exact.h"

#include <omp.h>

#include <Eigen/Core>
#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <limits>
#include <string>

#if defined(__x86_64__)
#include <immintrin.h>
#endif

#include "core/error.h"

// The canonical distance relies on IEEE evaluation in source order (no reassociation).
#if defined(__FAST_MATH__)
#error "src/retrieve must not be compiled with -ffast-math: canonical distances need a fixed summation order"
#endif

namespace trawl::retrieve {

namespace {
using RowMatrixXf = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
using ConstRowMap = Eigen::Map<const RowMatrixXf>;
constexpr float kNegInf = -std::numeric_limits<float>::infinity();
constexpr size_t kSubBlockBytes = 256 * 1024;

// Per-thread state, aligned so that two threads' counters never share a cache line.
struct alignas(64) ThreadState {
  std::vector<TopK> heaps;  // one per query
  RowMatrixXf scores;       // query_tile × block_rows GEMM output
  uint64_t items = 0, candidates = 0;
  uint64_t bad_uid_row = 0;
  bool bad_uid = false;
  // keep_vectors: (uid, vector) of every item that entered one of this thread's heaps,
  // compacted to the heaps' current entries when it reaches kept_cap rows.
  std::vector<uint64_t> kept_uid;
  std::vector<float> kept_vec;
  size_t kept_cap = 0;
};
}  // namespace

float cosine_distance(const float* q, const float* x, int dim) {
  double s = 0.0;
  for (int i = 0; i < dim; ++i) s += static_cast<double>(q[i]) * static_cast<double>(x[i]);
  return static_cast<float>(1.0 - s);
}

struct ExactScanner::Impl {
  int nq, dim, K, B, QT, T;
  RowMatrixXf Q;
  std::vector<float> qnorm;
  const std::vector<uint64_t>* excluded;
  // Margin factor: |float GEMM dot − exact dot| ≤ γ_dim·|q|·|x| for any summation order, plus a
  // few roundings of 1 − dot; doubled for the float norms and the float threshold arithmetic.
  float eps;
  std::vector<ThreadState> ts;
  // Seeded prior lists, and per query the entry a scanned item must beat to matter (the
  // prior's K-th when it holds K, else kSentinel).
  AnchorLists prior;
  std::vector<Neighbour> bounds;

  bool is_excluded(uint64_t u) const {
    return excluded && std::binary_search(excluded->begin(), excluded->end(), u);
  }

  // The candidate (query q, row j) whose approximate dot reached the query's floor: excluded
  // and reserved uids skipped, else the canonical distance offered to the heap. Returns true
  // when the heap became (or stayed) full with a new entry, i.e. when the floor may rise.
  bool consider(ThreadState& st, int q, const float* X, const uint64_t* U, size_t j, size_t row0) {
    ++st.candidates;
    const uint64_t u = U[j];
    if (is_excluded(u)) return false;
    if (u == kNoUid) {
      if (!st.bad_uid) st.bad_uid_row = row0 + j;
      st.bad_uid = true;
      return false;
    }
    const Neighbour& bound = bounds[static_cast<size_t>(q)];
    const Neighbour nb{cosine_distance(Q.row(q).data(), X + j * static_cast<size_t>(dim), dim), u};
    if (!std::isfinite(nb.dist) || !(nb < bound)) return false;
    TopK& h = st.heaps[static_cast<size_t>(q)];
    if (!h.push(nb)) return false;
    if (keep) keep_row(st, u, X + j * static_cast<size_t>(dim));
    return h.full();
  }

  bool keep = false;
  void keep_row(ThreadState& st, uint64_t u, const float* x) {
    if (st.kept_uid.size() >= st.kept_cap) compact(st);
    if (st.kept_vec.capacity() < st.kept_cap * static_cast<size_t>(dim)) {
      // Room for the rows up to the next compaction at once: growing by doubling maps and
      // zero-fills fresh pages at every step (a visible share of a short search's time).
      st.kept_uid.reserve(st.kept_cap);
      st.kept_vec.reserve(st.kept_cap * static_cast<size_t>(dim));
    }
    st.kept_uid.push_back(u);
    st.kept_vec.insert(st.kept_vec.end(), x, x + dim);
  }
  // Drops kept rows whose uid is no longer in any of st's heaps (and repeats of a uid).
  void compact(ThreadState& st) const {
    std::vector<uint64_t> live;
    for (const auto& h : st.heaps)
      for (const auto& n : h.sorted()) live.push_back(n.uid);
    std::sort(live.begin(), live.end());
    live.erase(std::unique(live.begin(), live.end()), live.end());
    std::vector<char> seen(live.size(), 0);
    const size_t d = static_cast<size_t>(dim);
    size_t w = 0;
    for (size_t i = 0; i < st.kept_uid.size(); ++i) {
      auto it = std::lower_bound(live.begin(), live.end(), st.kept_uid[i]);
      if (it == live.end() || *it != st.kept_uid[i] || seen[static_cast<size_t>(it - live.begin())]) continue;
      seen[static_cast<size_t>(it - live.begin())] = 1;
      st.kept_uid[w] = st.kept_uid[i];
      if (w != i) std::copy_n(st.kept_vec.begin() + static_cast<std::ptrdiff_t>(i * d), d, st.kept_vec.begin() + static_cast<std::ptrdiff_t>(w * d));
      ++w;
    }
    st.kept_uid.resize(w);
    st.kept_vec.resize(w * d);
    // Room for as many insertions again as there are live rows (at least 4096): amortised O(1).
    st.kept_cap = std::max<size_t>(4096, 2 * w + 2 * static_cast<size_t>(nq) * static_cast<size_t>(K));
  }

  // Dot-product floor of query q: items below it cannot beat the current K-th canonical
  // distance (of this thread's heap, or of the seeded prior lists, whichever is tighter).
  float floor_of(const ThreadState& st, int q, float maxn) const {
    const TopK& h = st.heaps[static_cast<size_t>(q)];
    const Neighbour& bound = bounds[static_cast<size_t>(q)];
    const Neighbour& w = bound < h.worst() ? bound : h.worst();
    const float e = eps * (1.0f + qnorm[static_cast<size_t>(q)] * maxn);
    return std::isinf(w.dist) ? kNegInf : (1.0f - w.dist) - e;
  }

  // Items X[0..n) (row-major, dim wide) with uids U, against every query, into st's heaps.
  // The approximate dots (a GEMM, or the few-query kernel) only filter: every item that can
  // enter a heap passes (the margin eps bounds any summation order's error), and what enters
  // is decided by the canonical distance, so results do not depend on the kernel.
  void process(ThreadState& st, const float* X, const uint64_t* U, size_t n, size_t row0, float norm_bound) {
    ConstRowMap Xs(X, static_cast<Eigen::Index>(n), dim);
    float maxn = norm_bound;
    if (!(maxn >= 0.f)) {  // no bound given: the sub-block's largest norm
      float maxn2 = 0.f;  // NaN rows are ignored here (never candidates); an inf row only widens the margin
      for (size_t j = 0; j < n; ++j) {
        float v = Xs.row(static_cast<Eigen::Index>(j)).squaredNorm();
        if (v > maxn2) maxn2 = v;
      }
      maxn = std::sqrt(maxn2);
    }
    st.items += n;
    if (nv > 0) return few_queries(st, X, U, n, row0, maxn);
    const Eigen::Index ld = st.scores.cols();
    for (int q0 = 0; q0 < nq; q0 += QT) {
      const int nqt = std::min(QT, nq - q0);
      auto S = st.scores.topLeftCorner(nqt, static_cast<Eigen::Index>(n));
      S.noalias() = Q.middleRows(q0, nqt) * Xs.transpose();
      for (int qi = 0; qi < nqt; ++qi) {
        const int q = q0 + qi;
        float lo = floor_of(st, q, maxn);
        const float* s = st.scores.data() + qi * ld;
        for (size_t j = 0; j < n; ++j) {
          if (!(s[j] >= lo)) continue;  // the hot path: one compare per (query, item)
          if (consider(st, q, X, U, j, row0)) lo = floor_of(st, q, maxn);
        }
      }
    }
  }

  // Few queries (nq <= 64) on a CPU with AVX2 and FMA: the dots of each row against all queries
  // at once (queries in vector lanes, the row's values broadcast), straight from the block —
  // no repacking of the pool rows as a GEMM does — compared with the per-query floors in the
  // same registers.
  std::vector<float> qt;  // dim x (8 nv): qt[d * 8 nv + q] = Q(q, d), zero for padded lanes
  int nv = 0;             // vectors of 8 queries; 0: the GEMM path
  bool wide = false;      // AVX-512: nv is even, read as nv/2 vectors of 16
  void few_queries(ThreadState& st, const float* X, const uint64_t* U, size_t n, size_t row0, float maxn);
};

#if defined(__x86_64__)
namespace {

// Requests into L2 the rows four groups of R ahead of x (rows_left counts x's own): the long
// chains of multiply-adds per group fill the out-of-order window, so without this a group's
// misses are not overlapped with the previous group's arithmetic, and the hardware prefetcher
// stops at every 4 KiB page (the rows come from DRAM, or from the core that verified them just
// before). The AnchorAL round's search: 0.059-0.061 -> 0.049-0.057 s (docs/BENCHMARKS.md).
inline void prefetch_ahead(const float* x, int R, int dim, size_t rows_left) {
  const size_t group = size_t(R) * size_t(dim) * sizeof(float);
  if (rows_left < size_t(5 * R)) return;
  const char* p = reinterpret_cast<const char*>(x) + 4 * group;
  for (size_t b = 0; b < group; b += 64) __builtin_prefetch(p + b, 0, 1);
}

// R rows at a time (independent accumulator chains hide the FMA latency), NV vectors of 8
// queries; on_hit(q, j) for every (query, row) whose dot is >= lo[q] (lo is re-read per row).
template <int NV, int R, class F>
__attribute__((target("avx2,fma"))) void scan_rows(const float* X, size_t j0, size_t j1, int dim, const float* qt,
                                                    const float* lo, F& on_hit) {
  size_t j = j0;
  for (; j + R <= j1; j += R) {
    __m256 acc[R][NV];
#pragma GCC unroll 8
    for (int r = 0; r < R; ++r)
#pragma GCC unroll 8
      for (int v = 0; v < NV; ++v) acc[r][v] = _mm256_setzero_ps();
    const float* x = X + j * static_cast<size_t>(dim);
    prefetch_ahead(x, R, dim, j1 - j);
    for (int d = 0; d < dim; ++d) {
      const float* qd = qt + static_cast<size_t>(d) * NV * 8;
      __m256 qv[NV];
#pragma GCC unroll 8
      for (int v = 0; v < NV; ++v) qv[v] = _mm256_loadu_ps(qd + 8 * v);
#pragma GCC unroll 8
      for (int r = 0; r < R; ++r) {
        const __m256 xb = _mm256_broadcast_ss(x + static_cast<size_t>(r) * dim + d);
#pragma GCC unroll 8
        for (int v = 0; v < NV; ++v) acc[r][v] = _mm256_fmadd_ps(qv[v], xb, acc[r][v]);
      }
    }
    for (int r = 0; r < R; ++r)
      for (int v = 0; v < NV; ++v) {
        int m = _mm256_movemask_ps(_mm256_cmp_ps(acc[r][v], _mm256_loadu_ps(lo + 8 * v), _CMP_GE_OQ));
        while (m) {
          const int b = __builtin_ctz(static_cast<unsigned>(m));
          m &= m - 1;
          on_hit(8 * v + b, j + static_cast<size_t>(r));
        }
      }
  }
  if (j < j1) scan_rows<NV, 1>(X, j, j1, dim, qt, lo, on_hit);
}

template <int NV, class F>
void scan_few(const float* X, size_t n, int dim, const float* qt, const float* lo, F& on_hit) {
  constexpr int R = NV >= 6 ? 1 : NV >= 4 ? 2 : NV == 3 ? 4 : NV == 2 ? 5 : 8;
  scan_rows<NV, R>(X, 0, n, dim, qt, lo, on_hit);
}

// The same with 16 queries per 512-bit vector (NV16 of them: qt's rows of 8·nv floats read as
// NV16 = nv/2 vectors, nv even): half the multiply-adds per row and query, and twice the
// registers for independent rows.
template <int NV16, int R, class F>
__attribute__((target("avx512f"))) void scan_rows16(const float* X, size_t j0, size_t j1, int dim, const float* qt,
                                                    const float* lo, F& on_hit) {
  size_t j = j0;
  for (; j + R <= j1; j += R) {
    __m512 acc[R][NV16];
#pragma GCC unroll 16
    for (int r = 0; r < R; ++r)
#pragma GCC unroll 4
      for (int v = 0; v < NV16; ++v) acc[r][v] = _mm512_setzero_ps();
    const float* x = X + j * static_cast<size_t>(dim);
    prefetch_ahead(x, R, dim, j1 - j);
    for (int d = 0; d < dim; ++d) {
      const float* qd = qt + static_cast<size_t>(d) * NV16 * 16;
      __m512 qv[NV16];
#pragma GCC unroll 4
      for (int v = 0; v < NV16; ++v) qv[v] = _mm512_loadu_ps(qd + 16 * v);
#pragma GCC unroll 16
      for (int r = 0; r < R; ++r) {
        const __m512 xb = _mm512_set1_ps(x[static_cast<size_t>(r) * dim + d]);
#pragma GCC unroll 4
        for (int v = 0; v < NV16; ++v) acc[r][v] = _mm512_fmadd_ps(qv[v], xb, acc[r][v]);
      }
    }
    for (int r = 0; r < R; ++r)
      for (int v = 0; v < NV16; ++v) {
        unsigned m = _mm512_cmp_ps_mask(acc[r][v], _mm512_loadu_ps(lo + 16 * v), _CMP_GE_OQ);
        while (m) {
          const int b = __builtin_ctz(m);
          m &= m - 1;
          on_hit(16 * v + b, j + static_cast<size_t>(r));
        }
      }
  }
  if (j < j1) scan_rows16<NV16, 1>(X, j, j1, dim, qt, lo, on_hit);
}

template <int NV16, class F>
void scan_few16(const float* X, size_t n, int dim, const float* qt, const float* lo, F& on_hit) {
  constexpr int R = NV16 == 1 ? 12 : NV16 == 2 ? 8 : NV16 == 3 ? 6 : 4;
  scan_rows16<NV16, R>(X, 0, n, dim, qt, lo, on_hit);
}

bool cpu_has_avx2_fma() {
  static const bool ok = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  return ok;
}
bool cpu_has_avx512f() {
  static const bool ok = __builtin_cpu_supports("avx512f");
  return ok;
}

}  // namespace

void ExactScanner::Impl::few_queries(ThreadState& st, const float* X, const uint64_t* U, size_t n, size_t row0,
                                     float maxn) {
  std::vector<float> lo(static_cast<size_t>(nv) * 8, std::numeric_limits<float>::infinity());
  for (int q = 0; q < nq; ++q) lo[static_cast<size_t>(q)] = floor_of(st, q, maxn);
  auto on_hit = [&](int q, size_t j) {
    if (consider(st, q, X, U, j, row0)) lo[static_cast<size_t>(q)] = floor_of(st, q, maxn);
  };
  if (wide) {
    switch (nv / 2) {
      case 1: scan_few16<1>(X, n, dim, qt.data(), lo.data(), on_hit); break;
      case 2: scan_few16<2>(X, n, dim, qt.data(), lo.data(), on_hit); break;
      case 3: scan_few16<3>(X, n, dim, qt.data(), lo.data(), on_hit); break;
      default: scan_few16<4>(X, n, dim, qt.data(), lo.data(), on_hit); break;
    }
    return;
  }
  switch (nv) {
    case 1: scan_few<1>(X, n, dim, qt.data(), lo.data(), on_hit); break;
    case 2: scan_few<2>(X, n, dim, qt.data(), lo.data(), on_hit); break;
    case 3: scan_few<3>(X, n, dim, qt.data(), lo.data(), on_hit); break;
    case 4: scan_few<4>(X, n, dim, qt.data(), lo.data(), on_hit); break;
    case 5: scan_few<5>(X, n, dim, qt.data(), lo.data(), on_hit); break;
    case 6: scan_few<6>(X, n, dim, qt.data(), lo.data(), on_hit); break;
    case 7: scan_few<7>(X, n, dim, qt.data(), lo.data(), on_hit); break;
    default: scan_few<8>(X, n, dim, qt.data(), lo.data(), on_hit); break;
  }
}
#else
void ExactScanner::Impl::few_queries(ThreadState&, const float*, const uint64_t*, size_t, size_t, float) {
  TRAWL_ASSERT_MSG(false, "few-query kernel without x86-64");
}
#endif

ExactScanner::ExactScanner(const float* queries, int nq, int dim, int K,
                           const std::vector<uint64_t>* excluded, ExactOptions opt)
    : p_(new Impl) {
  if (K < 0) throw UsageError(cat("exact search: K = ", K, ", expected >= 0"));
  if (dim < 1) throw UsageError(cat("exact search: dimension ", dim, ", expected >= 1"));
  if (nq < 0) throw UsageError(cat("exact search: ", nq, " queries, expected >= 0"));
  if (opt.block_rows < 0 || opt.query_tile < 0 || opt.threads < 0)
    throw UsageError(cat("exact search: block_rows ", opt.block_rows, ", query_tile ", opt.query_tile,
                         ", threads ", opt.threads, ": expected >= 0 (0 = automatic)"));
  if (excluded && !std::is_sorted(excluded->begin(), excluded->end()))
    throw UsageError("exact search: the excluded uid list is not sorted ascending");
  Impl& m = *p_;
  m.nq = nq;
  m.dim = dim;
  m.K = K;
  m.excluded = excluded;
  size_t rows = opt.block_rows > 0 ? static_cast<size_t>(opt.block_rows)
                                   : kSubBlockBytes / (sizeof(float) * static_cast<size_t>(dim));
  if (opt.block_rows == 0) rows = std::max<size_t>(16, rows / 16 * 16);
  m.B = static_cast<int>(std::min<size_t>(rows, 1 << 20));
  m.QT = opt.query_tile > 0 ? opt.query_tile : 256;
  m.T = opt.threads > 0 ? opt.threads : omp_get_max_threads();
  m.eps = 2.0f * static_cast<float>(dim + 8) * std::ldexp(1.0f, -24);
  m.Q = nq > 0 ? ConstRowMap(queries, nq, dim) : RowMatrixXf(0, dim);
  m.qnorm.resize(static_cast<size_t>(nq));
  for (int q = 0; q < nq; ++q) m.qnorm[static_cast<size_t>(q)] = m.Q.row(q).norm();
#if defined(__x86_64__)
  // The few-query kernel, in 512-bit vectors where the CPU has AVX-512 (unless
  // TRAWL_EXACT_KERNEL=gemm asks for the GEMM path, or =avx2 for the 256-bit kernel).
  const char* kernel = std::getenv("TRAWL_EXACT_KERNEL");
  const std::string kname = kernel ? kernel : "";
  if (nq > 0 && nq <= 64 && cpu_has_avx2_fma() && kname != "gemm") {
    m.wide = cpu_has_avx512f() && kname != "avx2";
    m.nv = (nq + 7) / 8;
    if (m.wide) m.nv += m.nv % 2;  // whole vectors of 16 (the padding lanes' floors stay +inf)
    m.qt.assign(static_cast<size_t>(dim) * 8 * static_cast<size_t>(m.nv), 0.0f);
    for (int q = 0; q < nq; ++q)
      for (int d = 0; d < dim; ++d) m.qt[static_cast<size_t>(d) * 8 * static_cast<size_t>(m.nv) + static_cast<size_t>(q)] = m.Q(q, d);
  }
#endif
  m.prior = AnchorLists(K, static_cast<size_t>(nq));
  m.bounds.assign(static_cast<size_t>(nq), kSentinel);
  m.ts.resize(static_cast<size_t>(m.T));
  m.keep = opt.keep_vectors;
  for (auto& st : m.ts) {
    st.heaps.assign(static_cast<size_t>(nq), TopK(K));
    st.kept_cap = std::max<size_t>(4096, 4 * static_cast<size_t>(std::max(nq, 0)) * static_cast<size_t>(std::max(K, 0)));
    if (m.nv == 0) st.scores.resize(std::min(m.QT, std::max(nq, 1)), m.B);
  }
}

ExactScanner::~ExactScanner() = default;

void ExactScanner::seed(const AnchorLists& prior) {
  Impl& m = *p_;
  if (prior.K != m.K || prior.n_anchors() != static_cast<size_t>(m.nq))
    throw InputError(cat("exact search: prior lists have K = ", prior.K, " and ", prior.n_anchors(),
                         " anchors; expected K = ", m.K, " and ", m.nq, " anchors"));
  // The prior lists are merged into the result at the end (merge_lists keeps a uid once, so
  // rescanning an item already in them is harmless); meanwhile their K-th entries bound what
  // the scan must keep.
  m.prior = merge_lists(m.prior, prior);
  for (int q = 0; q < m.nq; ++q) {
    const auto& l = m.prior.lists[static_cast<size_t>(q)];
    m.bounds[static_cast<size_t>(q)] = l.size() == static_cast<size_t>(m.K) && m.K > 0 ? l.back() : kSentinel;
  }
}

void ExactScanner::scan(const float* block, const uint64_t* uids, size_t nb, float norm_bound) {
  Impl& m = *p_;
  if (nb == 0 || m.nq == 0 || m.K == 0) return;
  const size_t B = static_cast<size_t>(m.B);
  const long long nsub = static_cast<long long>((nb + B - 1) / B);
  const int T = static_cast<int>(std::min<long long>(m.T, nsub));
#pragma omp parallel num_threads(T)
  {
    ThreadState& st = m.ts[static_cast<size_t>(omp_get_thread_num())];
#pragma omp for schedule(dynamic, 1)
    for (long long s = 0; s < nsub; ++s) {
      const size_t r0 = static_cast<size_t>(s) * B;
      const size_t n = std::min(B, nb - r0);
      m.process(st, block + r0 * static_cast<size_t>(m.dim), uids + r0, n, r0, norm_bound);
    }
  }
  for (auto& st : m.ts)
    if (st.bad_uid) {
      st.bad_uid = false;
      throw InputError(cat("exact search: row ", st.bad_uid_row, " of the block has the reserved uid ", kNoUid));
    }
}

AnchorLists ExactScanner::result() const {
  const Impl& m = *p_;
  AnchorLists out(m.K, static_cast<size_t>(m.nq));
  for (int q = 0; q < m.nq; ++q) {
    auto& l = out.lists[static_cast<size_t>(q)];
    l = m.ts[0].heaps[static_cast<size_t>(q)].sorted();
    for (size_t t = 1; t < m.ts.size(); ++t)
      if (m.ts[t].heaps[static_cast<size_t>(q)].size() > 0)
        l = merge_sorted(l, m.ts[t].heaps[static_cast<size_t>(q)].sorted(), m.K);
  }
  return merge_lists(m.prior, out);
}

void ExactScanner::kept_vectors(const std::vector<uint64_t>& uids, std::vector<uint64_t>& out_uid,
                                std::vector<float>& out_vec) const {
  const Impl& m = *p_;
  const size_t d = static_cast<size_t>(m.dim);
  std::vector<const float*> at(uids.size(), nullptr);
  for (const auto& st : m.ts)
    for (size_t i = 0; i < st.kept_uid.size(); ++i) {
      auto it = std::lower_bound(uids.begin(), uids.end(), st.kept_uid[i]);
      if (it != uids.end() && *it == st.kept_uid[i]) at[static_cast<size_t>(it - uids.begin())] = st.kept_vec.data() + i * d;
    }
  for (size_t i = 0; i < uids.size(); ++i)
    if (at[i]) {
      out_uid.push_back(uids[i]);
      out_vec.insert(out_vec.end(), at[i], at[i] + d);
    }
}

int ExactScanner::nq() const { return p_->nq; }
int ExactScanner::dim() const { return p_->dim; }
int ExactScanner::K() const { return p_->K; }
int ExactScanner::block_rows() const { return p_->B; }
int ExactScanner::query_tile() const { return p_->QT; }
int ExactScanner::threads() const { return p_->T; }
uint64_t ExactScanner::items_scanned() const {
  uint64_t n = 0;
  for (const auto& st : p_->ts) n += st.items;
  return n;
}
uint64_t ExactScanner::candidates() const {
  uint64_t n = 0;
  for (const auto& st : p_->ts) n += st.candidates;
  return n;
}

void exact_search(const float* queries, int nq, const float* block, const uint64_t* block_uids, size_t nb,
                  int dim, const std::vector<uint64_t>* excluded, AnchorLists& acc, ExactOptions opt) {
  if (acc.lists.empty()) acc.lists.resize(static_cast<size_t>(std::max(nq, 0)));
  ExactScanner s(queries, nq, dim, acc.K, excluded, opt);
  s.seed(acc);
  s.scan(block, block_uids, nb);
  acc = s.result();
}

}  // namespace trawl::retrieve
