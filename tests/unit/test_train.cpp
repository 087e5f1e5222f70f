// trawl-libs: trawl_stage_train trawl_train
// Training (src/train/train.h) and the trawl-train stage (src/train/train_stage.h): the step
// rule, class weights, known solution directions, class weighting on imbalanced data,
// determinism, the saved model against the trainer's own statistics, embbag on a token task,
// bad input, and the stage's gathering (pool, subpool), skipping and errors.
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <numeric>

#include "formats/subpool.h"
#include "core/error.h"
#include "core/rng.h"
#include "io/h5.h"
#include "io/shard.h"
#include "support/testutil.h"
#include "train/model.h"
#include "byo/classifier.h"
#include "train/train.h"
#include "stages/train_stage.h"

// LibTorch is linked into this binary: mlp, embbag and torchscript models train in-process, not
// through the plugin.
static const bool kTorchTraining = (trawl::train::register_torch_training(), trawl::byo::register_torchscript_models(), true);

using namespace trawl;
using namespace trawl::train;
using namespace trawl::stages;

namespace {

// Two Gaussian classes in d dims: class c has mean sign_c · shift · mu (mu a unit vector).
TrainData gaussian(uint64_t n_neg, uint64_t n_pos, int d, double shift, uint64_t seed, std::vector<float>* mu_out = nullptr,
                   bool symmetric = true) {
  Rng r(seed);
  std::vector<float> mu(static_cast<size_t>(d));
  double norm = 0;
  for (auto& v : mu) {
    v = float(r.normal());
    norm += double(v) * v;
  }
  for (auto& v : mu) v = float(v / std::sqrt(norm));
  if (mu_out) *mu_out = mu;
  TrainData t;
  t.classes = {"neg", "pos"};
  t.dim = d;
  for (uint64_t i = 0; i < n_neg + n_pos; ++i) {
    int y = i < n_neg ? 0 : 1;
    double s = y ? shift : (symmetric ? -shift : 0.0);
    for (int j = 0; j < d; ++j) t.x.push_back(float(s * mu[size_t(j)] + r.normal()));
    t.y.push_back(y);
    t.uid.push_back(1000 + i);
  }
  return t;
}

std::vector<float> probs_of(const Model& m, const TrainData& d) {
  std::vector<float> p(d.size() * size_t(m.num_classes()));
  if (m.header().input == "tokens")
    m.predict_tokens(d.token_offsets.data(), d.token_ids.data(), d.size(), p.data());
  else
    m.predict(d.x.data(), d.size(), p.data());
  return p;
}

double recall(const Model& m, const TrainData& d, int cls) {
  auto p = probs_of(m, d);
  const size_t C = size_t(m.num_classes());
  uint64_t tp = 0, pos = 0;
  for (size_t i = 0; i < d.size(); ++i) {
    if (d.y[i] != cls) continue;
    ++pos;
    size_t best = 0;
    for (size_t c = 1; c < C; ++c)
      if (p[i * C + c] > p[i * C + best]) best = c;
    tp += int(best) == cls;
  }
  return double(tp) / double(pos);
}

double accuracy(const Model& m, const TrainData& d) {
  auto p = probs_of(m, d);
  const size_t C = size_t(m.num_classes());
  uint64_t ok = 0;
  for (size_t i = 0; i < d.size(); ++i) {
    size_t best = 0;
    for (size_t c = 1; c < C; ++c)
      if (p[i * C + c] > p[i * C + best]) best = c;
    ok += int(best) == d.y[i];
  }
  return double(ok) / double(d.size());
}

TrainOptions quiet(const std::string& model = "logreg") {
  TrainOptions o;
  o.model = model;
  o.features = "embedding";  // these cases train logreg on embeddings (token features: test_logreg_model)
  o.progress = false;
  return o;
}

std::unique_ptr<Model> model_of(const TrainData& d, const TrainOptions& o, const TrainResult& r) {
  return make_model(make_header(d, o), r.params);
}

template <class E, class F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const E& e) {
    return e.what();
  } catch (const std::exception& e) {
    return std::string("(other exception) ") + e.what();
  }
  return "(no error)";
}

// Token documents: random unigram ids from a vocabulary of 400; class pos iff the document
// contains the signal id.
constexpr uint32_t kSignal = 77777;
TrainData token_docs(size_t n, double pos_rate, uint64_t seed) {
  Rng r(seed);
  TrainData t;
  t.classes = {"neg", "pos"};
  for (size_t i = 0; i < n; ++i) {
    bool pos = r.uniform() < pos_rate;
    size_t len = 4 + r.below(10);
    for (size_t k = 0; k < len; ++k) {
      uint32_t id = uint32_t(1000 + r.below(400) * 7919);
      t.token_ids.push_back(id);
    }
    if (pos) t.token_ids[t.token_ids.size() - 1 - r.below(len)] = kSignal;
    t.token_offsets.push_back(t.token_ids.size());
    t.y.push_back(pos ? 1 : 0);
    t.uid.push_back(i);
  }
  return t;
}

}  // namespace

// ---- rules -----------------------------------------------------------------------------------

TEST(Train, StepRule) {
  // max(ceil(n / batch) * epochs, min_steps) — reference/anchoral.md §5.5: 100 labels -> 4
  // batches -> 100 steps.
  EXPECT_EQ(training_steps(100, 32, 10, 100), 100u);
  EXPECT_EQ(training_steps(320, 32, 10, 100), 100u);
  EXPECT_EQ(training_steps(321, 32, 10, 100), 110u);
  EXPECT_EQ(training_steps(1000, 32, 10, 100), 320u);
  EXPECT_EQ(training_steps(33, 32, 10, 0), 20u);
  EXPECT_EQ(training_steps(1, 32, 1, 0), 1u);
}

TEST(Train, ClassWeights) {
  auto w = class_weights({90, 10}, {"a", "b"}, false, "labels.tsv");
  EXPECT_DOUBLE_EQ(w[0], 100.0 / 180.0);
  EXPECT_DOUBLE_EQ(w[1], 5.0);
  // A missing class: an error naming it, or weight 0 with C = classes present.
  std::string e = error_of<InputError>([] { class_weights({0, 5, 15}, {"x", "y", "z"}, false, "labels.tsv"); });
  EXPECT_NE(e.find("labels.tsv"), std::string::npos) << e;
  EXPECT_NE(e.find("class 'x' has no training examples"), std::string::npos) << e;
  w = class_weights({0, 5, 15}, {"x", "y", "z"}, true, "labels.tsv");
  EXPECT_EQ(w[0], 0.0);
  EXPECT_DOUBLE_EQ(w[1], 2.0);
  EXPECT_DOUBLE_EQ(w[2], 20.0 / 30.0);
}

// ---- what training learns ---------------------------------------------------------------------

TEST(Train, LogregSymmetricDataKnownDirection) {
  // Separable and mirror-symmetric: neg points are pos points with x negated, and every point
  // has its reflection in y. The max-margin direction is (1, 0) and the bias difference is 0.
  TrainData d;
  d.classes = {"neg", "pos"};
  d.dim = 2;
  float pts[][2] = {{1, 0.5f}, {1, -0.5f}, {2, 1}, {2, -1}, {1.5f, 0}, {3, 2}, {3, -2}};
  for (int c = 0; c < 2; ++c)
    for (auto& p : pts) {
      d.x.push_back(c ? p[0] : -p[0]);
      d.x.push_back(p[1]);
      d.y.push_back(c);
    }
  // Convex (trawl's logreg is solved to convergence): by the symmetry the optimum has w_y = 0
  // and b = 0 exactly, and a weaker penalty (larger C) gives a larger |w|.
  auto o = quiet();
  auto r = train_model(d, o);
  const auto& W = r.params[0].values;  // [2, 2]
  const auto& b = r.params[1].values;
  double wx = W[2] - W[0], wy = W[3] - W[1];
  double cosv = wx / std::hypot(wx, wy);
  EXPECT_GT(cosv, 0.99999) << "w_pos - w_neg = (" << wx << ", " << wy << ")";
  EXPECT_GT(wx, 1.0);
  EXPECT_LT(std::fabs(b[1] - b[0]), 1e-4);
  EXPECT_EQ(r.train_accuracy, 1.0);
  EXPECT_EQ(r.minority_f1, 1.0);
  o.C = 100;
  auto r2 = train_model(d, o);
  EXPECT_GT(r2.params[0].values[2] - r2.params[0].values[0], 2 * wx);
}

TEST(Train, LogregNoisyDataFindsTheMeanDirection) {
  std::vector<float> mu;
  auto d = gaussian(200, 200, 8, 1.5, 5, &mu);
  auto o = quiet();
  auto r = train_model(d, o);
  EXPECT_GT(r.steps, 0u);  // solver iterations
  const auto& W = r.params[0].values;
  double dot = 0, nw = 0;
  for (int j = 0; j < 8; ++j) {
    double w = W[8 + j] - W[j];
    dot += w * mu[size_t(j)];
    nw += w * w;
  }
  EXPECT_GT(dot / std::sqrt(nw), 0.95);
  EXPECT_GT(r.train_accuracy, 0.9);  // Bayes accuracy Φ(1.5) ≈ 0.93
}

TEST(Train, ClassWeightingRaisesMinorityRecall) {
  // 1000 negatives around 0, 25 positives around 1.2·mu. Unweighted, the prior pushes the
  // boundary far into the positives; weighted (n / (C n_c)) it sits half-way.
  auto d = gaussian(1000, 25, 4, 1.2, 17, nullptr, false);
  auto test_set = gaussian(1000, 1000, 4, 1.2, 17, nullptr, false);  // same mu (same seed), fresh points
  auto o = quiet();
  o.lr = 0.01;
  auto rw = train_model(d, o);
  o.class_weighting = false;
  auto ru = train_model(d, o);
  double rec_w = recall(*model_of(d, o, rw), test_set, 1), rec_u = recall(*model_of(d, o, ru), test_set, 1);
  EXPECT_GT(rec_w, rec_u + 0.3) << "weighted " << rec_w << " unweighted " << rec_u;
  EXPECT_GT(rec_w, 0.5);
  EXPECT_EQ(rw.weights[1], 1025.0 / 50.0);
  EXPECT_EQ(ru.weights[1], 1.0);
  EXPECT_EQ(rw.minority, 1);
}

TEST(Train, EmbbagLearnsATokenSignal) {
  auto d = token_docs(2000, 0.3, 3), held = token_docs(1000, 0.3, 4);
  auto o = quiet("embbag");
  o.buckets = 4096;
  o.hidden = 16;
  o.lr = 0.01;
  auto r = train_model(d, o);
  auto m = model_of(d, o, r);
  EXPECT_EQ(m->feature_dim(), 16);
  EXPECT_EQ(m->header().input, "tokens");
  EXPECT_EQ(m->header().input_dim, 4096);
  double acc = accuracy(*m, held);
  EXPECT_GT(acc, 0.95) << r.summary(d.classes);
  // The signal's bucket moved far from its initial scale (±1/16): the bag learnt it.
  const auto& bag = r.params[0].values;
  double ns = 0;
  for (int h = 0; h < 16; ++h) ns += std::pow(bag[size_t(kSignal % 4096) * 16 + size_t(h)], 2);
  EXPECT_GT(std::sqrt(ns), 0.5);
}

TEST(Train, LazyBagAdamWEqualsTorchDenseAdamW) {
  // The row-lazy AdamW of the bag against torch's own dense AdamW over every bucket, with a
  // strong weight decay so that the decay of untouched and late-touched rows matters, and more
  // buckets than the documents touch.
  auto d = token_docs(300, 0.3, 6);
  auto o = quiet("embbag");
  o.buckets = 8192;
  o.hidden = 8;
  o.lr = 0.01;
  o.weight_decay = 0.5;
  o.batch_size = 8;  // many steps in which most touched rows get no gradient
  o.epochs = 2;
  auto lazy = train_model(d, o);
  o.lazy_bag = false;
  auto dense = train_model(d, o);
  ASSERT_EQ(lazy.steps, dense.steps);
  for (size_t i = 0; i < lazy.params.size(); ++i) {
    double worst = 0, scale = 0;
    for (size_t k = 0; k < lazy.params[i].values.size(); ++k) {
      worst = std::max(worst, double(std::fabs(lazy.params[i].values[k] - dense.params[i].values[k])));
      scale = std::max(scale, double(std::fabs(dense.params[i].values[k])));
    }
    EXPECT_LT(worst, 1e-6 + 1e-5 * scale) << lazy.params[i].name << " (max |value| " << scale << ")";
  }
  EXPECT_NEAR(lazy.final_loss, dense.final_loss, 1e-4);
}

TEST(Train, MlpFitsXor) {
  // Not linearly separable: logreg cannot, one hidden layer can.
  TrainData d;
  d.classes = {"a", "b"};
  d.dim = 2;
  Rng r(9);
  for (int i = 0; i < 400; ++i) {
    double x = r.uniform() * 2 - 1, y = r.uniform() * 2 - 1;
    d.x.push_back(float(x));
    d.x.push_back(float(y));
    d.y.push_back((x > 0) != (y > 0) ? 1 : 0);
  }
  auto o = quiet("mlp");
  o.hidden = 32;
  o.lr = 0.01;
  o.epochs = 30;
  auto rm = train_model(d, o);
  auto ol = quiet("logreg");
  ol.lr = 0.01;
  ol.epochs = 30;
  auto rl = train_model(d, ol);
  EXPECT_GT(rm.train_accuracy, 0.9);
  EXPECT_LT(rl.train_accuracy, 0.75);
  EXPECT_GT(accuracy(*model_of(d, o, rm), d), 0.9);
}

// ---- determinism and the saved model ----------------------------------------------------------

TEST(Train, SameSeedSameBytesOtherSeedOtherModel) {
  test::TempDir dir("train");
  auto d = gaussian(60, 20, 16, 1.0, 2);
  for (std::string kind : {"logreg", "mlp"}) {
    SCOPED_TRACE(kind);
    auto o = quiet(kind);
    o.hidden = 8;
    auto write = [&](const TrainOptions& oo, const std::string& name) {
      auto r = train_model(d, oo);
      auto h = make_header(d, oo);
      h.training_summary = r.summary(d.classes);
      write_model(dir / name, h, r.params);
      return r;
    };
    auto a = write(o, kind + "a.h5");
    auto b = write(o, kind + "b.h5");
    EXPECT_TRUE(test::read_file(dir / (kind + "a.h5")) == test::read_file(dir / (kind + "b.h5")));
    EXPECT_EQ(a.final_loss, b.final_loss);
    auto o2 = o;
    o2.seed = 43;
    auto c = write(o2, kind + "c.h5");
    auto o3 = o;
    o3.round = 1;
    auto e = write(o3, kind + "e.h5");
    if (kind == "logreg") {  // convex, solved to convergence: the seed plays no part
      EXPECT_EQ(c.params[0].values, a.params[0].values);
      EXPECT_EQ(e.params[0].values, a.params[0].values);
    } else {
      EXPECT_NE(c.params[0].values, a.params[0].values);
      EXPECT_NE(e.params[0].values, a.params[0].values);
    }
    EXPECT_FALSE(test::read_file(dir / (kind + "a.h5")) == test::read_file(dir / (kind + "e.h5")));  // the round is recorded
  }
}

TEST(Train, ThreadCountChangesAtMostRounding) {
  auto d = gaussian(300, 100, 64, 1.0, 8);
  auto o = quiet("mlp");
  o.hidden = 64;
  auto r1 = train_model(d, o);
  o.threads = 2;
  auto r2 = train_model(d, o);
  auto p1 = probs_of(*model_of(d, o, r1), d), p2 = probs_of(*model_of(d, o, r2), d);
  double worst = 0;
  for (size_t i = 0; i < p1.size(); ++i) worst = std::max(worst, double(std::fabs(p1[i] - p2[i])));
  EXPECT_LT(worst, 1e-4);
}

TEST(Train, SavedModelReproducesTheTrainersStatistics) {
  // The loaded model (Eigen inference) against the trainer's own (torch) accuracy and weighted
  // loss Σ w_y (−log p_y) / Σ w_y, recomputed here from the probabilities.
  test::TempDir dir("train");
  for (std::string kind : {"logreg", "mlp", "embbag"}) {
    SCOPED_TRACE(kind);
    auto d = kind == "embbag" ? token_docs(150, 0.2, 5) : gaussian(120, 30, 12, 0.8, 4);
    auto o = quiet(kind);
    o.hidden = 10;
    o.buckets = 512;
    auto r = train_model(d, o);
    auto h = make_header(d, o);
    write_model(dir / "m.h5", h, r.params);
    auto m = Model::load(dir / "m.h5");
    auto mem = model_of(d, o, r);
    auto p = probs_of(*m, d);
    EXPECT_EQ(p, probs_of(*mem, d));
    double num = 0, den = 0;
    for (size_t i = 0; i < d.size(); ++i) {
      double w = r.weights[size_t(d.y[i])];
      num += w * -std::log(double(p[i * 2 + size_t(d.y[i])]));
      den += w;
    }
    EXPECT_NEAR(num / den, r.final_loss, 1e-4);
    EXPECT_NEAR(accuracy(*m, d), r.train_accuracy, 1.5 / double(d.size()));
    // Features: n × feature_dim.
    std::vector<float> f(d.size() * size_t(m->feature_dim())), pp(p.size());
    if (kind == "embbag")
      m->predict_tokens(d.token_offsets.data(), d.token_ids.data(), d.size(), pp.data(), f.data());
    else
      m->predict(d.x.data(), d.size(), pp.data(), f.data());
    EXPECT_EQ(m->feature_dim(), kind == "logreg" ? 12 : 10);
    if (kind == "mlp") {
      for (float v : f) EXPECT_GE(v, 0.0f);  // ReLU activations
    }
  }
}

// ---- bad input ----------------------------------------------------------------------------------

TEST(Train, RejectsBadData) {
  auto d = gaussian(10, 10, 4, 1.0, 1);
  auto o = quiet();
  d.x[5 * 4 + 2] = std::nanf("");
  std::string e = error_of<InputError>([&] { train_model(d, o); });
  EXPECT_NE(e.find("uid 1005"), std::string::npos) << e;
  EXPECT_NE(e.find("nan"), std::string::npos) << e;
  d.x[5 * 4 + 2] = INFINITY;
  e = error_of<InputError>([&] { train_model(d, o); });
  EXPECT_NE(e.find("uid 1005"), std::string::npos) << e;
  d.x[5 * 4 + 2] = 0;
  d.where = [](size_t i) { return cat("row ", i, " of here.tsv"); };
  d.x[3] = -INFINITY;
  e = error_of<InputError>([&] { train_model(d, o); });
  EXPECT_NE(e.find("row 0 of here.tsv"), std::string::npos) << e;
  d.x[3] = 0;

  // A class without examples.
  auto m = d;
  m.classes = {"neg", "pos", "zzz"};
  e = error_of<InputError>([&] { train_model(m, o, "labels.tsv"); });
  EXPECT_NE(e.find("class 'zzz' has no training examples"), std::string::npos) << e;
  o.allow_missing_classes = true;
  o.lr = 0.05;  // converge, so that the absent class's probability has been pushed down
  auto r = train_model(m, o);
  EXPECT_EQ(r.weights[2], 0.0);
  auto model = model_of(m, o, r);
  auto p = probs_of(*model, m);
  for (size_t i = 0; i < m.size(); ++i) EXPECT_LT(p[i * 3 + 2], 0.2);
  o.allow_missing_classes = false;
  o.lr = 1e-3;

  // No examples at all.
  TrainData empty;
  empty.classes = {"a", "b"};
  empty.dim = 4;
  e = error_of<InputError>([&] { train_model(empty, o, "labels.tsv"); });
  EXPECT_NE(e.find("no labelled examples"), std::string::npos) << e;

  // Options out of range name the option.
  auto bad = o;
  bad.lr = -1;
  EXPECT_NE(error_of<UsageError>([&] { train_model(d, bad); }).find("--lr"), std::string::npos);
  bad = o;
  bad.batch_size = 0;
  EXPECT_NE(error_of<UsageError>([&] { train_model(d, bad); }).find("--batch-size"), std::string::npos);
  bad = quiet("mlp");
  bad.hidden = 0;
  EXPECT_NE(error_of<UsageError>([&] { train_model(d, bad); }).find("--hidden"), std::string::npos);
  bad = quiet("svm");
  EXPECT_NE(error_of<UsageError>([&] { train_model(d, bad); }).find("--model"), std::string::npos);
}

// ---- the stage -----------------------------------------------------------------------------------

namespace {

constexpr int kDim = 8;

// A pool of `shards` shards × `rows` rows: label-dependent embeddings (pos rows near +mu) and
// token ids (pos rows contain the signal). Returns uid -> label for every row.
std::vector<std::pair<uint64_t, std::string>> make_pool(const std::string& dir, int shards, int rows, uint64_t seed,
                                                          const std::string& encoder = "hash") {
  test::run("mkdir -p " + dir);
  Rng r(seed);
  std::vector<std::pair<uint64_t, std::string>> all;
  for (int s = 0; s < shards; ++s) {
    io::ShardMeta meta;
    meta.encoder = encoder;
    meta.encoder_params = "dim=8;test=1";
    meta.dim = kDim;
    meta.chunk_index = uint64_t(s);
    meta.source_file = cat("chunk-", s, ".tsv");
    io::ShardBlock b;
    for (int i = 0; i < rows; ++i) {
      uint64_t u = io::make_uid(uint64_t(s), uint64_t(i));
      bool pos = r.uniform() < 0.3;
      b.uid.push_back(u);
      b.id.push_back(cat("doc", s, "-", i));
      b.text.push_back(pos ? "signal text" : "plain text");
      for (int j = 0; j < kDim; ++j) b.embedding.push_back(float((pos && j == 0 ? 1.5 : 0.0) + r.normal()));
      size_t len = 1 + r.below(5);
      for (size_t k = 0; k < len; ++k) b.token_ids.push_back(uint32_t(100 + r.below(50)));
      if (pos) b.token_ids.push_back(kSignal);
      b.token_offsets.push_back(b.token_ids.size());
      all.push_back({u, pos ? "pos" : "neg"});
    }
    io::ShardWriter w(dir + "/" + io::shard_file_name(uint64_t(s)), meta, 16);
    w.append(b);
    w.close(0);
  }
  return all;
}

void write_labels(const std::string& path, const std::vector<std::pair<uint64_t, std::string>>& rows) {
  std::ofstream f(path);
  f << "uid\tlabel\n";
  for (auto& [u, l] : rows) f << u << '\t' << l << '\n';
}

// A subpool.h5 as trawl-retrieve writes it (formats::write_subpool, the one writer).
void write_subpool(const std::string& path, const std::vector<uint64_t>& uids, const std::vector<float>& emb,
                   const std::string& encoder = "hash") {
  formats::SubpoolInfo info;
  info.meta.method = "anchoral";
  info.meta.encoder = encoder;
  info.meta.params = "dim=8;test=1";
  info.meta.dim = kDim;
  info.rows = uids.size();
  formats::write_subpool(path, info, uids, std::vector<double>(uids.size(), 0.5), std::vector<int32_t>(uids.size(), 1),
                         emb);
}

TrainStageOptions stage_options(const test::TempDir& dir) {
  TrainStageOptions o;
  o.pool = dir / "pool";
  o.labels = dir / "labels.tsv";
  o.output = dir / "out/model.h5";
  o.train.progress = false;
  o.config = "test config\n";
  return o;
}

}  // namespace

TEST(TrainStage, TrainsSkipsAndRetrains) {
  test::TempDir dir("stage");
  auto all = make_pool(dir / "pool", 3, 40, 1);
  std::vector<std::pair<uint64_t, std::string>> lab(all.begin(), all.begin() + 70);
  write_labels(dir / "labels.tsv", lab);
  auto comm = mpi::Comm::world();
  auto o = stage_options(dir);
  auto s = run_train(comm, o);
  EXPECT_FALSE(s.skipped);
  EXPECT_EQ(s.examples, 70u);
  ASSERT_EQ(s.classes, (std::vector<std::string>{"neg", "pos"}));
  EXPECT_EQ(s.per_class[0] + s.per_class[1], 70u);
  EXPECT_GT(s.steps, 0u);  // the convex logreg's solver iterations
  auto m = Model::load(o.output);
  EXPECT_EQ(m->header().encoder, "hash");
  EXPECT_EQ(m->header().encoder_params, "dim=8;test=1");
  EXPECT_EQ(m->header().config, "test config\n");
  EXPECT_EQ(m->header().training_summary, s.summary);
  EXPECT_NE(s.summary.find(cat("steps=", s.steps)), std::string::npos) << s.summary;
  EXPECT_NO_THROW(check_compatible(m->header(), "hash", "dim=8;test=1", kDim, "pool"));
  std::string bytes = test::read_file(o.output);

  auto again = run_train(comm, o);
  EXPECT_TRUE(again.skipped);
  EXPECT_EQ(again.summary, s.summary);

  // Other labels or other options: retrained.
  lab.push_back(all[75]);
  write_labels(dir / "labels.tsv", lab);
  auto third = run_train(comm, o);
  EXPECT_FALSE(third.skipped);
  EXPECT_EQ(third.examples, 71u);
  lab.pop_back();
  write_labels(dir / "labels.tsv", lab);
  EXPECT_FALSE(run_train(comm, o).skipped);
  EXPECT_TRUE(test::read_file(o.output) == bytes);  // same inputs, same bytes
  o.train.seed = 1;
  EXPECT_FALSE(run_train(comm, o).skipped);
  EXPECT_FALSE(test::read_file(o.output) == bytes);
}

TEST(TrainStage, ModelsOnPoolData) {
  test::TempDir dir("stage");
  auto all = make_pool(dir / "pool", 2, 100, 2);
  std::vector<std::pair<uint64_t, std::string>> lab(all.begin(), all.begin() + 160);
  write_labels(dir / "labels.tsv", lab);
  auto comm = mpi::Comm::world();
  for (std::string kind : {"mlp", "embbag"}) {
    SCOPED_TRACE(kind);
    auto o = stage_options(dir);
    o.train.model = kind;
    o.train.hidden = 8;
    o.train.buckets = 256;
    o.train.lr = 0.01;
    o.output = dir / (kind + ".h5");
    auto s = run_train(comm, o);
    auto m = Model::load(o.output);
    EXPECT_EQ(m->header().kind, kind);
    EXPECT_EQ(m->header().input, kind == "embbag" ? "tokens" : "embedding");
    EXPECT_GT(s.train_accuracy, kind == "embbag" ? 0.95 : 0.75) << s.summary;
  }
}

TEST(TrainStage, SubpoolSuppliesEmbeddings) {
  test::TempDir dir("stage");
  auto all = make_pool(dir / "pool", 2, 40, 3);
  std::vector<std::pair<uint64_t, std::string>> lab(all.begin(), all.begin() + 60);
  write_labels(dir / "labels.tsv", lab);
  auto comm = mpi::Comm::world();
  auto o = stage_options(dir);
  o.train.features = "embedding";  // a subpool supplies embeddings
  run_train(comm, o);
  auto base = read_model_params(o.output, nullptr);

  // A subpool holding 10 labelled items (with the pool's vectors) and 5 unlabelled ones.
  io::ShardReader r0(dir / "pool/shard-000000.h5"), r1(dir / "pool/shard-000001.h5");
  std::vector<float> e0(40 * kDim), e1(40 * kDim);
  r0.read_embeddings(0, 40, e0.data());
  r1.read_embeddings(0, 40, e1.data());
  std::vector<uint64_t> su;
  std::vector<float> se;
  for (int i = 30; i < 40; ++i) {  // shard 0 rows 30..39 (labelled), shard 1 rows 30..34 (not)
    su.push_back(io::make_uid(0, uint64_t(i)));
    se.insert(se.end(), e0.begin() + i * kDim, e0.begin() + (i + 1) * kDim);
  }
  for (int i = 30; i < 35; ++i) {
    su.push_back(io::make_uid(1, uint64_t(i)));
    se.insert(se.end(), e1.begin() + i * kDim, e1.begin() + (i + 1) * kDim);
  }
  write_subpool(dir / "subpool.h5", su, se);
  o.subpool = dir / "subpool.h5";
  o.output = dir / "sub.h5";
  auto s = run_train(comm, o);
  EXPECT_EQ(s.from_subpool, 10u);
  auto withsub = read_model_params(o.output, nullptr);
  for (size_t i = 0; i < base.size(); ++i) EXPECT_EQ(withsub[i].values, base[i].values);

  // The subpool's vectors are the ones used: a NaN there is reported against the subpool.
  se[3 * kDim + 1] = std::nanf("");
  write_subpool(dir / "subpool.h5", su, se);
  std::string e = error_of<InputError>([&] { run_train(comm, o); });
  EXPECT_NE(e.find(cat("uid ", io::make_uid(0, 33))), std::string::npos) << e;
  EXPECT_NE(e.find("subpool.h5"), std::string::npos) << e;

  // A subpool of another encoder is refused.
  se[3 * kDim + 1] = 0;
  write_subpool(dir / "subpool.h5", su, se, "torchscript");
  e = error_of<InputError>([&] { run_train(comm, o); });
  EXPECT_NE(e.find("subpool.h5"), std::string::npos) << e;
  EXPECT_NE(e.find("torchscript"), std::string::npos) << e;
}

TEST(TrainStage, BadInput) {
  test::TempDir dir("stage");
  auto all = make_pool(dir / "pool", 2, 30, 4);
  auto comm = mpi::Comm::world();
  auto o = stage_options(dir);
  std::vector<std::pair<uint64_t, std::string>> lab(all.begin(), all.begin() + 40);

  // Empty labels: header only, and an empty file.
  write_labels(dir / "labels.tsv", {});
  std::string e = error_of<InputError>([&] { run_train(comm, o); });
  EXPECT_NE(e.find("labels.tsv"), std::string::npos) << e;
  EXPECT_NE(e.find("no labelled items"), std::string::npos) << e;
  test::write_file(dir / "labels.tsv", "");
  e = error_of<InputError>([&] { run_train(comm, o); });
  EXPECT_NE(e.find("labels.tsv"), std::string::npos) << e;

  // A class with no examples (fixed by --classes), then allowed.
  write_labels(dir / "labels.tsv", lab);
  o.classes = {"neg", "pos", "rare"};
  e = error_of<InputError>([&] { run_train(comm, o); });
  EXPECT_NE(e.find("class 'rare' has no training examples"), std::string::npos) << e;
  o.train.allow_missing_classes = true;
  EXPECT_NO_THROW(run_train(comm, o));
  EXPECT_EQ(Model::load(o.output)->num_classes(), 3);
  o.classes.clear();
  o.train.allow_missing_classes = false;

  // A labelled uid that is not in the pool: named with the labels file and line.
  auto l2 = lab;
  l2.push_back({io::make_uid(0, 999), "pos"});
  write_labels(dir / "labels.tsv", l2);
  e = error_of<InputError>([&] { run_train(comm, o); });
  EXPECT_NE(e.find("labels.tsv:42"), std::string::npos) << e;

  // A NaN embedding in a shard: named by uid, labels line and shard.
  {
    test::run("mkdir -p " + (dir / "pool2"));
    io::ShardMeta meta;
    meta.encoder = "hash";
    meta.encoder_params = "dim=8;test=1";
    meta.dim = kDim;
    io::ShardBlock b;
    for (int i = 0; i < 4; ++i) {
      b.uid.push_back(io::make_uid(0, uint64_t(i)));
      b.id.push_back("x");
      b.text.push_back("x");
      b.token_offsets.push_back(0);
      for (int j = 0; j < kDim; ++j) b.embedding.push_back(i == 2 && j == 5 ? std::nanf("") : float(i + j));
    }
    io::ShardWriter w(dir / "pool2/shard-000000.h5", meta, 16);
    w.append(b);
    w.close(0);
  }
  write_labels(dir / "labels.tsv", {{0, "a"}, {1, "b"}, {2, "a"}, {3, "b"}});
  o.pool = dir / "pool2";
  o.train.features = "embedding";  // a NaN in an embedding the model reads
  e = error_of<InputError>([&] { run_train(comm, o); });
  o.train.features = "tokens";
  EXPECT_NE(e.find("uid 2"), std::string::npos) << e;
  EXPECT_NE(e.find("labels.tsv:4"), std::string::npos) << e;
  EXPECT_NE(e.find("shard-000000.h5"), std::string::npos) << e;
  o.pool = dir / "pool";

  // Unwritable output, bad options: before any work.
  write_labels(dir / "labels.tsv", lab);
  o.output = "/proc/trawl-no-such-dir/model.h5";
  EXPECT_THROW(run_train(comm, o), IoError);
  o.output = dir / "m.h5";
  o.classes = {"neg", "neg"};
  EXPECT_THROW(run_train(comm, o), UsageError);
}
