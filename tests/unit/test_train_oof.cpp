// trawl-libs: trawl_stage_train trawl_stage_score trawl_stage_select
// trawl-train --oof-folds: <output>.oof.scores.h5 in the scores layout (read_scores_info and
// trawl-select --strategy activelab accept it); every row equals a model trained by hand on the
// other folds and differs from the full model's in-sample probabilities; folds keyed by
// (seed, round, uid) — the same whatever the input order, stratified, balanced; K < 2 or K > n
// is a clear UsageError; reruns skip only when the out-of-fold file is current.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <map>

#include "core/error.h"
#include "core/fs.h"
#include "core/rng.h"
#include "io/h5.h"
#include "io/shard.h"
#include "stages/score_stage.h"
#include "stages/select_stage.h"
#include "support/testutil.h"
#include "train/model.h"
#include "train/train.h"
#include "stages/train_stage.h"

using namespace trawl;
using namespace trawl::train;
using namespace trawl::stages;

namespace {

constexpr int kDim = 6;

struct PoolRow {
  uint64_t uid;
  std::string label;
  std::vector<float> x;
};

std::vector<PoolRow> make_pool(const std::string& dir, int shards, int rows, uint64_t seed) {
  test::run("mkdir -p " + dir);
  Rng r(seed);
  std::vector<PoolRow> all;
  for (int s = 0; s < shards; ++s) {
    io::ShardMeta meta;
    meta.encoder = "hash";
    meta.encoder_params = "dim=6;test=1";
    meta.dim = kDim;
    meta.chunk_index = uint64_t(s);
    meta.source_file = cat("chunk-", s, ".tsv");
    io::ShardBlock b;
    for (int i = 0; i < rows; ++i) {
      const uint64_t u = io::make_uid(uint64_t(s), uint64_t(i));
      const int cls = int(r.below(3));
      PoolRow pr{u, cls == 0 ? "a" : cls == 1 ? "b" : "c", {}};
      b.uid.push_back(u);
      b.id.push_back(cat("doc", s, "-", i));
      b.text.push_back("text");
      for (int j = 0; j < kDim; ++j) {
        const float v = float((j == cls ? 1.2 : 0.0) + r.normal());
        b.embedding.push_back(v);
        pr.x.push_back(v);
      }
      b.token_ids.push_back(7);
      b.token_offsets.push_back(b.token_ids.size());
      all.push_back(pr);
    }
    io::ShardWriter w(dir + "/" + io::shard_file_name(uint64_t(s)), meta, 16);
    w.append(b);
    w.close(0);
  }
  return all;
}

void write_labels(const std::string& path, const std::vector<PoolRow>& rows) {
  std::ofstream f(path);
  f << "uid\tlabel\n";
  for (auto& r : rows) f << r.uid << '\t' << r.label << '\n';
}

TrainStageOptions options(const test::TempDir& dir, int K) {
  TrainStageOptions o;
  o.pool = dir / "pool";
  o.labels = dir / "labels.tsv";
  o.output = dir / "model.h5";
  o.train.progress = false;
  o.train.features = "embedding";  // the by-hand fold models below read embeddings
  o.oof_folds = K;
  o.config = "test\n";
  return o;
}

struct Oof {
  std::vector<uint64_t> uid;
  std::vector<float> p;
  int C = 0;
};
Oof read_oof(const std::string& path) {
  Oof r;
  formats::ScoresReader rd(path);
  r.C = int(rd.info().classes.size());
  rd.read(0, rd.info().rows, r.uid, r.p);
  return r;
}

TEST(TrainOof, FoldModelsByHandAndLayout) {
  test::TempDir dir("oof");
  auto pool = make_pool(dir / "pool", 2, 40, 3);
  std::vector<PoolRow> lab(pool.begin(), pool.begin() + 60);
  write_labels(dir / "labels.tsv", lab);
  auto comm = mpi::Comm::world();
  const int K = 4;
  auto o = options(dir, K);
  auto s = run_train(comm, o);
  EXPECT_FALSE(s.skipped);
  const std::string path = oof_scores_path(o.output);
  EXPECT_EQ(path, o.output + ".oof.scores.h5");
  auto info = formats::read_scores_info(path);  // the layout trawl-score's readers validate
  EXPECT_EQ(info.classes, (std::vector<std::string>{"a", "b", "c"}));
  EXPECT_EQ(info.rows, 60u);
  EXPECT_EQ(info.source_kind, "oof");
  EXPECT_EQ(info.model_kind, "logreg");
  auto oof = read_oof(path);
  ASSERT_EQ(oof.uid.size(), 60u);
  EXPECT_TRUE(std::is_sorted(oof.uid.begin(), oof.uid.end()));

  // The same folds and fold models by hand.
  std::map<uint64_t, const PoolRow*> by;
  for (auto& r : lab) by[r.uid] = &r;
  std::vector<uint64_t> uids;
  std::vector<int> y;
  for (auto& [u, r] : by) {
    uids.push_back(u);
    y.push_back(r->label[0] - 'a');
  }
  auto fold = oof_fold_assignment(uids, y, 3, K, o.train.seed, o.train.round);
  auto full = Model::load(o.output);
  double max_diff_in_sample = 0;
  for (int f = 0; f < K; ++f) {
    TrainData tr;
    tr.classes = {"a", "b", "c"};
    tr.dim = kDim;
    for (size_t i = 0; i < uids.size(); ++i)
      if (fold[i] != f) {
        tr.y.push_back(y[i]);
        tr.uid.push_back(uids[i]);
        tr.x.insert(tr.x.end(), by[uids[i]]->x.begin(), by[uids[i]]->x.end());
      }
    TrainOptions to = o.train;
    to.allow_missing_classes = true;
    auto r = train_model(tr, to);
    auto m = make_model(make_header(tr, to), r.params);
    for (size_t i = 0; i < uids.size(); ++i) {
      if (fold[i] != f) continue;
      float p[3], q[3];
      m->predict(by[uids[i]]->x.data(), 1, p);
      full->predict(by[uids[i]]->x.data(), 1, q);
      ASSERT_EQ(oof.uid[i], uids[i]);
      for (int k = 0; k < 3; ++k) {
        EXPECT_NEAR(oof.p[i * 3 + size_t(k)], p[k], 1e-6) << "uid " << uids[i];
        max_diff_in_sample = std::max(max_diff_in_sample, double(std::abs(oof.p[i * 3 + size_t(k)] - q[k])));
      }
    }
  }
  // Out-of-fold is not in-sample.
  EXPECT_GT(max_diff_in_sample, 1e-3);

  // trawl-select --strategy activelab reads it as --labelled-scores.
  std::ofstream(dir / "ann.tsv") << "uid\tannotator\tlabel\n"
                                 << lab[0].uid << "\tann1\t" << lab[0].label << "\n"
                                 << lab[0].uid << "\tann2\t" << lab[1].label << "\n"
                                 << lab[1].uid << "\tann1\t" << lab[1].label << "\n";
  stages::SelectOptions so;
  so.strategy = "activelab";
  so.annotations = dir / "ann.tsv";
  so.labelled_scores = path;
  so.scores = path;  // candidates: annotated uids are skipped, the rest are "new"
  so.output = dir / "sel";
  so.batch_size = 100;
  auto sel = stages::run_select(comm, so);
  EXPECT_EQ(sel.queue.size(), 60u);

  // Rerun: up to date; without the out-of-fold file: retrained, the same file again.
  EXPECT_TRUE(run_train(comm, o).skipped);
  const std::string before = test::read_file(path);
  std::remove(path.c_str());
  EXPECT_FALSE(run_train(comm, o).skipped);
  auto again = read_oof(path);
  EXPECT_EQ(again.uid, oof.uid);
  EXPECT_EQ(again.p, oof.p);
  // Other K: another file.
  auto o5 = options(dir, 5);
  EXPECT_FALSE(run_train(comm, o5).skipped);
  EXPECT_NE(read_oof(path).p, oof.p);
}

TEST(TrainOof, FoldsKeyedStratifiedAndOrderFree) {
  Rng r(11);
  std::vector<uint64_t> u;
  std::vector<int> y;
  for (int i = 0; i < 103; ++i) {
    u.push_back((uint64_t(i % 4) << 40) | uint64_t(i * 13 + 5));
    y.push_back(i % 10 < 7 ? 0 : i % 10 < 9 ? 1 : 2);
  }
  for (int K : {2, 3, 5, 10}) {
    auto f = oof_fold_assignment(u, y, 3, K, 42, 3);
    std::map<uint64_t, int> ref;
    for (size_t i = 0; i < u.size(); ++i) ref[u[i]] = f[i];
    // Any input order: the same fold per uid.
    std::vector<size_t> perm(u.size());
    for (size_t i = 0; i < perm.size(); ++i) perm[i] = i;
    std::shuffle(perm.begin(), perm.end(), r);
    std::vector<uint64_t> u2;
    std::vector<int> y2;
    for (size_t i : perm) {
      u2.push_back(u[i]);
      y2.push_back(y[i]);
    }
    auto f2 = oof_fold_assignment(u2, y2, 3, K, 42, 3);
    for (size_t i = 0; i < u2.size(); ++i) EXPECT_EQ(f2[i], ref[u2[i]]);
    // Balanced folds; each class spread over the folds (sizes differ by at most one).
    std::vector<int> size(size_t(K), 0);
    std::vector<std::vector<int>> per(3, std::vector<int>(size_t(K), 0));
    for (size_t i = 0; i < u.size(); ++i) {
      ASSERT_GE(f[i], 0);
      ASSERT_LT(f[i], K);
      ++size[size_t(f[i])];
      ++per[size_t(y[i])][size_t(f[i])];
    }
    EXPECT_LE(*std::max_element(size.begin(), size.end()) - *std::min_element(size.begin(), size.end()), 1);
    for (auto& c : per) EXPECT_LE(*std::max_element(c.begin(), c.end()) - *std::min_element(c.begin(), c.end()), 1);
    // Keyed: another round deals other folds.
    auto f3 = oof_fold_assignment(u, y, 3, K, 42, 4);
    EXPECT_NE(f3, f);
  }
}

TEST(TrainOof, BadFoldCounts) {
  test::TempDir dir("oof-bad");
  auto pool = make_pool(dir / "pool", 1, 20, 4);
  std::vector<PoolRow> lab(pool.begin(), pool.begin() + 12);
  write_labels(dir / "labels.tsv", lab);
  auto comm = mpi::Comm::world();
  for (int K : {1, -2, 13, 100}) {
    auto o = options(dir, K);
    try {
      run_train(comm, o);
      ADD_FAILURE() << "K = " << K << ": no error";
    } catch (const UsageError& e) {
      EXPECT_NE(std::string(e.what()).find("--oof-folds"), std::string::npos) << e.what();
    }
    EXPECT_FALSE(path_exists(oof_scores_path(o.output)));
  }
  EXPECT_THROW(oof_fold_assignment({1, 2, 3}, {0, 1, 0}, 2, 4, 1, 0), UsageError);
  EXPECT_THROW(oof_fold_assignment({1, 2, 3}, {0, 1, 0}, 2, 1, 1, 0), UsageError);
  // K = n: leave-one-out.
  auto o = options(dir, 12);
  EXPECT_NO_THROW(run_train(comm, o));
  EXPECT_EQ(read_oof(oof_scores_path(o.output)).uid.size(), 12u);
}

}  // namespace
