// Acquisition strategies: pure functions on Eigen types, no I/O, no MPI (they test at memory
// speed). Every strategy returns positions into its input, in selection order, and breaks ties
// on uid; random draws are keyed by (seed, round, uid) — never by position or rank.
#pragma once
#include <Eigen/Core>
#include <cstdint>
#include <string>
#include <vector>

namespace trawl::strategy {

using RowMatrixXf = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
using ProbRef = Eigen::Ref<const RowMatrixXf>;

struct Context {
  uint64_t seed = 42, round = 0;
};

/// Per-item uncertainty scores (higher = more uncertain / preferred):
double least_confidence(const float* p, int C);  // 1 - max p
double margin(const float* p, int C);            // -(p1 - p2) (small margin preferred)
double entropy(const float* p, int C);           // -Σ p ln p (nats)
/// Around a threshold on one class's probability: -|p[cls] - threshold|.
double around_threshold(const float* p, int C, int cls, double threshold);

/// The b items with the highest score(p) (ties: smaller uid first).
enum class Uncertainty { kLeastConfidence, kMargin, kEntropy };
std::vector<size_t> top_uncertain(const ProbRef& probs, const std::vector<uint64_t>& uids, Uncertainty u, size_t b);
std::vector<size_t> top_around_threshold(const ProbRef& probs, const std::vector<uint64_t>& uids, int cls,
                                         double threshold, size_t b);
/// b items uniformly at random: the b smallest keyed hashes of (seed, round, uid).
std::vector<size_t> random(const std::vector<uint64_t>& uids, size_t b, const Context& ctx);

/// BADGE: gradient embeddings g = (p − onehot(argmax p)) ⊗ h, then k-means++ seeding (greedy,
/// as anchoral.md §2.4) picks b items; duplicates removed (may return fewer).
/// Details: badge_embeddings is row-major [n, C·F] with g[k·F + f] = a_k·h_f (argmax: first
/// maximum). badge() never materialises it (distances from the factors, in double); it seeds
/// over the items in uid order with Rng(key(seed, round)): one below(n), then 2 + floor(ln b)
/// uniforms per further centre, as retrieve::kmeanspp. NaN/inf inputs and repeated uids are
/// InputErrors; mismatched sizes too.
RowMatrixXf badge_embeddings(const ProbRef& probs, const ProbRef& features);
std::vector<size_t> badge(const ProbRef& probs, const ProbRef& features, const std::vector<uint64_t>& uids, size_t b,
                          const Context& ctx);
/// k-means diversity: Lloyd k-means (k = b, k-means++ init, fixed iterations) on the features,
/// then the item nearest each centre (unique; ties by uid).
/// Details: the features are standardised first (StandardScaler: mean 0, population std 1;
/// constant columns unscaled), as the reference's FT-BERTKM does; the init is the greedy
/// k-means++ of BADGE over the standardised rows in uid order with Rng(key(seed, round));
/// Lloyd stops early when no assignment changes; an empty cluster keeps its centre; the pick
/// is the nearest (Euclidean, standardised space) item not yet picked, centres in init order.
std::vector<size_t> kmeans_diversity(const ProbRef& features, const std::vector<uint64_t>& uids, size_t b,
                                     const Context& ctx, int iterations = 20);

// ---- additions (strategy module) -----------------------------------------------------------
/// The score top_uncertain ranks by (same arithmetic, so selections can be merged across
/// blocks, files and ranks by recomputing it).
double uncertainty(const float* p, int C, Uncertainty u);
/// The keyed hash random() ranks by (smallest first): key(seed, round, uid).
uint64_t random_key(uint64_t uid, const Context& ctx);
/// random_key as a uniform draw in [0, 1) (smaller = chosen first), for reports.
double random_score(uint64_t uid, const Context& ctx);
/// The b items closest to the threshold on one side only: above = p[cls] >= threshold,
/// otherwise p[cls] < threshold (may return fewer than b).
std::vector<size_t> top_threshold_side(const ProbRef& probs, const std::vector<uint64_t>& uids, int cls,
                                       double threshold, size_t b, bool above);
/// The reference's uncertainty-sampling baseline (twitter-labor §5.3): ceil(b/2) items just
/// above the threshold (p >= t, nearest first), then floor(b/2) just below; a side with too few
/// items is made up from the other side.
std::vector<size_t> split_around_threshold(const ProbRef& probs, const std::vector<uint64_t>& uids, int cls,
                                           double threshold, size_t b);
/// ‖(p − onehot(argmax p)) ⊗ h‖² (the gradient embedding's squared norm), in double.
double badge_norm2(const float* p, const float* h, int C, int F);
/// kmeans_diversity that also returns, per pick, its squared distance to its centre
/// (standardised space) in *sqdist.
std::vector<size_t> kmeans_diversity_scored(const ProbRef& features, const std::vector<uint64_t>& uids, size_t b,
                                            const Context& ctx, int iterations, std::vector<double>* sqdist);

}  // namespace trawl::strategy
