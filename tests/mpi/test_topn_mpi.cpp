// trawl-libs: trawl_topn
// Distributed score selection at 1..4 ranks against a full sort of the whole pool, which every
// rank builds for itself as the reference. Items are dealt to ranks in irregular blocks, or all
// to one rank (the others are empty); scores have many ties (broken by uid).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>

#include "core/error.h"
#include "core/rng.h"
#include "mpi/comm.h"
#include "score/topn.h"

using namespace trawl;
using namespace trawl::score;

namespace {

struct Item {
  float s[2];
  uint64_t uid;
};

// n items, identical on every rank; column 0 has `levels` distinct values (0: continuous),
// column 1 is column 0 rounded coarser and negated.
std::vector<Item> make_pool(size_t n, int levels, uint64_t seed) {
  Rng r(seed);
  std::vector<Item> v(n);
  for (size_t i = 0; i < n; ++i) {
    float s = levels > 0 ? float(r.below(uint64_t(levels))) / float(levels) : float(r.uniform());
    v[i].s[0] = s;
    v[i].s[1] = -std::floor(s * 4.0f) / 4.0f;
    v[i].uid = mix64(i + seed * 1000003);  // a bijection: distinct uids, not in row order
  }
  return v;
}

std::vector<Item> ref_sorted(std::vector<Item> v, int c) {
  std::sort(v.begin(), v.end(), [c](const Item& a, const Item& b) {
    return a.s[c] > b.s[c] || (a.s[c] == b.s[c] && a.uid < b.uid);
  });
  return v;
}

enum class Deal { kBlocks, kLastRank, kFirstRank };

// Whether item i belongs to this rank: irregular blocks dealt round-robin, or one rank holds all.
bool mine(size_t i, const mpi::Comm& c, Deal d) {
  if (d == Deal::kLastRank) return c.rank() == c.size() - 1;
  if (d == Deal::kFirstRank) return c.rank() == 0;
  // Block b covers [b*700 + jitter ...): use a hash of the block number for the owner.
  size_t block = i / 700;
  return int(mix64(block) % uint64_t(c.size())) == c.rank();
}

void check(const mpi::Comm& comm, size_t n, int levels, Deal deal, uint64_t N, const std::vector<RankWindow>& windows) {
  SCOPED_TRACE(testing::Message() << "n=" << n << " levels=" << levels << " deal=" << int(deal) << " N=" << N
                                  << " ranks=" << comm.size());
  auto pool = make_pool(n, levels, n + uint64_t(levels));
  std::vector<LocalBest> cols(2, LocalBest(needed_keep(N, windows)));
  for (size_t i = 0; i < n; ++i)
    if (mine(i, comm, deal))
      for (int c = 0; c < 2; ++c) cols[size_t(c)].push(pool[i].s[c], pool[i].uid);
  auto sel = select(comm, cols, N, windows);
  ASSERT_EQ(sel.size(), 2u);
  for (int c = 0; c < 2; ++c) {
    auto ref = ref_sorted(pool, c);
    const auto& s = sel[size_t(c)];
    EXPECT_EQ(s.total, n);
    ASSERT_EQ(s.top.size(), std::min<uint64_t>(N, n));
    for (size_t i = 0; i < s.top.size(); ++i) {
      ASSERT_EQ(s.top[i].uid, ref[i].uid) << "column " << c << " top rank " << i + 1;
      ASSERT_EQ(s.top[i].score, ref[i].s[c]);
    }
    size_t expect_windows = 0;
    for (auto& w : windows) expect_windows += w.first <= n;
    ASSERT_EQ(s.windows.size(), expect_windows);
    for (auto& w : s.windows) {
      ASSERT_LE(w.ranks.first, n);
      ASSERT_EQ(w.items.size(), std::min<uint64_t>(w.ranks.last, n) - w.ranks.first + 1);
      for (size_t k = 0; k < w.items.size(); ++k) {
        const auto& r = ref[w.ranks.first - 1 + k];
        ASSERT_EQ(w.items[k].uid, r.uid) << "column " << c << " window " << w.ranks.point << " item " << k;
        ASSERT_EQ(w.items[k].score, r.s[c]);
      }
    }
  }
}

}  // namespace

TEST(TopNMpi, SmallPoolsWithTies) {
  auto comm = mpi::Comm::world();
  auto windows = cutoff_windows({1, 10, 100, 316, 1000, 4641, 9995, 10000, 12000});
  for (Deal d : {Deal::kBlocks, Deal::kLastRank, Deal::kFirstRank})
    for (int levels : {0, 2, 37}) {
      check(comm, 10000, levels, d, 1000, windows);
      check(comm, 10000, levels, d, 50000, windows);  // N larger than the pool
    }
  check(comm, 3, 2, Deal::kBlocks, 10, windows);  // fewer items than ranks
  check(comm, 0, 2, Deal::kBlocks, 10, windows);  // nothing at all
}

TEST(TopNMpi, ReferenceRankPoints) {
  auto comm = mpi::Comm::world();
  // 400005 items: windows up to the point 398107 exist (the last one, 398108..398117, in full);
  // 630957 and 10^6 are beyond the pool and skipped.
  auto windows = cutoff_windows(rank_points());
  check(comm, 400005, 1000, Deal::kBlocks, 10000, windows);
  check(comm, 398112, 0, Deal::kLastRank, 10000, windows);  // the last window holds 5 items
}

TEST(TopNMpi, RanksMustAgree) {
  auto comm = mpi::Comm::world();
  if (comm.size() == 1) GTEST_SKIP() << "needs 2+ ranks";
  std::vector<LocalBest> cols(1, LocalBest(100));
  cols[0].push(0.5f, uint64_t(comm.rank()));
  EXPECT_THROW(select(comm, cols, comm.root() ? 5 : 6, {}), UsageError);
  std::vector<LocalBest> two(size_t(comm.root() ? 1 : 2), LocalBest(100));
  EXPECT_THROW(select(comm, two, 5, {}), UsageError);
  // A rank that kept too few items fails everywhere, not only where it happened.
  std::vector<LocalBest> small(1, LocalBest(comm.root() ? 3 : 100));
  EXPECT_THROW(select(comm, small, 5, {}), UsageError);
}
