#include "retrieve/exact.h"

#include <omp.h>

#include <Eigen/Core>
#include <algorithm>
#include <cmath>
#include <limits>

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

  // Items X[0..n) (row-major, dim wide) with uids U, against every query, into st's heaps.
  void process(ThreadState& st, const float* X, const uint64_t* U, size_t n, size_t row0) {
    ConstRowMap Xs(X, static_cast<Eigen::Index>(n), dim);
    float maxn2 = 0.f;  // NaN rows are ignored here (never candidates); an inf row only widens the margin
    for (size_t j = 0; j < n; ++j) {
      float v = Xs.row(static_cast<Eigen::Index>(j)).squaredNorm();
      if (v > maxn2) maxn2 = v;
    }
    const float maxn = std::sqrt(maxn2);
    const Eigen::Index ld = st.scores.cols();
    for (int q0 = 0; q0 < nq; q0 += QT) {
      const int nqt = std::min(QT, nq - q0);
      auto S = st.scores.topLeftCorner(nqt, static_cast<Eigen::Index>(n));
      S.noalias() = Q.middleRows(q0, nqt) * Xs.transpose();
      for (int qi = 0; qi < nqt; ++qi) {
        const int q = q0 + qi;
        TopK& h = st.heaps[static_cast<size_t>(q)];
        const Neighbour& bound = bounds[static_cast<size_t>(q)];
        const float* qv = Q.row(q).data();
        const float e = eps * (1.0f + qnorm[static_cast<size_t>(q)] * maxn);
        // Dot-product floor: items below it cannot beat the current K-th canonical distance
        // (of this thread's heap, or of the seeded prior lists, whichever is tighter).
        auto floor_of = [&]() {
          const Neighbour& w = bound < h.worst() ? bound : h.worst();
          return std::isinf(w.dist) ? kNegInf : (1.0f - w.dist) - e;
        };
        float lo = floor_of();
        const float* s = st.scores.data() + qi * ld;
        for (size_t j = 0; j < n; ++j) {
          if (!(s[j] >= lo)) continue;  // the hot path: one compare per (query, item)
          ++st.candidates;
          const uint64_t u = U[j];
          if (is_excluded(u)) continue;
          if (u == kNoUid) {
            if (!st.bad_uid) st.bad_uid_row = row0 + j;
            st.bad_uid = true;
            continue;
          }
          const Neighbour nb{cosine_distance(qv, X + j * static_cast<size_t>(dim), dim), u};
          if (!std::isfinite(nb.dist) || !(nb < bound)) continue;
          if (h.push(nb) && h.full()) lo = floor_of();
        }
      }
    }
    st.items += n;
  }
};

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
  m.prior = AnchorLists(K, static_cast<size_t>(nq));
  m.bounds.assign(static_cast<size_t>(nq), kSentinel);
  m.ts.resize(static_cast<size_t>(m.T));
  for (auto& st : m.ts) {
    st.heaps.assign(static_cast<size_t>(nq), TopK(K));
    st.scores.resize(std::min(m.QT, std::max(nq, 1)), m.B);
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

void ExactScanner::scan(const float* block, const uint64_t* uids, size_t nb) {
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
      m.process(st, block + r0 * static_cast<size_t>(m.dim), uids + r0, n, r0);
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
