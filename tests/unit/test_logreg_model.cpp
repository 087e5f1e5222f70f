// trawl-libs: trawl_train
// trawl-train's logreg over token features, end to end through the model file: the scorer
// (train/model.cpp, Eigen, reading the file) gives the solver's own probabilities
// (train/linear.h predict_proba on the same tf-idf rows), for tokens and tokens+embedding, binary
// and 3 classes; the model file is v2 with the idf weights; bad uses are clear errors.
#include <gtest/gtest.h>

#include <cmath>

#include "core/error.h"
#include "core/rng.h"
#include "support/testutil.h"
#include "train/linear.h"
#include "train/model.h"
#include "train/train.h"

// LibTorch is linked into this binary: mlp and embbag train in-process, not through the plugin.
static const bool kTorchTraining = (trawl::train::register_torch_training(), true);

using namespace trawl;
using namespace trawl::train;

namespace {

TrainData docs(size_t n, int C, int dim, uint64_t seed) {
  Rng r(seed);
  TrainData d;
  for (int c = 0; c < C; ++c) d.classes.push_back(cat("c", c));
  d.dim = dim;
  for (size_t i = 0; i < n; ++i) {
    const int y = int(r.below(uint64_t(C)));
    const size_t len = 3 + r.below(12);
    for (size_t k = 0; k < len; ++k) d.token_ids.push_back(uint32_t(r() & 0xffffffffu) % 5000);
    for (int k = 0; k < 2; ++k) d.token_ids.push_back(uint32_t(900000 + 17 * y + r.below(3)));  // class words
    d.token_offsets.push_back(d.token_ids.size());
    double norm = 0;
    std::vector<float> e(size_t(dim), 0.0f);
    for (int j = 0; j < dim; ++j) norm += double(e[size_t(j)] = float(r.normal() + (j == y ? 1.5 : 0.0))) * e[size_t(j)];
    for (auto& v : e) d.x.push_back(float(v / std::sqrt(norm)));
    d.y.push_back(y);
    d.uid.push_back(i);
  }
  d.idf.resize(1 << 12);
  for (size_t b = 0; b < d.idf.size(); ++b) d.idf[b] = float(1.0 + double(b % 7) / 3.0);
  return d;
}

}  // namespace

TEST(LogregModel, FileScoresAsTheSolver) {
  test::TempDir dir("lrm");
  for (int C : {2, 3})
    for (std::string feats : {"tokens", "tokens+embedding"}) {
      SCOPED_TRACE(cat(C, " classes, ", feats));
      auto d = docs(400, C, 8, uint64_t(C) * 7 + feats.size());
      TrainOptions o;
      o.model = "logreg", o.features = feats, o.feature_buckets = 1 << 12, o.progress = false, o.C = 2.0;
      auto r = train_model(d, o);
      auto h = make_header(d, o);
      EXPECT_EQ(h.buckets, 1 << 12);
      EXPECT_EQ(h.input_dim, (1 << 12) + (feats == "tokens" ? 0 : 8));
      const std::string path = dir / cat("m", C, feats, ".h5");
      write_model(path, h, r.params);
      auto m = Model::load(path, 2);
      EXPECT_EQ(m->header().format_version, kModelFormatVersionClassic);
      EXPECT_EQ(m->feature_dim(), 0);
      EXPECT_EQ(m->embedding_dim(), feats == "tokens" ? 0 : 8);
      std::vector<float> p(d.size() * size_t(C));
      if (feats == "tokens")
        m->predict_tokens(d.token_offsets.data(), d.token_ids.data(), d.size(), p.data());
      else
        m->predict_mixed(d.token_offsets.data(), d.token_ids.data(), d.x.data(), d.size(), p.data());
      // The reference: the solver's probabilities on its own features, refitted here.
      linear::Csr x;
      linear::tfidf_rows(d.token_offsets.data(), d.token_ids.data(), d.size(), 1 << 12, d.idf.data(), &x);
      if (feats != "tokens") {
        linear::Csr y;
        y.cols = x.cols + 8;
        for (size_t i = 0; i < d.size(); ++i) {
          for (uint64_t k = x.offsets[i]; k < x.offsets[i + 1]; ++k) y.index.push_back(x.index[k]), y.value.push_back(x.value[k]);
          for (int j = 0; j < 8; ++j) y.index.push_back(uint32_t((1 << 12) + j)), y.value.push_back(d.x[i * 8 + size_t(j)]);
          y.offsets.push_back(y.index.size());
        }
        x = y;
      }
      linear::LogregOptions lo;
      lo.C = 2.0, lo.tol = o.tol;
      auto fit = linear::fit_logreg(x, d.y, C, lo);
      auto ref = linear::predict_proba(fit, x);
      double worst = 0;
      int right = 0;
      for (size_t i = 0; i < p.size(); ++i) worst = std::max(worst, std::fabs(double(p[i]) - ref[i]));
      for (size_t i = 0; i < d.size(); ++i) {
        int best = 0;
        for (int c = 1; c < C; ++c)
          if (p[i * size_t(C) + size_t(c)] > p[i * size_t(C) + size_t(best)]) best = c;
        right += best == d.y[i];
      }
      EXPECT_LT(worst, 1e-5);
      EXPECT_GT(right, int(0.9 * double(d.size())));  // the class words separate the classes
      // The wrong entry point is a clear error.
      if (feats == "tokens") EXPECT_THROW(m->predict(d.x.data(), d.size(), p.data()), UsageError);
      else EXPECT_THROW(m->predict_tokens(d.token_offsets.data(), d.token_ids.data(), d.size(), p.data()), UsageError);
    }
}

TEST(LogregModel, NoLearningRateAndSeedFree) {
  auto d = docs(300, 2, 4, 5);
  TrainOptions o;
  o.model = "logreg", o.feature_buckets = 1 << 12, o.progress = false;
  auto a = train_model(d, o);
  o.lr = 123.0, o.seed = 99, o.epochs = 1, o.min_steps = 0;  // AdamW's options play no part
  auto b = train_model(d, o);
  EXPECT_EQ(a.params[1].values, b.params[1].values);
  o.C = 0;
  EXPECT_THROW(train_model(d, o), UsageError);
  o.C = 1, o.features = "words";
  try {
    train_model(d, o);
    FAIL() << "no error";
  } catch (const UsageError& e) {
    EXPECT_NE(std::string(e.what()).find("--features: 'words'"), std::string::npos) << e.what();
  }
}

TEST(LogregModel, HeaderChecks) {
  ModelHeader h;
  h.kind = "logreg", h.input = "tokens", h.classes = {"a", "b"}, h.input_dim = 64, h.buckets = 32;
  EXPECT_THROW(param_layout(h, "m.h5"), InputError);  // tokens: buckets must equal input-dim
  h.buckets = 64;
  EXPECT_EQ(param_layout(h, "m.h5").size(), 3u);
  h.input = "tokens+embedding";
  EXPECT_THROW(param_layout(h, "m.h5"), InputError);  // no room for the embedding
  h.input_dim = 72;
  auto l = param_layout(h, "m.h5");
  EXPECT_EQ(l[0].name, "idf");
  EXPECT_EQ(l[1].shape, (std::vector<uint64_t>{2, 72}));
  h.kind = "mlp", h.hidden = 4;
  EXPECT_THROW(param_layout(h, "m.h5"), InputError);  // mlp reads embeddings only
}
