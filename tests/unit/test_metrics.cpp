// trawl-libs: trawl_metrics
// Test-set metrics against scikit-learn (Debian's /usr/bin/python3; a missing reference fails),
// hand-checked cases, and the EM prior on a case whose true prior is known.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <sstream>

#include "core/rng.h"
#include "score/metrics.h"
#include "support/testutil.h"

using namespace trawl;

TEST(Metrics, HandChecked) {
  // scores 0.9 (pos), 0.8 (neg), 0.7 (pos), 0.1 (neg)
  auto m = score::ranking_metrics({0.9, 0.8, 0.7, 0.1}, {1, 0, 1, 0});
  EXPECT_EQ(m.positives, 2u);
  EXPECT_NEAR(m.average_precision, 0.5 * 1.0 + 0.5 * (2.0 / 3.0), 1e-15);
  EXPECT_NEAR(m.roc_auc, 0.75, 1e-15);  // 3 of 4 (pos, neg) pairs ordered right
  EXPECT_NEAR(m.best_f1, 0.8, 1e-15);   // threshold 0.7: P 2/3, R 1
  EXPECT_DOUBLE_EQ(m.best_threshold, 0.7);
  // ties: all equal scores -> AUC 0.5, AP = base rate
  auto t = score::ranking_metrics({0.5, 0.5, 0.5, 0.5}, {1, 0, 0, 0});
  EXPECT_NEAR(t.roc_auc, 0.5, 1e-15);
  EXPECT_NEAR(t.average_precision, 0.25, 1e-15);
  auto none = score::ranking_metrics({0.1, 0.2}, {0, 0});
  EXPECT_EQ(none.average_precision, 0.0);
  EXPECT_EQ(none.roc_auc, 0.5);
}

TEST(Metrics, AgreeWithSklearn) {
  test::TempDir dir("metrics");
  std::ostringstream data;
  std::vector<std::vector<double>> S;
  std::vector<std::vector<char>> T;
  for (int c = 0; c < 6; ++c) {
    Rng r(key(7, uint64_t(c)));
    const int n = 50 + 400 * c;
    std::vector<double> s(size_t(n), 0.0);
    std::vector<char> t(size_t(n), 0);
    for (int i = 0; i < n; ++i) {
      t[size_t(i)] = r.uniform() < (c % 2 ? 0.02 : 0.2);
      double v = r.uniform() + (t[size_t(i)] ? 0.4 : 0.0);
      if (c >= 3) v = std::round(v * 20) / 20;  // many ties
      s[size_t(i)] = v;
      data << c << ' ' << int(t[size_t(i)]) << ' ';
      char b[40];
      std::snprintf(b, sizeof b, "%.17g", v);
      data << b << '\n';
    }
    S.push_back(s), T.push_back(t);
  }
  test::write_file(dir / "data.txt", data.str());
  test::write_file(dir / "ref.py", R"(import sys, numpy as np
from sklearn.metrics import average_precision_score, roc_auc_score, precision_recall_curve
d = np.loadtxt(sys.argv[1])
for c in range(int(d[:, 0].max()) + 1):
    m = d[d[:, 0] == c]; y = m[:, 1].astype(int); s = m[:, 2]
    p, r, _ = precision_recall_curve(y, s)
    f = np.where(p + r > 0, 2 * p * r / np.maximum(p + r, 1e-300), 0)
    print('%.17g %.17g %.17g' % (average_precision_score(y, s), roc_auc_score(y, s), f.max()))
)");
  std::string out;
  ASSERT_EQ(test::run("/usr/bin/python3 " + (dir / "ref.py") + " " + (dir / "data.txt"), &out), 0)
      << "the scikit-learn reference must run (install python3-sklearn): " << out;
  std::istringstream in(out);
  for (size_t c = 0; c < S.size(); ++c) {
    double ap, auc, f1;
    ASSERT_TRUE(in >> ap >> auc >> f1) << out;
    auto m = score::ranking_metrics(S[c], T[c]);
    EXPECT_NEAR(m.average_precision, ap, 1e-12) << "case " << c;
    EXPECT_NEAR(m.roc_auc, auc, 1e-12) << "case " << c;
    EXPECT_NEAR(m.best_f1, f1, 1e-12) << "case " << c;
  }
}

TEST(Metrics, EmRecoversAShiftedPrior) {
  // Two 1-d Gaussians N(±1, 1). A model trained at prior (0.5, 0.5) has the exact posterior
  // p(1|x) = σ(2x). Draw a pool with prior (0.97, 0.03): EM must find ≈ 0.03.
  for (double rare : {0.03, 0.2}) {
    Rng r(key(11, uint64_t(rare * 1000)));
    const uint64_t n = 200000;
    std::vector<float> P(2 * n);
    uint64_t pos = 0;
    for (uint64_t i = 0; i < n; ++i) {
      const bool y = r.uniform() < rare;
      pos += y;
      const double x = (y ? 1.0 : -1.0) + r.normal();
      const double p1 = 1.0 / (1.0 + std::exp(-2.0 * x));
      P[2 * i] = float(1 - p1), P[2 * i + 1] = float(p1);
    }
    auto e = score::em_prior(P.data(), n, 2, {0.5, 0.5});
    EXPECT_TRUE(e.converged);
    EXPECT_NEAR(e.prior[1], double(pos) / double(n), 0.01) << "true share " << double(pos) / double(n);
    EXPECT_NEAR(e.prior[0] + e.prior[1], 1.0, 1e-9);
    // The adjusted decision predicts far fewer positives than the raw argmax.
    auto w = score::prior_weights(e.prior, {0.5, 0.5});
    uint64_t raw = 0, adj = 0;
    for (uint64_t i = 0; i < n; ++i) raw += score::decide(&P[2 * i], 2) == 1, adj += score::decide(&P[2 * i], 2, w.data()) == 1;
    EXPECT_LT(adj, raw);
  }
}

TEST(Metrics, EmStepSumsAddUpOverSplits) {
  // The stage sums per-shard partials: splitting rows must not change the sums beyond rounding.
  Rng r(3);
  std::vector<float> P(3 * 1000);
  for (size_t i = 0; i < 1000; ++i) {
    double a = r.uniform(), b = r.uniform(), c = r.uniform(), z = a + b + c;
    P[3 * i] = float(a / z), P[3 * i + 1] = float(b / z), P[3 * i + 2] = float(c / z);
  }
  std::vector<double> pr = {0.2, 0.3, 0.5}, tp = {1.0 / 3, 1.0 / 3, 1.0 / 3};
  auto all = score::em_step_sums(P.data(), 1000, 3, pr, tp);
  auto a = score::em_step_sums(P.data(), 400, 3, pr, tp), b = score::em_step_sums(P.data() + 1200, 600, 3, pr, tp);
  for (int c = 0; c < 3; ++c) EXPECT_NEAR(all[size_t(c)], a[size_t(c)] + b[size_t(c)], 1e-9);
  double s = all[0] + all[1] + all[2];
  EXPECT_NEAR(s, 1000.0, 1e-9);
}

TEST(Metrics, CalibrationAgreesWithScipy) {
  // Under-confident 3-class probabilities (a true temperature 0.4 away); the class-weighted log
  // loss of softmax(a ln p + b) minimised by scipy (BFGS, an independent optimiser) and by trawl's
  // Newton must agree; the fitted a must sharpen (a > 1).
  Rng r(21);
  const int C = 3;
  const uint64_t n = 600;
  std::vector<float> P(n * C);
  std::vector<int> y(n);
  std::vector<uint64_t> cnt(C, 0);
  std::ostringstream data;
  for (uint64_t i = 0; i < n; ++i) {
    y[i] = r.uniform() < 0.1 ? 2 : int(r.below(2));
    cnt[size_t(y[i])]++;
    double z[C], s = 0;
    for (int c = 0; c < C; ++c) z[c] = 0.4 * (r.normal() + (c == y[i] ? 2.0 : 0.0)), s += std::exp(z[c]);
    for (int c = 0; c < C; ++c) P[i * C + size_t(c)] = float(std::exp(z[c]) / s);
    data << y[i];
    for (int c = 0; c < C; ++c) {
      char b[40];
      std::snprintf(b, sizeof b, " %.9g", double(P[i * C + size_t(c)]));
      data << b;
    }
    data << '\n';
  }
  std::vector<double> w(C);
  for (int c = 0; c < C; ++c) w[size_t(c)] = double(n) / (C * double(cnt[size_t(c)]));
  auto cal = score::fit_calibration(P.data(), y.data(), n, C, w);
  EXPECT_GT(cal.a, 1.5);
  test::TempDir dir("cal");
  test::write_file(dir / "d.txt", data.str());
  test::write_file(dir / "ref.py", R"(import sys, numpy as np
from scipy.optimize import minimize
d = np.loadtxt(sys.argv[1]); y = d[:, 0].astype(int); lp = np.log(np.maximum(d[:, 1:], 1e-12))
C = lp.shape[1]; n = len(y); cnt = np.bincount(y, minlength=C); w = (n / (C * cnt))[y]
def f(t):
    a, b = t[0], np.concatenate([[0.0], t[1:]])
    z = a * lp + b; z -= z.max(1, keepdims=True)
    return -(w * (z[np.arange(n), y] - np.log(np.exp(z).sum(1)))).sum()
r = minimize(f, np.array([1.0] + [0.0] * (C - 1)), method='BFGS', options={'gtol': 1e-10})
print(' '.join('%.12g' % v for v in r.x))
)");
  std::string out;
  ASSERT_EQ(test::run("/usr/bin/python3 " + (dir / "ref.py") + " " + (dir / "d.txt"), &out), 0)
      << "the scipy reference must run (install python3-scipy): " << out;
  std::istringstream in(out);
  double a, b1, b2;
  ASSERT_TRUE(in >> a >> b1 >> b2) << out;
  EXPECT_NEAR(cal.a, a, 1e-4);
  EXPECT_NEAR(cal.b[0], 0.0, 0.0);
  EXPECT_NEAR(cal.b[1], b1, 1e-4);
  EXPECT_NEAR(cal.b[2], b2, 1e-4);
}
