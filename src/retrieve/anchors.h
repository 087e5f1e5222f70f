// Anchor selection (reference/anchoral.md §2.4, §10): per class, up to A labelled items
// chosen by greedy k-means++ seeding over their stored embeddings.
#pragma once
#include <Eigen/Core>
#include <cstdint>
#include <vector>

#include "core/rng.h"

namespace trawl::retrieve {

using RowMatrixXf = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

/// Greedy k-means++ seeding (sklearn's kmeans_plusplus, as the reference calls it):
///   T = 2 + floor(ln A) local trials; first centre uniform (rng.below(n)); then A − 1 times:
///   T draws r = rng.uniform()·pot, candidate = smallest i with cumsum(D)[i] ≥ r (clipped to
///   n − 1), keep the candidate whose D_t = min(D, ‖X − X[cand]‖²) has the smallest potential
///   (first on ties). D is the squared Euclidean distance to the nearest centre, in double.
/// Draw order: one below(n), then T uniform() per further centre — nothing else.
/// Returns the chosen row indices without repeats, in the order first chosen (a repeat only
/// happens when points coincide). A must be ≥ 1; A ≥ n is allowed (repeats are dropped).
/// Throws UsageError for A < 1; returns {} for n = 0.
std::vector<int> kmeanspp(const Eigen::Ref<const RowMatrixXf>& X, int A, Rng& rng);

/// The anchors of a round, flat and in a fixed order: classes ascending; within a class, the
/// k-means++ order (or uid order when the class is taken whole).
struct AnchorSet {
  std::vector<uint64_t> uid;
  std::vector<int> cls;
  std::vector<size_t> row;  // row of the anchor in the labelled embedding matrix
  size_t size() const { return uid.size(); }
  /// The anchors' embeddings (size() × dim, row-major): the queries of the search.
  RowMatrixXf queries(const Eigen::Ref<const RowMatrixXf>& labelled_embedding) const;
};

/// Per class (ascending class id), up to A anchors among the labelled items of that class.
/// Item i is (uids[i], classes[i], embedding.row(i)); an item labelled positive for several
/// classes appears once per class. A class with ≤ A items is taken whole (the reference uses
/// "< A"; with exactly A distinct points k-means++ picks them all anyway, so "≤" only skips
/// pointless work and the coincident-point corner case). Otherwise kmeanspp over the class's
/// items sorted by uid, with Rng(key(seed, round, class)): anchors change every round and do
/// not depend on the input order, on other classes or on ranks.
/// Throws UsageError for A < 1; InputError when the sizes disagree or a uid appears twice in
/// one class.
AnchorSet select_anchors(const std::vector<uint64_t>& uids, const std::vector<int>& classes,
                         const Eigen::Ref<const RowMatrixXf>& embedding, int A, uint64_t seed,
                         uint64_t round);

}  // namespace trawl::retrieve
