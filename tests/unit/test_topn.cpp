// trawl-libs: trawl_topn
// Score selection on one rank: order keys, rank points, LocalBest and select() against a full
// sort of the same items (the reference), with many tied scores.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>
#include <set>

#include "core/error.h"
#include "core/rng.h"
#include "mpi/comm.h"
#include "score/topn.h"
#include "support/testutil.h"

using namespace trawl;
using namespace trawl::score;

namespace {

struct Item {
  float s;
  uint64_t uid;
};
// The reference order written out independently: score descending (as floats), then uid.
bool ref_before(const Item& a, const Item& b) { return a.s > b.s || (a.s == b.s && a.uid < b.uid); }

std::vector<Item> make_items(size_t n, int levels, uint64_t seed) {
  Rng r(seed);
  std::vector<Item> v;
  std::set<uint64_t> used;
  for (size_t i = 0; i < n; ++i) {
    uint64_t u;
    do u = r() >> 4;
    while (!used.insert(u).second);
    // Few distinct values: most scores are tied with many others.
    float s = levels > 0 ? float(r.below(uint64_t(levels))) / float(levels) : float(r.uniform());
    if (i % 97 == 5) s = -0.0f;
    v.push_back({s, u});
  }
  return v;
}

std::vector<Item> sorted_ref(std::vector<Item> v) {
  std::sort(v.begin(), v.end(), ref_before);
  return v;
}

void expect_same(const Item& ref, const Scored& got, const std::string& where) {
  EXPECT_EQ(ref.uid, got.uid) << where;
  EXPECT_EQ(ref.s, got.score) << where;
}

}  // namespace

TEST(ScoreKey, OrdersLikeFloatsDescending) {
  std::vector<float> v = {-std::numeric_limits<float>::infinity(), -1e30f, -2.5f, -1.0f, -1e-40f, -0.0f, 0.0f,
                          1e-45f, 1e-38f, 1e-7f, 0.3f, 0.5f, 0.5000001f, 1.0f, 3e38f,
                          std::numeric_limits<float>::infinity()};
  Rng r(7);
  for (int i = 0; i < 2000; ++i) v.push_back(float((r.uniform() - 0.5) * std::pow(10.0, double(r.below(20)) - 10)));
  for (float a : v)
    for (size_t j = 0; j < v.size(); j += 7) {
      float b = v[j];
      EXPECT_EQ(a > b, score_key(a) < score_key(b)) << a << " vs " << b;
      EXPECT_EQ(a == b, score_key(a) == score_key(b)) << a << " vs " << b;
    }
  for (float a : v) EXPECT_EQ(key_score(score_key(a)), a) << a;
  EXPECT_EQ(score_key(-0.0f), score_key(0.0f));
  EXPECT_FALSE(std::signbit(key_score(score_key(-0.0f))));
}

TEST(ScoreKey, RejectsNaNAndReservedUid) {
  EXPECT_THROW(make_scored(std::nanf(""), 3), InputError);
  EXPECT_THROW(make_scored(0.5f, kNoUid), InputError);
  LocalBest b(10);
  try {
    b.push(std::numeric_limits<float>::quiet_NaN(), 1234);
    FAIL() << "no error";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("uid 1234"), std::string::npos) << e.what();
  }
}

TEST(RankPoints, ReferenceSeventeen) {
  // reference/twitter-labor.md §8.1, step 2.
  const std::vector<uint64_t> ref = {1,      10,     100,    316,    1000,   2154,   4641,   10000,  17782,
                                     31622,  56234,  100000, 158489, 251188, 398107, 630957, 1000000};
  EXPECT_EQ(rank_points(), ref);
  EXPECT_EQ(rank_points(1), std::vector<uint64_t>({1}));
  EXPECT_EQ(rank_points(3), std::vector<uint64_t>({1, 10, 100, 316, 1000}));
  EXPECT_THROW(rank_points(0), UsageError);
}

TEST(RankPoints, MatchNumpyLogspace) {
  std::string out;
  int rc = test::run(
      "/usr/bin/python3 -c 'import numpy as np\n"
      "print(\" \".join(str(x) for x in sorted({int(v) for i in range(7) for v in np.logspace(i, i + 1, i + 1)})))'",
      &out);
  if (rc != 0) FAIL() << "reference cannot run (tools/install-deps.sh installs it): " << "numpy not available: " << out;
  std::string mine;
  for (auto p : rank_points(7)) mine += (mine.empty() ? "" : " ") + std::to_string(p);
  EXPECT_EQ(mine + "\n", out);
}

TEST(RankPoints, Windows) {
  auto w = cutoff_windows(rank_points());
  ASSERT_EQ(w.size(), 17u);
  EXPECT_EQ(w[0].first, 1u);
  EXPECT_EQ(w[0].last, 10u);
  EXPECT_EQ(w[1].first, 11u);
  EXPECT_EQ(w[1].last, 20u);
  EXPECT_EQ(w[3].point, 316u);
  EXPECT_EQ(w[3].first, 317u);
  EXPECT_EQ(w[16].last, 1000010u);
  EXPECT_EQ(needed_keep(10000, w), 1000010u);
  EXPECT_EQ(needed_keep(2000000, w), 2000000u);
  EXPECT_EQ(cutoff_windows({1, 5}, 3)[1].first, 6u);
  EXPECT_THROW(cutoff_windows({0}), UsageError);
  EXPECT_THROW(cutoff_windows({1}, 0), UsageError);
}

TEST(LocalBest, KeepsTheBestAgainstFullSort) {
  for (uint64_t keep : {0ull, 1ull, 7ull, 100ull, 1500ull, 5000ull, 20000ull}) {
    auto items = make_items(5000, 13, keep + 1);
    LocalBest b(keep);
    for (auto& it : items) b.push(it.s, it.uid);
    auto ref = sorted_ref(items);
    const auto& got = b.sorted();
    ASSERT_EQ(got.size(), std::min<size_t>(keep, items.size())) << "keep " << keep;
    for (size_t i = 0; i < got.size(); ++i) expect_same(ref[i], got[i], "keep " + std::to_string(keep));
    EXPECT_EQ(b.seen(), items.size());
    EXPECT_EQ(b.truncated(), keep < items.size());
  }
}

TEST(LocalBest, PushesAfterSortedAndColumns) {
  auto items = make_items(3000, 5, 99);
  LocalBest b(50);
  // Interleave: push half, read, push the rest through push_column (stride 2).
  for (size_t i = 0; i < 1500; ++i) b.push(items[i].s, items[i].uid);
  (void)b.sorted();
  std::vector<float> col;
  std::vector<uint64_t> uid;
  for (size_t i = 1500; i < items.size(); ++i) {
    col.push_back(-1.f);  // the other column
    col.push_back(items[i].s);
    uid.push_back(items[i].uid);
  }
  b.push_column(col.data() + 1, 2, uid.data(), uid.size());
  auto ref = sorted_ref(items);
  const auto& got = b.sorted();
  ASSERT_EQ(got.size(), 50u);
  for (size_t i = 0; i < got.size(); ++i) expect_same(ref[i], got[i], "interleaved");
}

// select() on one rank (the unit tier runs this as a 1-rank job).
TEST(Select, OneRankMatchesFullSort) {
  auto comm = mpi::Comm::world();  // a unit test: one process (MPI not started without a launcher)
  for (int levels : {0, 3, 50}) {
    auto items = make_items(20000, levels, uint64_t(levels) + 11);
    auto ref = sorted_ref(items);
    std::vector<RankWindow> windows = cutoff_windows({1, 10, 100, 316, 1000, 19995, 20000, 25000});
    const uint64_t N = 777;
    std::vector<LocalBest> cols;
    cols.emplace_back(needed_keep(N, windows));
    cols.emplace_back(needed_keep(N, windows));
    for (auto& it : items) {
      cols[0].push(it.s, it.uid);
      cols[1].push(-it.s, it.uid);  // the second column ranks the other way round
    }
    auto sel = select(comm, cols, N, windows);
    ASSERT_EQ(sel.size(), 2u);
    auto ref1 = items;
    for (auto& it : ref1) it.s = -it.s;
    ref1 = sorted_ref(ref1);
    const std::vector<Item>* refs[2] = {&ref, &ref1};
    for (int c = 0; c < 2; ++c) {
      const auto& r = *refs[c];
      const auto& s = sel[size_t(c)];
      EXPECT_EQ(s.total, items.size());
      ASSERT_EQ(s.top.size(), N);
      for (size_t i = 0; i < N; ++i) expect_same(r[i], s.top[i], "top");
      // 25000 and 20000+1 start beyond the 20000 items; 19996..20005 is cut to 5 items.
      ASSERT_EQ(s.windows.size(), 6u);
      for (auto& w : s.windows) {
        uint64_t want = std::min<uint64_t>(w.ranks.last, r.size()) - w.ranks.first + 1;
        ASSERT_EQ(w.items.size(), want) << "window at " << w.ranks.point;
        for (size_t k = 0; k < w.items.size(); ++k)
          expect_same(r[w.ranks.first - 1 + k], w.items[k], "window at " + std::to_string(w.ranks.point));
      }
      EXPECT_EQ(s.windows.back().items.size(), 5u);
    }
  }
}

TEST(Select, TopNLargerThanPoolAndEmptyPool) {
  auto comm = mpi::Comm::world();  // a unit test: one process (MPI not started without a launcher)
  auto items = make_items(30, 2, 5);
  auto ref = sorted_ref(items);
  auto windows = cutoff_windows(rank_points());
  std::vector<LocalBest> cols(1, LocalBest(needed_keep(100000, windows)));
  for (auto& it : items) cols[0].push(it.s, it.uid);
  auto sel = select(comm, cols, 100000, windows);
  ASSERT_EQ(sel[0].top.size(), 30u);
  for (size_t i = 0; i < 30; ++i) expect_same(ref[i], sel[0].top[i], "top");
  ASSERT_EQ(sel[0].windows.size(), 2u);  // ranks 1..10 and 11..20
  ASSERT_EQ(sel[0].windows[1].items.size(), 10u);
  expect_same(ref[19], sel[0].windows[1].items[9], "window 10");

  std::vector<LocalBest> none(3, LocalBest(needed_keep(10, windows)));
  auto e = select(comm, none, 10, windows);
  ASSERT_EQ(e.size(), 3u);
  for (auto& s : e) {
    EXPECT_EQ(s.total, 0u);
    EXPECT_TRUE(s.top.empty());
    EXPECT_TRUE(s.windows.empty());
  }
  std::vector<LocalBest> zero;
  EXPECT_TRUE(select(comm, zero, 10, windows).empty());
}

TEST(Select, RejectsTooSmallKeepAndBadRanks) {
  auto comm = mpi::Comm::world();  // a unit test: one process (MPI not started without a launcher)
  std::vector<LocalBest> cols(1, LocalBest(5));
  for (uint64_t i = 0; i < 20; ++i) cols[0].push(float(i % 3), i);
  EXPECT_THROW(select(comm, cols, 10, {}), UsageError);
  EXPECT_THROW(items_at_ranks(comm, cols, {0}, {21}), UsageError);
  EXPECT_THROW(items_at_ranks(comm, cols, {0}, {0}), UsageError);
  EXPECT_THROW(items_at_ranks(comm, cols, {0}, {6}), UsageError);  // dropped items beyond keep
  auto at = items_at_ranks(comm, cols, {0, 0}, {1, 5});
  // Scores 2 (uids 2, 5, 8, ...), then 1: rank 1 is uid 2, rank 5 is uid 14.
  EXPECT_EQ(at[0].uid, 2u);
  EXPECT_EQ(at[0].score, 2.0f);
  EXPECT_EQ(at[1].uid, 14u);
}

// select() orders only the score buckets it reads (topn.cpp, BucketOrder): scores spread over
// 100 binades with 7 values each leave most buckets empty, so windows and the top N run across
// bucket boundaries and gaps; every rank asked for and every window equals the full sort. With
// 20,000 items and ranks up to 2,000, LocalBest prunes while it is fed and holds between keep and
// twice keep items when select() orders them.
TEST(Select, WindowsAcrossSparseBuckets) {
  auto comm = mpi::Comm::world();  // a unit test: one process
  for (auto [n, last_point] : {std::pair<uint64_t, uint64_t>{5000, 5000}, {20000, 2000}}) {
    Rng r(77 + n);
    std::vector<Item> items;
    for (uint64_t i = 0; i < n; ++i)
      items.push_back({std::ldexp(1.0f + float(r.below(7)) / 8, -int(r.below(100))) * (i % 3 == 0 ? -1.f : 1.f),
                       r() >> 8});
    auto ref = sorted_ref(items);
    std::vector<uint64_t> points;
    for (uint64_t p = 1; p <= last_point; p += 37) points.push_back(p);
    auto windows = cutoff_windows(points, 13);
    std::vector<LocalBest> cols(1, LocalBest(needed_keep(600, windows)));
    for (auto& it : items) cols[0].push(it.s, it.uid);
    EXPECT_EQ(cols[0].truncated(), n > last_point + 13);
    auto sel = select(comm, cols, 600, windows);
    ASSERT_EQ(sel[0].top.size(), 600u);
    for (size_t i = 0; i < 600; ++i) expect_same(ref[i], sel[0].top[i], "top " + std::to_string(i));
    ASSERT_EQ(sel[0].windows.size(), windows.size());
    for (auto& w : sel[0].windows) {
      const uint64_t want = std::min<uint64_t>(w.ranks.last, ref.size()) - w.ranks.first + 1;
      ASSERT_EQ(w.items.size(), want) << "window at " << w.ranks.point;
      for (size_t k = 0; k < w.items.size(); ++k)
        expect_same(ref[w.ranks.first - 1 + k], w.items[k], "window at " + std::to_string(w.ranks.point));
    }
    std::vector<size_t> col_of(points.size(), 0);
    auto at = items_at_ranks(comm, cols, col_of, points);
    for (size_t q = 0; q < points.size(); ++q)
      expect_same(ref[points[q] - 1], at[q], "rank " + std::to_string(points[q]));
  }
}
