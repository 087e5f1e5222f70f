#include "retrieve/anchors.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "core/error.h"
#include "core/kmeanspp.h"

namespace trawl::retrieve {

std::vector<int> kmeanspp(const Eigen::Ref<const RowMatrixXf>& X, int A, Rng& rng) {
  if (A < 1) throw UsageError(cat("k-means++: ", A, " centres requested, expected >= 1"));
  TRAWL_ASSERT_MSG(X.rows() == 0 || X.innerStride() == 1, "k-means++ needs rows stored contiguously");
  const Eigen::Index d = X.cols();
  auto dist = [&](size_t j, size_t c) {
    const float* xr = X.row(Eigen::Index(j)).data();
    const float* cr = X.row(Eigen::Index(c)).data();
    double s = 0.0;
    for (Eigen::Index k = 0; k < d; ++k) {
      const double t = static_cast<double>(xr[k]) - static_cast<double>(cr[k]);
      s += t * t;
    }
    return s;
  };
  std::vector<int> out;
  for (size_t c : greedy_kmeanspp(size_t(X.rows()), size_t(A), rng, dist)) out.push_back(static_cast<int>(c));
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
