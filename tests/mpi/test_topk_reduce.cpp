// trawl-libs: trawl_retrieve
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <set>

#include "core/error.h"
#include "core/rng.h"
#include "mpi/comm.h"
#include "retrieve/exact.h"
#include "retrieve/subpool.h"
#include "retrieve/topk.h"

using namespace trawl;
using namespace trawl::retrieve;

namespace {

// A deterministic pool every rank generates identically: unit vectors, a sixth of them
// copies of earlier ones (distance ties across ranks, broken by uid), scattered uids.
struct Pool {
  int dim;
  std::vector<float> x;
  std::vector<uint64_t> uid;
  size_t n() const { return uid.size(); }
};
Pool make_pool(size_t n, int dim, uint64_t seed) {
  Rng r(seed);
  Pool p{dim, std::vector<float>(n * size_t(dim)), {}};
  for (size_t i = 0; i < n; ++i) {
    float* v = &p.x[i * dim];
    if (i > 0 && r.below(6) == 0) {
      size_t s = r.below(i);
      std::copy(&p.x[s * dim], &p.x[s * dim] + dim, v);
    } else {
      double ss = 0;
      for (int k = 0; k < dim; ++k) {
        v[k] = float(r.normal());
        ss += double(v[k]) * v[k];
      }
      for (int k = 0; k < dim; ++k) v[k] = float(v[k] / std::sqrt(ss));
    }
    p.uid.push_back((uint64_t(i % 11) << 40) | (mix64(i) & 0xffffffff));
  }
  return p;
}

// The single-process reference by a plain loop over every pair.
AnchorLists naive(const std::vector<float>& q, int nq, const Pool& p, int K, const std::set<uint64_t>& ex) {
  AnchorLists out(K, size_t(nq));
  for (int j = 0; j < nq; ++j) {
    std::vector<Neighbour> all;
    for (size_t i = 0; i < p.n(); ++i) {
      if (ex.count(p.uid[i])) continue;
      double s = 0;
      for (int k = 0; k < p.dim; ++k) s += double(q[size_t(j) * p.dim + k]) * double(p.x[i * p.dim + k]);
      all.push_back({float(1.0 - s), p.uid[i]});
    }
    std::sort(all.begin(), all.end(), [](const Neighbour& a, const Neighbour& b) {
      return a.dist != b.dist ? a.dist < b.dist : a.uid < b.uid;
    });
    if (all.size() > size_t(K)) all.resize(size_t(K));
    out.lists[size_t(j)] = all;
  }
  return out;
}

// Rows of the pool this rank holds: "shards" of irregular sizes dealt round-robin to ranks;
// with only_last, everything is on the last rank (other ranks hold nothing).
std::vector<std::pair<size_t, size_t>> my_shards(const Pool& p, const mpi::Comm& c, bool only_last) {
  std::vector<std::pair<size_t, size_t>> out;
  size_t start = 0, s = 0;
  while (start < p.n()) {
    size_t len = std::min(p.n() - start, size_t(50 + mix64(s) % 400));
    int owner = only_last ? c.size() - 1 : int(s % size_t(c.size()));
    if (owner == c.rank()) out.push_back({start, len});
    start += len;
    ++s;
  }
  return out;
}

}  // namespace

TEST(ReduceTopK, ShardedSearchEqualsSingleProcessSearchOnEveryRank) {
  auto c = mpi::Comm::world();
  const int dim = 40, nq = 13;
  Pool p = make_pool(3000, dim, 51);
  Rng qr(52);
  std::vector<float> q(size_t(nq) * dim);
  for (int j = 0; j < nq; ++j) {
    size_t src = qr.below(p.n());  // anchors are pool vectors (as labelled items are)
    std::copy(&p.x[src * dim], &p.x[src * dim] + dim, &q[size_t(j) * dim]);
  }
  std::set<uint64_t> ex;
  for (int i = 0; i < 200; ++i) ex.insert(p.uid[qr.below(p.n())]);
  std::vector<uint64_t> exv(ex.begin(), ex.end());
  for (bool only_last : {false, true}) {
    for (int K : {1, 7, 60}) {
      AnchorLists mine(K, size_t(nq));
      ExactScanner s(q.data(), nq, dim, K, &exv);
      for (auto [start, len] : my_shards(p, c, only_last)) s.scan(&p.x[start * dim], &p.uid[start], len);
      mine = s.result();
      reduce_topk(c, mine);
      // Reference 1: one exact search over the whole pool in this process.
      AnchorLists whole(K, 0);
      exact_search(q.data(), nq, p.x.data(), p.uid.data(), p.n(), dim, &exv, whole);
      // Reference 2: the naive double loop.
      AnchorLists ref = naive(q, nq, p, K, ex);
      EXPECT_EQ(whole, ref) << "K " << K;
      EXPECT_EQ(mine, ref) << "K " << K << " only_last " << only_last << " ranks " << c.size();
    }
  }
}

TEST(ReduceTopK, OverlappingPartialsKeepEachUidOnce) {
  // Every rank contributes the same lists plus its own extra entries: the reduction must
  // not duplicate the shared uids.
  auto c = mpi::Comm::world();
  const int K = 6;
  AnchorLists l(K, 2);
  l.lists[0] = {{0.1f, 100}, {0.2f, 101}};
  l.lists[1] = {{0.5f, 200}};
  l.lists[0].push_back({0.3f + 0.01f * float(c.rank()), uint64_t(1000 + c.rank())});
  reduce_topk(c, l);
  std::vector<Neighbour> want0 = {{0.1f, 100}, {0.2f, 101}};
  for (int r = 0; r < std::min(c.size(), K - 2); ++r) want0.push_back({0.3f + 0.01f * float(r), uint64_t(1000 + r)});
  EXPECT_EQ(l.lists[0], want0);
  EXPECT_EQ(l.lists[1], (std::vector<Neighbour>{{0.5f, 200}}));
  AnchorLists empty(5, 0);
  reduce_topk(c, empty);
  EXPECT_EQ(empty.n_anchors(), 0u);
}

// Large buffers (MB-sized, where MPI switches to segmented algorithms) and more anchors than
// ranks or fewer: every rank can regenerate every other rank's partial lists, so the
// reference is a local fold of merge_lists over all of them.
TEST(ReduceTopK, LargeBuffersEqualTheLocalFoldOfAllRanksLists) {
  auto c = mpi::Comm::world();
  auto lists_of = [](int rank, int K, size_t na) {
    Rng r(key(77, uint64_t(rank), uint64_t(K)));
    AnchorLists l(K, na);
    for (auto& v : l.lists) {
      TopK h(K);
      size_t n = r.below(uint64_t(2 * K));
      for (size_t i = 0; i < n; ++i) h.push({float(r.below(1000)) / 1024.f, r.below(50000)});
      v = h.sorted();
      // drop repeated uids (a search never yields one uid twice in a list)
      std::vector<Neighbour> u;
      std::set<uint64_t> seen;
      for (const auto& e : v)
        if (seen.insert(e.uid).second) u.push_back(e);
      v = u;
    }
    return l;
  };
  for (auto [K, na] : std::vector<std::pair<int, size_t>>{{2000, 40}, {300, 1}, {5, 2}, {64, 500}}) {
    AnchorLists mine = lists_of(c.rank(), K, na);
    reduce_topk(c, mine);
    AnchorLists want = lists_of(0, K, na);
    for (int r = 1; r < c.size(); ++r) want = merge_lists(want, lists_of(r, K, na));
    EXPECT_EQ(mine, want) << "K " << K << " anchors " << na;
  }
}

TEST(ReduceTopK, RanksDisagreeingOnShapeFailEverywhere) {
  auto c = mpi::Comm::world();
  if (c.size() == 1) GTEST_SKIP() << "needs 2+ ranks";
  AnchorLists l(c.rank() == 0 ? 5 : 4, 3);
  EXPECT_THROW(reduce_topk(c, l), UsageError);
  AnchorLists m(5, c.rank() == 0 ? 3 : 2);
  EXPECT_THROW(reduce_topk(c, m), UsageError);
}

TEST(ReduceSmallest, RandSubIdenticalAtAnyRankCount) {
  auto c = mpi::Comm::world();
  Pool p = make_pool(4000, 1, 53);
  std::vector<uint64_t> exv;
  for (size_t i = 0; i < p.n(); i += 17) exv.push_back(p.uid[i]);
  std::sort(exv.begin(), exv.end());
  std::set<uint64_t> ex(exv.begin(), exv.end());
  for (size_t M : {size_t(0), size_t(1), size_t(25), size_t(1500), size_t(5000)}) {
    for (auto stream : {SampleStream::kRandSub, SampleStream::kRandom}) {
      // This rank's uids: its shards, streamed in blocks.
      HashSampler hs(M, 9, 4, stream, &exv);
      for (auto [start, len] : my_shards(p, c, false)) hs.add(&p.uid[start], len);
      auto got = uids_of(reduce_smallest_priorities(c, hs.sorted(), M));
      // Reference: all priorities, sorted.
      std::vector<std::pair<uint64_t, uint64_t>> all;
      for (uint64_t u : p.uid)
        if (!ex.count(u)) all.push_back({sample_priority(9, 4, stream, u), u});
      std::sort(all.begin(), all.end());
      std::vector<uint64_t> want;
      for (size_t i = 0; i < all.size() && i < M; ++i) want.push_back(all[i].second);
      EXPECT_EQ(got, want) << "M " << M << " ranks " << c.size();
    }
  }
}
