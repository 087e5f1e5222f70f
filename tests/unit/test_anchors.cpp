// trawl-libs: trawl_retrieve
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <map>
#include <set>
#include <sstream>

#include "core/error.h"
#include "core/rng.h"
#include "retrieve/anchors.h"
#include "support/testutil.h"

using namespace trawl;
using namespace trawl::retrieve;

namespace {

RowMatrixXf random_points(Rng& r, int n, int d) {
  RowMatrixXf X(n, d);
  for (int i = 0; i < n; ++i)
    for (int k = 0; k < d; ++k) X(i, k) = float(r.normal());
  return X;
}

// The draws kmeanspp consumes, reproduced from the same seed: below(n), then T uniforms per
// further centre.
struct Draws {
  uint64_t first;
  std::vector<double> u;
};
Draws draws_for(uint64_t seed, int n, int A) {
  Rng r(seed);
  Draws d;
  d.first = r.below(uint64_t(n));
  int T = 2 + int(std::floor(std::log(double(A))));
  for (int i = 0; i < (A - 1) * T; ++i) d.u.push_back(r.uniform());
  return d;
}

// A plain restatement of greedy k-means++ over the given draws (no Eigen, linear searches).
std::vector<int> naive_kmeanspp(const RowMatrixXf& X, int A, const Draws& dr) {
  int n = int(X.rows()), d = int(X.cols());
  int T = 2 + int(std::floor(std::log(double(A))));
  auto sq = [&](int i, int j) {
    double s = 0;
    for (int k = 0; k < d; ++k) {
      double t = double(X(i, k)) - double(X(j, k));
      s += t * t;
    }
    return s;
  };
  std::vector<int> chosen = {int(dr.first)};
  std::vector<double> D(n);
  for (int i = 0; i < n; ++i) D[i] = sq(i, chosen[0]);
  size_t u = 0;
  for (int c = 1; c < A; ++c) {
    double pot = 0;
    for (double v : D) pot += v;
    std::vector<int> cands;
    for (int t = 0; t < T; ++t) {
      double r = dr.u[u++] * pot;
      double cum = 0;
      int pick = n - 1;
      for (int i = 0; i < n; ++i) {
        cum += D[i];
        if (cum >= r) {
          pick = i;
          break;
        }
      }
      cands.push_back(pick);
    }
    double best = INFINITY;
    int best_t = 0;
    for (int t = 0; t < T; ++t) {
      double p = 0;
      for (int i = 0; i < n; ++i) p += std::min(D[i], sq(i, cands[t]));
      if (p < best) {
        best = p;
        best_t = t;
      }
    }
    for (int i = 0; i < n; ++i) D[i] = std::min(D[i], sq(i, cands[best_t]));
    chosen.push_back(cands[best_t]);
  }
  std::vector<int> out;
  for (int c : chosen)
    if (std::find(out.begin(), out.end(), c) == out.end()) out.push_back(c);
  return out;
}

// numpy, written after sklearn's _kmeans_plusplus (searchsorted on cumsum, clip, argmin).
const char* kNumpyKmeanspp = R"PY(
import sys
import numpy as np
lines = open(sys.argv[1]).read().split("\n")
n, d, A = map(int, lines[0].split())
X = np.array([[float(v) for v in lines[1 + i].split()] for i in range(n)], dtype=np.float32).astype(np.float64)
first = int(lines[1 + n])
U = np.array([float(v) for v in lines[2 + n].split()])
T = 2 + int(np.log(A))
def sqd(c):
    return ((X - X[c]) ** 2).sum(axis=1)
ids = [first]
D = sqd(first)
pot = D.sum()
k = 0
for c in range(1, A):
    r = U[k:k + T] * pot
    k += T
    cand = np.searchsorted(np.cumsum(D), r)
    cand = np.clip(cand, None, n - 1)
    Dt = np.minimum(D, np.stack([sqd(i) for i in cand]))
    pots = Dt.sum(axis=1)
    b = int(np.argmin(pots))
    pot = pots[b]
    D = Dt[b]
    ids.append(int(cand[b]))
print(" ".join(str(i) for i in dict.fromkeys(ids)))
)PY";

std::string fmt(double v, int digits) {
  char b[64];
  std::snprintf(b, sizeof b, "%.*g", digits, v);
  return b;
}

}  // namespace

TEST(KmeansPP, AllPointsWhenAAtLeastN) {
  Rng r(31);
  RowMatrixXf X = random_points(r, 6, 3);
  for (int A : {6, 7, 20}) {
    Rng g(A);
    auto idx = kmeanspp(X, A, g);
    std::set<int> s(idx.begin(), idx.end());
    EXPECT_EQ(s.size(), 6u) << A;
    EXPECT_EQ(idx.size(), 6u) << A;
  }
  Rng g(1);
  EXPECT_EQ(kmeanspp(RowMatrixXf(0, 3), 3, g), std::vector<int>{});
  EXPECT_THROW(kmeanspp(X, 0, g), UsageError);
}

TEST(KmeansPP, CoincidentPointsGiveUniqueIndices) {
  RowMatrixXf X = RowMatrixXf::Ones(5, 2);
  Rng g(3);
  auto idx = kmeanspp(X, 4, g);
  // All points coincide: after the uniform first pick D = 0 everywhere, every D² draw is
  // r = 0 and lands on row 0 (smallest i with cumsum ≥ 0, as numpy's searchsorted).
  Rng g2(3);
  uint64_t first = g2.below(5);
  std::vector<int> want = {int(first)};
  if (first != 0) want.push_back(0);
  EXPECT_EQ(idx, want);
}

TEST(KmeansPP, TwoFarClustersGetOneAnchorEach) {
  Rng r(32);
  const int n = 40;
  RowMatrixXf X(n, 8);
  for (int i = 0; i < n; ++i) {
    for (int k = 0; k < 8; ++k) X(i, k) = float(r.normal()) * 0.01f;
    X(i, 0) += i % 2 ? 1.f : -1.f;  // odd rows near +e0, even rows near −e0
  }
  for (uint64_t seed = 0; seed < 50; ++seed) {
    Rng g(seed);
    auto idx = kmeanspp(X, 2, g);
    ASSERT_EQ(idx.size(), 2u);
    EXPECT_NE(idx[0] % 2, idx[1] % 2) << "seed " << seed;
  }
}

TEST(KmeansPP, MatchesANaiveRestatementOverTheSameDraws) {
  Rng r(33);
  for (int trial = 0; trial < 40; ++trial) {
    int n = 1 + int(r.below(80)), d = 1 + int(r.below(12)), A = 1 + int(r.below(25));
    RowMatrixXf X = random_points(r, n, d);
    if (n > 4) X.row(n - 1) = X.row(1);  // a duplicate point
    uint64_t seed = r();
    Rng g(seed);
    auto got = kmeanspp(X, A, g);
    EXPECT_EQ(got, naive_kmeanspp(X, A, draws_for(seed, n, A))) << "trial " << trial;
  }
}

TEST(KmeansPP, MatchesNumpyOverTheSameDraws) {
  std::string out;
  if (test::run("/usr/bin/python3 -c 'import numpy'", &out) != 0)
    FAIL() << "reference cannot run (tools/install-deps.sh installs it): " << "/usr/bin/python3 with numpy not available: " << out;
  test::TempDir dir("anchors");
  test::write_file(dir / "kpp.py", kNumpyKmeanspp);
  Rng r(34);
  for (int trial = 0; trial < 8; ++trial) {
    int n = 30 + int(r.below(200)), d = 2 + int(r.below(30)), A = 2 + int(r.below(30));
    RowMatrixXf X = random_points(r, n, d);
    uint64_t seed = r();
    Draws dr = draws_for(seed, n, A);
    std::ostringstream s;
    s << n << " " << d << " " << A << "\n";
    for (int i = 0; i < n; ++i) {
      for (int k = 0; k < d; ++k) s << fmt(X(i, k), 9) << (k + 1 < d ? " " : "\n");
    }
    s << dr.first << "\n";
    for (size_t i = 0; i < dr.u.size(); ++i) s << fmt(dr.u[i], 17) << (i + 1 < dr.u.size() ? " " : "\n");
    test::write_file(dir / "in.txt", s.str());
    ASSERT_EQ(test::run("/usr/bin/python3 " + (dir / "kpp.py") + " " + (dir / "in.txt"), &out), 0) << out;
    std::istringstream is(out);
    std::vector<int> want;
    for (int v; is >> v;) want.push_back(v);
    Rng g(seed);
    EXPECT_EQ(kmeanspp(X, A, g), want) << "trial " << trial << " n " << n << " A " << A;
  }
}

TEST(SelectAnchors, SmallClassesWholeLargeClassesByKeyedKmeansPP) {
  Rng r(35);
  const int d = 6;
  // class 7: 3 items (≤ A: all), class 2: 20 items, class 5: exactly A = 4 items (all).
  std::vector<uint64_t> uids;
  std::vector<int> cls;
  std::vector<std::pair<int, int>> spec = {{7, 3}, {2, 20}, {5, 4}};
  uint64_t next = 900;
  for (auto [c, k] : spec)
    for (int i = 0; i < k; ++i) {
      uids.push_back(next -= 7);
      cls.push_back(c);
    }
  RowMatrixXf E = random_points(r, int(uids.size()), d);
  const int A = 4;
  auto s = select_anchors(uids, cls, E, A, 99, 3);
  // Classes ascending.
  EXPECT_TRUE(std::is_sorted(s.cls.begin(), s.cls.end()));
  std::map<int, std::vector<uint64_t>> by;
  for (size_t i = 0; i < s.size(); ++i) {
    by[s.cls[i]].push_back(s.uid[i]);
    EXPECT_EQ(uids[s.row[i]], s.uid[i]);
    EXPECT_EQ(cls[s.row[i]], s.cls[i]);
  }
  ASSERT_EQ(by.size(), 3u);
  // Small classes: every item, in uid order.
  for (int c : {7, 5}) {
    std::vector<uint64_t> all;
    for (size_t i = 0; i < uids.size(); ++i)
      if (cls[i] == c) all.push_back(uids[i]);
    std::sort(all.begin(), all.end());
    EXPECT_EQ(by[c], all) << c;
  }
  // Class 2: kmeanspp over its rows sorted by uid, rng keyed (seed, round, class).
  std::vector<size_t> rows;
  for (size_t i = 0; i < uids.size(); ++i)
    if (cls[i] == 2) rows.push_back(i);
  std::sort(rows.begin(), rows.end(), [&](size_t a, size_t b) { return uids[a] < uids[b]; });
  RowMatrixXf X2(int(rows.size()), d);
  for (size_t i = 0; i < rows.size(); ++i) X2.row(int(i)) = E.row(int(rows[i]));
  Rng g(key(99, 3, 2));
  std::vector<uint64_t> want;
  for (int k : kmeanspp(X2, A, g)) want.push_back(uids[rows[size_t(k)]]);
  EXPECT_EQ(by[2], want);
  EXPECT_EQ(by[2].size(), size_t(A));
  // Queries are the anchors' rows.
  RowMatrixXf Q = s.queries(E);
  for (size_t i = 0; i < s.size(); ++i) EXPECT_EQ(Q.row(int(i)), E.row(int(s.row[i])));
}

TEST(SelectAnchors, IndependentOfInputOrderAndOtherClassesAndChangesWithRound) {
  Rng r(36);
  const int n = 120, d = 5, A = 6;
  std::vector<uint64_t> uids;
  std::vector<int> cls;
  for (int i = 0; i < n; ++i) {
    uids.push_back(mix64(uint64_t(i)) >> 4);
    cls.push_back(int(r.below(3)));
  }
  RowMatrixXf E = random_points(r, n, d);
  auto base = select_anchors(uids, cls, E, A, 5, 1);
  // Shuffled input.
  std::vector<size_t> perm(n);
  for (int i = 0; i < n; ++i) perm[i] = size_t(i);
  for (int i = n - 1; i > 0; --i) std::swap(perm[size_t(i)], perm[r.below(uint64_t(i) + 1)]);
  std::vector<uint64_t> u2;
  std::vector<int> c2;
  RowMatrixXf E2(n, d);
  for (int i = 0; i < n; ++i) {
    u2.push_back(uids[perm[i]]);
    c2.push_back(cls[perm[i]]);
    E2.row(i) = E.row(int(perm[i]));
  }
  auto shuffled = select_anchors(u2, c2, E2, A, 5, 1);
  EXPECT_EQ(shuffled.uid, base.uid);
  EXPECT_EQ(shuffled.cls, base.cls);
  // Dropping class 0 leaves the other classes' anchors unchanged.
  std::vector<uint64_t> u3;
  std::vector<int> c3;
  std::vector<int> keep;
  for (int i = 0; i < n; ++i)
    if (cls[i] != 0) {
      u3.push_back(uids[i]);
      c3.push_back(cls[i]);
      keep.push_back(i);
    }
  RowMatrixXf E3(int(keep.size()), d);
  for (size_t i = 0; i < keep.size(); ++i) E3.row(int(i)) = E.row(keep[i]);
  auto dropped = select_anchors(u3, c3, E3, A, 5, 1);
  std::vector<uint64_t> base_rest;
  for (size_t i = 0; i < base.size(); ++i)
    if (base.cls[i] != 0) base_rest.push_back(base.uid[i]);
  EXPECT_EQ(dropped.uid, base_rest);
  // Another round (or seed) picks other anchors.
  EXPECT_NE(select_anchors(uids, cls, E, A, 5, 2).uid, base.uid);
  EXPECT_NE(select_anchors(uids, cls, E, A, 6, 1).uid, base.uid);
  EXPECT_EQ(select_anchors(uids, cls, E, A, 5, 1).uid, base.uid);
}

TEST(SelectAnchors, RejectsBadInput) {
  RowMatrixXf E = RowMatrixXf::Zero(3, 2);
  EXPECT_THROW(select_anchors({1, 2, 3}, {0, 0, 0}, E, 0, 1, 1), UsageError);
  EXPECT_THROW(select_anchors({1, 2}, {0, 0, 0}, E, 2, 1, 1), InputError);
  EXPECT_THROW(select_anchors({1, 2, 1}, {0, 0, 0}, E, 2, 1, 1), InputError);
  // The same uid in two classes is fine (multi-label).
  EXPECT_NO_THROW(select_anchors({1, 2, 1}, {0, 0, 1}, E, 2, 1, 1));
  auto s = select_anchors({}, {}, RowMatrixXf(0, 2), 3, 1, 1);
  EXPECT_EQ(s.size(), 0u);
}
