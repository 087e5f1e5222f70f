// trawl-libs: trawl_stage_evaluate
// trawl-evaluate (twitter-labor §8): the logistic fit against a hand-derived optimum and against
// scikit-learn's unpenalised LogisticRegression (Debian's /usr/bin/python3), the calibration's
// bootstrap, thresholds counted against brute force, precision and T95 on a hand-checked sample,
// and bad input.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <sstream>

#include "core/error.h"
#include "core/fs.h"
#include "core/rng.h"
#include "mpi/comm.h"
#include "score/evaluate.h"
#include "stages/evaluate_stage.h"
#include "support/testutil.h"

using namespace trawl;
using namespace trawl::score;
using namespace trawl::stages;

namespace {

bool have_sklearn() { return test::run("/usr/bin/python3 -c 'import sklearn, numpy' >/dev/null 2>&1") == 0; }

// Two overlapping score distributions (non-separable), n items.
void make_data(size_t n, uint64_t seed, std::vector<double>& s, std::vector<int>& y) {
  Rng r(seed);
  s.clear(), y.clear();
  for (size_t i = 0; i < n; ++i) {
    const int yi = r.uniform() < 0.3 ? 1 : 0;
    double v = (yi ? 0.65 : 0.35) + 0.2 * r.normal();
    v = std::min(1.0, std::max(0.0, v));
    s.push_back(v), y.push_back(yi);
  }
}

}  // namespace

TEST(EvaluateFit, HandDerivedOptimum) {
  // s = 0: labels {0, 1} -> p = 1/2 -> c = 0; s = 1: labels {0, 1, 1, 1} -> p = 3/4 -> a + c = ln 3.
  std::vector<double> s = {0, 0, 1, 1, 1, 1};
  std::vector<int> y = {0, 1, 0, 1, 1, 1};
  auto f = fit_logit(s, y);
  EXPECT_TRUE(f.converged);
  EXPECT_NEAR(f.c, 0.0, 1e-9);
  EXPECT_NEAR(f.a, std::log(3.0), 1e-9);
}

TEST(EvaluateFit, SeparatedDataIsFlagged) {
  std::vector<double> s = {0.1, 0.2, 0.3, 0.7, 0.8, 0.9};
  std::vector<int> y = {0, 0, 0, 1, 1, 1};
  auto f = fit_logit(s, y);
  EXPECT_TRUE(f.separated);
  EXPECT_GT(f.a, 50);
  EXPECT_GT(-f.c / f.a, 0.3);  // the boundary still sits between the classes
  EXPECT_LT(-f.c / f.a, 0.7);
}

TEST(EvaluateFit, EqualsSklearnUnpenalised) {
  if (!have_sklearn()) FAIL() << "reference cannot run (tools/install-deps.sh installs it): " << "/usr/bin/python3 has no sklearn";
  test::TempDir dir("eval-fit");
  for (uint64_t seed : {1, 2, 3}) {
    std::vector<double> s;
    std::vector<int> y;
    make_data(400, seed, s, y);
    std::ostringstream data;
    data.precision(17);
    for (size_t i = 0; i < s.size(); ++i) data << s[i] << ' ' << y[i] << '\n';
    test::write_file(dir / "d.txt", data.str());
    std::string out;
    const std::string py =
        "import numpy as np, sklearn\n"
        "from sklearn.linear_model import LogisticRegression\n"
        "d = np.loadtxt('" + (dir / "d.txt") + "')\n"
        "kw = {'penalty': None} if tuple(map(int, sklearn.__version__.split('.')[:2])) >= (1, 2) else {'penalty': 'none'}\n"
        "m = LogisticRegression(solver='lbfgs', tol=1e-12, max_iter=10000, **kw).fit(d[:, :1], d[:, 1].astype(int))\n"
        "print('%.12f %.12f' % (m.coef_[0][0], m.intercept_[0]))\n";
    test::write_file(dir / "fit.py", py);
    ASSERT_EQ(test::run("/usr/bin/python3 " + (dir / "fit.py"), &out), 0) << out;
    double a = 0, c = 0;
    ASSERT_EQ(std::sscanf(out.c_str(), "%lf %lf", &a, &c), 2) << out;
    auto f = fit_logit(s, y);
    EXPECT_TRUE(f.converged);
    EXPECT_NEAR(f.a, a, 1e-4 * (1 + std::abs(a))) << "seed " << seed;
    EXPECT_NEAR(f.c, c, 1e-4 * (1 + std::abs(c))) << "seed " << seed;
  }
}

TEST(EvaluateCalibration, BootstrapIsSeededAndNearTheFullFit) {
  std::vector<double> s;
  std::vector<int> y;
  make_data(3000, 9, s, y);
  auto c0 = calibrate(s, y, 0, 1);
  ASSERT_EQ(c0.a.size(), 1u);
  auto full = fit_logit(s, y);
  EXPECT_DOUBLE_EQ(c0.a[0], full.a);
  EXPECT_NEAR(c0.root(0.5), -full.c / full.a, 1e-9);
  auto b1 = calibrate(s, y, 50, 7), b2 = calibrate(s, y, 50, 7), b3 = calibrate(s, y, 50, 8);
  EXPECT_EQ(b1.a, b2.a);
  EXPECT_NE(b1.a, b3.a);
  // Balanced resamples shift the intercept (positives are 30% of the data) but every fit sees
  // both classes: the bootstrap's 0.5 point lies between the class means, close to where the two
  // (equal-width) score distributions cross, 0.5.
  EXPECT_NEAR(b1.root(0.5), 0.5, 0.05);
  // The calibrated curve is increasing here.
  EXPECT_LT(b1(0.2), b1(0.5));
  EXPECT_LT(b1(0.5), b1(0.8));
  EXPECT_THROW(calibrate({0.1, 0.2}, {0, 0}, 10, 1), InputError);
}

TEST(EvaluateCount, AboveThresholdsEqualsBruteForce) {
  auto comm = mpi::Comm::world();
  Rng r(3);
  std::vector<float> v(5000);
  for (auto& x : v) x = float(std::floor(r.uniform() * 50) / 50);  // ties on purpose
  std::vector<double> t = {-1, 0.0, 0.1, 0.1, 0.34, 0.5, 0.98, 1.0, 2};
  auto got = count_above(comm, t, v);
  ASSERT_EQ(got.size(), t.size());
  for (size_t k = 0; k < t.size(); ++k) {
    uint64_t want = 0;
    for (float x : v) want += double(x) > t[k];
    EXPECT_EQ(got[k], want) << "threshold " << t[k];
  }
}

TEST(EvaluateCount, ManyAndClusteredThresholdsEqualBruteForce) {
  auto comm = mpi::Comm::world();
  Rng r(5);
  std::vector<float> v(20000);
  for (auto& x : v) x = float(0.5 + (r.uniform() - 0.5) * 1e-4);  // most scores inside a few table buckets
  for (size_t i = 0; i < 200; ++i) v[i] = float(r.uniform());
  std::vector<double> t;
  for (int k = 0; k < 3000; ++k) t.push_back(0.5 + (r.uniform() - 0.5) * 1e-4);  // > 16 per bucket
  for (int k = 0; k < 300; ++k) t.push_back(r.uniform());
  t.push_back(double(v[7]));  // a threshold equal to a score: that score is not above it
  std::sort(t.begin(), t.end());
  auto got = count_above(comm, t, v);
  std::vector<float> sv(v);
  std::sort(sv.begin(), sv.end());
  for (size_t k = 0; k < t.size(); ++k) {
    // brute force: scores strictly greater than t[k]
    uint64_t want = uint64_t(sv.end() - std::upper_bound(sv.begin(), sv.end(), t[k],
                                                         [](double a, float b) { return a < double(b); }));
    ASSERT_EQ(got[k], want) << "threshold " << k << " = " << t[k];
  }
}

TEST(EvaluateStage, PrecisionAndT95OnAHandCheckedSample) {
  auto comm = mpi::Comm::world();
  test::TempDir dir("eval-stage");
  // 30 ranked rows, scores falling with rank; rows 1..10 positive but row 4, rows 11..30 negative
  // but row 15; rows 7 and 25 unlabelled.
  std::ostringstream cut, lab;
  cut << "bucket\trank\tuid\tid\tscore\ttext\n";
  lab << "uid\tlabel\n";
  for (int rk = 1; rk <= 30; ++rk) {
    cut << 1 << '\t' << rk << '\t' << 100 + rk << "\tx\t" << (1.0 - rk / 31.0) << "\tt\n";
    if (rk == 7 || rk == 25) continue;
    const bool pos = (rk <= 10 && rk != 4) || rk == 15;
    lab << 100 + rk << '\t' << (pos ? "yes" : "no") << '\n';
  }
  test::write_file(dir / "cut.tsv", cut.str());
  test::write_file(dir / "lab.tsv", lab.str());
  EvaluateOptions o;
  o.cutoffs = dir / "cut.tsv", o.labels = dir / "lab.tsv", o.cls = "pos", o.positive = "yes";
  o.output = dir / "out", o.bootstrap = 0, o.top = {6, 11};
  auto s = run_evaluate(comm, o);
  EXPECT_EQ(s.labelled, 28u);
  EXPECT_EQ(s.positives, 9u);  // ranks 1-10 without 4 and (unlabelled) 7, plus 15
  // The first 20 labelled rows are ranks 1-6 and 8-21: positives 1,2,3,5,6,8,9,10,15.
  EXPECT_DOUBLE_EQ(s.precision_top20, 9.0 / 20.0);
  ASSERT_EQ(s.precision_top.size(), 2u);
  EXPECT_DOUBLE_EQ(s.precision_top[0].second, 4.0 / 5.0);  // ranks 1-5
  EXPECT_DOUBLE_EQ(s.precision_top[1].second, 8.0 / 9.0);  // ranks 1-10 without 7
  // T95 from the written fit: the first rank whose sigmoid(a s + c) < 0.95.
  auto cal = test::read_file(dir / "out/calibration-pos.tsv");
  double a = 0, c = 0;
  ASSERT_EQ(std::sscanf(cal.c_str() + cal.find('\n') + 1, "0\t%lf\t%lf", &a, &c), 2) << cal;
  EXPECT_GT(a, 0);
  int t95 = 31;
  for (int rk = 1; rk <= 30; ++rk)
    if (sigmoid(a * (1.0 - rk / 31.0) + c) < 0.95) {
      t95 = rk;
      break;
    }
  EXPECT_EQ(uint64_t(s.t95), uint64_t(t95));
  EXPECT_NEAR(s.root, -c / a, 1e-9);
  auto summary = test::read_file(s.summary_path);
  EXPECT_NE(summary.find("precision_top20\t0.45\n"), std::string::npos) << summary;
  EXPECT_NE(summary.find("labelled\t28\n"), std::string::npos) << summary;
}

TEST(EvaluateStage, BadInput) {
  auto comm = mpi::Comm::world();
  test::TempDir dir("eval-bad");
  test::write_file(dir / "lab.tsv", "uid\tlabel\n1\tpos\n2\tneg\n");
  EvaluateOptions o;
  o.labels = dir / "lab.tsv", o.cls = "pos", o.output = dir / "out", o.bootstrap = 0;
  auto expect = [&](const std::string& content, const std::string& msg) {
    test::write_file(dir / "cut.tsv", content);
    o.cutoffs = dir / "cut.tsv";
    try {
      run_evaluate(comm, o);
      ADD_FAILURE() << "no error for: " << msg;
    } catch (const InputError& e) {
      EXPECT_NE(std::string(e.what()).find(msg), std::string::npos) << e.what();
    }
    EXPECT_FALSE(path_exists(dir / "out/evaluate-pos.tsv")) << "output left behind for: " << msg;
  };
  expect("rank\tuid\n1\t1\n", "needs columns rank, uid and score");
  expect("rank\tuid\tscore\n1\t1\t0.9\n2\t2\t1.7\n", "cut.tsv:3: score '1.7' is not a probability");
  expect("rank\tuid\tscore\n1\tx\t0.9\n", "cut.tsv:2: uid 'x' is not an unsigned integer");
  expect("rank\tuid\tscore\n1\t5\t0.9\n", "labels none of the 1 rows");
  expect("rank\tuid\tscore\n1\t1\t0.9\n", "needs labelled positives and negatives");
}
