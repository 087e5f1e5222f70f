// Multi-annotator consensus (majority vote, CROWDLAB) and the ActiveLab acquisition score, as
// /work/shared/reference/activelab.md (cleanlab's multiannotator module) describes them. Pure
// functions on Eigen types and vectors: no I/O, no MPI. Everything is computed in double.
//
// The label matrix L (N items × M annotators) is a sparse long list, `Annotations`: one entry
// (item, annotator, label) per given label — the reference's NaN cells are simply absent. This
// scales to many annotators who each label a few items; `from_dense` builds one from a dense
// N×M matrix with -1 (kMissing) for "not labelled". Items, annotators and classes are indices
// 0..N-1, 0..M-1, 0..K-1. Every item needs at least one label and every annotator at least one
// (as the reference); an annotator labels an item at most once.
//
// Per-annotation outputs (detailed quality) are aligned with Annotations' entries, not an N×M
// matrix. Tie-break 4 of the majority vote picks tied[key(seed, uid_i) % |tied|] among the tied
// classes in increasing index order (core/rng.h key), so it depends on the seed and the item's
// uid only — never on positions or ranks.
#pragma once
#include <Eigen/Core>
#include <cstdint>
#include <vector>

namespace trawl::strategy::activelab {

using MatrixXdR = Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

constexpr int kMissing = -1;
constexpr double kClipFloor = 1e-6;  // ε₀: floor of weights and error rates
constexpr double kSmall = 1e-30;     // floor of probabilities before logs

struct Annotations {
  int num_items = 0, num_annotators = 0, num_classes = 0;
  std::vector<int> item, annotator, label;  // one entry per given label
  size_t size() const { return item.size(); }
  void add(int i, int j, int k) {
    item.push_back(i);
    annotator.push_back(j);
    label.push_back(k);
  }
};

/// From a dense N×M matrix, kMissing where annotator j did not label item i.
Annotations from_dense(const Eigen::MatrixXi& L, int num_classes);

/// Checks ranges, duplicates (item, annotator), items and annotators without labels, and that
/// P (if given) has num_items rows and num_classes columns of finite values. InputError.
void validate(const Annotations& L, const MatrixXdR* P = nullptr);

/// key(seed, uid) of tie-break 4 (exposed for tests).
uint64_t tie_break_key(uint64_t seed, uint64_t uid);

struct MajorityVote {
  std::vector<int> label;
  /// Per item: 0 = a unique top count, 1..4 = the tie-break that decided it.
  std::vector<int> decided_by;
};

/// §1: majority vote with the four tie-breaks (P: optional N×K probabilities for tie-break 1;
/// uids: one per item, for tie-break 4). Tie-break 3 uses the annotators' agreement with the
/// label of the items whose top count is unique (step 1); annotators without such items get
/// the mean over the others (if no annotator has one, tie-break 3 leaves the tie as it is).
MajorityVote majority_vote(const Annotations& L, const MatrixXdR* P, const std::vector<uint64_t>& uids, uint64_t seed);

/// §2 Step 0. The normalised soft cross-entropy loss(T) between each item's label vector and
/// softmax(log P / T), averaged over all items (single-labelled ones too). The label vector is
/// cleanlab 2.9's: the counts of the classes present, in ascending class order, in slots 0, 1, …
/// (so not at their own classes unless all K are present), divided by n_i (docs/STRATEGIES.md).
double temperature_loss(const Annotations& L, const MatrixXdR& P, double T);
/// The coarse grid {0.1 … 8}, then the fine grid around its best value (first minimum wins).
double fit_temperature(const Annotations& L, const MatrixXdR& P);
/// Clip to ≥ kSmall, renormalise, softmax(log P / T), renormalise.
MatrixXdR temperature_scale(const MatrixXdR& P, double T);

struct Crowdlab {
  // label_quality, per item
  std::vector<int> consensus_label;
  std::vector<double> consensus_quality;   // q_i = post[i, ŷ_i]
  std::vector<double> annotator_agreement; // a_i
  std::vector<int> num_annotations;        // n_i
  MatrixXdR post;                          // N×K posterior of the final (best_quality) pass
  // detailed_label_quality: post[i, L[i,j]], one per entry of the Annotations
  std::vector<double> detailed_quality;
  // annotator_stats, indexed by annotator
  std::vector<double> annotator_quality;        // NaN when j labelled no multi-annotated item
  std::vector<double> agreement_with_consensus; // over all of j's items
  std::vector<int> worst_class;
  std::vector<int> num_examples_labeled;
  /// The annotators sorted by quality, then agreement_with_consensus, ascending (NaN last,
  /// stable: equal keys keep index order), as the reference's annotator_stats table.
  std::vector<int> annotator_order;
  // weights (of the final pass)
  double model_weight = 0;
  std::vector<double> annotator_weight;
  // intermediate values, for tests and reports
  std::vector<int> majority_label;  // the initial majority vote
  int random_ties = 0;              // items of it decided by tie-break 4 (the reference warns)
  double p_agree = 0, mlc_error = 0, model_error = 0;
};

/// §2: CROWDLAB with consensus_method = best_quality and quality_method = crowdlab on P as
/// given (no calibration: apply temperature_scale first for calibrate_probs). Needs at least one
/// item with two or more labels (InputError otherwise) and K >= 2.
Crowdlab crowdlab(const Annotations& L, const MatrixXdR& P, const std::vector<uint64_t>& uids, uint64_t seed);

struct Scores {
  std::vector<double> labelled;    // s_i, per item of L (empty without L)
  std::vector<double> unlabelled;  // s_u, per row of P_u (empty without P_u)
  double temperature = 1;          // T used (1: no scaling)
  double model_weight = 1, mean_annotator_weight = 1;
  bool single_label = false;       // every item had exactly one label (§3.1 first row)
  bool scaled = false;             // P (and P_u) were temperature-scaled with `temperature`
  int random_ties = 0;             // majority-vote items decided by tie-break 4 (callers may warn)
};

/// §3: ActiveLab scores, lower = label next, labelled and unlabelled on one scale. L and P go
/// together (both or neither); P_u optional. Without L: s_u = (max p + 1/K) / 2. When every
/// item has one label: T = 1 (no scaling), q_i = P[i, label], w_M = w_j = 1. Otherwise P and
/// P_u are scaled by the fitted T and CROWDLAB (best_quality) gives q, w_M and w_j.
Scores activelab_scores(const Annotations* L, const MatrixXdR* P, const MatrixXdR* P_u, const std::vector<uint64_t>& uids,
                        uint64_t seed);

/// §3.2 for more unlabelled rows with the temperature and weights of an earlier call (so a
/// pool can be scored block by block): the same values activelab_scores gives for P_u.
std::vector<double> unlabelled_scores(const MatrixXdR& P_u, const Scores& fitted);

}  // namespace trawl::strategy::activelab
