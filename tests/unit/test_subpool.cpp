// trawl-libs: trawl_retrieve
#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <set>

#include "core/error.h"
#include "core/rng.h"
#include "retrieve/subpool.h"

using namespace trawl;
using namespace trawl::retrieve;

TEST(Score, HandCheckedExample) {
  // Distances exactly representable, so the expected scores are exact.
  AnchorLists l(3, 3);
  l.lists[0] = {{0.125f, 5}, {0.5f, 7}};
  l.lists[1] = {{0.25f, 7}, {0.75f, 9}};
  l.lists[2] = {{0.0f, 9}, {0.875f, 5}, {0.875f, 11}};
  auto c = score_candidates(l);
  ASSERT_EQ(c.size(), 4u);
  // uid 5: (0.125 + 0.875)/2 = 0.5 → 0.5;  uid 7: (0.5 + 0.25)/2 → 0.625;
  // uid 9: (0.75 + 0)/2 → 0.625;  uid 11: 0.875 → 0.125.
  EXPECT_EQ(c[0].uid, 5u);
  EXPECT_EQ(c[0].score, 0.5);
  EXPECT_EQ(c[0].count, 2);
  EXPECT_EQ(c[1].uid, 7u);
  EXPECT_EQ(c[1].score, 0.625);
  EXPECT_EQ(c[1].count, 2);
  EXPECT_EQ(c[2].uid, 9u);
  EXPECT_EQ(c[2].score, 0.625);
  EXPECT_EQ(c[3].uid, 11u);
  EXPECT_EQ(c[3].score, 0.125);
  EXPECT_EQ(c[3].count, 1);
  auto t = top_m(c, 3);
  ASSERT_EQ(t.size(), 3u);
  EXPECT_EQ(t[0].uid, 7u);  // tie at 0.625 broken by uid
  EXPECT_EQ(t[1].uid, 9u);
  EXPECT_EQ(t[2].uid, 5u);
  auto all = top_m(c, 100);
  ASSERT_EQ(all.size(), 4u);
  EXPECT_EQ(all[3].uid, 11u);
  EXPECT_TRUE(top_m(c, 0).empty());
  EXPECT_TRUE(score_candidates(AnchorLists(3, 0)).empty());
}

TEST(Score, TopMEqualsFullSortWithTies) {
  Rng r(41);
  for (int trial = 0; trial < 100; ++trial) {
    std::vector<Candidate> c;
    size_t n = r.below(200);
    for (size_t i = 0; i < n; ++i) c.push_back(Candidate{r.below(1000000), double(r.below(6)) / 8, 1});
    size_t M = r.below(250);
    auto got = top_m(c, M);
    auto ref = c;
    std::sort(ref.begin(), ref.end(), [](const Candidate& a, const Candidate& b) {
      if (a.score > b.score) return true;
      if (a.score < b.score) return false;
      return a.uid < b.uid;
    });
    if (ref.size() > M) ref.resize(M);
    ASSERT_EQ(got.size(), ref.size());
    for (size_t i = 0; i < ref.size(); ++i) {
      EXPECT_EQ(got[i].uid, ref[i].uid);
      EXPECT_EQ(got[i].score, ref[i].score);
    }
  }
}

namespace {
// Brute force: every eligible uid's priority, sorted, first n.
std::vector<uint64_t> brute_sample(const std::vector<uint64_t>& uids, size_t n, uint64_t seed, uint64_t round,
                                   SampleStream st, const std::set<uint64_t>& excl) {
  std::vector<std::pair<uint64_t, uint64_t>> all;
  std::set<uint64_t> seen;
  for (uint64_t u : uids)
    if (!excl.count(u) && seen.insert(u).second) all.push_back({sample_priority(seed, round, st, u), u});
  std::sort(all.begin(), all.end());
  std::vector<uint64_t> out;
  for (size_t i = 0; i < all.size() && i < n; ++i) out.push_back(all[i].second);
  return out;
}
}  // namespace

TEST(RandSub, SameSampleWhateverTheSplit) {
  Rng r(42);
  std::vector<uint64_t> uids;
  for (int i = 0; i < 5000; ++i) uids.push_back((uint64_t(i % 7) << 40) | uint64_t(i));
  std::set<uint64_t> ex;
  for (int i = 0; i < 300; ++i) ex.insert(uids[r.below(uids.size())]);
  std::vector<uint64_t> exv(ex.begin(), ex.end());
  for (size_t M : {size_t(0), size_t(1), size_t(37), size_t(1000), size_t(10000)}) {
    auto want = brute_sample(uids, M, 7, 3, SampleStream::kRandSub, ex);
    EXPECT_EQ(want.size(), std::min(M, uids.size() - ex.size()));
    EXPECT_EQ(uids_of(randsub_sample(uids, M, 7, 3, &exv)), want);
    for (int parts : {2, 3, 5, 16}) {
      // Random assignment of uids to parts, each part in its own (shuffled) order.
      std::vector<std::vector<uint64_t>> part(static_cast<size_t>(parts));
      for (uint64_t u : uids) part[r.below(uint64_t(parts))].push_back(u);
      for (auto& p : part)
        for (size_t i = p.size(); i > 1; --i) std::swap(p[i - 1], p[r.below(i)]);
      std::vector<Prioritised> acc;
      std::vector<int> order(static_cast<size_t>(parts));
      for (int i = 0; i < parts; ++i) order[size_t(i)] = i;
      for (int i = parts - 1; i > 0; --i) std::swap(order[size_t(i)], order[r.below(uint64_t(i) + 1)]);
      for (int i : order) acc = merge_smallest(acc, randsub_sample(part[size_t(i)], M, 7, 3, &exv), M);
      EXPECT_EQ(uids_of(acc), want) << "M " << M << " parts " << parts;
    }
  }
}

TEST(RandSub, StreamsRoundsAndSeedsGiveDifferentSamples) {
  std::vector<uint64_t> uids;
  for (uint64_t i = 0; i < 1000; ++i) uids.push_back(i);
  auto a = uids_of(randsub_sample(uids, 25, 1, 1));
  EXPECT_EQ(a, brute_sample(uids, 25, 1, 1, SampleStream::kRandSub, {}));
  EXPECT_EQ(uids_of(random_sample(uids, 25, 1, 1)), brute_sample(uids, 25, 1, 1, SampleStream::kRandom, {}));
  EXPECT_NE(uids_of(random_sample(uids, 25, 1, 1)), a);
  EXPECT_NE(uids_of(randsub_sample(uids, 25, 1, 2)), a);
  EXPECT_NE(uids_of(randsub_sample(uids, 25, 2, 1)), a);
}

TEST(RandSub, UniformInclusionFrequencies) {
  std::vector<uint64_t> uids;
  for (uint64_t i = 0; i < 100; ++i) uids.push_back(i * 1000003);
  std::map<uint64_t, int> hits;
  const int rounds = 2000;
  for (int round = 0; round < rounds; ++round)
    for (uint64_t u : uids_of(randsub_sample(uids, 10, 11, uint64_t(round)))) hits[u]++;
  ASSERT_EQ(hits.size(), uids.size());
  // Each uid is in a sample with probability 0.1: 200 ± 13.4 (sd); allow ±5 sd.
  for (const auto& [u, h] : hits) EXPECT_NEAR(h, 200, 67) << u;
}

TEST(RandSub, SamplerKeepsARepeatedUidOnceAndRejectsUnsortedExclusions) {
  HashSampler s(5, 1, 1, SampleStream::kRandSub);
  std::vector<uint64_t> u = {1, 2, 3, 1, 2, 3, 3, 3};
  s.add(u);
  EXPECT_EQ(s.sorted().size(), 3u);
  std::vector<uint64_t> bad = {3, 1};
  EXPECT_THROW(HashSampler(5, 1, 1, SampleStream::kRandSub, &bad), UsageError);
}
