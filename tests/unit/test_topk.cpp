// trawl-libs: trawl_retrieve
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <map>

#include "core/error.h"
#include "core/rng.h"
#include "retrieve/topk.h"

using namespace trawl;
using namespace trawl::retrieve;

namespace {

// Random neighbours with many exact distance ties (distances on a coarse grid).
std::vector<Neighbour> random_entries(Rng& r, size_t n, uint64_t uid_range) {
  std::vector<Neighbour> v;
  for (size_t i = 0; i < n; ++i) v.push_back(Neighbour{float(r.below(8)) * 0.25f, r.below(uid_range)});
  return v;
}

// Reference top K of a multiset: keep each uid's smallest entry, sort, cut — written plainly.
std::vector<Neighbour> reference_topk(const std::vector<Neighbour>& all, int K) {
  std::map<uint64_t, float> best;
  for (const auto& n : all) {
    auto it = best.find(n.uid);
    if (it == best.end() || n.dist < it->second) best[n.uid] = n.dist;
  }
  std::vector<Neighbour> v;
  for (const auto& [u, d] : best) v.push_back(Neighbour{d, u});
  std::sort(v.begin(), v.end(), [](const Neighbour& a, const Neighbour& b) {
    if (a.dist != b.dist) return a.dist < b.dist;
    return a.uid < b.uid;
  });
  if (v.size() > size_t(K)) v.resize(size_t(K));
  return v;
}

// A valid random list: distinct uids, sorted, at most K.
std::vector<Neighbour> random_list(Rng& r, int K, uint64_t uid_range) {
  auto v = random_entries(r, r.below(uint64_t(2 * K + 1)), uid_range);
  return reference_topk(v, int(r.below(uint64_t(K) + 1)));
}

AnchorLists random_lists(Rng& r, int K, size_t na, uint64_t uid_range) {
  AnchorLists l(K, na);
  for (auto& v : l.lists) v = random_list(r, K, uid_range);
  return l;
}

}  // namespace

TEST(TopK, KeepsTheKSmallestWithUidTieBreakAgainstSort) {
  Rng r(11);
  for (int trial = 0; trial < 200; ++trial) {
    int K = int(r.below(12));
    size_t n = r.below(60);
    // distinct uids, tied distances
    std::vector<Neighbour> v;
    for (size_t i = 0; i < n; ++i) v.push_back(Neighbour{float(r.below(5)), 1000 - i * 7});
    TopK h(K);
    for (const auto& e : v) h.push(e);
    auto want = reference_topk(v, K);
    EXPECT_EQ(h.sorted(), want) << "trial " << trial;
    EXPECT_EQ(h.full(), n >= size_t(K));
    if (h.full() && K > 0) EXPECT_EQ(h.threshold(), want.back().dist);
    else EXPECT_TRUE(std::isinf(h.threshold()));
  }
}

TEST(TopK, OrderIsDistThenUid) {
  EXPECT_TRUE((Neighbour{0.5f, 9} < Neighbour{0.6f, 1}));
  EXPECT_TRUE((Neighbour{0.5f, 1} < Neighbour{0.5f, 2}));
  EXPECT_FALSE((Neighbour{0.5f, 2} < Neighbour{0.5f, 2}));
  TopK h(2);
  h.push({1.f, 5});
  h.push({1.f, 3});
  EXPECT_FALSE(h.push({1.f, 7}));  // same distance, larger uid: loses
  EXPECT_TRUE(h.push({1.f, 4}));   // smaller uid than the worst kept (5): wins
  EXPECT_EQ(h.sorted(), (std::vector<Neighbour>{{1.f, 3}, {1.f, 4}}));
  TopK z(0);
  EXPECT_FALSE(z.push({0.f, 1}));
  EXPECT_TRUE(z.sorted().empty());
}

TEST(Merge, EqualsTopKOfTheUnionWithDuplicateUids) {
  Rng r(12);
  for (int trial = 0; trial < 500; ++trial) {
    int K = 1 + int(r.below(10));
    auto a = random_list(r, K, 30), b = random_list(r, K, 30);  // small uid range: shared uids
    // Give some shared uids a different distance in b (e.g. a re-run with other rounding).
    for (auto& e : b)
      if (r.below(4) == 0) e.dist += 0.125f;
    std::sort(b.begin(), b.end());
    std::vector<Neighbour> all = a;
    all.insert(all.end(), b.begin(), b.end());
    auto m = merge_sorted(a, b, K);
    EXPECT_EQ(m, reference_topk(all, K)) << "trial " << trial;
  }
}

TEST(Merge, IsCommutativeAndAssociative) {
  Rng r(13);
  for (int trial = 0; trial < 300; ++trial) {
    int K = int(r.below(9));
    size_t na = r.below(5);
    auto a = random_lists(r, K, na, 40), b = random_lists(r, K, na, 40), c = random_lists(r, K, na, 40);
    EXPECT_EQ(merge_lists(a, b), merge_lists(b, a));
    EXPECT_EQ(merge_lists(merge_lists(a, b), c), merge_lists(a, merge_lists(b, c)));
    EXPECT_EQ(merge_lists(merge_lists(a, c), b), merge_lists(merge_lists(c, b), a));
    EXPECT_EQ(merge_lists(a, a), a);  // idempotent: a uid in both is kept once
    auto m = merge_lists(merge_lists(a, b), c);
    EXPECT_NO_THROW(validate(m, "merged"));
  }
}

TEST(Merge, RejectsDifferentShapes) {
  AnchorLists a(5, 3), b(4, 3), c(5, 2);
  EXPECT_THROW(merge_lists(a, b), InputError);
  EXPECT_THROW(merge_lists(a, c), InputError);
}

TEST(Bytes, RoundTripAndRejectCorruption) {
  Rng r(14);
  auto l = random_lists(r, 7, 6, 1000);
  l.lists[0] = {{0.25f, 17}, {0.25f, 18}, {0.5f, 3}};
  l.lists[2].clear();
  auto b = serialize(l);
  EXPECT_EQ(deserialize(b), l);
  // Every truncation is rejected.
  for (size_t n = 0; n < b.size(); ++n) EXPECT_THROW(deserialize(b.data(), n), InputError) << n;
  auto bad = b;
  bad[0] = 'X';
  EXPECT_THROW(deserialize(bad), InputError);
  bad = b;
  bad[8] = 2;  // newer version
  EXPECT_THROW(deserialize(bad), InputError);
  bad = b;
  bad.push_back(0);
  EXPECT_THROW(deserialize(bad), InputError);
  // Swap two entries of a list: order violated.
  AnchorLists u = l;
  std::swap(u.lists[0][0], u.lists[0][1]);
  EXPECT_THROW(deserialize(serialize(u)), InputError);
  AnchorLists empty(0, 0);
  EXPECT_EQ(deserialize(serialize(empty)), empty);
}

TEST(Flat, RoundTripAndValidation) {
  Rng r(15);
  auto l = random_lists(r, 5, 8, 1000);
  l.lists[0].clear();
  l.lists[7].clear();
  l.lists[6] = {{0.f, 1}, {0.5f, 2}};
  auto f = flatten(l);
  EXPECT_EQ(f.size(), l.total());
  for (size_t i = 1; i < f.size(); ++i) EXPECT_LE(f.anchor[i - 1], f.anchor[i]);
  EXPECT_EQ(unflatten(5, 8, f), l);
  AnchorLists l7 = l;
  l7.lists.pop_back();
  EXPECT_EQ(unflatten(5, 7, f), l7);             // anchor 7 has no rows: 7 lists are fine
  EXPECT_THROW(unflatten(5, 6, f), InputError);                  // anchor 6 has rows
  auto g = f;
  g.uid.pop_back();
  EXPECT_THROW(unflatten(5, 8, g), InputError);
  g = f;
  std::reverse(g.anchor.begin(), g.anchor.end());
  EXPECT_THROW(unflatten(5, 8, g), InputError);
  EXPECT_THROW(unflatten(2, 8, f), InputError);  // more than K per anchor
  g = f;
  g.dist[1] = std::nanf("");
  EXPECT_THROW(unflatten(5, 8, g), InputError);
  g = f;
  g.uid[0] = kNoUid;
  EXPECT_THROW(unflatten(5, 8, g), InputError);
}

TEST(Validate, RejectsDuplicateUidsInOneList) {
  AnchorLists l(3, 1);
  l.lists[0] = {{0.1f, 7}, {0.2f, 7}};
  EXPECT_THROW(validate(l, "x"), InputError);
  l.lists[0] = {{0.1f, 7}, {0.2f, 8}};
  EXPECT_NO_THROW(validate(l, "x"));
}
