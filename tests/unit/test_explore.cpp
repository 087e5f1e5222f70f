// trawl-libs: trawl_explore
// Exploration (twitter-labor §5.2) on hand-checked cases and against a brute-force count over a
// small pool of real shards: motif tokens and the stop set, ordered-subsequence matching, top-set
// counts (documents and occurrences), pool counts, lift, the greedy disjoint choice, keyed
// samples and their exclusions.
#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <set>

#include "core/error.h"
#include "core/fs.h"
#include "core/rng.h"
#include "io/shard.h"
#include "mpi/comm.h"
#include "pool/pool.h"
#include "strategy/explore.h"
#include "support/testutil.h"
#include "text/tokenize.h"
#include "support/explore_fixture.h"

using namespace trawl;
using namespace trawl::explore;

namespace {

using trawl::test::explore_fixture::id;
using trawl::test::explore_fixture::Doc;
using trawl::test::explore_fixture::make_docs;
using trawl::test::explore_fixture::write_pool;
using trawl::test::explore_fixture::brute_tokens;
using trawl::test::explore_fixture::brute_counts;

std::vector<uint32_t> ids_of(const std::string& t) {
  std::vector<uint32_t> v;
  text::text_to_ids(t, v);
  return v;
}

TEST(ExploreUnit, MotifTokensStopSetAndCap) {
  auto v = ids_of("I lost my job t s @bob http://x.y/z 42 today");
  std::vector<uint32_t> t;
  motif_tokens(v.data(), v.size(), 0, t);
  EXPECT_EQ(t, (std::vector<uint32_t>{id("i"), id("lost"), id("my"), id("job"), id("today")}));
  motif_tokens(v.data(), v.size(), 3, t);
  EXPECT_EQ(t, (std::vector<uint32_t>{id("i"), id("lost"), id("my")}));
  EXPECT_TRUE(is_stop_token(id("<url>")));
  EXPECT_TRUE(is_stop_token(id("t")));
  EXPECT_FALSE(is_stop_token(id("job")));
  std::vector<uint32_t> none;
  motif_tokens(none.data(), 0, 0, t);
  EXPECT_TRUE(t.empty());
}

TEST(ExploreUnit, MatchesIsOrderedSubsequence) {
  auto v = ids_of("i just lost my new job");
  const size_t u = text::unigram_count(v.size());
  EXPECT_TRUE(matches(make_motif(id("lost"), id("job")), v.data(), u));
  EXPECT_TRUE(matches(make_motif(id("i"), id("lost"), id("job")), v.data(), u));
  EXPECT_FALSE(matches(make_motif(id("job"), id("lost")), v.data(), u));
  EXPECT_FALSE(matches(make_motif(id("lost"), id("lost")), v.data(), u));
  auto w = ids_of("lost lost");
  EXPECT_TRUE(matches(make_motif(id("lost"), id("lost")), w.data(), text::unigram_count(w.size())));
  EXPECT_FALSE(matches(make_motif(id("lost"), id("job"), id("my")), v.data(), u));
}

TEST(ExploreUnit, TopCountsHandChecked) {
  // d0: a b c   d1: a c b a   d2: b a
  std::vector<std::string> docs = {"a b c", "a c b a", "b a"};
  std::vector<uint64_t> off = {0};
  std::vector<uint32_t> all;
  for (auto& d : docs) {
    auto v = ids_of(d);
    all.insert(all.end(), v.begin(), v.end());
    off.push_back(all.size());
  }
  ExploreOptions o;
  o.min_count = 1;
  auto c = count_top_motifs(off, all, o);
  std::map<std::vector<uint32_t>, uint64_t> got;
  for (auto& s : c) {
    std::vector<uint32_t> k(s.motif.ids.begin(), s.motif.ids.begin() + s.motif.size());
    got[k] = s.top_count;
  }
  const uint32_t a = id("a"), b = id("b"), cc = id("c");
  using V = std::vector<uint32_t>;
  auto cnt = [&](V k) { return got[k]; };
  // Documents: (a,b): d0, d1 → 2; (b,a): d1, d2 → 2; (a,c): d0, d1; (c,a): d1; (b,c): d0; (c,b): d1
  EXPECT_EQ(cnt({a, b}), 2u);
  EXPECT_EQ(cnt({b, a}), 2u);
  EXPECT_EQ(cnt({a, cc}), 2u);
  EXPECT_EQ(cnt({cc, a}), 1u);
  EXPECT_EQ(cnt({b, cc}), 1u);
  EXPECT_EQ(cnt({cc, b}), 1u);
  EXPECT_EQ(cnt({a, b, cc}), 1u);  // d0
  EXPECT_EQ(cnt({a, cc, b}), 1u);  // d1
  EXPECT_EQ(cnt({cc, b, a}), 1u);  // d1
  EXPECT_EQ(got.count(V{a, b, a}), 0u);  // repeated token: never a motif

  // Occurrences: d1 = a c b a gives (a,b) once, (c,a) once, (b,a) once, (a,a) excluded.
  o.occurrences = true;
  o.min_count = 2;
  auto occ = count_top_motifs(off, all, o);
  std::set<std::vector<uint32_t>> twice;
  for (auto& s : occ) twice.insert({s.motif.ids.begin(), s.motif.ids.begin() + s.motif.size()});
  EXPECT_EQ(twice, (std::set<std::vector<uint32_t>>{{a, b}, {b, a}, {a, cc}}));
  // Exclusion and sizes.
  o.occurrences = false;
  o.min_count = 1;
  o.sizes = {3};
  o.exclude = {make_motif(a, b, cc)};
  auto three = count_top_motifs(off, all, o);
  EXPECT_EQ(three.size(), 2u);
  for (auto& s : three) EXPECT_EQ(s.motif.size(), 3);
}

TEST(ExploreUnit, SelectGreedyDisjointByLift) {
  auto st = [](Motif m, uint64_t top, uint64_t pool) {
    MotifStat s;
    s.motif = m;
    s.top_count = top;
    s.pool_count = pool;
    return s;
  };
  // n_top 100, n_pool 10000: lift = (top/100) / (pool/10000) = 100 · top / pool.
  std::vector<MotifStat> c = {
      st(make_motif(1, 2), 10, 20),        // lift 50
      st(make_motif(2, 3), 10, 10),        // lift 100 (best)
      st(make_motif(4, 5), 5, 50),         // lift 10
      st(make_motif(1, 6), 20, 200),       // lift 10, more top → before (4,5)
      st(make_motif(7, 8), 4, 1),          // lift 400 but top count 4 < min_count 5
      st(make_motif(9, 10), 50, 8),        // pool 8 < min_pool_count 10
      st(make_motif(11, 12), 6, 100000),   // lift 0.006 < 1
      st(make_motif(1, 2, 6), 10, 10),     // size 3, lift 100
      st(make_motif(3, 4, 5), 9, 10),      // size 3, lift 90, disjoint from (1,2,6)
      st(make_motif(6, 13, 14), 9, 9),     // size 3, lift 100, ties with (1,2,6) on lift; fewer top
  };
  ExploreOptions o;
  o.min_count = 5;
  o.min_pool_count = 10;
  o.max_motifs = 5;
  auto ch = select_motifs(c, 100, 10000, o);
  std::vector<Motif> got;
  for (auto& s : ch) got.push_back(s.motif);
  // size 2: (2,3) 100; (1,2) shares 2 → skip; (1,6) 10 (top 20); (4,5) 10. size 3: (1,2,6) 100;
  // (6,13,14) shares 6; (3,4,5) 90.
  EXPECT_EQ(got, (std::vector<Motif>{make_motif(2, 3), make_motif(1, 6), make_motif(4, 5), make_motif(1, 2, 6),
                                      make_motif(3, 4, 5)}));
  EXPECT_DOUBLE_EQ(ch[0].lift, 100.0);
  EXPECT_DOUBLE_EQ(c[4].lift, 400.0);
  o.max_motifs = 1;
  EXPECT_EQ(select_motifs(c, 100, 10000, o).size(), 2u);
  o.max_motifs = 5;
  o.sizes = {3};
  EXPECT_EQ(select_motifs(c, 100, 10000, o).size(), 2u);
  o.sizes = {2, 3};
  o.exclude = {make_motif(2, 3)};
  EXPECT_EQ(select_motifs(c, 100, 10000, o)[0].motif, make_motif(1, 2));
}

// ---- over a pool of shards ----------------------------------------------------------------------


TEST(ExplorePool, EqualsBruteForce) {
  test::TempDir dir("explore");
  auto comm = mpi::Comm::world();
  auto docs = make_docs(3, 150, 5);
  if (comm.root()) write_pool(dir.path(), docs);
  comm.barrier();
  auto p = pool::open_pool(comm, dir.path());
  // Top set: the theme documents plus a few others; exclusions: some labelled items.
  std::vector<uint64_t> top, excl;
  std::vector<Doc> top_docs;
  for (size_t i = 0; i < docs.size(); ++i) {
    bool theme = docs[i].text.find("lost") != std::string::npos && docs[i].text.find("job") != std::string::npos;
    if (theme || i % 17 == 0) top.push_back(docs[i].uid), top_docs.push_back(docs[i]);
    else if (i % 5 == 0) excl.push_back(docs[i].uid);
  }
  for (bool occ : {false, true}) {
    ExploreOptions o;
    o.occurrences = occ;
    o.min_count = 3;
    o.min_pool_count = 2;
    o.max_motifs = 3;
    o.per_motif = 4;
    o.seed = 9;
    o.round = 2;
    o.block_rows = 37;
    auto res = trawl::explore::explore(comm, p, top, excl, o);
    auto tc = brute_counts(top_docs, occ), pc = brute_counts(docs, occ);
    EXPECT_EQ(res.n_top, top.size());
    EXPECT_EQ(res.n_pool, docs.size());
    // Candidates: top count >= 3.
    uint64_t n_cand = 0;
    for (auto& [m, n] : tc) n_cand += n >= 3;
    EXPECT_EQ(res.candidates, n_cand);
    // The choice, recomputed.
    std::vector<MotifStat> want;
    for (int size : {2, 3}) {
      std::vector<MotifStat> ok;
      for (auto& [m, n] : tc) {
        if (m.size() != size || n < 3 || pc[m] < 2) continue;
        MotifStat s;
        s.motif = m;
        s.top_count = n;
        s.pool_count = pc[m];
        s.lift = (double(n) / double(top.size())) / (double(pc[m]) / double(docs.size()));
        if (s.lift >= 1.0) ok.push_back(s);
      }
      std::sort(ok.begin(), ok.end(), [](auto& a, auto& b) {
        return a.lift != b.lift ? a.lift > b.lift : a.top_count != b.top_count ? a.top_count > b.top_count : a.motif < b.motif;
      });
      std::vector<Motif> got;
      for (auto& s : ok) {
        if (got.size() == 3) break;
        bool clash = false;
        for (auto& g : got) clash |= g.shares_token(s.motif);
        if (!clash) got.push_back(s.motif), want.push_back(s);
      }
    }
    ASSERT_EQ(res.chosen.size(), want.size()) << "occurrences " << occ;
    ASSERT_GE(want.size(), 2u);
    for (size_t k = 0; k < want.size(); ++k) {
      EXPECT_EQ(res.chosen[k].motif, want[k].motif) << k;
      EXPECT_EQ(res.chosen[k].top_count, want[k].top_count) << k;
      EXPECT_EQ(res.chosen[k].pool_count, want[k].pool_count) << k;
      EXPECT_DOUBLE_EQ(res.chosen[k].lift, want[k].lift) << k;
      EXPECT_EQ(res.chosen[k].text.find('?'), std::string::npos) << res.chosen[k].text;
    }
    // Samples: matches outside top and exclusions, smallest keyed priorities.
    std::set<uint64_t> banned(excl.begin(), excl.end());
    banned.insert(top.begin(), top.end());
    ASSERT_EQ(res.samples.size(), want.size());
    for (size_t k = 0; k < want.size(); ++k) {
      std::vector<std::pair<uint64_t, uint64_t>> all;
      for (auto& d : docs) {
        if (banned.count(d.uid)) continue;
        auto t = brute_tokens(d.text, false);
        int at = 0;
        for (auto x : t)
          if (at < want[k].motif.size() && x == want[k].motif.ids[size_t(at)]) ++at;
        if (at == want[k].motif.size()) all.emplace_back(key(9, 2, motif_key(want[k].motif), d.uid), d.uid);
      }
      std::sort(all.begin(), all.end());
      if (all.size() > 4) all.resize(4);
      ASSERT_EQ(res.samples[k].size(), all.size()) << k;
      for (size_t i = 0; i < all.size(); ++i) EXPECT_EQ(res.samples[k][i].uid, all[i].second);
    }
  }
}

TEST(ExplorePool, MotifTextFromTopSet) {
  auto s = token_strings({"Lost my JOB", "café #jobs"});
  EXPECT_EQ(motif_text(make_motif(id("lost"), id("job")), s), "lost job");
  EXPECT_EQ(motif_text(make_motif(id("café"), id("#jobs"), id("my")), s), "café #jobs my");
  EXPECT_EQ(motif_text(make_motif(id("lost"), 7), s), "lost ?00000007");
}

}  // namespace
