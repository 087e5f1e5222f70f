// trawl-libs: trawl_explore trawl_stage_select
// Exploration under MPI (run at 1, 2, 3 and 4 ranks): the ranks split 5 shards; motif counts,
// lifts, the chosen motifs and the per-rank reservoir samples merged across ranks must equal a
// brute-force computation over all documents on one process — hence be the same at every rank
// count. Also with the keyed pool sample as the lift denominator. And trawl-select's stage over
// a directory of per-shard scores files split across the ranks: the same queue as the pure
// strategy functions over all unlabelled rows, at every rank count.
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
#include "io/h5.h"
#include "strategy/explore.h"
#include "stages/select_stage.h"
#include "strategy/strategy.h"
#include "support/testutil.h"
#include "text/tokenize.h"
#include "support/explore_fixture.h"

using namespace trawl;
using namespace trawl::explore;

namespace {

using namespace trawl::test::explore_fixture;

struct Case {
  bool occurrences;
  uint64_t pool_sample;
};

class ExploreMpi : public ::testing::TestWithParam<Case> {};

TEST_P(ExploreMpi, SameAsBruteForceAtAnyRankCount) {
  const Case cs = GetParam();
  test::TempDir dir("explore-mpi");
  auto comm = mpi::Comm::world();
  auto docs = make_docs(5, 180, 77);
  if (comm.root()) write_pool(dir.path(), docs);
  comm.barrier();
  auto p = pool::open_pool(comm, dir.path());
  std::vector<uint64_t> top, excl;
  std::vector<Doc> top_docs;
  for (size_t i = 0; i < docs.size(); ++i) {
    bool theme = docs[i].text.find("lost") != std::string::npos && docs[i].text.find("job") != std::string::npos;
    if ((theme && i % 3 != 0) || i % 23 == 0) top.push_back(docs[i].uid), top_docs.push_back(docs[i]);
    else if (i % 4 == 0) excl.push_back(docs[i].uid);
  }
  ExploreOptions o;
  o.occurrences = cs.occurrences;
  o.pool_sample = cs.pool_sample;
  o.min_count = 4;
  o.min_pool_count = 3;
  o.max_motifs = 4;
  o.per_motif = 6;
  o.seed = 1234;
  o.round = 5;
  o.block_rows = 50;
  std::reverse(top.begin(), top.end());  // any order
  auto res = trawl::explore::explore(comm, p, top, excl, o);

  const double rate = cs.pool_sample ? std::min(1.0, double(cs.pool_sample) / double(docs.size())) : 1.0;
  std::vector<Doc> sample;
  for (auto& d : docs)
    if (in_pool_sample(d.uid, rate, o.seed)) sample.push_back(d);
  if (cs.pool_sample) {
    EXPECT_LT(sample.size(), docs.size());
    EXPECT_GT(sample.size(), 0u);
  }
  auto tc = brute_counts(top_docs, cs.occurrences), pc = brute_counts(sample, cs.occurrences);
  EXPECT_EQ(res.n_top, top.size());
  EXPECT_EQ(res.n_pool, sample.size());
  std::vector<MotifStat> want;
  for (int size : {2, 3}) {
    std::vector<MotifStat> ok;
    for (auto& [m, n] : tc) {
      if (m.size() != size || n < o.min_count || pc[m] < o.min_pool_count) continue;
      MotifStat s;
      s.motif = m;
      s.top_count = n;
      s.pool_count = pc[m];
      s.lift = (double(n) / double(top.size())) / (double(pc[m]) / double(sample.size()));
      if (s.lift >= 1.0) ok.push_back(s);
    }
    std::sort(ok.begin(), ok.end(), [](auto& a, auto& b) {
      return a.lift != b.lift ? a.lift > b.lift : a.top_count != b.top_count ? a.top_count > b.top_count : a.motif < b.motif;
    });
    std::vector<Motif> got;
    for (auto& s : ok) {
      if (int(got.size()) == o.max_motifs) break;
      bool clash = false;
      for (auto& g : got) clash |= g.shares_token(s.motif);
      if (!clash) got.push_back(s.motif), want.push_back(s);
    }
  }
  ASSERT_GE(want.size(), 3u);
  ASSERT_EQ(res.chosen.size(), want.size());
  std::set<uint64_t> banned(excl.begin(), excl.end());
  banned.insert(top.begin(), top.end());
  for (size_t k = 0; k < want.size(); ++k) {
    EXPECT_EQ(res.chosen[k].motif, want[k].motif) << k;
    EXPECT_EQ(res.chosen[k].top_count, want[k].top_count) << k;
    EXPECT_EQ(res.chosen[k].pool_count, want[k].pool_count) << k;
    EXPECT_DOUBLE_EQ(res.chosen[k].lift, want[k].lift) << k;
    // The sample: over the WHOLE pool (not the pool sample), exclusions applied.
    std::vector<std::pair<uint64_t, uint64_t>> all;
    for (auto& d : docs) {
      if (banned.count(d.uid)) continue;
      auto t = brute_tokens(d.text, false);
      int at = 0;
      for (auto x : t)
        if (at < want[k].motif.size() && x == want[k].motif.ids[size_t(at)]) ++at;
      if (at == want[k].motif.size()) all.emplace_back(key(o.seed, o.round, motif_key(want[k].motif), d.uid), d.uid);
    }
    std::sort(all.begin(), all.end());
    if (all.size() > o.per_motif) all.resize(o.per_motif);
    ASSERT_EQ(res.samples[k].size(), all.size()) << k;
    for (size_t i = 0; i < all.size(); ++i) {
      EXPECT_EQ(res.samples[k][i].uid, all[i].second) << k << " " << i;
      EXPECT_EQ(res.samples[k][i].priority, all[i].first);
    }
  }
}

TEST(SelectStageMpi, PerShardScoresSplitOverRanks) {
  namespace h5 = trawl::io::h5;
  using strategy::RowMatrixXf;
  test::TempDir dir("select-mpi");
  auto comm = mpi::Comm::world();
  const int C = 2, F = 3, files = 5, per = 60;
  Rng r(42);
  std::vector<uint64_t> U;  // unlabelled, in file order
  std::vector<float> P, H;
  std::string labels = "uid\tlabel\n";
  for (int fi = 0; fi < files; ++fi) {
    std::vector<uint64_t> uid;
    std::vector<float> p, h;
    for (int i = 0; i < per; ++i) {
      const uint64_t u = io::make_uid(uint64_t(fi), uint64_t(i));
      const float q = i % 9 == 4 ? 0.5f : float(1.0 / (1.0 + std::exp(-2.0 * r.normal())));
      uid.push_back(u);
      p.push_back(1 - q);
      p.push_back(q);
      for (int f = 0; f < F; ++f) h.push_back(float(r.normal()));
      if (i % 6 == 1) {
        labels += cat(u, "\tpos\n");
      } else {
        U.push_back(u);
        P.insert(P.end(), p.end() - 2, p.end());
        H.insert(H.end(), h.end() - F, h.end());
      }
    }
    if (comm.root()) {
      auto f = h5::File::create(dir / cat("shard-00000", fi, ".scores.h5"));
      h5::set_format(f, "scores", 1);
      f.set_attr("classes", std::string("neg\npos"));
      h5::Dataset::create(f, "uid", h5::Type::kU64, 16).append(uid);
      h5::Dataset::create(f, "probs", h5::Type::kF32, 16, C).append(p);
      h5::Dataset::create(f, "features", h5::Type::kF32, 16, F).append(h);
      f.close();
    }
  }
  if (comm.root()) test::write_file(dir / "labels.tsv", labels);
  comm.barrier();
  Eigen::Map<const RowMatrixXf> Pm(P.data(), long(U.size()), C), Hm(H.data(), long(U.size()), F);
  strategy::Context ctx{3, 4};
  const size_t b = 15;
  for (std::string s : {"least-confidence", "entropy", "random", "threshold", "badge", "kmeans"}) {
    stages::SelectOptions o;
    o.strategy = s;
    o.scores = dir.path();
    o.labels = dir / "labels.tsv";
    o.output = dir / s;
    o.batch_size = b;
    o.seed = 3;
    o.round = 4;
    o.classes = {"pos"};
    o.threshold = 0.6;
    o.block_rows = 11;
    auto res = stages::run_select(comm, o);
    std::vector<size_t> want;
    if (s == "least-confidence") want = strategy::top_uncertain(Pm, U, strategy::Uncertainty::kLeastConfidence, b);
    if (s == "entropy") want = strategy::top_uncertain(Pm, U, strategy::Uncertainty::kEntropy, b);
    if (s == "random") want = strategy::random(U, b, ctx);
    if (s == "threshold") want = strategy::split_around_threshold(Pm, U, 1, 0.6, b);
    if (s == "badge") want = strategy::badge(Pm, Hm, U, b, ctx);
    if (s == "kmeans") want = strategy::kmeans_diversity(Hm, U, b, ctx, 20);
    ASSERT_EQ(res.queue.size(), want.size()) << s;
    for (size_t k = 0; k < want.size(); ++k) EXPECT_EQ(res.queue[k].uid, U[want[k]]) << s << " " << k;
    EXPECT_EQ(res.considered, U.size());
    EXPECT_EQ(res.labelled_skipped, uint64_t(files * per) - U.size());
    if (comm.root()) {
      EXPECT_TRUE(path_exists(dir / (s + "/queue.tsv")));
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Counts, ExploreMpi,
                         ::testing::Values(Case{false, 0}, Case{true, 0}, Case{false, 500}));

}  // namespace
