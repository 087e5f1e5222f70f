#include "score/evaluate.h"

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <limits>
#include <map>
#include <sstream>

#include "core/error.h"
#include "core/fs.h"
#include "core/log.h"
#include "core/rng.h"

namespace trawl::score {

// ---- logistic regression ---------------------------------------------------------------------

LogitFit fit_logit(const std::vector<double>& s, const std::vector<int>& y, int max_iter) {
  TRAWL_ASSERT_MSG(s.size() == y.size(), "fit_logit: ", s.size(), " scores, ", y.size(), " labels");
  LogitFit f;
  const double n = double(s.size());
  if (s.empty()) return f;
  double pos = 0;
  for (int v : y) pos += v;
  // Start at the intercept-only optimum: a = 0, c = logit(mean y) (clipped for all-0/all-1 sets).
  const double m = std::min(std::max(pos / n, 1e-6), 1 - 1e-6);
  f.c = std::log(m / (1 - m));
  for (int it = 1; it <= max_iter; ++it) {
    // Gradient and Hessian of the mean log-likelihood.
    double g0 = 0, g1 = 0, h00 = 0, h01 = 0, h11 = 0;
    for (size_t i = 0; i < s.size(); ++i) {
      const double p = sigmoid(f.a * s[i] + f.c), r = double(y[i]) - p, w = p * (1 - p);
      g0 += r * s[i], g1 += r;
      h00 += w * s[i] * s[i], h01 += w * s[i], h11 += w;
    }
    g0 /= n, g1 /= n, h00 /= n, h01 /= n, h11 /= n;
    const double det = h00 * h11 - h01 * h01;
    f.iterations = it;
    if (!(det > 1e-300)) {  // flat likelihood: (nearly) separated or constant scores
      f.separated = true;
      break;
    }
    const double da = (h11 * g0 - h01 * g1) / det, dc = (h00 * g1 - h01 * g0) / det;
    f.a += da, f.c += dc;
    if (std::abs(da) < 1e-10 * (1 + std::abs(f.a)) && std::abs(dc) < 1e-10 * (1 + std::abs(f.c))) {
      f.converged = true;
      break;
    }
  }
  if (!f.converged && std::abs(f.a) > 50) f.separated = true;
  return f;
}

double Calibration::operator()(double s) const {
  if (a.empty()) return 0;
  double t = 0;
  for (size_t b = 0; b < a.size(); ++b) t += sigmoid(a[b] * s + c[b]);
  return t / double(a.size());
}

double Calibration::root(double p, double lo, double hi) const {
  if ((*this)(lo) >= p) return lo;
  if ((*this)(hi) < p) return hi;
  for (int i = 0; i < 100 && hi - lo > 1e-12; ++i) {
    const double mid = (lo + hi) / 2;
    ((*this)(mid) < p ? lo : hi) = mid;
  }
  return (lo + hi) / 2;
}

Calibration calibrate(const std::vector<double>& s, const std::vector<int>& y, uint64_t B, uint64_t seed) {
  std::vector<size_t> pos, neg;
  for (size_t i = 0; i < y.size(); ++i) (y[i] ? pos : neg).push_back(i);
  if (pos.empty() || neg.empty())
    throw InputError(cat("calibration needs labelled positives and negatives (have ", pos.size(), " positive and ",
                         neg.size(), " negative evaluation rows)"));
  Calibration cal;
  if (B == 0) {
    auto f = fit_logit(s, y);
    cal.a.push_back(f.a), cal.c.push_back(f.c);
    return cal;
  }
  cal.a.resize(B), cal.c.resize(B);
  std::vector<double> bs;
  std::vector<int> by;
  std::vector<size_t> pool;
  for (uint64_t b = 0; b < B; ++b) {
    Rng r(key(seed, b));
    // negatives' = as many negatives as positives, without replacement (partial Fisher-Yates)
    pool = neg;
    const size_t k = std::min(pos.size(), neg.size());
    for (size_t i = 0; i < k; ++i) std::swap(pool[i], pool[i + size_t(r.below(pool.size() - i))]);
    pool.resize(k);
    bs.clear(), by.clear();
    for (size_t i = 0; i < pos.size(); ++i) {
      size_t j = pos[size_t(r.below(pos.size()))];
      bs.push_back(s[j]), by.push_back(1);
    }
    for (size_t i = 0; i < k; ++i) {
      size_t j = pool[size_t(r.below(k))];
      bs.push_back(s[j]), by.push_back(0);
    }
    auto f = fit_logit(bs, by);
    cal.a[b] = f.a, cal.c[b] = f.c;
  }
  return cal;
}

// ---- distributed counts ------------------------------------------------------------------------


std::vector<uint64_t> count_above(const mpi::Comm& comm, const std::vector<double>& t, const std::vector<float>& scores) {
  TRAWL_ASSERT_MSG(std::is_sorted(t.begin(), t.end()), "count_above: thresholds must be sorted");
  AboveCounter c(t);
  for (float v : scores) c.add(double(v));
  return c.finish(comm);
}

}  // namespace trawl::score
