// trawl-evaluate: the twitter-labor evaluation of one class (reference/twitter-labor.md §8)
// from the labelled rank-bucket sample (cutoffs-<class>.tsv of trawl-score, labelled through
// trawl-label) and the whole pool's scores files.
//
//  * Calibration (§8.2): B bootstrap fits of an unpenalised logistic regression label ~ score.
//    Fit b draws, with trawl::Rng keyed by (seed, b), a subsample of the labelled negatives as
//    large as the positives (without replacement; all negatives when there are fewer), then
//    resamples positives and that subsample with replacement, and fits (a_b, c_b) by Newton's
//    method. calibrated(s) = mean_b sigmoid(a_b s + c_b). B = 0 is one fit on all labelled rows
//    as they are (no resampling), for checks against an independent fit.
//  * Precision (§8.3): precision_top20 = the share of positives among the first 20 labelled
//    rows by rank; precision at top T = the share among labelled rows with rank < T, for T =
//    the rank where calibrated(score) first drops below 0.95 (T95) and for given T.
//  * Expansion numerator (§8.4): E = the number of pool items whose raw score exceeds the
//    root of calibrated(s) = 0.5, and its standard error = the standard deviation over b of
//    the count above −c_b / a_b. The counts are histograms over the sorted roots, summed across
//    ranks: the pool's scores are streamed once, never gathered.
#pragma once
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "mpi/comm.h"

namespace trawl::score {

/// An unpenalised logistic regression p(y=1|s) = sigmoid(a s + c) by Newton's method on the
/// mean log-likelihood. `separated` is set when the data are (nearly) linearly separable and
/// the fit stopped at the iteration cap with a large slope.
struct LogitFit {
  double a = 0, c = 0;
  int iterations = 0;
  bool converged = false, separated = false;
};
LogitFit fit_logit(const std::vector<double>& s, const std::vector<int>& y, int max_iter = 100);

inline double sigmoid(double z) { return z >= 0 ? 1 / (1 + std::exp(-z)) : std::exp(z) / (1 + std::exp(z)); }

struct Calibration {
  std::vector<double> a, c;  // per bootstrap fit (one entry when B = 0)
  double operator()(double s) const;  // mean of sigmoid(a_b s + c_b)
  /// The s in [lo, hi] where the calibrated curve crosses p (bisection; the curve is treated
  /// as increasing); lo or hi when it does not cross inside.
  double root(double p, double lo = 0.0, double hi = 1.0) const;
};

/// The bootstrap calibration described above (InputError when there is no positive or no
/// negative label).
Calibration calibrate(const std::vector<double>& s, const std::vector<int>& y, uint64_t B, uint64_t seed);

/// Counts of values above sorted thresholds, summed over the ranks (count_above streams with it).
// hist[k] = the number of values v with exactly k thresholds below v (lower_bound(t, v) == k),
// so counts[k] = Σ_{j > k} hist[j]. Scores are probabilities: a table over 2^16 equal buckets of
// [0, 1] gives each bucket the range of thresholds inside it, so most values need no search at
// all and the rest search only their bucket's few thresholds (values outside [0, 1] search all).
class AboveCounter {
 public:
  static constexpr int kBuckets = 1 << 16;
  explicit AboveCounter(const std::vector<double>& t) : t_(t), hist_(t.size() + 1, 0), first_(kBuckets + 1) {
    for (int j = 0; j <= kBuckets; ++j)
      first_[size_t(j)] = uint32_t(std::lower_bound(t_.begin(), t_.end(), double(j) / kBuckets) - t_.begin());
  }
  void add(double v) { hist_[index(v)]++; }
  void add(const float* v, size_t n, size_t stride) {
    for (size_t i = 0; i < n; ++i) hist_[index(double(v[i * stride]))]++;
  }
  std::vector<uint64_t> finish(const mpi::Comm& comm) {
    comm.allreduce_inplace(hist_, MPI_SUM);
    std::vector<uint64_t> out(t_.size(), 0);
    uint64_t acc = 0;
    for (size_t k = t_.size(); k-- > 0;) {
      acc += hist_[k + 1];
      out[k] = acc;
    }
    return out;
  }

 private:
  size_t index(double v) const {
    if (!(v >= 0.0 && v < 1.0)) return size_t(std::lower_bound(t_.begin(), t_.end(), v) - t_.begin());
    const size_t j = size_t(v * kBuckets);  // v in [j/NB, (j+1)/NB): lower_bound(t, v) in [first[j], first[j+1]]
    size_t lo = first_[j], hi = first_[j + 1];
    if (hi - lo > 16) return size_t(std::lower_bound(t_.begin() + long(lo), t_.begin() + long(hi), v) - t_.begin());
    while (lo < hi && t_[lo] < v) ++lo;  // a bucket usually holds a few thresholds at most
    return lo;
  }
  const std::vector<double>& t_;
  std::vector<uint64_t> hist_;
  std::vector<uint32_t> first_;
};

/// Collective: for sorted thresholds t (ascending), counts[k] = the number of the given scores
/// (over all ranks) strictly greater than t[k]. Each rank passes its own scores.
std::vector<uint64_t> count_above(const mpi::Comm& comm, const std::vector<double>& t, const std::vector<float>& scores);

}  // namespace trawl::score
