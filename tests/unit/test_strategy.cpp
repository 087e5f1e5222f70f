// trawl-libs: trawl_strategy trawl_retrieve
// Acquisition strategies: hand-checked small cases; entropy/margin/least confidence, their top-b
// selections and BADGE gradient embeddings against numpy (Debian's /usr/bin/python3); BADGE and
// k-means selections against independent test-side reimplementations driven by the same keyed
// draws (and against retrieve::kmeanspp on the materialised gradient embeddings); order and
// thread-count independence; bad inputs.
#include <gtest/gtest.h>
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <map>
#include <numeric>
#include <set>
#include <sstream>

#include "core/error.h"
#include "core/rng.h"
#include "retrieve/anchors.h"
#include "strategy/strategy.h"
#include "strategy/streamable.h"
#include "support/testutil.h"

using namespace trawl;
using namespace trawl::strategy;

namespace {

RowMatrixXf softmax_rows(Rng& r, int n, int C, double temp = 1.0) {
  RowMatrixXf P(n, C);
  for (int i = 0; i < n; ++i) {
    double s = 0;
    std::vector<double> e(C);
    for (int k = 0; k < C; ++k) s += e[k] = std::exp(r.normal() * temp);
    for (int k = 0; k < C; ++k) P(i, k) = float(e[k] / s);
  }
  return P;
}
RowMatrixXf normal_rows(Rng& r, int n, int d) {
  RowMatrixXf X(n, d);
  for (int i = 0; i < n; ++i)
    for (int k = 0; k < d; ++k) X(i, k) = float(r.normal());
  return X;
}
std::vector<uint64_t> shuffled_uids(Rng& r, int n) {
  std::vector<uint64_t> u(n);
  for (int i = 0; i < n; ++i) u[i] = (uint64_t(i % 3) << 40) | uint64_t(1000 + 7 * i);
  std::shuffle(u.begin(), u.end(), r);
  return u;
}

void write_bin(const std::string& path, const void* p, size_t bytes) {
  std::ofstream o(path, std::ios::binary);
  o.write(static_cast<const char*>(p), std::streamsize(bytes));
}
std::vector<double> read_doubles(const std::string& path) {
  std::ifstream i(path, std::ios::binary);
  std::vector<double> v;
  double x;
  while (i.read(reinterpret_cast<char*>(&x), sizeof x)) v.push_back(x);
  return v;
}
std::vector<int64_t> read_i64(const std::string& path) {
  std::ifstream i(path, std::ios::binary);
  std::vector<int64_t> v;
  int64_t x;
  while (i.read(reinterpret_cast<char*>(&x), sizeof x)) v.push_back(x);
  return v;
}

bool have_numpy() {
  static int ok = -1;
  if (ok < 0) ok = test::run("/usr/bin/python3 -c 'import numpy'") == 0;
  return ok == 1;
}

// ---- hand-checked per-item scores ----------------------------------------------------------

TEST(StrategyScores, HandChecked) {
  const float a[2] = {0.5f, 0.5f};
  EXPECT_DOUBLE_EQ(least_confidence(a, 2), 0.5);
  EXPECT_DOUBLE_EQ(margin(a, 2), 0.0);
  EXPECT_NEAR(entropy(a, 2), std::log(2.0), 1e-12);
  const float b[3] = {0.25f, 0.5f, 0.25f};
  EXPECT_DOUBLE_EQ(least_confidence(b, 3), 0.5);
  EXPECT_DOUBLE_EQ(margin(b, 3), -0.25);
  EXPECT_NEAR(entropy(b, 3), 1.5 * std::log(2.0), 1e-12);  // 0.5 ln 2 + 2 · 0.25 ln 4
  const float c[3] = {1.0f, 0.0f, 0.0f};  // 0 ln 0 = 0
  EXPECT_DOUBLE_EQ(entropy(c, 3), 0.0);
  EXPECT_DOUBLE_EQ(least_confidence(c, 3), 0.0);
  EXPECT_DOUBLE_EQ(margin(c, 3), -1.0);
  const float d[4] = {0.125f, 0.5f, 0.125f, 0.25f};
  EXPECT_DOUBLE_EQ(margin(d, 4), -0.25);
  EXPECT_DOUBLE_EQ(around_threshold(d, 4, 3, 0.5), -0.25);
  EXPECT_DOUBLE_EQ(around_threshold(d, 4, 1, 0.5), 0.0);
  EXPECT_NEAR(entropy(d, 4), 1.75 * std::log(2.0), 1e-12);  // 2·(1/8)·3 + 1/2·1 + 1/4·2 bits
  // BADGE gradient norm: a = (0.5, -0.5)·h=(3,4): 0.5 · 25
  const float h[2] = {3, 4};
  EXPECT_DOUBLE_EQ(badge_norm2(a, h, 2, 2), 12.5);
}

TEST(StrategyTop, HandCheckedOrderAndTies) {
  // uids out of order; rows 1, 3 and 4 tie on every score.
  RowMatrixXf P(5, 2);
  P << 0.9f, 0.1f,  //
      0.6f, 0.4f,   //
      0.99f, 0.01f, //
      0.4f, 0.6f,   //
      0.6f, 0.4f;
  std::vector<uint64_t> u = {50, 40, 30, 20, 10};
  for (auto m : {Uncertainty::kLeastConfidence, Uncertainty::kMargin, Uncertainty::kEntropy}) {
    EXPECT_EQ(top_uncertain(P, u, m, 3), (std::vector<size_t>{4, 3, 1})) << int(m);
    EXPECT_EQ(top_uncertain(P, u, m, 5), (std::vector<size_t>{4, 3, 1, 0, 2})) << int(m);
    EXPECT_EQ(top_uncertain(P, u, m, 9).size(), 5u);
    EXPECT_TRUE(top_uncertain(P, u, m, 0).empty());
  }
  // Around 0.55 on class 1: |0.4-0.55| = 0.15 (rows 1, 4), |0.6-0.55| = 0.05 (row 3).
  EXPECT_EQ(top_around_threshold(P, u, 1, 0.55, 3), (std::vector<size_t>{3, 4, 1}));
  // Split: ceil(3/2) = 2 above 0.35 (p1 >= .35: rows 3, 4, 1 → nearest .4 = rows 4, 1 by uid), 1 below.
  EXPECT_EQ(split_around_threshold(P, u, 1, 0.35, 3), (std::vector<size_t>{4, 1, 0}));
  // Nothing below 0.005: the below side is made up from above.
  EXPECT_EQ(split_around_threshold(P, u, 1, 0.005, 2), (std::vector<size_t>{2, 0}));
  EXPECT_EQ(top_threshold_side(P, u, 1, 0.5, 5, true), (std::vector<size_t>{3}));
  RowMatrixXf E(0, 2);
  EXPECT_TRUE(top_uncertain(E, {}, Uncertainty::kEntropy, 3).empty());
  EXPECT_TRUE(random({}, 3, Context{}).empty());
}

TEST(StrategyTop, RandomIsSmallestKeyedHashes) {
  Rng r(7);
  auto u = shuffled_uids(r, 500);
  Context ctx{11, 3};
  auto got = random(u, 25, ctx);
  std::vector<std::pair<uint64_t, uint64_t>> all;
  for (auto x : u) all.emplace_back(key(11, 3, x), x);
  std::sort(all.begin(), all.end());
  ASSERT_EQ(got.size(), 25u);
  for (size_t i = 0; i < 25; ++i) EXPECT_EQ(u[got[i]], all[i].second);
  // Another round gives another sample; the same round the same.
  EXPECT_EQ(random(u, 25, ctx), got);
  EXPECT_NE(random(u, 25, Context{11, 4}), got);
  EXPECT_LT(random_score(u[got[0]], ctx), random_score(u[got[24]], ctx));
}

// ---- against numpy --------------------------------------------------------------------------

TEST(StrategyNumpy, ScoresTopAndBadgeEmbeddings) {
  if (!have_numpy()) FAIL() << "reference cannot run (tools/install-deps.sh installs it): " << "/usr/bin/python3 has no numpy";
  test::TempDir dir("strategy-np");
  Rng r(2024);
  for (int C : {2, 3, 10}) {
    const int n = 3000, F = 5;
    RowMatrixXf P = softmax_rows(r, n, C, C == 2 ? 2.0 : 1.0);
    // Ties: duplicate some rows (uids still unique), and exact zeros.
    for (int i = 0; i < 40; ++i) P.row(100 + i) = P.row(7);
    P.row(5).setZero();
    P(5, C - 1) = 1.0f;
    RowMatrixXf H = normal_rows(r, n, F);
    auto u = shuffled_uids(r, n);
    write_bin(dir / "p.bin", P.data(), size_t(P.size()) * 4);
    write_bin(dir / "h.bin", H.data(), size_t(H.size()) * 4);
    write_bin(dir / "u.bin", u.data(), u.size() * 8);
    const std::string script = cat(
        "import numpy as np\n"
        "d='", dir.path(), "'\n"
        "n,C,F=", n, ",", C, ",", F, "\n"
        "p=np.fromfile(d+'/p.bin',dtype=np.float32).reshape(n,C).astype(np.float64)\n"
        "h=np.fromfile(d+'/h.bin',dtype=np.float32).reshape(n,F)\n"
        "u=np.fromfile(d+'/u.bin',dtype=np.uint64)\n"
        "s=-np.sort(-p,axis=1)\n"
        "lc=1-s[:,0]\n"
        "mg=-(s[:,0]-s[:,1])\n"
        "with np.errstate(divide='ignore',invalid='ignore'):\n"
        "  en=-np.where(p>0,p*np.log(p),0).sum(axis=1)\n"
        "for name,v in (('lc',lc),('mg',mg),('en',en)):\n"
        "  v.astype(np.float64).tofile(d+'/'+name+'.f64')\n"
        "  o=np.lexsort((u,-v))[:25]\n"
        "  o.astype(np.int64).tofile(d+'/'+name+'.top')\n"
        "pf=np.fromfile(d+'/p.bin',dtype=np.float32).reshape(n,C)\n"
        "y=pf.argmax(axis=1)\n"
        "a=pf-np.eye(C,dtype=np.float32)[y]\n"
        "g=(a[:,:,None]*h[:,None,:]).reshape(n,C*F)\n"
        "g.astype(np.float32).tofile(d+'/g.bin')\n");
    test::write_file(dir / "ref.py", script);
    std::string out;
    ASSERT_EQ(test::run("/usr/bin/python3 " + dir / "ref.py", &out), 0) << out;
    const char* names[3] = {"lc", "mg", "en"};
    const Uncertainty us[3] = {Uncertainty::kLeastConfidence, Uncertainty::kMargin, Uncertainty::kEntropy};
    for (int m = 0; m < 3; ++m) {
      auto ref = read_doubles(dir / (std::string(names[m]) + ".f64"));
      ASSERT_EQ(ref.size(), size_t(n));
      for (int i = 0; i < n; ++i)
        ASSERT_NEAR(uncertainty(P.row(i).data(), C, us[m]), ref[i], 1e-12) << names[m] << " row " << i;
      auto top = read_i64(dir / (std::string(names[m]) + ".top"));
      auto got = top_uncertain(P, u, us[m], 25);
      ASSERT_EQ(got.size(), 25u);
      for (int i = 0; i < 25; ++i) EXPECT_EQ(int64_t(got[i]), top[i]) << names[m] << " C=" << C << " rank " << i;
    }
    RowMatrixXf G = badge_embeddings(P, H);
    std::ifstream gi(dir / "g.bin", std::ios::binary);
    std::vector<float> g(size_t(n) * C * F);
    gi.read(reinterpret_cast<char*>(g.data()), std::streamsize(g.size() * 4));
    ASSERT_TRUE(bool(gi));
    ASSERT_EQ(G.cols(), C * F);
    for (int i = 0; i < n; ++i)
      for (int k = 0; k < C * F; ++k) ASSERT_EQ(G(i, k), g[size_t(i) * C * F + k]) << "row " << i << " col " << k;
    for (int i = 0; i < 50; ++i)
      EXPECT_NEAR(badge_norm2(P.row(i).data(), H.row(i).data(), C, F), double(G.row(i).squaredNorm()),
                  1e-5 * (1 + G.row(i).squaredNorm()));
  }
}

TEST(StrategyTop, ThreadCountAndOrderIndependent) {
  Rng r(5);
  const int n = 100000, C = 3;
  RowMatrixXf P = softmax_rows(r, n, C);
  for (int i = 0; i < 500; ++i) P.row(1000 + 97 * i) = P.row(3);  // many exact ties
  auto u = shuffled_uids(r, n);
  const int saved = omp_get_max_threads();
  omp_set_num_threads(1);
  auto one = top_uncertain(P, u, Uncertainty::kEntropy, 300);
  omp_set_num_threads(3);
  auto three = top_uncertain(P, u, Uncertainty::kEntropy, 300);
  omp_set_num_threads(saved);
  EXPECT_EQ(one, three);
  // Brute force: full sort by (score desc, uid asc).
  std::vector<size_t> all(n);
  std::iota(all.begin(), all.end(), 0);
  std::vector<double> s(n);
  for (int i = 0; i < n; ++i) s[i] = entropy(P.row(i).data(), C);
  std::sort(all.begin(), all.end(), [&](size_t a, size_t b) { return s[a] != s[b] ? s[a] > s[b] : u[a] < u[b]; });
  all.resize(300);
  EXPECT_EQ(one, all);
}

// ---- BADGE ---------------------------------------------------------------------------------

// The draws greedy k-means++ consumes from Rng(key(seed, round)).
struct Draws {
  uint64_t first;
  std::vector<double> u;
};
Draws draws_for(uint64_t seed, uint64_t round, size_t n, size_t A) {
  Rng r(key(seed, round));
  Draws d;
  d.first = r.below(n);
  int T = 2 + int(std::floor(std::log(double(A))));
  for (size_t i = 0; i + 1 < A; ++i)
    for (int t = 0; t < T; ++t) d.u.push_back(r.uniform());
  return d;
}
// A plain greedy k-means++ over explicit rows in double (linear cumsum search).
std::vector<size_t> naive_kmeanspp(const std::vector<std::vector<double>>& X, size_t A, const Draws& dr) {
  size_t n = X.size();
  int T = 2 + int(std::floor(std::log(double(A))));
  auto sq = [&](size_t i, size_t j) {
    double s = 0;
    for (size_t k = 0; k < X[i].size(); ++k) s += (X[i][k] - X[j][k]) * (X[i][k] - X[j][k]);
    return s;
  };
  std::vector<size_t> ch = {dr.first};
  std::vector<double> D(n);
  for (size_t i = 0; i < n; ++i) D[i] = sq(i, ch[0]);
  size_t ui = 0;
  for (size_t c = 1; c < A; ++c) {
    double pot = 0;
    for (double x : D) pot += x;
    std::vector<size_t> cand;
    for (int t = 0; t < T; ++t) {
      double r = dr.u[ui++] * pot, acc = 0;
      size_t pick = n - 1;
      for (size_t i = 0; i < n; ++i) {
        acc += D[i];
        if (acc >= r) {
          pick = i;
          break;
        }
      }
      cand.push_back(pick);
    }
    double best = 0;
    std::vector<double> bestD;
    size_t bc = 0;
    for (int t = 0; t < T; ++t) {
      std::vector<double> Dt(n);
      double p = 0;
      for (size_t i = 0; i < n; ++i) p += Dt[i] = std::min(D[i], sq(i, cand[t]));
      if (t == 0 || p < best) best = p, bestD = Dt, bc = cand[t];
    }
    ch.push_back(bc);
    D = bestD;
  }
  std::vector<size_t> out;
  for (auto c : ch)
    if (std::find(out.begin(), out.end(), c) == out.end()) out.push_back(c);
  return out;
}

TEST(StrategyBadge, EqualsReimplementationsOnSameDraws) {
  Rng r(99);
  for (int trial = 0; trial < 6; ++trial) {
    const int n = 150 + 40 * trial, C = 2 + trial % 3, F = 3 + trial;
    const size_t b = trial == 5 ? 60 : 10 + size_t(trial);
    RowMatrixXf P = softmax_rows(r, n, C, 1.5);
    RowMatrixXf H = normal_rows(r, n, F);
    auto u = shuffled_uids(r, n);
    Context ctx{uint64_t(1000 + trial), uint64_t(trial)};
    auto got = badge(P, H, u, b, ctx);
    // Reference 1: explicit gradient embeddings in double, rows in uid order, naive seeding.
    std::vector<size_t> order(n);
    std::iota(order.begin(), order.end(), 0);
    std::sort(order.begin(), order.end(), [&](size_t a, size_t c) { return u[a] < u[c]; });
    std::vector<std::vector<double>> G(n);
    for (int j = 0; j < n; ++j) {
      size_t i = order[j];
      int y = 0;
      for (int k = 1; k < C; ++k)
        if (P(i, k) > P(i, y)) y = k;
      for (int k = 0; k < C; ++k)
        for (int f = 0; f < F; ++f) G[j].push_back(double(P(i, k) - (k == y ? 1.0f : 0.0f)) * double(H(i, f)));
    }
    auto ref = naive_kmeanspp(G, b, draws_for(ctx.seed, ctx.round, size_t(n), b));
    for (auto& j : ref) j = order[j];
    EXPECT_EQ(got, ref) << "trial " << trial;
    // Reference 2: retrieve::kmeanspp (another engineer's implementation) on the materialised
    // float embeddings in uid order.
    RowMatrixXf E = badge_embeddings(P, H), Es(n, E.cols());
    for (int j = 0; j < n; ++j) Es.row(j) = E.row(Eigen::Index(order[j]));
    Rng rng(key(ctx.seed, ctx.round));
    auto ref2 = retrieve::kmeanspp(Es, int(b), rng);
    std::vector<size_t> ref2p;
    for (int j : ref2) ref2p.push_back(order[size_t(j)]);
    EXPECT_EQ(got, ref2p) << "trial " << trial;
    EXPECT_EQ(got.size(), std::set<size_t>(got.begin(), got.end()).size());
    // Input order does not matter.
    std::vector<size_t> perm(n);
    std::iota(perm.begin(), perm.end(), 0);
    std::shuffle(perm.begin(), perm.end(), r);
    RowMatrixXf P2(n, C), H2(n, F);
    std::vector<uint64_t> u2(n);
    for (int i = 0; i < n; ++i) P2.row(i) = P.row(Eigen::Index(perm[i])), H2.row(i) = H.row(Eigen::Index(perm[i])), u2[i] = u[perm[i]];
    auto got2 = badge(P2, H2, u2, b, ctx);
    ASSERT_EQ(got2.size(), got.size());
    for (size_t k = 0; k < got.size(); ++k) EXPECT_EQ(u2[got2[k]], u[got[k]]);
  }
}

TEST(StrategyBadge, DuplicatesAndDegenerateInputs) {
  // Three distinct gradient embeddings, each repeated: all three are picked; once they are,
  // the potential is 0 and further draws land on index 0 in uid order (as sklearn's seeding
  // does), so repeats of a point are possible but a repeated index is not.
  RowMatrixXf P(9, 2), H(9, 2);
  for (int i = 0; i < 9; ++i) {
    P.row(i) << (i % 3 == 0 ? 0.9f : i % 3 == 1 ? 0.3f : 0.6f), 0;
    P(i, 1) = 1 - P(i, 0);
    H.row(i) << 1.0f, float(i % 3);
  }
  std::vector<uint64_t> u(9);
  std::iota(u.begin(), u.end(), 100);
  auto got = badge(P, H, u, 5, Context{1, 2});
  EXPECT_GE(got.size(), 3u);
  EXPECT_LE(got.size(), 4u);
  EXPECT_EQ(std::set<size_t>(got.begin(), got.end()).size(), got.size());
  std::set<int> kinds;
  for (auto i : got) kinds.insert(int(i % 3));
  EXPECT_EQ(kinds.size(), 3u);
  EXPECT_TRUE(badge(P, H, u, 0, Context{}).empty());
  // One item.
  EXPECT_EQ(badge(P.topRows(1), H.topRows(1), {7}, 25, Context{}), (std::vector<size_t>{0}));
}

TEST(StrategyBadge, ThreadCountIndependent) {
  Rng r(3);
  const int n = 30000, C = 2, F = 16;
  RowMatrixXf P = softmax_rows(r, n, C, 2.0), H = normal_rows(r, n, F);
  std::vector<uint64_t> u(n);
  std::iota(u.begin(), u.end(), 1);
  const int saved = omp_get_max_threads();
  omp_set_num_threads(1);
  auto one = badge(P, H, u, 25, Context{5, 1});
  auto k1 = kmeans_diversity(H, u, 25, Context{5, 1}, 5);
  omp_set_num_threads(4);
  auto four = badge(P, H, u, 25, Context{5, 1});
  auto k4 = kmeans_diversity(H, u, 25, Context{5, 1}, 5);
  omp_set_num_threads(saved);
  EXPECT_EQ(one, four);
  EXPECT_EQ(one.size(), 25u);
  EXPECT_EQ(k1, k4);
}

// ---- k-means diversity ---------------------------------------------------------------------

/// Test-side k-means diversity: standardise, the same seeding (naive), Lloyd in double, the
/// nearest untaken item per centre.
std::vector<size_t> naive_kmeans(const RowMatrixXf& Xf, const std::vector<uint64_t>& u, size_t b, const Context& ctx,
                                 int iters) {
  size_t n = size_t(Xf.rows()), F = size_t(Xf.cols());
  std::vector<size_t> order(n);
  std::iota(order.begin(), order.end(), 0);
  std::sort(order.begin(), order.end(), [&](size_t a, size_t c) { return u[a] < u[c]; });
  std::vector<double> mu(F, 0), sd(F, 0);
  for (size_t i = 0; i < n; ++i)
    for (size_t f = 0; f < F; ++f) mu[f] += Xf(Eigen::Index(i), Eigen::Index(f));
  for (auto& m : mu) m /= double(n);
  for (size_t i = 0; i < n; ++i)
    for (size_t f = 0; f < F; ++f) sd[f] += std::pow(Xf(Eigen::Index(i), Eigen::Index(f)) - mu[f], 2);
  for (auto& s : sd) s = std::sqrt(s / double(n)) > 0 ? std::sqrt(s / double(n)) : 1.0;
  std::vector<std::vector<double>> X(n, std::vector<double>(F));
  for (size_t j = 0; j < n; ++j)
    for (size_t f = 0; f < F; ++f) X[j][f] = (Xf(Eigen::Index(order[j]), Eigen::Index(f)) - mu[f]) / sd[f];
  auto init = naive_kmeanspp(X, b, draws_for(ctx.seed, ctx.round, n, b));
  size_t k = init.size();
  std::vector<std::vector<double>> Cm;
  for (auto c : init) Cm.push_back(X[c]);
  auto sq = [&](const std::vector<double>& a, const std::vector<double>& c) {
    double s = 0;
    for (size_t f = 0; f < F; ++f) s += (a[f] - c[f]) * (a[f] - c[f]);
    return s;
  };
  std::vector<size_t> as(n, SIZE_MAX);
  for (int it = 0; it < iters; ++it) {
    bool changed = false;
    for (size_t j = 0; j < n; ++j) {
      size_t best = 0;
      for (size_t c = 1; c < k; ++c)
        if (sq(X[j], Cm[c]) < sq(X[j], Cm[best])) best = c;
      changed |= best != as[j];
      as[j] = best;
    }
    if (!changed) break;
    for (size_t c = 0; c < k; ++c) {
      std::vector<double> s(F, 0);
      size_t cnt = 0;
      for (size_t j = 0; j < n; ++j)
        if (as[j] == c) {
          ++cnt;
          for (size_t f = 0; f < F; ++f) s[f] += X[j][f];
        }
      if (cnt)
        for (size_t f = 0; f < F; ++f) Cm[c][f] = s[f] / double(cnt);
    }
  }
  std::vector<size_t> out;
  std::vector<bool> taken(n);
  for (size_t c = 0; c < k; ++c) {
    size_t best = SIZE_MAX;
    for (size_t j = 0; j < n; ++j)
      if (!taken[j] && (best == SIZE_MAX || sq(X[j], Cm[c]) < sq(X[best], Cm[c]))) best = j;
    taken[best] = true;
    out.push_back(order[best]);
  }
  return out;
}

TEST(StrategyKmeans, EqualsReimplementationOnClusteredData) {
  Rng r(17);
  for (int trial = 0; trial < 4; ++trial) {
    const int n = 400, F = 4 + trial, K = 8;
    // Well separated clusters of different spreads and scales per column.
    RowMatrixXf centres = normal_rows(r, K, F) * 20.0f;
    RowMatrixXf X(n, F);
    for (int i = 0; i < n; ++i)
      for (int f = 0; f < F; ++f) X(i, f) = (centres(i % K, f) + float(r.normal())) * float(1 + f);
    auto u = shuffled_uids(r, n);
    Context ctx{uint64_t(trial), 9};
    auto got = kmeans_diversity(X, u, K, ctx, 20);
    auto ref = naive_kmeans(X, u, K, ctx, 20);
    EXPECT_EQ(got, ref) << "trial " << trial;
    // One pick per cluster.
    std::set<int> cl;
    for (auto i : got) cl.insert(int(i % K));
    EXPECT_EQ(cl.size(), size_t(K)) << "trial " << trial;
    std::vector<double> sq;
    auto got2 = kmeans_diversity_scored(X, u, K, ctx, 20, &sq);
    EXPECT_EQ(got2, got);
    ASSERT_EQ(sq.size(), got.size());
    for (double s : sq) EXPECT_GE(s, 0.0);
  }
  // b larger than the distinct points: each distinct point once at most.
  RowMatrixXf X(6, 2);
  X << 0, 0, 0, 0, 1, 1, 1, 1, 5, 5, 5, 5;
  auto got = kmeans_diversity(X, {1, 2, 3, 4, 5, 6}, 10, Context{}, 5);
  EXPECT_EQ(got.size(), 3u);
  EXPECT_EQ(std::set<size_t>(got.begin(), got.end()).size(), 3u);
}

// ---- bad inputs -------------------------------------------------------------------------------

TEST(StrategyErrors, BadInputs) {
  RowMatrixXf P(3, 2), H(3, 2);
  P << 0.5f, 0.5f, std::nanf(""), 0.5f, 0.1f, 0.9f;
  H.setOnes();
  std::vector<uint64_t> u = {1, 2, 3};
  for (auto m : {Uncertainty::kLeastConfidence, Uncertainty::kMargin, Uncertainty::kEntropy}) {
    try {
      top_uncertain(P, u, m, 2);
      ADD_FAILURE() << "NaN accepted";
    } catch (const InputError& e) {
      EXPECT_NE(std::string(e.what()).find("uid 2"), std::string::npos) << e.what();
    }
  }
  EXPECT_THROW(top_around_threshold(P, u, 0, 0.5, 2), InputError);
  EXPECT_THROW(badge(P, H, u, 2, Context{}), InputError);
  RowMatrixXf Q(3, 2);
  Q << 0.5f, 0.5f, 0.2f, 0.8f, 0.1f, 0.9f;
  EXPECT_THROW(top_uncertain(Q, {1, 2}, Uncertainty::kMargin, 2), InputError);  // sizes
  EXPECT_THROW(badge(Q, H.topRows(2), u, 2, Context{}), InputError);
  EXPECT_THROW(badge(Q, H, {1, 2, 1}, 2, Context{}), InputError);  // repeated uid
  EXPECT_THROW(kmeans_diversity(H, {4, 4, 5}, 2, Context{}), InputError);
  EXPECT_THROW(top_around_threshold(Q, u, 2, 0.5, 2), UsageError);
  H(1, 1) = std::numeric_limits<float>::infinity();
  EXPECT_THROW(kmeans_diversity(H, u, 2, Context{}), InputError);
}

}  // namespace

// The streaming contract trawl-select relies on: the candidates of each block, gathered, then
// picked, give the same batch (same uids, same order) as picking over all items at once —
// for every streamable strategy, any block split, and ties in the probabilities.
TEST(Streamable, CandidatesOfBlocksThenPickEqualsPickOverAll) {
  const int C = 3;
  const size_t n = 2000;
  Rng rng(5);
  RowMatrixXf P(n, C);
  std::vector<uint64_t> uids(n);
  for (size_t i = 0; i < n; ++i) {
    uids[i] = 1000 + 7 * i;
    float a = float(rng.below(50)) / 50.f, b = float(rng.below(50)) / 50.f * (1 - a);  // coarse: many ties
    P(long(i), 0) = a;
    P(long(i), 1) = b;
    P(long(i), 2) = 1 - a - b;
  }
  for (std::string name : {"random", "least-confidence", "margin", "entropy", "threshold"})
    for (bool split : {true, false})
      for (size_t block : {size_t(1), size_t(7), size_t(256), n}) {
        StreamableOptions o;
        o.name = name;
        o.batch = 25;
        o.ctx = {9, 2};
        o.cls = 1;
        o.threshold = 0.3;
        o.split = split;
        auto st = make_streamable(o);
        std::vector<uint64_t> cu;
        std::vector<float> cp;
        for (size_t b0 = 0; b0 < n; b0 += block) {
          const size_t m = std::min(n, b0 + block) - b0;
          std::vector<uint64_t> bu(uids.begin() + long(b0), uids.begin() + long(b0 + m));
          for (size_t i : st->candidates(P.middleRows(long(b0), long(m)), bu)) {
            cu.push_back(bu[i]);
            for (int c = 0; c < C; ++c) cp.push_back(P(long(b0 + i), c));
          }
        }
        Eigen::Map<const RowMatrixXf> CP(cp.data(), long(cu.size()), C);
        std::vector<uint64_t> streamed, whole;
        for (size_t i : st->pick(CP, cu)) streamed.push_back(cu[i]);
        for (size_t i : st->pick(P, uids)) whole.push_back(uids[i]);
        ASSERT_EQ(whole.size(), 25u) << name;
        EXPECT_EQ(streamed, whole) << name << " split " << split << " block " << block;
        // The reported score is the strategy's ranking quantity.
        const size_t first = size_t(std::find(uids.begin(), uids.end(), whole[0]) - uids.begin());
        if (name == "margin") EXPECT_EQ(st->score(&P(long(first), 0), C, whole[0]), margin(&P(long(first), 0), C));
        if (name == "random") EXPECT_EQ(st->score(&P(long(first), 0), C, whole[0]), random_score(whole[0], o.ctx));
      }
  StreamableOptions bad;
  bad.name = "badge";
  EXPECT_FALSE(is_streamable("badge"));
  EXPECT_THROW(make_streamable(bad), UsageError);
}
