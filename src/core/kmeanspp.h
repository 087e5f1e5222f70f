// Greedy k-means++ seeding, the one implementation: AnchorAL's anchors (retrieve/anchors.h),
// BADGE and the k-means strategy (strategy/strategy.h) all call it.
#pragma once
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <vector>

#include "core/rng.h"

namespace trawl {

constexpr size_t kKmeansBlock = 4096;        // points per block of the blocked (deterministic) sums
constexpr size_t kKmeansParallelMin = 4096;  // below this many points, one thread

/// Points 0..n-1 (in uid order); dist(j, c) is the squared distance between points j and c.
/// The algorithm, the draws and their order are the reference's (anchoral.md §2.4; sklearn's
/// kmeans_plusplus):
/// one rng.below(n), then T = 2 + floor(ln A) uniforms per further centre, all drawn before
/// any trial is evaluated. Sums run over fixed blocks of kKmeansBlock points (sequential inside a
/// block, block sums added in block order), so the result is thread-count independent.
/// Returns the chosen points without repeats, in the order first chosen ({} for n = 0 or A = 0).
/// With n <= kKmeansBlock every sum is one sequential pass (numpy's cumsum and sum).
template <class Dist>
std::vector<size_t> greedy_kmeanspp(size_t n, size_t A, Rng& rng, const Dist& dist) {
  if (n == 0 || A == 0) return {};
  const int T = 2 + static_cast<int>(std::floor(std::log(static_cast<double>(A))));
  const size_t nb = (n + kKmeansBlock - 1) / kKmeansBlock;
  const int nt = n >= kKmeansParallelMin ? omp_get_max_threads() : 1;
  std::vector<double> D(n), bs(nb), prefix(nb + 1);
  std::vector<size_t> centres;
  centres.push_back(size_t(rng.below(n)));
  {
    const size_t c0 = centres[0];
#pragma omp parallel for num_threads(nt) schedule(static)
    for (long b = 0; b < long(nb); ++b) {
      const size_t j0 = size_t(b) * kKmeansBlock, j1 = std::min(n, j0 + kKmeansBlock);
      double s = 0.0;
      for (size_t j = j0; j < j1; ++j) s += (D[j] = dist(j, c0));
      bs[size_t(b)] = s;
    }
  }
  auto make_prefix = [&]() {
    prefix[0] = 0.0;
    for (size_t b = 0; b < nb; ++b) prefix[b + 1] = prefix[b] + bs[b];
  };
  make_prefix();
  // Smallest j with cum[j] >= r, cum[j] = prefix[block] + sequential partial sum in the block
  // (non-decreasing); clipped to n - 1.
  auto search = [&](double r) -> size_t {
    auto it = std::lower_bound(prefix.begin() + 1, prefix.end(), r);
    if (it == prefix.end()) return n - 1;
    const size_t b = size_t(it - prefix.begin()) - 1;
    const size_t j0 = b * kKmeansBlock, j1 = std::min(n, j0 + kKmeansBlock);
    double acc = 0.0;
    for (size_t j = j0; j < j1; ++j) {
      acc += D[j];
      if (prefix[b] + acc >= r) return j;
    }
    return j1 - 1;
  };
  const size_t nT = static_cast<size_t>(T);
  std::vector<std::vector<double>> Dt(nT, std::vector<double>(n));
  std::vector<std::vector<double>> bst(nT, std::vector<double>(nb));
  std::vector<size_t> cand(nT);
  for (size_t c = 1; c < A; ++c) {
    const double pot = prefix[nb];
    for (int t = 0; t < T; ++t) cand[size_t(t)] = search(rng.uniform() * pot);
#pragma omp parallel for num_threads(nt) schedule(static)
    for (long b = 0; b < long(nb); ++b) {
      const size_t j0 = size_t(b) * kKmeansBlock, j1 = std::min(n, j0 + kKmeansBlock);
      double s[64];
      for (int t = 0; t < T; ++t) s[t] = 0.0;
      for (size_t j = j0; j < j1; ++j) {
        const double dj = D[j];
        for (int t = 0; t < T; ++t) {
          const double v = std::min(dj, dist(j, cand[size_t(t)]));
          Dt[size_t(t)][j] = v;
          s[t] += v;
        }
      }
      for (int t = 0; t < T; ++t) bst[size_t(t)][size_t(b)] = s[t];
    }
    int best = -1;
    double best_pot = 0.0;
    for (int t = 0; t < T; ++t) {
      double p = 0.0;
      for (size_t b = 0; b < nb; ++b) p += bst[size_t(t)][b];
      if (best < 0 || p < best_pot) {  // argmin, first on ties
        best = t;
        best_pot = p;
      }
    }
    centres.push_back(cand[size_t(best)]);
    D.swap(Dt[size_t(best)]);
    bs.swap(bst[size_t(best)]);
    make_prefix();
  }
  std::vector<size_t> out;
  std::vector<char> taken(n, 0);
  for (size_t c : centres)
    if (!taken[c]) {
      taken[c] = 1;
      out.push_back(c);
    }
  return out;
}

}  // namespace trawl
