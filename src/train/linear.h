// Linear text classifier building blocks, pure and I/O-free:
//  * fit_logreg: class-weighted L2 logistic regression solved to convergence (no learning rate)
//    by trawl's own L-BFGS with a strong-Wolfe line search; it matches scikit-learn's
//    LogisticRegression(solver='lbfgs') — binary sigmoid for 2 classes, multinomial softmax for 3+.
//  * tfidf_rows / bucket_idf: the bucketed sublinear TF-IDF featuriser it is used with (shared by
//    training and scoring; bit-identical across calls).
// Everything is double, single-threaded and deterministic (the same input gives the same bits).
#pragma once
#include <cstddef>
#include <cstdint>
#include <vector>

namespace trawl::train::linear {

/// n rows × cols features, float values. offsets has n+1 entries starting at 0; column ids are
/// strictly increasing within a row.
struct Csr {
  int64_t cols = 0;
  std::vector<uint64_t> offsets{0};  // n+1
  std::vector<uint32_t> index;       // column ids (strictly increasing within a row)
  std::vector<float> value;
  size_t rows() const { return offsets.size() - 1; }
};

struct LogregOptions {
  /// Inverse L2 strength, as sklearn: minimise F = C·Σ_i s_i·loss_i + ½‖W‖² (intercept
  /// unpenalised). Must be finite and > 0.
  double C = 1.0;
  /// s_i = n / (K · n_{y_i}) over the K classes that have examples (sklearn 'balanced'); else 1.
  bool class_weight_balanced = true;
  /// Stopping rule: converged when ‖∇F‖₂ ≤ max(tol · min(1, C·S), noise), S = Σ_i s_i. The rule
  /// is absolute, in coefficient units, on purpose: F is 1-strongly convex in W (the ½‖W‖²
  /// term), so ‖W − W*‖₂ ≲ ‖∇F‖₂ whatever n and C are; the min(1, C·S) factor tightens it when
  /// the data term — the only curvature the unpenalised intercept has — is weak (small C·n).
  /// tol = 1e-6 gives coefficients within ~1e-7..1e-6 of the optimum (measured against sklearn:
  /// ≤ 3e-7), well below 1e-4; a rule relative to C·n (as sklearn's lbfgs ftol) allows errors
  /// growing with C·n. noise = 4·ε·√K·C·Σ_i s_i·(1 + ‖x_i‖₂) (ε = 2.2e-16, K = 1 for binary,
  /// else the classes with examples) is the rounding floor of the gradient; it exceeds tol only
  /// for huge C·n·‖x‖ (e.g. C = 100, n = 20000 dense 256-d rows). Must be finite and >= 0.
  double tol = 1e-6;
  /// L-BFGS iterations (accepted steps). >= 0.
  int max_iter = 1000;
};

struct LogregFit {
  // Always stored as a softmax over `num_classes` columns: W is num_classes × cols row-major,
  // b num_classes. Binary (num_classes == 2) is fitted as ONE sigmoid vector v, c exactly like
  // sklearn's binary lbfgs (y = +1 for class 1), stored as W row 0 = 0, row 1 = v; b = {0, c}
  // (so softmax == sigmoid). num_classes >= 3: multinomial softmax with all rows (sklearn
  // multi_class='multinomial'); the intercepts of the fitted rows are centred (sum 0; the
  // softmax is invariant to a common shift and sklearn's lbfgs stays in that subspace too).
  int num_classes = 0;
  std::vector<double> W, b;
  /// iterations: L-BFGS steps; objective F and grad_norm ‖∇F‖₂ at the returned point, for the
  /// problem over the classes that have examples (see fit_logreg).
  int iterations = 0;
  double objective = 0, grad_norm = 0;
  bool converged = false;
};

/// Logit gap of a class without examples below the training rows' largest logit (see fit_logreg).
constexpr double kAbsentClassGap = 30.0;

/// Fits the model. y[i] in [0, num_classes), num_classes >= 2.
/// Classes without examples (out-of-fold folds may lack some; this never throws for that): the
/// loss does not define them — with an unpenalised intercept their optimum is b = −∞ — so the fit
/// is the limit problem, the model over the K' classes that have examples (what sklearn fits on
/// the same data), and every absent class gets W row = 0 and a finite intercept
/// b = min_i max_{present c} z_ic − kAbsentClassGap, so that its probability is < e^-30 on every
/// training row (model files require finite weights). Hence:
///  * K' >= 2 of num_classes >= 3: multinomial over the present classes;
///  * binary with one class present: W = 0, b = {0, +30} (only class 1) or {0, −30} (only class 0);
///  * K' = 1 of num_classes >= 3: W = 0, b = 0 for the present class, −30 for the others;
///  * no rows at all: W = 0, b = 0 (uniform).
/// Degenerate cases report iterations 0, objective 0, converged true.
/// Errors: UsageError naming the value for num_classes < 2, y.size() != X.rows(), y[i] out of
/// range, C not finite and > 0, tol not finite and >= 0, max_iter < 0; InputError for a malformed
/// X (offsets, column ids out of range or not increasing, non-finite values).
/// Cost: O(nnz · K') per L-BFGS iteration (one product X·D and one Xᵀ·R) plus O(n · K') per
/// line-search trial; parameters are held only for the columns present in X.
LogregFit fit_logreg(const Csr& X, const std::vector<int>& y, int num_classes, const LogregOptions& o);

/// Softmax probabilities, n × num_classes row-major (double). X.cols must equal the fit's column
/// count (UsageError otherwise).
std::vector<double> predict_proba(const LogregFit& f, const Csr& X);

/// The featuriser: row i's hashed token ids t = ids[offsets[i] .. offsets[i+1]) (offsets relative
/// to ids, n+1 entries) -> bucket t % buckets; tf_b = count in the row;
/// value_b = (1 + ln tf_b) · idf[b]; then the row is L2-normalised (a row with no tokens stays
/// empty; a row whose values are all 0 keeps its zeros). Output columns sorted ascending,
/// out->cols = buckets. Computed in double, stored float; bit-identical across calls.
/// UsageError for buckets == 0 or null pointers with data; InputError for decreasing offsets.
void tfidf_rows(const uint64_t* offsets, const uint32_t* ids, size_t n, uint32_t buckets,
                const float* idf /* buckets entries, or nullptr = all 1 */, Csr* out);

/// idf per bucket from (id, df) pairs of a pool vocabulary with n_docs documents:
/// df_b = min(n_docs, Σ df of ids with id % buckets == b); idf_b = ln((1 + n_docs) / (1 + df_b)) + 1
/// (sklearn smooth_idf), computed in double, stored float. UsageError for buckets == 0 or
/// id.size() != df.size().
std::vector<float> bucket_idf(const std::vector<uint32_t>& id, const std::vector<uint64_t>& df, uint64_t n_docs,
                              uint32_t buckets);

}  // namespace trawl::train::linear
