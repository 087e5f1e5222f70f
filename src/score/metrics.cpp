#include "score/metrics.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "core/error.h"

namespace trawl::score {

RankingMetrics ranking_metrics(const std::vector<double>& scores, const std::vector<char>& truth) {
  TRAWL_ASSERT(scores.size() == truth.size());
  const size_t n = scores.size();
  RankingMetrics m;
  for (size_t i = 0; i < n; ++i) (truth[i] ? m.positives : m.negatives)++;
  if (m.positives == 0) return m;
  std::vector<size_t> ord(n);
  std::iota(ord.begin(), ord.end(), size_t(0));
  std::sort(ord.begin(), ord.end(), [&](size_t a, size_t b) { return scores[a] > scores[b]; });
  // Walk the distinct thresholds from the highest score down.
  uint64_t tp = 0, fp = 0, prev_tp = 0, prev_fp = 0;
  double ap = 0, auc = 0, best = -1, best_t = 1;
  const double P = double(m.positives), N = double(m.negatives);
  for (size_t i = 0; i < n;) {
    size_t j = i;
    const double t = scores[ord[i]];
    while (j < n && scores[ord[j]] == t) {
      (truth[ord[j]] ? tp : fp)++;
      ++j;
    }
    const double prec = double(tp) / double(tp + fp), rec = double(tp) / P;
    ap += (double(tp - prev_tp) / P) * prec;
    if (m.negatives > 0) auc += (double(fp - prev_fp) / N) * (double(tp + prev_tp) / (2.0 * P));
    const double f1 = 2.0 * double(tp) / (double(tp + fp) + P);
    if (f1 > best) best = f1, best_t = t;
    (void)rec;
    prev_tp = tp, prev_fp = fp;
    i = j;
  }
  m.average_precision = ap;
  m.roc_auc = m.negatives > 0 ? auc : 0.5;
  m.best_f1 = std::max(0.0, best);
  m.best_threshold = best_t;
  return m;
}

int decide(const float* p, int C, const double* w) {
  int best = 0;
  double bv = w ? w[0] * double(p[0]) : double(p[0]);
  for (int c = 1; c < C; ++c) {
    const double v = w ? w[c] * double(p[c]) : double(p[c]);
    if (v > bv) bv = v, best = c;
  }
  return best;
}

std::vector<double> prior_weights(const std::vector<double>& prior, const std::vector<double>& train_prior) {
  TRAWL_ASSERT(prior.size() == train_prior.size());
  std::vector<double> w(prior.size(), 0.0);
  for (size_t c = 0; c < prior.size(); ++c) w[c] = train_prior[c] > 0 ? prior[c] / train_prior[c] : 0.0;
  return w;
}

std::vector<double> em_step_sums(const float* P, uint64_t n, int C, const std::vector<double>& prior,
                                 const std::vector<double>& train_prior) {
  const auto w = prior_weights(prior, train_prior);
  std::vector<double> sum(size_t(C), 0.0), q(size_t(C), 0.0);
  for (uint64_t i = 0; i < n; ++i) {
    const float* p = P + i * uint64_t(C);
    double z = 0;
    for (int c = 0; c < C; ++c) z += q[size_t(c)] = w[size_t(c)] * double(p[c]);
    if (z > 0)
      for (int c = 0; c < C; ++c) sum[size_t(c)] += q[size_t(c)] / z;
    else
      for (int c = 0; c < C; ++c) sum[size_t(c)] += double(p[c]);
  }
  return sum;
}

EmResult em_prior(const float* P, uint64_t n, int C, const std::vector<double>& train_prior, double tol, int max_iter) {
  if (int(train_prior.size()) != C) throw UsageError(cat("em_prior: ", train_prior.size(), " training priors for ", C, " classes"));
  EmResult r;
  r.prior = train_prior;
  if (n == 0) return r;
  for (r.iterations = 0; r.iterations < max_iter;) {
    auto s = em_step_sums(P, n, C, r.prior, train_prior);
    ++r.iterations;
    double delta = 0;
    for (int c = 0; c < C; ++c) {
      const double v = s[size_t(c)] / double(n);
      delta = std::max(delta, std::fabs(v - r.prior[size_t(c)]));
      r.prior[size_t(c)] = v;
    }
    if (delta < tol) {
      r.converged = true;
      break;
    }
  }
  return r;
}

namespace {
constexpr double kMinP = 1e-12;
}

bool Calibration::apply(const float* p, int C, double* q) const {
  double m = -1e300;
  for (int c = 0; c < C; ++c) {
    q[c] = a * std::log(std::max(double(p[c]), kMinP)) + (b.empty() ? 0.0 : b[size_t(c)]);
    m = std::max(m, q[c]);
  }
  double z = 0;
  for (int c = 0; c < C; ++c) z += q[c] = std::exp(q[c] - m);
  for (int c = 0; c < C; ++c) q[c] /= z;
  return z > 0;
}

Calibration fit_calibration(const float* P, const int* y, uint64_t n, int C, const std::vector<double>& w) {
  TRAWL_ASSERT(int(w.size()) == C);
  Calibration cal;
  cal.b.assign(size_t(C), 0.0);
  // Free parameters: a, then b_c of the present classes after the first.
  std::vector<int> free_b;
  bool first = true;
  for (int c = 0; c < C; ++c)
    if (w[size_t(c)] > 0) {
      if (!first) free_b.push_back(c);
      first = false;
    }
  const int K = 1 + int(free_b.size());
  auto objective = [&](const Calibration& t, std::vector<double>* g, std::vector<double>* H) {
    double f = 0;
    if (g) g->assign(size_t(K), 0.0);
    if (H) H->assign(size_t(K) * size_t(K), 0.0);
    std::vector<double> q(size_t(C), 0.0), z(size_t(C), 0.0), phi(size_t(K), 0.0), mean(size_t(K), 0.0);
    for (uint64_t i = 0; i < n; ++i) {
      const double wi = w[size_t(y[i])];
      if (wi <= 0) continue;
      const float* p = P + i * uint64_t(C);
      for (int c = 0; c < C; ++c) z[size_t(c)] = std::log(std::max(double(p[c]), kMinP));
      t.apply(p, C, q.data());
      f -= wi * std::log(std::max(q[size_t(y[i])], 1e-300));
      if (!g) continue;
      // E_q[phi] and the observed phi; phi_c = (z_c, e_c over the free b's)
      std::fill(mean.begin(), mean.end(), 0.0);
      for (int c = 0; c < C; ++c) mean[0] += q[size_t(c)] * z[size_t(c)];
      for (int k = 1; k < K; ++k) mean[size_t(k)] = q[size_t(free_b[size_t(k - 1)])];
      (*g)[0] += wi * (mean[0] - z[size_t(y[i])]);
      for (int k = 1; k < K; ++k) (*g)[size_t(k)] += wi * (mean[size_t(k)] - (free_b[size_t(k - 1)] == y[i] ? 1.0 : 0.0));
      if (!H) continue;
      for (int c = 0; c < C; ++c) {  // Σ_c q_c (phi_c − mean)(phi_c − mean)^T
        phi[0] = z[size_t(c)] - mean[0];
        for (int k = 1; k < K; ++k) phi[size_t(k)] = (free_b[size_t(k - 1)] == c ? 1.0 : 0.0) - mean[size_t(k)];
        for (int r = 0; r < K; ++r)
          for (int s = 0; s < K; ++s) (*H)[size_t(r * K + s)] += wi * q[size_t(c)] * phi[size_t(r)] * phi[size_t(s)];
      }
    }
    return f;
  };
  std::vector<double> g, H;
  double f = objective(cal, &g, &H);
  for (cal.iterations = 0; cal.iterations < 100; ++cal.iterations) {
    // Newton direction: (H + ridge) d = −g, by Gaussian elimination with partial pivoting.
    std::vector<double> A = H, d(size_t(K), 0.0);
    for (int k = 0; k < K; ++k) A[size_t(k * K + k)] += 1e-9, d[size_t(k)] = -g[size_t(k)];
    for (int c = 0; c < K; ++c) {
      int piv = c;
      for (int r = c + 1; r < K; ++r)
        if (std::fabs(A[size_t(r * K + c)]) > std::fabs(A[size_t(piv * K + c)])) piv = r;
      if (A[size_t(piv * K + c)] == 0) break;
      if (piv != c) {
        for (int s = 0; s < K; ++s) std::swap(A[size_t(c * K + s)], A[size_t(piv * K + s)]);
        std::swap(d[size_t(c)], d[size_t(piv)]);
      }
      for (int r = c + 1; r < K; ++r) {
        const double m = A[size_t(r * K + c)] / A[size_t(c * K + c)];
        for (int s = c; s < K; ++s) A[size_t(r * K + s)] -= m * A[size_t(c * K + s)];
        d[size_t(r)] -= m * d[size_t(c)];
      }
    }
    for (int c = K - 1; c >= 0; --c) {
      for (int s = c + 1; s < K; ++s) d[size_t(c)] -= A[size_t(c * K + s)] * d[size_t(s)];
      d[size_t(c)] = A[size_t(c * K + c)] != 0 ? d[size_t(c)] / A[size_t(c * K + c)] : 0.0;
    }
    double gd = 0;
    for (int k = 0; k < K; ++k) gd += g[size_t(k)] * d[size_t(k)];
    if (!(gd < 0) || -gd < 1e-12 * std::max(1.0, std::fabs(f))) break;
    double step = 1;
    Calibration t = cal;
    double ft = f;
    for (int ls = 0; ls < 40; ++ls, step *= 0.5) {
      t = cal;
      t.a += step * d[0];
      for (int k = 1; k < K; ++k) t.b[size_t(free_b[size_t(k - 1)])] += step * d[size_t(k)];
      ft = objective(t, nullptr, nullptr);
      if (ft <= f + 1e-4 * step * gd) break;
    }
    if (!(ft < f)) break;
    cal = t;
    f = objective(cal, &g, &H);
  }
  return cal;
}

}  // namespace trawl::score
