// trawl-libs: trawl_activelab
// ActiveLab / CROWDLAB (src/strategy/activelab.h): hand-checked tiny cases (every tie-break of
// the majority vote, a 3-item × 2-annotator CROWDLAB case worked out by hand, the single-label
// and only-P_u scores), then every output against an independent numpy implementation of
// reference/activelab.md (tests/support/activelab_ref.py, run by Debian's /usr/bin/python3) on
// random cases: several K and M, missing patterns, with and without multi-annotated items; and
// near-flat cases (400 items, 5 annotators, probabilities in [0.40, 0.60]) where the temperature
// losses of neighbouring candidates are close: the same T exactly and every score within 1e-9.
// The reference must run: a missing /usr/bin/python3 or numpy fails these tests.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <numeric>
#include <set>

#include "core/error.h"
#include "core/rng.h"
#include "strategy/activelab.h"
#include "support/testutil.h"

using namespace trawl;
using namespace trawl::strategy::activelab;

namespace {

MatrixXdR mat(int n, int k, std::initializer_list<double> v) {
  MatrixXdR m(n, k);
  auto it = v.begin();
  for (int i = 0; i < n; ++i)
    for (int j = 0; j < k; ++j) m(i, j) = *it++;
  return m;
}
Eigen::MatrixXi imat(int n, int m, std::initializer_list<int> v) {
  Eigen::MatrixXi r(n, m);
  auto it = v.begin();
  for (int i = 0; i < n; ++i)
    for (int j = 0; j < m; ++j) r(i, j) = *it++;
  return r;
}
std::vector<uint64_t> iota_uids(int n, uint64_t base = 100) {
  std::vector<uint64_t> u(static_cast<size_t>(n));
  for (int i = 0; i < n; ++i) u[size_t(i)] = base + uint64_t(i) * 7;
  return u;
}

// ---- majority vote ---------------------------------------------------------------------------

TEST(ActiveLabMajority, UniqueTopCount) {
  auto L = from_dense(imat(2, 3, {0, 0, 1, 2, 1, 2}), 3);
  auto mv = majority_vote(L, nullptr, iota_uids(2), 1);
  EXPECT_EQ(mv.label, (std::vector<int>{0, 2}));
  EXPECT_EQ(mv.decided_by, (std::vector<int>{0, 0}));
}

TEST(ActiveLabMajority, TieBreak1HighestProbability) {
  auto L = from_dense(imat(1, 2, {0, 1}), 2);
  auto P = mat(1, 2, {0.3, 0.7});
  auto mv = majority_vote(L, &P, iota_uids(1), 1);
  EXPECT_EQ(mv.label[0], 1);
  EXPECT_EQ(mv.decided_by[0], 1);
  P = mat(1, 2, {0.7, 0.3});
  EXPECT_EQ(majority_vote(L, &P, iota_uids(1), 1).label[0], 0);
}

TEST(ActiveLabMajority, TieBreak2MinorityClass) {
  // Item 1 is tied {0, 1}; class 1 has 1 vote in the dataset, class 0 has 3.
  auto L = from_dense(imat(2, 2, {0, 0, 0, 1}), 2);
  auto mv = majority_vote(L, nullptr, iota_uids(2), 1);
  EXPECT_EQ(mv.label, (std::vector<int>{0, 1}));
  EXPECT_EQ(mv.decided_by, (std::vector<int>{0, 2}));
  // With equal probabilities tie-break 1 cannot decide and 2 does.
  auto P = mat(2, 2, {0.5, 0.5, 0.5, 0.5});
  mv = majority_vote(L, &P, iota_uids(2), 1);
  EXPECT_EQ(mv.label[1], 1);
  EXPECT_EQ(mv.decided_by[1], 2);
}

TEST(ActiveLabMajority, TieBreak3AnnotatorAgreement) {
  // i0: 0 0 1 -> 0; i1: 1 1 0 -> 1 (untied). Agreement on them: a0 = a1 = 1, a2 = 0.
  // i2: a0 says 0, a2 says 1; class counts are 4 and 4 -> tie-break 3 takes a0's class 0.
  auto L = from_dense(imat(3, 3, {0, 0, 1, 1, 1, 0, 0, -1, 1}), 2);
  auto mv = majority_vote(L, nullptr, iota_uids(3), 1);
  EXPECT_EQ(mv.label, (std::vector<int>{0, 1, 0}));
  EXPECT_EQ(mv.decided_by, (std::vector<int>{0, 0, 3}));
  // a3 has no untied item: it gets the mean agreement of the others ((1 + 1 + 0) / 3 = 2/3),
  // beating a2 (0) but not a0 (1).
  auto L2 = from_dense(imat(4, 4, {0, 0, 1, -1, 1, 1, 0, -1, 0, -1, 1, -1, -1, -1, 1, 0}), 2);
  // counts: class 0 = 5, class 1 = 5. i2 {0 by a0, 1 by a2} -> 0; i3 {1 by a2, 0 by a3} -> 0 (2/3 > 0).
  mv = majority_vote(L2, nullptr, iota_uids(4), 1);
  EXPECT_EQ(mv.label, (std::vector<int>{0, 1, 0, 0}));
  EXPECT_EQ(mv.decided_by, (std::vector<int>{0, 0, 3, 3}));
}

TEST(ActiveLabMajority, TieBreak4KeyedBySeedAndUid) {
  // Perfectly symmetric: no untied item, equal class counts.
  auto L = from_dense(imat(2, 2, {0, 1, 1, 0}), 2);
  const std::vector<uint64_t> u = {5001, 5002};
  std::set<int> seen;
  for (uint64_t seed = 0; seed < 16; ++seed) {
    auto mv = majority_vote(L, nullptr, u, seed);
    for (int i = 0; i < 2; ++i) {
      EXPECT_EQ(mv.decided_by[size_t(i)], 4);
      EXPECT_EQ(mv.label[size_t(i)], int(key(seed, u[size_t(i)]) % 2));
      seen.insert(mv.label[size_t(i)]);
    }
    // Same seed, same answer; the items swapped give the same label per uid.
    EXPECT_EQ(majority_vote(L, nullptr, u, seed).label, mv.label);
    auto Ls = from_dense(imat(2, 2, {1, 0, 0, 1}), 2);
    auto sw = majority_vote(Ls, nullptr, {u[1], u[0]}, seed);
    EXPECT_EQ(sw.label[0], mv.label[1]);
    EXPECT_EQ(sw.label[1], mv.label[0]);
  }
  EXPECT_EQ(seen.size(), 2u);  // the seed matters
  EXPECT_EQ(tie_break_key(3, 9), key(3, 9));
}

TEST(ActiveLabMajority, BadInput) {
  Annotations L;
  L.num_items = 2;
  L.num_annotators = 1;
  L.num_classes = 2;
  L.add(0, 0, 1);
  EXPECT_THROW(majority_vote(L, nullptr, iota_uids(2), 1), InputError);  // item 1 unlabelled
  L.add(1, 0, 2);
  EXPECT_THROW(majority_vote(L, nullptr, iota_uids(2), 1), InputError);  // label out of range
  L.label[1] = 0;
  L.add(1, 0, 1);
  EXPECT_THROW(majority_vote(L, nullptr, iota_uids(2), 1), InputError);  // annotator twice on item 1
  L.item.pop_back(), L.annotator.pop_back(), L.label.pop_back();
  EXPECT_NO_THROW(majority_vote(L, nullptr, iota_uids(2), 1));
  EXPECT_THROW(majority_vote(L, nullptr, iota_uids(3), 1), InputError);
  auto P = mat(2, 2, {0.5, 0.5, NAN, 0.5});
  EXPECT_THROW(majority_vote(L, &P, iota_uids(2), 1), InputError);
}

// ---- CROWDLAB by hand -----------------------------------------------------------------------

TEST(ActiveLabCrowdlab, ThreeItemsTwoAnnotatorsByHand) {
  // K = 3. i0: 0 0; i1: 1 1; i2: a0 2, a1 1 (tie; P prefers 2).
  auto L = from_dense(imat(3, 2, {0, 0, 1, 1, 2, 1}), 3);
  auto P = mat(3, 3, {0.7, 0.2, 0.1, 0.2, 0.6, 0.2, 0.1, 0.3, 0.6});
  auto c = crowdlab(L, P, iota_uids(3), 1);
  // Majority vote [0, 1, 2] (i2 by tie-break 1). Agreement a = [1, 1, 1/2], P_agree = 5/6,
  // P_other = (1/6)/2 = 1/12. Consensus classes {0, 1, 2}: MLC error 2/3. Each annotator agrees
  // with the other on 2 of 3 items: A_j = 2/3, w_j = 1 − (1/3)/(2/3) = 1/2. The model's argmax
  // matches everywhere: w_M = 1 · sqrt(mean n = 2) = √2.
  const double r2 = std::sqrt(2.0), pa = 5.0 / 6, po = 1.0 / 12, den = r2 + 1;
  EXPECT_EQ(c.majority_label, (std::vector<int>{0, 1, 2}));
  EXPECT_EQ(c.consensus_label, (std::vector<int>{0, 1, 2}));
  EXPECT_NEAR(c.p_agree, pa, 1e-15);
  EXPECT_NEAR(c.mlc_error, 2.0 / 3, 1e-15);
  EXPECT_EQ(c.model_error, 0.0);
  EXPECT_NEAR(c.model_weight, r2, 1e-15);
  ASSERT_EQ(c.annotator_weight.size(), 2u);
  EXPECT_NEAR(c.annotator_weight[0], 0.5, 1e-15);
  EXPECT_NEAR(c.annotator_weight[1], 0.5, 1e-15);
  const double post[3][3] = {
      {(r2 * 0.7 + 0.5 * pa + 0.5 * pa) / den, (r2 * 0.2 + po) / den, (r2 * 0.1 + po) / den},
      {(r2 * 0.2 + po) / den, (r2 * 0.6 + pa) / den, (r2 * 0.2 + po) / den},
      {(r2 * 0.1 + po) / den, (r2 * 0.3 + 0.5 * po + 0.5 * pa) / den, (r2 * 0.6 + 0.5 * pa + 0.5 * po) / den}};
  for (int i = 0; i < 3; ++i)
    for (int k = 0; k < 3; ++k) EXPECT_NEAR(c.post(i, k), post[i][k], 1e-14) << i << "," << k;
  EXPECT_NEAR(post[0][0], 0.755228, 1e-6);  // the numbers written out
  EXPECT_NEAR(post[2][2], 0.5413197, 1e-6);
  EXPECT_NEAR(post[2][1], 0.3655838, 1e-6);
  EXPECT_EQ(c.consensus_quality, (std::vector<double>{c.post(0, 0), c.post(1, 1), c.post(2, 2)}));
  EXPECT_EQ(c.annotator_agreement, (std::vector<double>{1, 1, 0.5}));
  EXPECT_EQ(c.num_annotations, (std::vector<int>{2, 2, 2}));
  // Entries in from_dense order: (i0,a0) (i0,a1) (i1,a0) (i1,a1) (i2,a0) (i2,a1).
  EXPECT_EQ(c.detailed_quality,
            (std::vector<double>{c.post(0, 0), c.post(0, 0), c.post(1, 1), c.post(1, 1), c.post(2, 2), c.post(2, 1)}));
  // Annotator quality: w = w_M / (w_M + Σw_j · mean n / M) = √2 / (√2 + 1).
  const double w = r2 / (r2 + 1.0);
  EXPECT_NEAR(c.annotator_quality[0], w * (post[0][0] + post[1][1] + post[2][2]) / 3 + (1 - w) * 1.0, 1e-14);
  EXPECT_NEAR(c.annotator_quality[1], w * (post[0][0] + post[1][1] + post[2][1]) / 3 + (1 - w) * 2.0 / 3, 1e-14);
  EXPECT_EQ(c.agreement_with_consensus, (std::vector<double>{1.0, 2.0 / 3}));
  // a0: every class agrees, once each -> highest mean consensus quality: class 0.
  // a1: class 1 agrees on 1 of 2.
  EXPECT_EQ(c.worst_class, (std::vector<int>{0, 1}));
  EXPECT_EQ(c.num_examples_labeled, (std::vector<int>{3, 3}));
  EXPECT_EQ(c.annotator_order, (std::vector<int>{1, 0}));
  EXPECT_EQ(c.random_ties, 0);
}

TEST(ActiveLabCrowdlab, NeedsMultiAnnotatedItems) {
  auto L = from_dense(imat(2, 2, {0, -1, -1, 1}), 2);
  auto P = mat(2, 2, {0.6, 0.4, 0.2, 0.8});
  EXPECT_THROW(crowdlab(L, P, iota_uids(2), 1), InputError);
}

// ---- temperature ---------------------------------------------------------------------------

TEST(ActiveLabTemperature, LossAndScaleByHand) {
  // One item, K = 2, label 0 twice, P = (0.8, 0.2): loss(T) = −log(q0) / log 2 with
  // q0 = 0.8^(1/T) / (0.8^(1/T) + 0.2^(1/T)).
  auto L = from_dense(imat(1, 2, {0, 0}), 2);
  auto P = mat(1, 2, {0.8, 0.2});
  for (double T : {0.1, 0.5, 1.0, 3.0}) {
    const double a = std::pow(0.8, 1 / T), b = std::pow(0.2, 1 / T);
    EXPECT_NEAR(temperature_loss(L, P, T), -std::log(a / (a + b)) / std::log(2.0), 1e-12) << T;
    auto S = temperature_scale(P, T);
    EXPECT_NEAR(S(0, 0), a / (a + b), 1e-12);
    EXPECT_NEAR(S(0, 1), b / (a + b), 1e-12);
  }
  // Confident and right: the loss falls with T -> the coarse best is 0.1 (first), the fine grid
  // is linspace(0.1, 0.2, 5) and its best is 0.1.
  EXPECT_DOUBLE_EQ(fit_temperature(L, P), 0.1);
  // Zeros: clipped to 1e-30 by the scaling, −inf logs in the loss give exp(−inf) = 0.
  auto Z = mat(1, 2, {1.0, 0.0});
  EXPECT_NEAR(temperature_loss(L, Z, 2.0), 0.0, 1e-15);
  EXPECT_NEAR(temperature_scale(Z, 1.0)(0, 1), 1e-30, 1e-40);
}

TEST(ActiveLabTemperature, LabelCountsAsCleanlabPlacesThem) {
  // cleanlab 2.9 builds each item's label vector from float labels: the counts of the classes
  // present, in ascending class order, fill slots 0, 1, ... So {1, 1} (K = 2) enters the loss as
  // class 0, and {0, 2} (K = 3) as [1/2, 1/2, 0].
  auto P = mat(1, 2, {0.8, 0.2});
  auto L1 = from_dense(imat(1, 2, {1, 1}), 2);
  auto L0 = from_dense(imat(1, 2, {0, 0}), 2);
  for (double T : {0.2, 1.0, 3.0}) EXPECT_EQ(temperature_loss(L1, P, T), temperature_loss(L0, P, T)) << T;
  auto P3 = mat(1, 3, {0.5, 0.3, 0.2});
  auto L02 = from_dense(imat(1, 2, {0, 2}), 3);
  for (double T : {0.5, 2.0}) {
    const double a = std::pow(0.5, 1 / T), b = std::pow(0.3, 1 / T), c = std::pow(0.2, 1 / T), z = a + b + c;
    EXPECT_NEAR(temperature_loss(L02, P3, T), -0.5 * (std::log(a / z) + std::log(b / z)) / std::log(3.0), 1e-12) << T;
  }
  // Every class present: the counts stay at their classes.
  auto L012 = from_dense(imat(1, 4, {2, 0, 2, 1}), 3);  // [1/4, 1/4, 2/4]
  EXPECT_NEAR(temperature_loss(L012, P3, 1.0), -(std::log(0.5) + std::log(0.3) + 2 * std::log(0.2)) / 4 / std::log(3.0),
              1e-12);
  auto L12 = from_dense(imat(1, 3, {2, 1, 2}), 3);  // {1, 2} -> [1/3, 2/3, 0]
  EXPECT_NEAR(temperature_loss(L12, P3, 1.0), -(std::log(0.5) + 2 * std::log(0.3)) / 3 / std::log(3.0), 1e-12);
  // A single-labelled item counts too (and as class 0): loss over both items is the mean.
  auto L2 = from_dense(imat(2, 2, {1, -1, 0, 1}), 2);
  auto P2 = mat(2, 2, {0.9, 0.1, 0.6, 0.4});
  EXPECT_NEAR(temperature_loss(L2, P2, 1.0), (-std::log(0.9) - 0.5 * (std::log(0.6) + std::log(0.4))) / 2 / std::log(2.0),
              1e-12);
}

// ---- ActiveLab scores -----------------------------------------------------------------------

TEST(ActiveLabScores, OnlyUnlabelled) {
  auto Pu = mat(3, 4, {0.25, 0.25, 0.25, 0.25, 0.7, 0.1, 0.1, 0.1, 0.0, 1.0, 0.0, 0.0});
  auto s = activelab_scores(nullptr, nullptr, &Pu, {}, 1);
  ASSERT_EQ(s.unlabelled.size(), 3u);
  EXPECT_TRUE(s.labelled.empty());
  EXPECT_DOUBLE_EQ(s.temperature, 1.0);
  EXPECT_NEAR(s.unlabelled[0], (0.25 + 0.25) / 2, 1e-15);
  EXPECT_NEAR(s.unlabelled[1], (0.7 + 0.25) / 2, 1e-15);
  EXPECT_NEAR(s.unlabelled[2], (1.0 + 0.25) / 2, 1e-15);
}

TEST(ActiveLabScores, SingleLabelEach) {
  // T = 1, w_M = w_j = 1: s_i = ((1 + 1) · P[i, label] + 1/K) / 3; s_u = (max p + 1/K) / 2.
  auto L = from_dense(imat(3, 2, {1, -1, -1, 0, -1, 1}), 2);
  auto P = mat(3, 2, {0.9, 0.1, 0.3, 0.7, 0.5, 0.5});
  auto Pu = mat(1, 2, {0.6, 0.4});
  auto s = activelab_scores(&L, &P, &Pu, iota_uids(3), 1);
  EXPECT_TRUE(s.single_label);
  EXPECT_DOUBLE_EQ(s.temperature, 1.0);
  const double ex[3] = {(2 * 0.1 + 0.5) / 3, (2 * 0.3 + 0.5) / 3, (2 * 0.5 + 0.5) / 3};
  for (int i = 0; i < 3; ++i) EXPECT_NEAR(s.labelled[size_t(i)], ex[i], 1e-15);
  EXPECT_NEAR(s.unlabelled[0], (0.6 + 0.5) / 2, 1e-15);
  // The item whose only label the model doubts most comes first.
  EXPECT_LT(s.labelled[0], s.labelled[1]);
}

TEST(ActiveLabScores, MultiAnnotatedUsesCrowdlabWeights) {
  auto L = from_dense(imat(3, 2, {0, 0, 1, 1, 2, 1}), 3);
  auto P = mat(3, 3, {0.7, 0.2, 0.1, 0.2, 0.6, 0.2, 0.1, 0.3, 0.6});
  auto Pu = mat(2, 3, {0.4, 0.3, 0.3, 0.9, 0.05, 0.05});
  auto s = activelab_scores(&L, &P, &Pu, iota_uids(3), 1);
  EXPECT_FALSE(s.single_label);
  const double T = fit_temperature(L, P);
  EXPECT_EQ(s.temperature, T);
  auto Ps = temperature_scale(P, T);
  auto c = crowdlab(L, Ps, iota_uids(3), 1);
  const double wbar = (c.annotator_weight[0] + c.annotator_weight[1]) / 2, wm = c.model_weight;
  for (int i = 0; i < 3; ++i) {
    const double sw = c.annotator_weight[0] + c.annotator_weight[1] + wm;
    EXPECT_NEAR(s.labelled[size_t(i)], (sw * c.consensus_quality[size_t(i)] + wbar / 3) / (sw + wbar), 1e-14);
  }
  auto Us = temperature_scale(Pu, T);
  for (int u = 0; u < 2; ++u)
    EXPECT_NEAR(s.unlabelled[size_t(u)], (wm * Us.row(u).maxCoeff() + wbar / 3) / (wm + wbar), 1e-14);
  // Scoring more unlabelled rows later (block by block) gives the same numbers.
  EXPECT_EQ(unlabelled_scores(Pu, s), s.unlabelled);
  EXPECT_TRUE(s.scaled);
  // The disputed item i2 is the best relabel candidate.
  EXPECT_LT(s.labelled[2], s.labelled[0]);
  EXPECT_LT(s.labelled[2], s.labelled[1]);
}

// ---- against numpy ----------------------------------------------------------------------------

bool have_numpy() {
  static int ok = -1;
  if (ok < 0) ok = test::run("/usr/bin/python3 -c 'import numpy'") == 0;
  return ok == 1;
}
template <class T>
void write_bin(const std::string& path, const T* p, size_t n) {
  std::ofstream o(path, std::ios::binary);
  o.write(reinterpret_cast<const char*>(p), std::streamsize(n * sizeof(T)));
}
std::vector<double> read_f64(const std::string& path) {
  std::ifstream i(path, std::ios::binary);
  std::vector<double> v;
  double x;
  while (i.read(reinterpret_cast<char*>(&x), sizeof x)) v.push_back(x);
  return v;
}

struct Case {
  int N, M, K, Nu;
  double multi;     // probability that an item gets 2+ labels
  double decimals;  // 0: continuous P; else P rounded to this many decimals (ties)
};

void expect_close(const std::vector<double>& ref, const std::vector<double>& got, const std::string& what,
                  double tol = 1e-9) {
  ASSERT_EQ(ref.size(), got.size()) << what;
  for (size_t i = 0; i < ref.size(); ++i) {
    if (std::isnan(ref[i])) {
      EXPECT_TRUE(std::isnan(got[i])) << what << "[" << i << "] = " << got[i] << ", numpy NaN";
      continue;
    }
    ASSERT_NEAR(got[i], ref[i], tol) << what << "[" << i << "]";
  }
}
template <class T>
std::vector<double> dbl(const std::vector<T>& v) {
  return std::vector<double>(v.begin(), v.end());
}

TEST(ActiveLabNumpy, RandomCases) {
  ASSERT_TRUE(have_numpy()) << "/usr/bin/python3 with numpy is needed for the reference (tools/install-deps.sh)";
  const std::string ref = test::source_dir() + "/tests/support/activelab_ref.py";
  test::TempDir dir("activelab-np");
  Rng r(77);
  const std::vector<Case> cases = {
      {40, 3, 2, 30, 0.5, 0},  {60, 5, 3, 20, 0.4, 0},   {80, 8, 5, 50, 0.3, 0},  {30, 2, 2, 10, 1.0, 0},
      {50, 4, 3, 25, 0.0, 0},  {50, 6, 4, 0, 0.6, 0},    {70, 5, 2, 40, 0.5, 1},  {60, 7, 3, 30, 0.5, 1},
      {25, 10, 6, 15, 0.7, 2}, {0, 0, 4, 40, 0.0, 0},    {120, 9, 3, 60, 0.2, 0}, {45, 3, 3, 20, 0.8, 1},
  };
  double worst = 0;
  int crowd_cases = 0, tb[5] = {0, 0, 0, 0, 0};
  for (size_t ci = 0; ci < cases.size(); ++ci) {
    const Case& cs = cases[ci];
    const uint64_t seed = 1000 + ci;
    const int N = cs.N, M = cs.M, K = cs.K;
    SCOPED_TRACE(cat("case ", ci, ": N=", N, " M=", M, " K=", K));
    // Annotators of varying accuracy; items with 1 or 2+ labels.
    Eigen::MatrixXi Ld = Eigen::MatrixXi::Constant(N, M, kMissing);
    std::vector<double> acc(static_cast<size_t>(M));
    for (auto& a : acc) a = 0.4 + 0.55 * r.uniform();
    std::vector<int> truth(static_cast<size_t>(N));
    for (int i = 0; i < N; ++i) {
      truth[size_t(i)] = int(r.below(uint64_t(K)));
      int ni = 1;
      if (r.uniform() < cs.multi) ni = 2 + int(r.below(uint64_t(std::min(M, 4) - 1)));
      std::vector<int> who(static_cast<size_t>(M));
      std::iota(who.begin(), who.end(), 0);
      std::shuffle(who.begin(), who.end(), r);
      for (int t = 0; t < ni; ++t) {
        const int j = who[size_t(t)];
        Ld(i, j) = r.uniform() < acc[size_t(j)] ? truth[size_t(i)] : int(r.below(uint64_t(K)));
      }
    }
    for (int j = 0; j < M; ++j)  // every annotator labels something
      if ((Ld.col(j).array() != kMissing).count() == 0) {
        const int i = int(r.below(uint64_t(N)));
        Ld(i, j) = int(r.below(uint64_t(K)));
      }
    auto prob_rows = [&](int n, bool towards_truth) {
      MatrixXdR P(n, K);
      for (int i = 0; i < n; ++i) {
        double z = 0;
        for (int k = 0; k < K; ++k) {
          double l = 1.5 * r.normal() + (towards_truth && k == truth[size_t(i)] ? 1.5 : 0);
          z += P(i, k) = std::exp(l);
        }
        for (int k = 0; k < K; ++k) P(i, k) /= z;
        if (cs.decimals > 0) {
          const double f = std::pow(10.0, cs.decimals);
          double s = 0;
          for (int k = 0; k < K; ++k) s += P(i, k) = std::round(P(i, k) * f) / f;
          if (s <= 0) P(i, 0) = s = 1;
          for (int k = 0; k < K; ++k) P(i, k) /= s;
        }
        P(i, 0) = i % 17 == 3 ? 0.0 : P(i, 0);  // exact zeros now and then
        if (i % 17 == 3) P.row(i) /= P.row(i).sum() > 0 ? P.row(i).sum() : 1.0;
        if (P.row(i).sum() <= 0) P.row(i).setConstant(1.0 / K);
      }
      return P;
    };
    MatrixXdR P = prob_rows(N, true), Pu = prob_rows(cs.Nu, false);
    std::vector<uint64_t> uids(static_cast<size_t>(N));
    for (int i = 0; i < N; ++i) uids[size_t(i)] = (uint64_t(i % 5) << 33) ^ (r() & 0xffffffffULL);
    // Write the case.
    const std::string d = dir.path();
    test::write_file(d + "/meta.txt", cat(N, " ", M, " ", K, " ", cs.Nu, " ", seed, "\n"));
    Eigen::Matrix<int32_t, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor> Lr = Ld;
    write_bin(d + "/L.i32", Lr.data(), size_t(Lr.size()));
    write_bin(d + "/P.f64", P.data(), size_t(P.size()));
    write_bin(d + "/Pu.f64", Pu.data(), size_t(Pu.size()));
    write_bin(d + "/uid.u64", uids.data(), uids.size());
    ASSERT_EQ(test::run("rm -f " + d + "/out_*.f64"), 0);
    std::string out;
    ASSERT_EQ(test::run("/usr/bin/python3 " + ref + " " + d, &out), 0) << out;
    auto rd = [&](const std::string& n) { return read_f64(d + "/out_" + n + ".f64"); };
    auto track = [&](const std::vector<double>& a, const std::vector<double>& b) {
      for (size_t i = 0; i < a.size() && i < b.size(); ++i)
        if (!std::isnan(a[i])) worst = std::max(worst, std::abs(a[i] - b[i]));
    };

    const Annotations L = from_dense(Ld, K);
    bool has_multi = false;
    for (int i = 0; i < N; ++i) has_multi |= (Ld.row(i).array() != kMissing).count() > 1;
    if (N > 0) {
      auto mv0 = majority_vote(L, nullptr, uids, seed);
      auto mv1 = majority_vote(L, &P, uids, seed);
      EXPECT_EQ(rd("mv0"), dbl(mv0.label));
      EXPECT_EQ(rd("how0"), dbl(mv0.decided_by));
      EXPECT_EQ(rd("mv1"), dbl(mv1.label));
      EXPECT_EQ(rd("how1"), dbl(mv1.decided_by));
      for (int v : mv0.decided_by) ++tb[v];
      for (int v : mv1.decided_by) ++tb[v];
      expect_close(rd("T"), {fit_temperature(L, P)}, "T", 1e-12);
      std::vector<double> ls;
      for (double t : {0.1, 0.7, 1.0, 3.0}) ls.push_back(temperature_loss(L, P, t));
      expect_close(rd("loss"), ls, "loss", 1e-9);
      track(rd("loss"), ls);
      const MatrixXdR Ps = temperature_scale(P, 1.7);
      const std::vector<double> psv(Ps.data(), Ps.data() + Ps.size());
      expect_close(rd("scaled"), psv, "scaled", 1e-12);
      track(rd("scaled"), psv);
      if (has_multi) {
        ++crowd_cases;
        auto c = crowdlab(L, Ps, uids, seed);
        EXPECT_EQ(rd("c_mv"), dbl(c.majority_label));
        EXPECT_EQ(rd("c_y"), dbl(c.consensus_label));
        EXPECT_EQ(rd("c_n"), dbl(c.num_annotations));
        EXPECT_EQ(rd("c_worst"), dbl(c.worst_class));
        EXPECT_EQ(rd("c_nlab"), dbl(c.num_examples_labeled));
        EXPECT_EQ(rd("c_order"), dbl(c.annotator_order));
        expect_close(rd("c_q"), c.consensus_quality, "consensus_quality");
        expect_close(rd("c_a"), c.annotator_agreement, "annotator_agreement");
        const std::vector<double> post(c.post.data(), c.post.data() + c.post.size());
        expect_close(rd("c_post"), post, "post");
        // Detailed quality as the dense N×M matrix (NaN where unlabelled).
        std::vector<double> det(static_cast<size_t>(N) * size_t(M), std::nan(""));
        for (size_t e = 0; e < L.size(); ++e) det[size_t(L.item[e]) * size_t(M) + size_t(L.annotator[e])] = c.detailed_quality[e];
        expect_close(rd("c_detailed"), det, "detailed_quality");
        expect_close(rd("c_quality"), c.annotator_quality, "annotator_quality");
        expect_close(rd("c_agreement"), c.agreement_with_consensus, "agreement_with_consensus");
        std::vector<double> wts = {c.model_weight, c.p_agree, c.mlc_error, c.model_error};
        wts.insert(wts.end(), c.annotator_weight.begin(), c.annotator_weight.end());
        expect_close(rd("c_weights"), wts, "weights");
        for (auto& v : {std::make_pair(rd("c_q"), c.consensus_quality), std::make_pair(rd("c_post"), post),
                        std::make_pair(rd("c_quality"), c.annotator_quality), std::make_pair(rd("c_weights"), wts)})
          track(v.first, v.second);
      }
    }
    auto s = activelab_scores(N > 0 ? &L : nullptr, N > 0 ? &P : nullptr, cs.Nu > 0 ? &Pu : nullptr, uids, seed);
    expect_close(rd("al_T"), {s.temperature}, "activelab T", 1e-12);
    if (N > 0) {
      expect_close(rd("s_lab"), s.labelled, "s_lab");
      track(rd("s_lab"), s.labelled);
      EXPECT_EQ(s.single_label, !has_multi);
    }
    if (cs.Nu > 0) {
      expect_close(rd("s_unlab"), s.unlabelled, "s_unlab");
      track(rd("s_unlab"), s.unlabelled);
    }
  }
  EXPECT_GE(crowd_cases, 8);
  // The random cases exercise every tie-break.
  for (int t = 1; t <= 4; ++t) EXPECT_GT(tb[t], 0) << "tie-break " << t << " never used";
  std::printf("[activelab vs numpy] largest |difference| %.3g over %zu cases; tie-breaks used: %d %d %d %d\n", worst,
              cases.size(), tb[1], tb[2], tb[3], tb[4]);
}

// Near-flat probabilities: 400 items, 5 annotators, every probability in [0.40, 0.60] (K = 2:
// rows (p, 1 − p); K > 2: entries drawn in [0.40, 0.60], then the row normalised, so that a row's
// largest entry is at most 1.5 times its smallest). The temperature losses of neighbouring
// candidates differ by 1e-3 … 1e-6 here, so a loss computed unlike the reference (which items,
// which label vector, which grid) picks another T. Annotators agree with the model's argmax with
// their own accuracy; half the cases leave about half the cells unlabelled (1–5 labels an item).
TEST(ActiveLabNumpy, NearFlatTemperature) {
  ASSERT_TRUE(have_numpy()) << "/usr/bin/python3 with numpy is needed for the reference (tools/install-deps.sh)";
  const std::string ref = test::source_dir() + "/tests/support/activelab_ref.py";
  test::TempDir dir("activelab-flat");
  const int N = 400, M = 5, Nu = 100;
  double worst = 0;
  int cases = 0, interior = 0;
  std::vector<double> temps;
  for (uint64_t seed : {11u, 12u, 13u, 14u})
    for (int K : {2, 3, 4})
      for (bool missing : {false, true}) {
        if (missing != bool((seed + uint64_t(K)) % 2)) continue;  // 12 cases, both patterns for each K
        ++cases;
        SCOPED_TRACE(cat("near-flat case: seed ", seed, ", K = ", K, missing ? ", missing labels" : ", fully labelled"));
        Rng r(seed * 1000 + uint64_t(K));
        auto flat_rows = [&](int n) {
          MatrixXdR P(n, K);
          for (int i = 0; i < n; ++i) {
            if (K == 2) {
              P(i, 0) = 0.4 + 0.2 * r.uniform();
              P(i, 1) = 1 - P(i, 0);
            } else {
              for (int k = 0; k < K; ++k) P(i, k) = 0.4 + 0.2 * r.uniform();
              P.row(i) /= P.row(i).sum();
            }
          }
          return P;
        };
        const MatrixXdR P = flat_rows(N), Pu = flat_rows(Nu);
        std::vector<double> acc(static_cast<size_t>(M));
        for (auto& a : acc) a = 0.3 + 0.6 * r.uniform();
        Eigen::MatrixXi Ld(N, M);
        for (int i = 0; i < N; ++i) {
          int top = 0;
          for (int k = 1; k < K; ++k)
            if (P(i, k) > P(i, top)) top = k;
          const int keep = int(r.below(uint64_t(M)));  // this annotator labels the item in any case
          for (int j = 0; j < M; ++j) {
            const bool skip = missing && j != keep && r.uniform() < 0.5;
            const int lab = r.uniform() < acc[size_t(j)] ? top : int(r.below(uint64_t(K)));
            Ld(i, j) = skip ? kMissing : lab;
          }
        }
        std::vector<uint64_t> uids(static_cast<size_t>(N));
        for (int i = 0; i < N; ++i) uids[size_t(i)] = r();
        const std::string d = dir.path();
        test::write_file(d + "/meta.txt", cat(N, " ", M, " ", K, " ", Nu, " ", seed, "\n"));
        Eigen::Matrix<int32_t, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor> Lr = Ld;
        write_bin(d + "/L.i32", Lr.data(), size_t(Lr.size()));
        write_bin(d + "/P.f64", P.data(), size_t(P.size()));
        write_bin(d + "/Pu.f64", Pu.data(), size_t(Pu.size()));
        write_bin(d + "/uid.u64", uids.data(), uids.size());
        ASSERT_EQ(test::run("rm -f " + d + "/out_*.f64"), 0);
        std::string out;
        ASSERT_EQ(test::run("/usr/bin/python3 " + ref + " " + d, &out), 0) << out;
        auto rd = [&](const std::string& n) { return read_f64(d + "/out_" + n + ".f64"); };
        auto track = [&](const std::vector<double>& a, const std::vector<double>& b) {
          for (size_t i = 0; i < a.size() && i < b.size(); ++i) worst = std::max(worst, std::abs(a[i] - b[i]));
        };

        const Annotations L = from_dense(Ld, K);
        // Every candidate's loss, then the chosen T: exactly the reference's.
        const auto trace = rd("T_trace");
        ASSERT_EQ(trace.size() % 2, 0u);
        ASSERT_GE(trace.size(), 2u * (9 + 4));
        std::string curve;
        for (size_t t = 0; t < trace.size(); t += 2) {
          const double l = temperature_loss(L, P, trace[t]);
          curve += cat(" ", trace[t], ":", trace[t + 1]);
          EXPECT_NEAR(l, trace[t + 1], 1e-12) << "loss at T = " << trace[t];
          worst = std::max(worst, std::abs(l - trace[t + 1]));
        }
        const double T = fit_temperature(L, P);
        ASSERT_EQ(rd("T"), std::vector<double>{T}) << "reference (T: loss):" << curve;
        temps.push_back(T);
        interior += T > 0.2 && T < 5;
        // ActiveLab scores and the CROWDLAB pass behind them.
        const auto s = activelab_scores(&L, &P, &Pu, uids, seed);
        ASSERT_EQ(rd("al_T"), std::vector<double>{s.temperature});
        EXPECT_FALSE(s.single_label);
        expect_close(rd("s_lab"), s.labelled, "s_lab", 1e-9);
        expect_close(rd("s_unlab"), s.unlabelled, "s_unlab", 1e-9);
        track(rd("s_lab"), s.labelled);
        track(rd("s_unlab"), s.unlabelled);
        const auto c = crowdlab(L, temperature_scale(P, T), uids, seed);
        EXPECT_EQ(rd("al_c_y"), dbl(c.consensus_label));
        expect_close(rd("al_c_q"), c.consensus_quality, "consensus_quality", 1e-9);
        const std::vector<double> post(c.post.data(), c.post.data() + c.post.size());
        expect_close(rd("al_c_post"), post, "post", 1e-9);
        expect_close(rd("al_c_quality"), c.annotator_quality, "annotator_quality", 1e-9);
        std::vector<double> wts = {c.model_weight, c.p_agree, c.mlc_error, c.model_error};
        wts.insert(wts.end(), c.annotator_weight.begin(), c.annotator_weight.end());
        expect_close(rd("al_c_weights"), wts, "weights", 1e-9);
        for (auto& v : {std::make_pair(rd("al_c_q"), c.consensus_quality), std::make_pair(rd("al_c_post"), post),
                        std::make_pair(rd("al_c_quality"), c.annotator_quality), std::make_pair(rd("al_c_weights"), wts)})
          track(v.first, v.second);
      }
  EXPECT_EQ(cases, 12);
  // The cases land inside the grid (where the fine search decides), not only at its ends.
  EXPECT_GE(interior, 6);
  std::string ts;
  for (double t : temps) ts += cat(" ", t);
  std::printf("[activelab near-flat vs numpy] %d cases, T:%s; largest |difference| %.3g\n", cases, ts.c_str(), worst);
}

}  // namespace
