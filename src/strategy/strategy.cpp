// Acquisition strategies (strategy.h). Notes on the implementation:
//  * Top-b selections are one pass with a bounded heap per thread (O(n + b log b)), never a
//    sort of the whole input; the heaps are merged in the total order (score desc, uid asc),
//    so the result does not depend on the thread count.
//  * Scores are computed in double from the float probabilities by the same inline functions
//    the per-item entry points use, so a selection can be merged across blocks, files and
//    ranks by recomputing the per-item scores.
//  * BADGE never materialises the C·F gradient embeddings: for g = a ⊗ h,
//    ‖g_i − g_j‖² = ‖a_i‖²‖h_i‖² + ‖a_j‖²‖h_j‖² − 2 (a_i·a_j)(h_i·h_j), in double.
//  * k-means++ (BADGE, k-means init) runs over the items in uid order and sums distances in
//    fixed blocks (partial sums in a fixed order), so selections do not depend on the input
//    order or the thread count.
#include "strategy/strategy.h"

#include <omp.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <queue>

#include "core/error.h"
#include "core/kmeanspp.h"
#include "core/rng.h"

namespace trawl::strategy {

namespace {

constexpr size_t kBlock = 4096;         // rows per block of the blocked (deterministic) sums
constexpr size_t kParallelMin = 32768;  // below this, one thread

// ---- per-item scores -----------------------------------------------------------------------
inline double lc_score(const float* p, int C) {
  float m = p[0];
  for (int k = 1; k < C; ++k) m = p[k] > m ? p[k] : m;
  return 1.0 - double(m);
}
inline double margin_score(const float* p, int C) {
  if (C < 2) return -double(p[0]);
  float a = p[0], b = p[1];
  if (b > a) std::swap(a, b);
  for (int k = 2; k < C; ++k) {
    const float v = p[k];
    if (v > a) {
      b = a;
      a = v;
    } else if (v > b) {
      b = v;
    }
  }
  return -(double(a) - double(b));
}
inline double entropy_score(const float* p, int C) {
  double h = 0.0;
  for (int k = 0; k < C; ++k) {
    const double v = p[k];
    if (v > 0.0) h -= v * std::log(v);
    else if (!(v >= 0.0)) return std::numeric_limits<double>::quiet_NaN();  // NaN in, NaN out
  }
  return h;
}
inline double threshold_score(const float* p, int cls, double t) { return -std::fabs(double(p[cls]) - t); }

inline int argmax(const float* p, int C) {
  int a = 0;
  for (int k = 1; k < C; ++k)
    if (p[k] > p[a]) a = k;
  return a;
}

void check_sizes(Eigen::Index rows, size_t uids, const char* what) {
  if (static_cast<size_t>(rows) != uids)
    throw InputError(cat(what, ": ", rows, " rows of probabilities or features but ", uids,
                         " uids; expected one uid per row"));
}

// ---- top-b by a key (larger first; ties: smaller uid) --------------------------------------
template <class K>
struct Cand {
  K key;
  uint64_t uid;
  size_t pos;
};
template <class K>
struct Better {
  bool operator()(const Cand<K>& a, const Cand<K>& b) const {
    return a.key > b.key || (a.key == b.key && a.uid < b.uid);
  }
};

/// key(i) -> K; for doubles a NaN key is an InputError naming the row. include(i) filters.
template <class K, class KeyFn>
std::vector<size_t> top_b(size_t n, const std::vector<uint64_t>& uids, size_t b, const KeyFn& key,
                          const char* what) {
  if (b == 0 || n == 0) return {};
  b = std::min(b, n);
  using C = Cand<K>;
  Better<K> better;
  std::vector<std::vector<C>> parts;
  size_t bad = std::numeric_limits<size_t>::max();
  const int nt = n >= kParallelMin ? omp_get_max_threads() : 1;
  parts.resize(size_t(nt));
#pragma omp parallel num_threads(nt)
  {
    const int t = omp_get_thread_num(), T = omp_get_num_threads();
    const size_t lo = n * size_t(t) / size_t(T), hi = n * size_t(t + 1) / size_t(T);
    // Max-heap under `better`: top() is the worst kept candidate.
    std::priority_queue<C, std::vector<C>, Better<K>> heap(better);
    size_t my_bad = std::numeric_limits<size_t>::max();
    for (size_t i = lo; i < hi; ++i) {
      const K k = key(i);
      if constexpr (std::is_floating_point<K>::value) {
        if (k != k) {
          my_bad = std::min(my_bad, i);
          continue;
        }
      }
      if (heap.size() < b) {
        heap.push(C{k, uids[i], i});
      } else {
        const C& w = heap.top();
        if (k > w.key || (k == w.key && uids[i] < w.uid)) {
          heap.pop();
          heap.push(C{k, uids[i], i});
        }
      }
    }
    auto& out = parts[size_t(t)];
    while (!heap.empty()) {
      out.push_back(heap.top());
      heap.pop();
    }
#pragma omp critical(trawl_strategy_bad)
    bad = std::min(bad, my_bad);
  }
  if (bad != std::numeric_limits<size_t>::max())
    throw InputError(cat(what, ": the probabilities of row ", bad, " (uid ", uids[bad],
                         ") are not finite; expected probabilities in [0, 1]"));
  std::vector<C> all;
  for (auto& p : parts) all.insert(all.end(), p.begin(), p.end());
  const size_t m = std::min(b, all.size());
  std::partial_sort(all.begin(), all.begin() + long(m), all.end(), better);
  std::vector<size_t> out(m);
  for (size_t i = 0; i < m; ++i) out[i] = all[i].pos;
  return out;
}

inline const float* row_of(const ProbRef& M, size_t i) { return M.data() + i * size_t(M.outerStride()); }

// ---- uid order -----------------------------------------------------------------------------
/// Positions in uid order (identity when already sorted); InputError on a repeated uid.
std::vector<size_t> uid_order(const std::vector<uint64_t>& uids, const char* what) {
  std::vector<size_t> order(uids.size());
  std::iota(order.begin(), order.end(), size_t{0});
  if (!std::is_sorted(uids.begin(), uids.end()))
    std::sort(order.begin(), order.end(), [&](size_t a, size_t b) { return uids[a] < uids[b]; });
  for (size_t j = 1; j < order.size(); ++j)
    if (uids[order[j]] == uids[order[j - 1]])
      throw InputError(cat(what, ": uid ", uids[order[j]], " appears twice; expected unique uids"));
  return order;
}

void check_finite(const ProbRef& M, const std::vector<uint64_t>& uids, const char* what, const char* name) {
  const size_t n = size_t(M.rows()), c = size_t(M.cols());
  for (size_t i = 0; i < n; ++i) {
    const float* r = row_of(M, i);
    for (size_t k = 0; k < c; ++k)
      if (!std::isfinite(r[k]))
        throw InputError(cat(what, ": ", name, " of row ", i, " (uid ", uids[i], ") are not finite"));
  }
}

/// Dot product of float vectors accumulated in double (vectorised; the summation order is fixed
/// by the build, not by the data's position or the thread count).
inline double dot_d(const float* a, const float* b, int n) {
  double s = 0.0;
#pragma omp simd reduction(+ : s)
  for (int k = 0; k < n; ++k) s += double(a[k]) * double(b[k]);
  return s;
}

}  // namespace

// ---- per-item scores -----------------------------------------------------------------------
double least_confidence(const float* p, int C) { return lc_score(p, C); }
double margin(const float* p, int C) { return margin_score(p, C); }
double entropy(const float* p, int C) { return entropy_score(p, C); }
double around_threshold(const float* p, int C, int cls, double threshold) {
  TRAWL_ASSERT_MSG(cls >= 0 && cls < C, "class ", cls, " of ", C);
  return threshold_score(p, cls, threshold);
}
double uncertainty(const float* p, int C, Uncertainty u) {
  switch (u) {
    case Uncertainty::kLeastConfidence: return lc_score(p, C);
    case Uncertainty::kMargin: return margin_score(p, C);
    case Uncertainty::kEntropy: return entropy_score(p, C);
  }
  return 0.0;
}
uint64_t random_key(uint64_t uid, const Context& ctx) { return key(ctx.seed, ctx.round, uid); }
double random_score(uint64_t uid, const Context& ctx) {
  return double(random_key(uid, ctx) >> 11) * (1.0 / 9007199254740992.0);
}

// ---- top-b selections ----------------------------------------------------------------------
std::vector<size_t> top_uncertain(const ProbRef& probs, const std::vector<uint64_t>& uids, Uncertainty u, size_t b) {
  check_sizes(probs.rows(), uids.size(), "uncertainty sampling");
  const int C = int(probs.cols());
  if (C < 1 && probs.rows() > 0) throw InputError("uncertainty sampling: probabilities with 0 classes");
  const size_t n = size_t(probs.rows());
  switch (u) {
    case Uncertainty::kLeastConfidence:
      if (C == 2)  // the common binary case: 1 - max(p0, p1)
        return top_b<double>(n, uids, b, [&](size_t i) {
          const float* p = row_of(probs, i);
          return 1.0 - double(p[1] > p[0] ? p[1] : p[0]);
        }, "least confidence");
      return top_b<double>(n, uids, b, [&](size_t i) { return lc_score(row_of(probs, i), C); }, "least confidence");
    case Uncertainty::kMargin:
      if (C == 2)  // -(max - min): the same arithmetic as margin_score
        return top_b<double>(n, uids, b, [&](size_t i) {
          const float* p = row_of(probs, i);
          const bool hi = p[1] > p[0];
          return -(double(hi ? p[1] : p[0]) - double(hi ? p[0] : p[1]));
        }, "margin");
      return top_b<double>(n, uids, b, [&](size_t i) { return margin_score(row_of(probs, i), C); }, "margin");
    case Uncertainty::kEntropy:
      return top_b<double>(n, uids, b, [&](size_t i) { return entropy_score(row_of(probs, i), C); }, "entropy");
  }
  return {};
}

std::vector<size_t> top_around_threshold(const ProbRef& probs, const std::vector<uint64_t>& uids, int cls,
                                         double threshold, size_t b) {
  check_sizes(probs.rows(), uids.size(), "around threshold");
  if (cls < 0 || cls >= probs.cols())
    throw UsageError(cat("around threshold: class index ", cls, " outside [0, ", probs.cols(), ")"));
  return top_b<double>(size_t(probs.rows()), uids, b,
                       [&](size_t i) { return threshold_score(row_of(probs, i), cls, threshold); }, "around threshold");
}

std::vector<size_t> top_threshold_side(const ProbRef& probs, const std::vector<uint64_t>& uids, int cls,
                                       double threshold, size_t b, bool above) {
  check_sizes(probs.rows(), uids.size(), "around threshold");
  if (cls < 0 || cls >= probs.cols())
    throw UsageError(cat("around threshold: class index ", cls, " outside [0, ", probs.cols(), ")"));
  const double out_of_side = -std::numeric_limits<double>::infinity();
  auto pos = top_b<double>(size_t(probs.rows()), uids, b, [&](size_t i) {
    const float* p = row_of(probs, i);
    if (p[cls] != p[cls]) return std::numeric_limits<double>::quiet_NaN();
    const bool up = double(p[cls]) >= threshold;
    return up == above ? threshold_score(p, cls, threshold) : out_of_side;
  }, "around threshold");
  // Items of the other side ranked last (score -inf): drop them.
  pos.erase(std::remove_if(pos.begin(), pos.end(),
                           [&](size_t i) { return (double(row_of(probs, i)[cls]) >= threshold) != above; }),
            pos.end());
  return pos;
}

std::vector<size_t> split_around_threshold(const ProbRef& probs, const std::vector<uint64_t>& uids, int cls,
                                           double threshold, size_t b) {
  auto up = top_threshold_side(probs, uids, cls, threshold, b, true);
  auto down = top_threshold_side(probs, uids, cls, threshold, b, false);
  size_t n_up = (b + 1) / 2, n_down = b / 2;
  if (up.size() < n_up) n_down += n_up - up.size(), n_up = up.size();
  if (down.size() < n_down) n_up = std::min(up.size(), n_up + (n_down - down.size())), n_down = down.size();
  std::vector<size_t> out(up.begin(), up.begin() + long(n_up));
  out.insert(out.end(), down.begin(), down.begin() + long(n_down));
  return out;
}

std::vector<size_t> random(const std::vector<uint64_t>& uids, size_t b, const Context& ctx) {
  // Smallest hash first: rank by the complement.
  return top_b<uint64_t>(uids.size(), uids, b, [&](size_t i) { return ~random_key(uids[i], ctx); }, "random");
}

// ---- BADGE ---------------------------------------------------------------------------------
RowMatrixXf badge_embeddings(const ProbRef& probs, const ProbRef& features) {
  if (probs.rows() != features.rows())
    throw InputError(cat("BADGE: ", probs.rows(), " rows of probabilities but ", features.rows(),
                         " rows of features; expected one of each per item"));
  const Eigen::Index n = probs.rows(), C = probs.cols(), F = features.cols();
  RowMatrixXf G(n, C * F);
  for (Eigen::Index i = 0; i < n; ++i) {
    const float* p = row_of(probs, size_t(i));
    const float* h = row_of(features, size_t(i));
    const int y = argmax(p, int(C));
    float* g = G.row(i).data();
    for (Eigen::Index k = 0; k < C; ++k) {
      const float a = p[k] - (k == y ? 1.0f : 0.0f);
      for (Eigen::Index f = 0; f < F; ++f) g[k * F + f] = a * h[f];
    }
  }
  return G;
}

double badge_norm2(const float* p, const float* h, int C, int F) {
  const int y = argmax(p, C);
  double a2 = 0.0;
  for (int k = 0; k < C; ++k) {
    const double a = double(p[k] - (k == y ? 1.0f : 0.0f));
    a2 += a * a;
  }
  return a2 * dot_d(h, h, F);
}

std::vector<size_t> badge(const ProbRef& probs, const ProbRef& features, const std::vector<uint64_t>& uids, size_t b,
                          const Context& ctx) {
  check_sizes(probs.rows(), uids.size(), "BADGE");
  if (features.rows() != probs.rows())
    throw InputError(cat("BADGE: ", probs.rows(), " rows of probabilities but ", features.rows(),
                         " rows of features; expected one of each per item"));
  const size_t n = uids.size();
  if (n == 0 || b == 0) return {};
  check_finite(probs, uids, "BADGE", "probabilities");
  check_finite(features, uids, "BADGE", "features");
  const int C = int(probs.cols()), F = int(features.cols());
  const auto order = uid_order(uids, "BADGE");
  // a = p - onehot(argmax p), in uid order; norms in double.
  std::vector<float> A(n * size_t(C));
  std::vector<const float*> H(n);
  std::vector<double> nn(n);
#pragma omp parallel for schedule(static) if (n >= kParallelMin)
  for (long j = 0; j < long(n); ++j) {
    const float* p = row_of(probs, order[size_t(j)]);
    const int y = argmax(p, C);
    float* a = &A[size_t(j) * size_t(C)];
    for (int k = 0; k < C; ++k) a[k] = p[k] - (k == y ? 1.0f : 0.0f);
    H[size_t(j)] = row_of(features, order[size_t(j)]);
    nn[size_t(j)] = dot_d(a, a, C) * dot_d(H[size_t(j)], H[size_t(j)], F);
  }
  auto dist = [&](size_t j, size_t c) {
    const double cross = dot_d(&A[j * size_t(C)], &A[c * size_t(C)], C) * dot_d(H[j], H[c], F);
    const double d = nn[j] + nn[c] - 2.0 * cross;
    return d > 0.0 ? d : 0.0;
  };
  Rng rng(key(ctx.seed, ctx.round));
  auto picked = greedy_kmeanspp(n, b, rng, dist);
  for (auto& j : picked) j = order[j];
  return picked;
}

// ---- k-means diversity ---------------------------------------------------------------------
std::vector<size_t> kmeans_diversity_scored(const ProbRef& features, const std::vector<uint64_t>& uids, size_t b,
                                            const Context& ctx, int iterations, std::vector<double>* sqdist) {
  check_sizes(features.rows(), uids.size(), "k-means");
  if (iterations < 0) throw UsageError(cat("k-means: ", iterations, " iterations, expected >= 0"));
  if (sqdist) sqdist->clear();
  const size_t n = uids.size();
  if (n == 0 || b == 0) return {};
  check_finite(features, uids, "k-means", "features");
  const int F = int(features.cols());
  const auto order = uid_order(uids, "k-means");
  const size_t nb = (n + kBlock - 1) / kBlock;
  const bool par = n >= kParallelMin / 8;

  // StandardScaler (population std; zero-variance columns keep scale 1), in uid order. Column
  // sums over fixed blocks, combined in block order.
  std::vector<double> mean(size_t(F), 0.0), sd(size_t(F), 0.0);
  {
    std::vector<double> part(nb * size_t(F) * 2, 0.0);
#pragma omp parallel for schedule(static) if (par)
    for (long b2 = 0; b2 < long(nb); ++b2) {
      double* s = &part[size_t(b2) * size_t(F) * 2];
      for (size_t j = size_t(b2) * kBlock; j < std::min(n, (size_t(b2) + 1) * kBlock); ++j) {
        const float* x = row_of(features, order[j]);
        for (int f = 0; f < F; ++f) s[f] += x[f];
      }
    }
    for (size_t b2 = 0; b2 < nb; ++b2)
      for (int f = 0; f < F; ++f) mean[size_t(f)] += part[b2 * size_t(F) * 2 + size_t(f)];
    for (auto& m : mean) m /= double(n);
#pragma omp parallel for schedule(static) if (par)
    for (long b2 = 0; b2 < long(nb); ++b2) {
      double* s = &part[size_t(b2) * size_t(F) * 2 + size_t(F)];
      for (size_t j = size_t(b2) * kBlock; j < std::min(n, (size_t(b2) + 1) * kBlock); ++j) {
        const float* x = row_of(features, order[j]);
        for (int f = 0; f < F; ++f) {
          const double d = x[f] - mean[size_t(f)];
          s[f] += d * d;
        }
      }
    }
    for (size_t b2 = 0; b2 < nb; ++b2)
      for (int f = 0; f < F; ++f) sd[size_t(f)] += part[b2 * size_t(F) * 2 + size_t(F) + size_t(f)];
    for (auto& s : sd) {
      s = std::sqrt(s / double(n));
      if (!(s > 0.0)) s = 1.0;
    }
  }
  RowMatrixXf X(Eigen::Index(n), F);
#pragma omp parallel for schedule(static) if (par)
  for (long j = 0; j < long(n); ++j) {
    const float* x = row_of(features, order[size_t(j)]);
    for (int f = 0; f < F; ++f) X(j, f) = float((x[f] - mean[size_t(f)]) / sd[size_t(f)]);
  }
  std::vector<double> xn(n);
  for (size_t j = 0; j < n; ++j) xn[j] = dot_d(X.row(Eigen::Index(j)).data(), X.row(Eigen::Index(j)).data(), F);

  // k-means++ initialisation (the same greedy seeding as BADGE, over the standardised rows).
  Rng rng(key(ctx.seed, ctx.round));
  auto init = greedy_kmeanspp(n, b, rng, [&](size_t j, size_t c) {
    const double d = xn[j] + xn[c] - 2.0 * dot_d(X.row(Eigen::Index(j)).data(), X.row(Eigen::Index(c)).data(), F);
    return d > 0.0 ? d : 0.0;
  });
  const size_t k = init.size();
  RowMatrixXf Cm(Eigen::Index(k), F);
  for (size_t c = 0; c < k; ++c) Cm.row(Eigen::Index(c)) = X.row(Eigen::Index(init[c]));

  // Dot products of the rows of block b with every centre (float GEMM per fixed block; the
  // distances ‖x‖² + ‖c‖² − 2 x·c are combined in double; a row's values do not depend on the
  // thread count).
  std::vector<int> assign(n, -1);
  auto block_dots = [&](size_t b2, Eigen::MatrixXf& dots) {
    const size_t j0 = b2 * kBlock, m = std::min(n, j0 + kBlock) - j0;
    dots.noalias() = X.middleRows(Eigen::Index(j0), Eigen::Index(m)) * Cm.transpose();
  };
  for (int it = 0; it < iterations; ++it) {
    std::vector<double> cn(k);
    for (size_t c = 0; c < k; ++c) cn[c] = dot_d(Cm.row(Eigen::Index(c)).data(), Cm.row(Eigen::Index(c)).data(), F);
    std::vector<double> sums(nb * k * size_t(F), 0.0);
    std::vector<uint64_t> counts(nb * k, 0);
    long changed = 0;
#pragma omp parallel for schedule(static) if (par) reduction(+ : changed)
    for (long b2 = 0; b2 < long(nb); ++b2) {
      Eigen::MatrixXf dots;
      block_dots(size_t(b2), dots);
      const size_t j0 = size_t(b2) * kBlock;
      double* s = &sums[size_t(b2) * k * size_t(F)];
      uint64_t* cnt = &counts[size_t(b2) * k];
      for (Eigen::Index r = 0; r < dots.rows(); ++r) {
        int best = 0;
        double bd = cn[0] - 2.0 * double(dots(r, 0));
        for (size_t c = 1; c < k; ++c) {
          const double d = cn[c] - 2.0 * double(dots(r, Eigen::Index(c)));
          if (d < bd) bd = d, best = int(c);
        }
        const size_t j = j0 + size_t(r);
        if (assign[j] != best) ++changed;
        assign[j] = best;
        ++cnt[best];
        const float* x = X.row(Eigen::Index(j)).data();
        double* sc = s + size_t(best) * size_t(F);
        for (int f = 0; f < F; ++f) sc[f] += x[f];
      }
    }
    if (changed == 0) break;
    for (size_t c = 0; c < k; ++c) {
      uint64_t cnt = 0;
      std::vector<double> acc(size_t(F), 0.0);
      for (size_t b2 = 0; b2 < nb; ++b2) {
        cnt += counts[b2 * k + c];
        const double* s = &sums[(b2 * k + c) * size_t(F)];
        for (int f = 0; f < F; ++f) acc[size_t(f)] += s[f];
      }
      if (cnt == 0) continue;  // an empty cluster keeps its centre
      for (int f = 0; f < F; ++f) Cm(Eigen::Index(c), f) = float(acc[size_t(f)] / double(cnt));
    }
  }

  // The item nearest each centre, in centre order, without repeats (ties: smaller uid): per
  // centre its k nearest items (at most k - 1 can be taken before it).
  std::vector<double> cn(k);
  for (size_t c = 0; c < k; ++c) cn[c] = dot_d(Cm.row(Eigen::Index(c)).data(), Cm.row(Eigen::Index(c)).data(), F);
  using P = std::pair<double, size_t>;  // (distance, uid-order index)
  std::vector<std::vector<P>> near(nb * k);
#pragma omp parallel for schedule(static) if (par)
  for (long b2 = 0; b2 < long(nb); ++b2) {
    Eigen::MatrixXf dots;
    block_dots(size_t(b2), dots);
    const size_t j0 = size_t(b2) * kBlock;
    for (size_t c = 0; c < k; ++c) {
      auto& v = near[size_t(b2) * k + c];
      v.reserve(size_t(dots.rows()));
      for (Eigen::Index r = 0; r < dots.rows(); ++r) {
        const size_t j = j0 + size_t(r);
        const double d = xn[j] + cn[c] - 2.0 * double(dots(r, Eigen::Index(c)));
        v.emplace_back(d > 0.0 ? d : 0.0, j);
      }
      const size_t m = std::min(k, v.size());
      std::partial_sort(v.begin(), v.begin() + long(m), v.end());
      v.resize(m);
    }
  }
  std::vector<char> taken(n, 0);
  std::vector<size_t> out;
  for (size_t c = 0; c < k; ++c) {
    std::vector<P> all;
    for (size_t b2 = 0; b2 < nb; ++b2) all.insert(all.end(), near[b2 * k + c].begin(), near[b2 * k + c].end());
    std::sort(all.begin(), all.end());
    for (auto& [d, j] : all)
      if (!taken[j]) {
        taken[j] = 1;
        out.push_back(order[j]);
        if (sqdist) sqdist->push_back(d);
        break;
      }
  }
  return out;
}

std::vector<size_t> kmeans_diversity(const ProbRef& features, const std::vector<uint64_t>& uids, size_t b,
                                     const Context& ctx, int iterations) {
  return kmeans_diversity_scored(features, uids, b, ctx, iterations, nullptr);
}

}  // namespace trawl::strategy
