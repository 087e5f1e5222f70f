// trawl-libs: trawl_stage_select
// trawl-select --strategy activelab: the annotations long table (uid, annotator, label) and the
// labelled items' scores file against strategy::activelab on the same numbers; relabel and new
// items mixed in one queue, lowest score first; the only-unlabelled and single-label scores by
// hand; row order of the table irrelevant; bad input names file, line and value and leaves no
// queue behind.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <sstream>

#include "core/error.h"
#include "core/fs.h"
#include "core/rng.h"
#include "io/h5.h"
#include "mpi/comm.h"
#include "strategy/activelab.h"
#include "stages/select_stage.h"
#include "support/testutil.h"

using namespace trawl;
using namespace trawl::stages;
namespace h5 = trawl::io::h5;
namespace al = trawl::strategy::activelab;

namespace {

void write_scores(const std::string& path, const std::vector<uint64_t>& uid, const std::vector<float>& probs,
                  const std::vector<std::string>& classes) {
  auto f = h5::File::create(path);
  h5::set_format(f, "scores", 1);
  std::string cl;
  for (auto& c : classes) cl += (cl.empty() ? "" : "\n") + c;
  f.set_attr("classes", cl);
  auto u = h5::Dataset::create(f, "uid", h5::Type::kU64, 64);
  if (!uid.empty()) u.append(uid);
  auto p = h5::Dataset::create(f, "probs", h5::Type::kF32, 64, classes.size());
  if (!uid.empty()) p.append(probs);
  f.close();
}

struct Row {
  uint64_t uid;
  double score;
  std::string source;
};
std::vector<Row> read_queue(const std::string& path) {
  std::vector<Row> q;
  std::stringstream ss(test::read_file(path));
  bool header = false;
  for (std::string line; std::getline(ss, line);) {
    if (line.rfind("#", 0) == 0) continue;
    if (!header) {
      EXPECT_EQ(line, "uid\tid\ttext\tclass\tscore\trank\tsource\tround");
      header = true;
      continue;
    }
    std::vector<std::string> f;
    std::stringstream ls(line);
    for (std::string x; std::getline(ls, x, '\t');) f.push_back(x);
    EXPECT_EQ(f.size(), 8u) << line;
    q.push_back(Row{std::stoull(f[0]), std::stod(f[4]), f[6]});
  }
  return q;
}

const std::vector<std::string> kClasses = {"a", "b", "c"};

// Labelled uids 10..21 (some with two or three labels), candidates 100..139 plus two labelled uids.
struct Fixture {
  test::TempDir dir{"select-al"};
  std::vector<uint64_t> lab_uid, cand_uid;
  std::vector<float> lab_p, cand_p;
  std::vector<std::string> table;  // rows "uid\tannotator\tlabel"
  Fixture() {
    Rng r(5);
    auto row = [&](std::vector<float>& v, int truth) {
      double e[3], z = 0;
      for (int k = 0; k < 3; ++k) z += e[k] = std::exp(r.normal() + (k == truth ? 1.0 : 0.0));
      for (int k = 0; k < 3; ++k) v.push_back(float(e[k] / z));
    };
    const char* ann[] = {"alice", "bob", "carol", "dan"};
    for (uint64_t u = 10; u < 22; ++u) {
      lab_uid.push_back(u);
      const int truth = int(u % 3);
      row(lab_p, truth);
      const int n = u % 4 == 0 ? 3 : u % 4 == 1 ? 2 : 1;
      for (int t = 0; t < n; ++t) {
        const int lab = r.uniform() < 0.75 ? truth : int(r.below(3));
        table.push_back(cat(u, "\t", ann[(u + uint64_t(t)) % 4], "\t", kClasses[size_t(lab)]));
      }
    }
    for (uint64_t u = 100; u < 140; ++u) {
      cand_uid.push_back(u);
      row(cand_p, int(r.below(3)));
    }
    for (uint64_t u : {12, 15}) {  // labelled items among the candidates: never "new"
      cand_uid.push_back(u);
      row(cand_p, 0);
    }
    write_scores(dir / "labelled.scores.h5", lab_uid, lab_p, kClasses);
    write_scores(dir / "subpool.scores.h5", cand_uid, cand_p, kClasses);
    write_table(table, "ann.tsv");
  }
  void write_table(const std::vector<std::string>& rows, const std::string& name) const {
    std::string s = "uid\tannotator\tlabel\tnote\n";
    for (auto& x : rows) s += x + "\tfree text\n";
    test::write_file(dir / name, s);
  }
  SelectOptions opts(const std::string& out, uint64_t b) const {
    SelectOptions o;
    o.strategy = "activelab";
    o.scores = dir / "subpool.scores.h5";
    o.labelled_scores = dir / "labelled.scores.h5";
    o.annotations = dir / "ann.tsv";
    o.output = dir / out;
    o.batch_size = b;
    o.seed = 9;
    return o;
  }
};

TEST(SelectActiveLab, MixedQueueMatchesThePureFunction) {
  Fixture fx;
  auto comm = mpi::Comm::world();
  const size_t total = fx.lab_uid.size() + 40;
  auto s = run_select(comm, fx.opts("all", total + 5));
  auto q = read_queue(fx.dir / "all/queue.tsv");
  ASSERT_EQ(q.size(), total);  // every labelled item and every unlabelled candidate, once
  // The same computation through strategy::activelab: items by uid, annotators by name.
  std::map<std::string, int> ann;
  for (auto& t : fx.table) ann[t.substr(t.find('\t') + 1, t.rfind('\t') - t.find('\t') - 1)] = 0;
  int j = 0;
  for (auto& [k, v] : ann) v = j++;
  al::Annotations L;
  L.num_items = int(fx.lab_uid.size());
  L.num_annotators = int(ann.size());
  L.num_classes = 3;
  for (auto& t : fx.table) {
    std::stringstream ss(t);
    std::string u, a, l;
    std::getline(ss, u, '\t'), std::getline(ss, a, '\t'), std::getline(ss, l, '\t');
    L.add(int(std::stoull(u) - 10), ann[a], int(std::find(kClasses.begin(), kClasses.end(), l) - kClasses.begin()));
  }
  al::MatrixXdR P(L.num_items, 3), Pu(40, 3);
  for (int i = 0; i < L.num_items; ++i)
    for (int k = 0; k < 3; ++k) P(i, k) = fx.lab_p[size_t(i * 3 + k)];
  for (int i = 0; i < 40; ++i)
    for (int k = 0; k < 3; ++k) Pu(i, k) = fx.cand_p[size_t(i * 3 + k)];
  auto ref = al::activelab_scores(&L, &P, &Pu, fx.lab_uid, 9);
  EXPECT_FALSE(ref.single_label);
  std::map<uint64_t, std::pair<double, std::string>> want;
  for (int i = 0; i < L.num_items; ++i) want[fx.lab_uid[size_t(i)]] = {ref.labelled[size_t(i)], "activelab:relabel"};
  for (int i = 0; i < 40; ++i) want[fx.cand_uid[size_t(i)]] = {ref.unlabelled[size_t(i)], "activelab:new"};
  int relabel = 0;
  for (size_t r = 0; r < q.size(); ++r) {
    ASSERT_TRUE(want.count(q[r].uid)) << q[r].uid;
    EXPECT_NEAR(q[r].score, want[q[r].uid].first, 1e-8) << q[r].uid;
    EXPECT_EQ(q[r].source, want[q[r].uid].second) << q[r].uid;
    relabel += q[r].source == "activelab:relabel";
    if (r) {
      EXPECT_LE(q[r - 1].score, q[r].score + 1e-9);
    }
  }
  EXPECT_EQ(relabel, 12);
  EXPECT_EQ(s.labelled_skipped, 2u);  // uids 12 and 15 in the candidates' file
  // A batch takes the lowest scores of both pools.
  auto s5 = run_select(comm, fx.opts("b5", 5));
  auto q5 = read_queue(fx.dir / "b5/queue.tsv");
  ASSERT_EQ(q5.size(), 5u);
  for (size_t r = 0; r < 5; ++r) EXPECT_EQ(q5[r].uid, q[r].uid);
  // Row order of the table does not matter.
  auto sh = fx.table;
  std::reverse(sh.begin(), sh.end());
  fx.write_table(sh, "ann2.tsv");
  auto o = fx.opts("shuffled", total);
  o.annotations = fx.dir / "ann2.tsv";
  run_select(comm, o);
  auto q2 = read_queue(fx.dir / "shuffled/queue.tsv");
  ASSERT_EQ(q2.size(), q.size());
  for (size_t r = 0; r < q.size(); ++r) {
    EXPECT_EQ(q2[r].uid, q[r].uid);
    EXPECT_EQ(q2[r].score, q[r].score);
  }
}

TEST(SelectActiveLab, NothingLabelledAndSingleLabelsByHand) {
  test::TempDir dir("select-al1");
  auto comm = mpi::Comm::world();
  write_scores(dir / "cand.scores.h5", {1, 2, 3}, {0.5f, 0.5f, 0.9f, 0.1f, 0.3f, 0.7f}, {"neg", "pos"});
  test::write_file(dir / "empty.tsv", "uid\tannotator\tlabel\n");
  SelectOptions o;
  o.strategy = "activelab";
  o.scores = dir / "cand.scores.h5";
  o.annotations = dir / "empty.tsv";
  o.output = dir / "o1";
  o.batch_size = 10;
  run_select(comm, o);
  auto q = read_queue(dir / "o1/queue.tsv");
  ASSERT_EQ(q.size(), 3u);
  // (max p + 1/K) / 2: uid 1 .5, uid 3 .6, uid 2 .7.
  EXPECT_EQ(q[0].uid, 1u);
  EXPECT_EQ(q[1].uid, 3u);
  EXPECT_EQ(q[2].uid, 2u);
  EXPECT_NEAR(q[0].score, 0.5, 1e-7);
  EXPECT_NEAR(q[1].score, (0.7 + 0.5) / 2, 1e-7);
  EXPECT_NEAR(q[2].score, (0.9 + 0.5) / 2, 1e-7);
  EXPECT_EQ(q[0].source, "activelab:new");
  // One label each: s_i = (2 · P[i, label] + 1/K) / 3; uid 7 labelled pos with P = .2.
  write_scores(dir / "lab.scores.h5", {7, 8}, {0.8f, 0.2f, 0.4f, 0.6f}, {"neg", "pos"});
  test::write_file(dir / "one.tsv", "annotator\tlabel\tuid\nann1\tpos\t7\nann2\tpos\t8\n");
  o.annotations = dir / "one.tsv";
  o.labelled_scores = dir / "lab.scores.h5";
  o.output = dir / "o2";
  run_select(comm, o);
  q = read_queue(dir / "o2/queue.tsv");
  ASSERT_EQ(q.size(), 5u);
  EXPECT_EQ(q[0].uid, 7u);
  EXPECT_EQ(q[0].source, "activelab:relabel");
  EXPECT_NEAR(q[0].score, (2 * 0.2 + 0.5) / 3, 1e-7);
  EXPECT_EQ(q[1].uid, 1u);  // .5
  EXPECT_EQ(q[2].uid, 8u);  // (2 · .6 + .5) / 3 = .5667
  EXPECT_NEAR(q[2].score, (2 * 0.6 + 0.5) / 3, 1e-7);
  EXPECT_EQ(q[2].source, "activelab:relabel");
  EXPECT_EQ(q[3].uid, 3u);  // .6
  EXPECT_EQ(q[4].uid, 2u);  // .7
}

TEST(SelectActiveLab, BadInputNamesFileLineValueAndLeavesNoQueue) {
  Fixture fx;
  auto comm = mpi::Comm::world();
  auto expect_bad = [&](const std::string& body, const std::string& want1, const std::string& want2,
                        const std::string& tag) {
    test::write_file(fx.dir / (tag + ".tsv"), body);
    auto o = fx.opts(tag, 5);
    o.annotations = fx.dir / (tag + ".tsv");
    try {
      run_select(comm, o);
      ADD_FAILURE() << tag << ": no error";
    } catch (const InputError& e) {
      const std::string m = e.what();
      EXPECT_NE(m.find(tag + ".tsv"), std::string::npos) << m;
      EXPECT_NE(m.find(want1), std::string::npos) << m;
      EXPECT_NE(m.find(want2), std::string::npos) << m;
    }
    EXPECT_FALSE(path_exists(fx.dir / (tag + "/queue.tsv"))) << tag;
  };
  const std::string h = "uid\tannotator\tlabel\n";
  expect_bad(h + "10\talice\ta\n999\tbob\tb\n", ":3", "999", "unknown-uid");
  expect_bad(h + "10\talice\ta\n11\tbob\tzebra\n", ":3", "'zebra'", "unknown-label");
  expect_bad(h + "10\talice\ta\n11\t\tb\n", ":3", "annotator", "missing-annotator");
  expect_bad(h + "10\talice\ta\n11\tbob\n", ":3", "label", "missing-label");
  expect_bad(h + "10\talice\ta\nx1\tbob\tb\n", ":3", "'x1'", "bad-uid");
  expect_bad(h + "10\talice\ta\n11\tbob\tb\n10\talice\tb\n", ":4", "alice", "twice");
  expect_bad("uid\tlabel\n10\ta\n", ":1", "annotator", "no-column");
  // Other classes in the labelled scores than in the candidates'.
  write_scores(fx.dir / "other.scores.h5", fx.lab_uid, fx.lab_p, {"x", "y", "z"});
  auto o = fx.opts("classes", 5);
  o.labelled_scores = fx.dir / "other.scores.h5";
  EXPECT_THROW(run_select(comm, o), InputError);
  // Labels given but no labelled scores; no --annotations at all.
  o = fx.opts("nolab", 5);
  o.labelled_scores.clear();
  EXPECT_THROW(run_select(comm, o), UsageError);
  o.annotations.clear();
  EXPECT_THROW(run_select(comm, o), UsageError);
  EXPECT_FALSE(path_exists(fx.dir / "nolab/queue.tsv"));
}

}  // namespace
