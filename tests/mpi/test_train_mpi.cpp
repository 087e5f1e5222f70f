// trawl-libs: trawl_stage_train trawl_train
// The trawl-train stage under MPI (run at 1..4 ranks): the model file written by all ranks of
// the job is byte-identical to the one a single process writes from the same shards, for every
// model kind, with and without a subpool; errors found on rank 0 reach every rank (no hang).
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>

#include "formats/subpool.h"
#include "core/error.h"
#include "core/rng.h"
#include "io/h5.h"
#include "io/shard.h"
#include "support/testutil.h"
#include "train/model.h"
#include "stages/train_stage.h"
#include "byo/classifier.h"
#include "train/train.h"

// LibTorch is linked into this binary: mlp, embbag and torchscript models train in-process, not
// through the plugin.
static const bool kTorchTraining = (trawl::train::register_torch_training(), trawl::byo::register_torchscript_models(), true);

using namespace trawl;
using namespace trawl::train;
using namespace trawl::stages;

namespace {

constexpr int kDim = 12;
constexpr int kShards = 5;
constexpr int kRows = 37;

// Rank 0 writes a pool of kShards shards written with io::ShardWriter, a labels file (every
// third row, plus all positives) and a subpool.h5 holding some labelled and unlabelled rows.
void make_inputs(const mpi::Comm& comm, const test::TempDir& dir, bool nan_in_shard = false) {
  if (comm.root()) {
    test::run("mkdir -p " + (dir / "pool"));
    Rng r(99);
    std::ofstream labels(dir / "labels.tsv");
    labels << "uid\tlabel\n";
    std::vector<uint64_t> su;
    std::vector<float> se;
    for (int s = 0; s < kShards; ++s) {
      io::ShardMeta meta;
      meta.encoder = "hash";
      meta.encoder_params = "dim=12;mpi-test";
      meta.dim = kDim;
      meta.chunk_index = uint64_t(s);
      io::ShardBlock b;
      for (int i = 0; i < kRows; ++i) {
        uint64_t u = io::make_uid(uint64_t(s), uint64_t(i));
        int cls = r.uniform() < 0.2 ? 2 : (r.uniform() < 0.5 ? 1 : 0);  // three classes
        b.uid.push_back(u);
        b.id.push_back(cat(s, ":", i));
        b.text.push_back("t");
        std::vector<float> e;
        for (int j = 0; j < kDim; ++j) e.push_back(float((j == cls ? 1.2 : 0.0) + r.normal()));
        if (nan_in_shard && s == 3 && i == 3) e[5] = std::nanf("");
        b.embedding.insert(b.embedding.end(), e.begin(), e.end());
        size_t len = 1 + r.below(6);
        for (size_t k = 0; k < len; ++k) b.token_ids.push_back(uint32_t(r.below(60)) + (cls == 2 && k == 0 ? 5000u : 0u));
        b.token_offsets.push_back(b.token_ids.size());
        if (i % 3 == 0 || cls == 2) labels << u << '\t' << (cls == 2 ? "rare" : cls == 1 ? "b" : "a") << '\n';
        if (i % 4 == 0) {
          su.push_back(u);
          se.insert(se.end(), e.begin(), e.end());
        }
      }
      io::ShardWriter w(dir / ("pool/" + io::shard_file_name(uint64_t(s))), meta, 8);
      w.append(b);
      w.close(0);
    }
    formats::SubpoolInfo info;  // the one writer, as trawl-retrieve
    info.meta.method = "anchoral";
    info.meta.encoder = "hash";
    info.meta.params = "dim=12;mpi-test";
    info.meta.dim = kDim;
    info.rows = su.size();
    formats::write_subpool(dir / "subpool.h5", info, su, std::vector<double>(su.size(), 0.5),
                           std::vector<int32_t>(su.size(), 1), se);
  }
  comm.barrier();
}

TrainStageOptions options(const test::TempDir& dir, const std::string& kind, const std::string& out) {
  TrainStageOptions o;
  o.pool = dir / "pool";
  o.labels = dir / "labels.tsv";
  o.output = dir / out;
  o.train.model = kind == "logreg-tokens" ? "logreg" : kind;
  o.train.features = kind == "logreg-tokens" ? "tokens" : "embedding";  // "logreg": over the embeddings
  o.train.feature_buckets = 4096;
  o.train.hidden = 6;
  o.train.buckets = 128;
  o.train.progress = false;
  o.config = "the same config\n";  // the stored config must not differ between the runs compared
  return o;
}

}  // namespace

TEST(TrainMpi, SameModelFileAtAnyRankCount) {
  auto world = mpi::Comm::world();
  test::TempDir dir("train-mpi");
  make_inputs(world, dir);
  for (std::string kind : {"logreg-tokens", "logreg", "mlp", "embbag"}) {
    for (bool sub : {false, true}) {
      if (sub && (kind == "embbag" || kind == "logreg-tokens")) continue;
      SCOPED_TRACE(kind + (sub ? " with subpool" : ""));
      auto o = options(dir, kind, cat(kind, sub, "-world.h5"));
      if (sub) o.subpool = dir / "subpool.h5";
      auto s = run_train(world, o);
      EXPECT_FALSE(s.skipped);
      EXPECT_GT(s.examples, 60u);
      if (sub) {
        EXPECT_GT(s.from_subpool, 0u);
      }
      // Every rank returns rank 0's summary.
      auto sums = world.allgather_strings(s.summary);
      for (auto& x : sums) EXPECT_EQ(x, s.summary);
      // A single process from the same inputs.
      if (world.root()) {
        mpi::Comm self(MPI_COMM_SELF, false);
        auto o1 = o;
        o1.output = dir / cat(kind, sub, "-self.h5");
        auto s1 = run_train(self, o1);
        EXPECT_EQ(s1.summary, s.summary);
        EXPECT_EQ(s1.from_subpool, s.from_subpool);
        EXPECT_TRUE(test::read_file(o.output) == test::read_file(o1.output))
            << o.output << " differs from " << o1.output << " at " << world.size() << " ranks";
        auto m = Model::load(o.output);
        EXPECT_EQ(m->num_classes(), 3);
      }
      world.barrier();
      // Rerun: skipped on every rank.
      auto again = run_train(world, o);
      EXPECT_TRUE(again.skipped);
    }
  }
}

TEST(TrainMpi, ErrorsReachEveryRank) {
  auto world = mpi::Comm::world();
  test::TempDir dir("train-mpi");
  make_inputs(world, dir, /*nan_in_shard=*/true);
  auto o = options(dir, "logreg", "nan.h5");
  // The NaN is in shard 3 (read by whichever rank owns it); rank 0 finds it and all ranks throw.
  std::string msg;
  try {
    run_train(world, o);
  } catch (const InputError& e) {
    msg = e.what();
  }
  EXPECT_NE(msg.find(cat("uid ", io::make_uid(3, 3))), std::string::npos) << msg;
  // A class with no examples: an InputError on every rank.
  o.classes = {"a", "b", "rare", "zzz"};
  o.output = dir / "missing.h5";
  EXPECT_THROW(run_train(world, o), InputError);
  world.barrier();
}
