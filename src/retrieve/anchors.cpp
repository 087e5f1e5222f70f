#include "retrieve/anchors.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "core/error.h"

namespace trawl::retrieve {

namespace {

// ‖X[i] − c‖² in double, for every row i, combined into out by min (or assigned).
void sqdist_to(const Eigen::Ref<const RowMatrixXf>& X, Eigen::Index c, const std::vector<double>* prev,
               std::vector<double>& out) {
  const Eigen::Index n = X.rows(), d = X.cols();
  out.resize(static_cast<size_t>(n));
  const float* cr = X.row(c).data();
  for (Eigen::Index i = 0; i < n; ++i) {
    const float* xr = X.row(i).data();
    double s = 0.0;
    for (Eigen::Index k = 0; k < d; ++k) {
      const double t = static_cast<double>(xr[k]) - static_cast<double>(cr[k]);
      s += t * t;
    }
    out[static_cast<size_t>(i)] = prev ? std::min((*prev)[static_cast<size_t>(i)], s) : s;
  }
}

double sum(const std::vector<double>& v) {
  double s = 0.0;
  for (double x : v) s += x;
  return s;
}

}  // namespace

std::vector<int> kmeanspp(const Eigen::Ref<const RowMatrixXf>& X, int A, Rng& rng) {
  if (A < 1) throw UsageError(cat("k-means++: ", A, " centres requested, expected >= 1"));
  const Eigen::Index n = X.rows();
  if (n == 0) return {};
  TRAWL_ASSERT_MSG(X.innerStride() == 1, "k-means++ needs rows stored contiguously");
  const int T = 2 + static_cast<int>(std::floor(std::log(static_cast<double>(A))));

  std::vector<int> centres;
  centres.reserve(static_cast<size_t>(A));
  const auto first = static_cast<Eigen::Index>(rng.below(static_cast<uint64_t>(n)));
  centres.push_back(static_cast<int>(first));
  std::vector<double> D, cum(static_cast<size_t>(n)), best, trial;
  sqdist_to(X, first, nullptr, D);
  double pot = sum(D);

  for (int c = 1; c < A; ++c) {
    // Cumulative sum of D (sequential, as numpy's cumsum) and the T candidates.
    double run = 0.0;
    for (size_t i = 0; i < D.size(); ++i) cum[i] = (run += D[i]);
    double best_pot = 0.0;
    Eigen::Index best_cand = -1;
    // Draw all T values first (the reference draws them as one vector), then evaluate.
    std::vector<Eigen::Index> cand(static_cast<size_t>(T));
    for (int t = 0; t < T; ++t) {
      const double r = rng.uniform() * pot;
      auto it = std::lower_bound(cum.begin(), cum.end(), r);  // smallest i with cum[i] >= r
      size_t i = static_cast<size_t>(it - cum.begin());
      if (i >= static_cast<size_t>(n)) i = static_cast<size_t>(n - 1);
      cand[static_cast<size_t>(t)] = static_cast<Eigen::Index>(i);
    }
    for (int t = 0; t < T; ++t) {
      sqdist_to(X, cand[static_cast<size_t>(t)], &D, trial);
      const double p = sum(trial);
      if (best_cand < 0 || p < best_pot) {  // argmin: first on ties
        best_pot = p;
        best_cand = cand[static_cast<size_t>(t)];
        best.swap(trial);
      }
    }
    centres.push_back(static_cast<int>(best_cand));
    D.swap(best);
    pot = best_pot;
  }

  // Unique, in order of first choice.
  std::vector<int> out;
  std::vector<char> taken(static_cast<size_t>(n), 0);
  for (int c : centres)
    if (!taken[static_cast<size_t>(c)]) {
      taken[static_cast<size_t>(c)] = 1;
      out.push_back(c);
    }
  return out;
}

RowMatrixXf AnchorSet::queries(const Eigen::Ref<const RowMatrixXf>& emb) const {
  RowMatrixXf Q(static_cast<Eigen::Index>(row.size()), emb.cols());
  for (size_t i = 0; i < row.size(); ++i) {
    TRAWL_ASSERT_MSG(row[i] < static_cast<size_t>(emb.rows()), "anchor row ", row[i], " of ", emb.rows());
    Q.row(static_cast<Eigen::Index>(i)) = emb.row(static_cast<Eigen::Index>(row[i]));
  }
  return Q;
}

AnchorSet select_anchors(const std::vector<uint64_t>& uids, const std::vector<int>& classes,
                         const Eigen::Ref<const RowMatrixXf>& embedding, int A, uint64_t seed,
                         uint64_t round) {
  if (A < 1) throw UsageError(cat("anchors per class: ", A, ", expected >= 1"));
  if (uids.size() != classes.size() || uids.size() != static_cast<size_t>(embedding.rows()))
    throw InputError(cat("anchor selection: ", uids.size(), " uids, ", classes.size(), " classes and ",
                         embedding.rows(), " embedding rows; expected one of each per labelled item"));
  // Rows grouped by class ascending, by uid ascending within a class.
  std::vector<size_t> order(uids.size());
  std::iota(order.begin(), order.end(), size_t{0});
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    return classes[a] != classes[b] ? classes[a] < classes[b] : uids[a] < uids[b];
  });
  AnchorSet out;
  RowMatrixXf Xc;
  for (size_t g0 = 0; g0 < order.size();) {
    const int c = classes[order[g0]];
    size_t g1 = g0;
    while (g1 < order.size() && classes[order[g1]] == c) ++g1;
    for (size_t i = g0 + 1; i < g1; ++i)
      if (uids[order[i]] == uids[order[i - 1]])
        throw InputError(cat("anchor selection: uid ", uids[order[i]], " appears twice in class ", c,
                             "; expected one consensus label per item and class"));
    const size_t nc = g1 - g0;
    auto add = [&](size_t r) {
      out.uid.push_back(uids[r]);
      out.cls.push_back(c);
      out.row.push_back(r);
    };
    if (nc <= static_cast<size_t>(A)) {
      for (size_t i = g0; i < g1; ++i) add(order[i]);
    } else {
      Xc.resize(static_cast<Eigen::Index>(nc), embedding.cols());
      for (size_t i = 0; i < nc; ++i)
        Xc.row(static_cast<Eigen::Index>(i)) = embedding.row(static_cast<Eigen::Index>(order[g0 + i]));
      // The class id enters the key as its two's-complement bits (classes are small ints).
      Rng rng(key(seed, round, static_cast<uint64_t>(static_cast<int64_t>(c))));
      for (int k : kmeanspp(Xc, A, rng)) add(order[g0 + static_cast<size_t>(k)]);
    }
    g0 = g1;
  }
  return out;
}

}  // namespace trawl::retrieve
