// Quality metrics of a classifier on a labelled test set, and the pool prior under prior shift.
// Pure functions (no I/O, no MPI): the simulation and evaluation stages gather or reduce their
// inputs and call these.
//
//  * ranking metrics of one class (scores = that class's probability, truth = is that class):
//    average precision and best-threshold F1 as scikit-learn's average_precision_score and
//    precision_recall_curve define them (one operating point per distinct score; AP =
//    Σ (R_k − R_{k−1}) · P_k), ROC-AUC as roc_auc_score (trapezoids over distinct scores, i.e.
//    the Mann–Whitney statistic with ties counted ½). Tested against python3-sklearn.
//  * EM prior estimation (Saerens, Latinne & Decaestecker 2002, "Adjusting the outputs of a
//    classifier to new a priori probabilities"): given posteriors p(c|x) of a model whose
//    training prior was π_t, iterate  q(c|x) ∝ (π_c / π_t,c) · p(c|x),  π_c ← mean_x q(c|x)
//    from π = π_t until max_c |Δπ_c| < tol. The decision under the estimated prior is then
//    argmax_c (π_c / π_t,c) · p(c|x).
#pragma once
#include <cstdint>
#include <vector>

namespace trawl::score {

struct RankingMetrics {
  uint64_t positives = 0, negatives = 0;
  double average_precision = 0;  // 0 without positives
  double roc_auc = 0.5;          // 0.5 without positives or without negatives
  double best_f1 = 0;            // max F1 over the distinct-score thresholds "score >= t"
  double best_threshold = 1;     // the t that reaches it (the highest such t)
};

/// Ranking metrics of scores against truth (same length; order does not matter: ties are
/// grouped by value, so the result does not depend on the order of equal scores).
RankingMetrics ranking_metrics(const std::vector<double>& scores, const std::vector<char>& truth);

struct Counts {
  uint64_t tp = 0, fp = 0, fn = 0;
  double precision() const { return tp + fp ? double(tp) / double(tp + fp) : 0.0; }
  double recall() const { return tp + fn ? double(tp) / double(tp + fn) : 0.0; }
  double f1() const { return 2 * tp + fp + fn ? 2.0 * double(tp) / double(2 * tp + fp + fn) : 0.0; }
};

/// argmax_c w_c · p_c over one row of C probabilities (ties: the lowest class index); w = null
/// means all ones (the raw argmax).
int decide(const float* p, int C, const double* w = nullptr);

/// Partial sums of one EM step over rows [0, n) of P (n × C, row-major): Σ_x q(c|x) with q as
/// above for the current prior `prior` and training prior `train_prior`, summed in row order in
/// double. Rows whose adjusted mass is 0 contribute their raw probabilities.
std::vector<double> em_step_sums(const float* P, uint64_t n, int C, const std::vector<double>& prior,
                                 const std::vector<double>& train_prior);

struct EmResult {
  std::vector<double> prior;  // the estimated prior
  int iterations = 0;
  bool converged = false;
};

/// EM over an in-memory matrix (tests, small pools). train_prior must be positive and sum to 1.
EmResult em_prior(const float* P, uint64_t n, int C, const std::vector<double>& train_prior, double tol = 1e-8,
                  int max_iter = 1000);

/// Bias-corrected temperature scaling (Alexandari, Kundaje & Shrikumar 2020), the calibration
/// EM needs: a regularised classifier is under-confident, and EM on under-confident posteriors
/// drives a rare class's prior to 0. q(c|x) = softmax_c(a · ln p(c|x) + b_c), (a, b) fitted by
/// Newton's method to the class-weighted log loss of held-out (out-of-fold) probabilities — a
/// convex problem (a multinomial logistic regression over the features ln p). Classes with no
/// example (weight 0) keep b_c = 0; b of the first present class is fixed at 0.
struct Calibration {
  double a = 1;
  std::vector<double> b;  // per class (empty: all 0)
  int iterations = 0;
  bool apply(const float* p, int C, double* q) const;  // q: C entries; false if all mass vanished
};
Calibration fit_calibration(const float* P, const int* y, uint64_t n, int C, const std::vector<double>& class_weight);

/// The decision weights w_c = prior_c / train_prior_c (0 where the training prior is 0).
std::vector<double> prior_weights(const std::vector<double>& prior, const std::vector<double>& train_prior);

}  // namespace trawl::score
