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
RowMatrixXf badge_embeddings(const ProbRef& probs, const ProbRef& features);
std::vector<size_t> badge(const ProbRef& probs, const ProbRef& features, const std::vector<uint64_t>& uids, size_t b,
                          const Context& ctx);
/// k-means diversity: Lloyd k-means (k = b, k-means++ init, fixed iterations) on the features,
/// then the item nearest each centre (unique; ties by uid).
std::vector<size_t> kmeans_diversity(const ProbRef& features, const std::vector<uint64_t>& uids, size_t b,
                                     const Context& ctx, int iterations = 20);

}  // namespace trawl::strategy
