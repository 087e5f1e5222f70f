// trawl-libs: trawl_stage_select
// trawl-select's stage on small files written here (scores files as trawl-score writes them,
// a pool of shards, labels, top-<class>.tsv): labelled items never selected, ties by uid, the
// queue's columns; per-shard directories equal one file; badge/kmeans as the pure functions;
// exploit-explore's split and sources; bad input (no features, NaN, unknown strategy, empty
// subpool) and the binary's exit codes.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <set>
#include <sstream>

#include "core/error.h"
#include "core/fs.h"
#include "core/rng.h"
#include "io/h5.h"
#include "io/shard.h"
#include "mpi/comm.h"
#include "stages/select_stage.h"
#include "strategy/strategy.h"
#include "support/explore_fixture.h"
#include "support/testutil.h"
#include "text/tokenize.h"

using namespace trawl;
using namespace trawl::stages;
namespace h5 = trawl::io::h5;
using strategy::RowMatrixXf;

namespace {

void write_scores(const std::string& path, const std::vector<uint64_t>& uid, const std::vector<float>& probs,
                  const std::vector<std::string>& classes, const std::vector<float>* feats = nullptr, int F = 0) {
  auto f = h5::File::create(path);
  h5::set_format(f, "scores", 1);
  std::string cl;
  for (auto& c : classes) cl += (cl.empty() ? "" : "\n") + c;
  f.set_attr("classes", cl);
  auto u = h5::Dataset::create(f, "uid", h5::Type::kU64, 64);
  if (!uid.empty()) u.append(uid);
  auto p = h5::Dataset::create(f, "probs", h5::Type::kF32, 64, classes.size());
  if (!uid.empty()) p.append(probs);
  if (feats) {
    auto h = h5::Dataset::create(f, "features", h5::Type::kF32, 64, uint64_t(F));
    if (!uid.empty()) h.append(*feats);
  }
  f.close();
}

using trawl::test::explore_fixture::Doc;

struct Queue {
  std::vector<std::string> comments;
  std::string header;
  std::vector<std::vector<std::string>> rows;
  std::vector<uint64_t> uids() const {
    std::vector<uint64_t> v;
    for (auto& r : rows) v.push_back(std::stoull(r[0]));
    return v;
  }
};
Queue read_queue(const std::string& path) {
  Queue q;
  std::stringstream ss(test::read_file(path));
  for (std::string line; std::getline(ss, line);) {
    if (line.rfind("#", 0) == 0) {
      q.comments.push_back(line);
    } else if (q.header.empty()) {
      q.header = line;
    } else {
      std::vector<std::string> f;
      std::stringstream ls(line);
      for (std::string x; std::getline(ls, x, '\t');) f.push_back(x);
      if (!line.empty() && line.back() == '\t') f.push_back("");
      q.rows.push_back(f);
    }
  }
  return q;
}

const char* kHeader = "uid\tid\ttext\tclass\tscore\trank\tsource\tround";

TEST(SelectStage, LeastConfidenceLabelledExcludedTiesByUidColumns) {
  test::TempDir dir("select");
  auto comm = mpi::Comm::world();
  // 8 items; uncertainty (1 - max p): uid 7: .5, uid 3: .5, uid 5: .45, uid 1: .45, uid 2: .4 ...
  std::vector<uint64_t> uid = {7, 3, 5, 1, 2, 4, 6, 8};
  std::vector<float> p = {0.5f, 0.5f, 0.5f, 0.5f, 0.55f, 0.45f, 0.45f, 0.55f,
                          0.6f, 0.4f, 0.9f, 0.1f, 0.8f, 0.2f, 0.99f, 0.01f};
  write_scores(dir / "subpool.scores.h5", uid, p, {"neg", "pos"});
  std::vector<Doc> docs;
  for (uint64_t u = 1; u <= 8; ++u) docs.push_back({u, cat("text\tof ", u, "\nline two \\ end")});
  trawl::test::explore_fixture::write_pool(dir / "pool", docs, "id-");  // ids "id-<uid>"
  test::write_file(dir / "labels.tsv", "uid\tlabel\n3\tpos\n2\tneg\n");
  SelectOptions o;
  o.scores = dir / "subpool.scores.h5";
  o.pool = dir / "pool";
  o.labels = dir / "labels.tsv";
  o.output = dir / "round3";
  o.round = 3;
  o.batch_size = 3;
  o.config = "strategy = least-confidence\nbatch-size = 3";
  auto s = run_select(comm, o);
  // uid 3 labelled: 7 (.5), then 1 and 5 tie at .45 → uid 1 first.
  auto q = read_queue(dir / "round3/queue.tsv");
  EXPECT_EQ(q.header, kHeader);
  ASSERT_GE(q.comments.size(), 4u);
  EXPECT_EQ(q.comments[0], "# trawl-format: queue");
  EXPECT_EQ(q.comments[1], "# trawl-format-version: 1");
  EXPECT_EQ(q.comments.back(), "# config: batch-size = 3");
  ASSERT_EQ(q.rows.size(), 3u);
  EXPECT_EQ(q.uids(), (std::vector<uint64_t>{7, 1, 5}));
  for (size_t i = 0; i < 3; ++i) {
    ASSERT_EQ(q.rows[i].size(), 8u) << i;
    EXPECT_EQ(q.rows[i][1], cat("id-", q.rows[i][0]));
    EXPECT_EQ(tsv_unescape(q.rows[i][2]), cat("text\tof ", q.rows[i][0], "\nline two \\ end"));
    EXPECT_EQ(q.rows[i][3], "");
    EXPECT_EQ(q.rows[i][5], std::to_string(i + 1));
    EXPECT_EQ(q.rows[i][6], "least-confidence");
    EXPECT_EQ(q.rows[i][7], "3");
  }
  EXPECT_NEAR(std::stod(q.rows[0][4]), 0.5, 1e-7);
  EXPECT_NEAR(std::stod(q.rows[1][4]), 0.45, 1e-6);
  EXPECT_EQ(s.labelled_skipped, 2u);
  EXPECT_EQ(s.considered, 6u);
  // Without --pool: the same items, empty id/text.
  o.pool.clear();
  o.output = dir / "nopool";
  run_select(comm, o);
  auto q2 = read_queue(dir / "nopool/queue.tsv");
  EXPECT_EQ(q2.uids(), (std::vector<uint64_t>{7, 1, 5}));
  EXPECT_EQ(q2.rows[0][1], "");
}

/// n items over 3 chunks, probabilities with ties, features.
struct Data {
  std::vector<uint64_t> uid;
  std::vector<float> p, h;
  int C = 3, F = 4;
};
Data make_data(int n, uint64_t seed) {
  Data d;
  Rng r(seed);
  for (int i = 0; i < n; ++i) {
    d.uid.push_back(io::make_uid(uint64_t(i % 3), uint64_t(i)));
    double e[3], s = 0;
    for (double& x : e) s += x = std::exp(r.normal());
    if (i % 11 == 5) e[0] = e[1] = e[2] = 1, s = 3;  // exact ties
    for (double x : e) d.p.push_back(float(x / s));
    for (int f = 0; f < d.F; ++f) d.h.push_back(float(r.normal()));
  }
  return d;
}

TEST(SelectStage, PerShardDirectoryEqualsOneFileAndThePureFunctions) {
  test::TempDir dir("select-dir");
  auto comm = mpi::Comm::world();
  Data d = make_data(300, 4);
  const std::vector<std::string> classes = {"a", "b", "c"};
  write_scores(dir / "one.scores.h5", d.uid, d.p, classes, &d.h, d.F);
  make_dirs(dir / "shards");
  for (uint64_t c = 0; c < 3; ++c) {
    Data e;
    for (size_t i = 0; i < d.uid.size(); ++i)
      if ((d.uid[i] >> 40) == c) {
        e.uid.push_back(d.uid[i]);
        e.p.insert(e.p.end(), d.p.begin() + long(i) * 3, d.p.begin() + long(i + 1) * 3);
        e.h.insert(e.h.end(), d.h.begin() + long(i) * 4, d.h.begin() + long(i + 1) * 4);
      }
    write_scores(dir / cat("shards/shard-00000", c, ".scores.h5"), e.uid, e.p, classes, &e.h, d.F);
  }
  std::string labels = "uid\tlabel\n";
  std::vector<uint64_t> U;
  std::vector<float> P, H;
  for (size_t i = 0; i < d.uid.size(); ++i) {
    if (i % 7 == 0) {
      labels += cat(d.uid[i], "\ta\n");
      continue;
    }
    U.push_back(d.uid[i]);
    P.insert(P.end(), d.p.begin() + long(i) * 3, d.p.begin() + long(i + 1) * 3);
    H.insert(H.end(), d.h.begin() + long(i) * 4, d.h.begin() + long(i + 1) * 4);
  }
  test::write_file(dir / "labels.tsv", labels);
  Eigen::Map<const RowMatrixXf> Pm(P.data(), long(U.size()), 3), Hm(H.data(), long(U.size()), 4);
  strategy::Context ctx{8, 2};
  const size_t b = 12;
  auto expect_of = [&](const std::string& s, const std::string& mode) -> std::vector<size_t> {
    if (s == "least-confidence") return strategy::top_uncertain(Pm, U, strategy::Uncertainty::kLeastConfidence, b);
    if (s == "margin") return strategy::top_uncertain(Pm, U, strategy::Uncertainty::kMargin, b);
    if (s == "entropy") return strategy::top_uncertain(Pm, U, strategy::Uncertainty::kEntropy, b);
    if (s == "random") return strategy::random(U, b, ctx);
    if (s == "badge") return strategy::badge(Pm, Hm, U, b, ctx);
    if (s == "kmeans") return strategy::kmeans_diversity(Hm, U, b, ctx, 7);
    if (mode == "split") return strategy::split_around_threshold(Pm, U, 1, 0.3, b);
    return strategy::top_around_threshold(Pm, U, 1, 0.3, b);
  };
  for (std::string s : {"least-confidence", "margin", "entropy", "random", "threshold", "threshold-nearest", "badge",
                        "kmeans"}) {
    SelectOptions o;
    o.strategy = s == "threshold-nearest" ? "threshold" : s;
    o.threshold_mode = s == "threshold-nearest" ? "nearest" : "split";
    o.classes = {"b"};
    o.threshold = 0.3;
    o.batch_size = b;
    o.seed = 8;
    o.round = 2;
    o.kmeans_iterations = 7;
    o.block_rows = 7;  // many blocks: candidates are merged and reduced
    o.labels = dir / "labels.tsv";
    o.scores = dir / "one.scores.h5";
    o.output = dir / ("one-" + s);
    auto one = run_select(comm, o);
    o.scores = dir / "shards";
    o.output = dir / ("dir-" + s);
    auto many = run_select(comm, o);
    auto q1 = read_queue(dir / ("one-" + s + "/queue.tsv")), q2 = read_queue(dir / ("dir-" + s + "/queue.tsv"));
    std::vector<uint64_t> want;
    for (size_t i : expect_of(o.strategy, o.threshold_mode)) want.push_back(U[i]);
    EXPECT_EQ(q1.uids(), want) << s;
    EXPECT_EQ(q2.uids(), want) << s;
    ASSERT_EQ(q1.rows.size(), q2.rows.size());
    for (size_t i = 0; i < q1.rows.size(); ++i) {
      EXPECT_EQ(q1.rows[i][4], q2.rows[i][4]) << s;  // same score
      EXPECT_EQ(q1.rows[i][6], o.strategy);
      EXPECT_EQ(q1.rows[i][3], o.strategy == "threshold" ? "b" : "");
    }
    EXPECT_EQ(one.considered, U.size());
    EXPECT_EQ(many.labelled_skipped, d.uid.size() - U.size());
  }
}

TEST(SelectStage, BadInput) {
  test::TempDir dir("select-bad");
  auto comm = mpi::Comm::world();
  write_scores(dir / "s.h5", {1, 2, 3}, {0.2f, 0.8f, 0.5f, 0.5f, 0.1f, 0.9f}, {"x", "y"});
  SelectOptions o;
  o.scores = dir / "s.h5";
  o.output = dir / "out";
  // BADGE / kmeans without features.
  for (std::string s : {"badge", "kmeans"}) {
    o.strategy = s;
    try {
      run_select(comm, o);
      ADD_FAILURE() << s << " without features accepted";
    } catch (const InputError& e) {
      EXPECT_NE(std::string(e.what()).find("rerun trawl-score with --features"), std::string::npos) << e.what();
    }
  }
  EXPECT_FALSE(path_exists(dir / "out/queue.tsv"));
  o.strategy = "uncertain";
  EXPECT_THROW(run_select(comm, o), UsageError);
  o.strategy = "threshold";
  EXPECT_THROW(run_select(comm, o), UsageError);  // no --class
  o.classes = {"nope"};
  EXPECT_THROW(run_select(comm, o), UsageError);
  o.strategy = "exploit-explore";
  EXPECT_THROW(run_select(comm, o), UsageError);  // no --pool
  // NaN and out-of-range probabilities.
  write_scores(dir / "nan.h5", {1, 2, 3}, {0.2f, 0.8f, std::nanf(""), 0.5f, 0.1f, 0.9f}, {"x", "y"});
  o = SelectOptions();
  o.scores = dir / "nan.h5";
  o.output = dir / "out";
  try {
    run_select(comm, o);
    ADD_FAILURE() << "NaN accepted";
  } catch (const InputError& e) {
    std::string w = e.what();
    EXPECT_NE(w.find("nan.h5"), std::string::npos) << w;
    EXPECT_NE(w.find("'probs'"), std::string::npos) << w;
    EXPECT_NE(w.find("uid 2"), std::string::npos) << w;
  }
  write_scores(dir / "big.h5", {1}, {1.5f, -0.5f}, {"x", "y"});
  o.scores = dir / "big.h5";
  EXPECT_THROW(run_select(comm, o), InputError);
  // Foreign file, missing file, classes that do not match the columns.
  test::write_file(dir / "text.h5", "not hdf5");
  o.scores = dir / "text.h5";
  EXPECT_THROW(run_select(comm, o), InputError);
  o.scores = dir / "missing.h5";
  EXPECT_THROW(run_select(comm, o), IoError);
  write_scores(dir / "cls.h5", {1}, {0.5f, 0.5f}, {"x", "y"});
  {
    auto f = h5::File::open(dir / "cls.h5", h5::File::kReadWrite);
    f.set_attr("classes", std::string("x"));
  }
  o.scores = dir / "cls.h5";
  EXPECT_THROW(run_select(comm, o), InputError);
  EXPECT_FALSE(path_exists(dir / "out/queue.tsv"));
}

TEST(SelectStage, EmptySubpoolGivesEmptyQueue) {
  test::TempDir dir("select-empty");
  auto comm = mpi::Comm::world();
  write_scores(dir / "s.h5", {1, 2}, {0.2f, 0.8f, 0.5f, 0.5f}, {"x", "y"});
  test::write_file(dir / "labels.tsv", "uid\tlabel\n1\tx\n2\ty\n");
  write_scores(dir / "zero.h5", {}, {}, {"x", "y"});
  for (std::string s : {"entropy", "random", "badge"}) {
    SelectOptions o;
    o.strategy = s;
    o.scores = dir / (s == "badge" ? "zero.h5" : "s.h5");
    if (s == "badge") {
      std::vector<float> h;
      write_scores(dir / "zero.h5", {}, {}, {"x", "y"}, &h, 3);
    }
    o.labels = dir / "labels.tsv";
    o.output = dir / s;
    auto r = run_select(comm, o);
    EXPECT_TRUE(r.queue.empty());
    auto q = read_queue(dir / (s + "/queue.tsv"));
    EXPECT_EQ(q.header, kHeader);
    EXPECT_TRUE(q.rows.empty());
  }
}

TEST(SelectStage, ExploitExplore) {
  test::TempDir dir("select-ee");
  auto comm = mpi::Comm::world();
  // A pool where the class's top documents share "lost ... job" far more than the rest; other
  // words come from a large vocabulary, so no other motif reaches the top count of 5.
  Rng r(31);
  std::vector<Doc> docs;
  for (uint64_t c = 0; c < 2; ++c)
    for (uint64_t i = 0; i < 400; ++i) {
      std::string t;
      const bool theme = i % 5 == 0;
      for (int k = 0; k < 6; ++k) {
        if (theme && k == 1) t += "lost ";
        t += cat("w", r.below(5000), " ");
        if (theme && k == 4) t += "job ";
      }
      docs.push_back({io::make_uid(c, i), t});
    }
  trawl::test::explore_fixture::write_pool(dir / "pool", docs, "id-");  // ids "id-<uid>"
  // top-pos.tsv: 100 rows, most with the theme; scores descending. Labelled: two of them.
  std::string top = "rank\tuid\tid\tscore\ttext\n";
  std::vector<uint64_t> top_uids;
  int rank = 0;
  for (auto& d : docs) {
    const bool theme = d.text.find("lost") != std::string::npos;
    if ((theme && (d.uid & 1) == 0) || (d.uid % 37 == 0)) {
      if (top_uids.size() == 100) break;
      top_uids.push_back(d.uid);
      ++rank;
      top += cat(rank, "\t", d.uid, "\tid\t", 1.0 - 0.001 * rank, "\t", d.text, "\n");
    }
  }
  make_dirs(dir / "scores");
  test::write_file(dir / "scores/top-pos.tsv", top);
  test::write_file(dir / "labels.tsv", cat("uid\tlabel\n", top_uids[0], "\tpos\n", top_uids[5], "\tneg\n"));
  SelectOptions o;
  o.strategy = "exploit-explore";
  o.scores = dir / "scores";
  o.pool = dir / "pool";
  o.labels = dir / "labels.tsv";
  o.output = dir / "out";
  o.batch_size = 10;
  o.top_size = 60;
  o.round = 1;
  o.explore.min_count = 5;
  o.explore.min_pool_count = 2;
  auto s = run_select(comm, o);
  auto q = read_queue(dir / "out/queue.tsv");
  ASSERT_EQ(q.rows.size(), 10u);
  std::set<uint64_t> topset(top_uids.begin() + 0, top_uids.begin() + 62), uids;
  size_t n_exploit = 0, n_explore = 0;
  bool lost_job = false;
  for (auto& row : q.rows) {
    const uint64_t u = std::stoull(row[0]);
    EXPECT_TRUE(uids.insert(u).second) << "repeated " << u;
    EXPECT_NE(u, top_uids[0]);
    EXPECT_NE(u, top_uids[5]);
    EXPECT_EQ(row[3], "pos");
    if (row[6] == "exploit") {
      ++n_exploit;
      EXPECT_TRUE(topset.count(u)) << u;
    } else {
      ASSERT_EQ(row[6].rfind("explore:", 0), 0u) << row[6];
      ++n_explore;
      EXPECT_FALSE(topset.count(u)) << u;  // the top set is excluded from exploration
      lost_job |= row[6] == "explore:lost job";
      EXPECT_GE(std::stod(row[4]), 1.0);  // the motif's lift
    }
  }
  EXPECT_EQ(n_exploit, 5u);
  EXPECT_EQ(n_explore, 5u);
  EXPECT_TRUE(lost_job);
  ASSERT_FALSE(s.motifs.empty());
  EXPECT_EQ(s.motifs[0].text, "lost job");
  EXPECT_EQ(s.motifs[0].queued, 5u);
  EXPECT_EQ(s.motifs[0].n_pool, docs.size());
  EXPECT_EQ(s.motifs[0].n_top, 60u);
  // motifs.tsv lists it; as the next round's exclusion list it removes the motif.
  auto mt = test::read_file(dir / "out/motifs.tsv");
  EXPECT_EQ(mt.rfind("class\tmotif\tsize\ttop_count\tn_top\tpool_count\tn_pool\tlift\tqueued\tcount\n", 0), 0u) << mt;
  EXPECT_NE(mt.find("pos\tlost job\t2\t"), std::string::npos) << mt;
  // Class names with characters trawl-score replaces in file names: found through the scores
  // file beside the lists (no --class).
  make_dirs(dir / "scores2");
  test::write_file(dir / "scores2/top-pos_class.tsv", top);
  write_scores(dir / "scores2/subpool.scores.h5", {1}, {0.5f, 0.5f}, {"neg", "pos class"});
  {
    SelectOptions o2 = o;
    o2.scores = dir / "scores2";
    o2.output = dir / "out2";
    auto s2 = run_select(comm, o2);
    ASSERT_EQ(s2.queue.size(), 10u);
    for (auto& row : s2.queue) EXPECT_EQ(row.cls, "pos class");
    // Exploration does not depend on the class name (the exploitation sample is keyed by it).
    for (size_t i = 5; i < 10; ++i) EXPECT_EQ(s2.queue[i].uid, s.queue[i].uid);
  }
  // All exploration: the whole batch from motifs; none: the whole batch from the top set.
  o.explore_fraction = 0;
  o.output = dir / "out0";
  auto s0 = run_select(comm, o);
  for (auto& row : s0.queue) EXPECT_EQ(row.source, "exploit");
  EXPECT_EQ(s0.queue.size(), 10u);
  // A motif exclusion list removes "lost job" (a plain list, or the previous motifs.tsv).
  test::write_file(dir / "exclude.txt", "# seed n-grams\nlost job\n");
  o.explore_fraction = 0.5;
  for (std::string ex : {dir / "exclude.txt", dir / "out/motifs.tsv"}) {
    o.exclude_motifs = ex;
    o.output = dir / "out1";
    auto s1 = run_select(comm, o);
    for (auto& row : s1.queue) EXPECT_NE(row.source, "explore:lost job");
    for (auto& m : s1.motifs) EXPECT_NE(m.text, "lost job");
  }
}

TEST(SelectStage, BinaryExitCodes) {
  test::TempDir dir("select-bin");
  const std::string bin = test::bin_dir() + "/trawl-select";
  if (!path_exists(bin)) FAIL() << bin << " not built";
  if (mpi::Comm::world().rank() != 0) return;
  write_scores(dir / "s.h5", {1, 2}, {0.2f, 0.8f, 0.5f, 0.5f}, {"x", "y"});
  std::string out;
  EXPECT_EQ(test::run(bin + " --scores " + dir / "s.h5" + " -o " + dir / "o --strategy nope", &out), 2) << out;
  EXPECT_NE(out.find("nope"), std::string::npos) << out;
  EXPECT_EQ(test::run(bin + " --scores " + dir / "s.h5" + " -o " + dir / "o --strategy badge", &out), 3) << out;
  EXPECT_NE(out.find("--features"), std::string::npos) << out;
  EXPECT_EQ(test::run(bin + " --scores " + dir / "s.h5" + " -o " + dir / "o --strategy margin -b 1", &out), 0) << out;
  auto q = read_queue(dir / "o/queue.tsv");
  EXPECT_EQ(q.uids(), (std::vector<uint64_t>{2}));
}

}  // namespace
