// trawl-libs: trawl_byo trawl_embed_torch
// Bring your own model without Python: the C++ test module of embed_torch/test_model.h with
// pooled output [B, H] is a classifier with H logits. Its probabilities against a hand
// computation from the saved parameters; the model file (kind torchscript, format v3) and its
// checks; modules that do not fit rejected before anything is written.
#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include "byo/classifier.h"
#include "core/plugin.h"
#include "core/error.h"
#include "core/fs.h"
#include "embed_torch/test_model.h"
#include "embed_torch/wordpiece.h"
#include "io/h5.h"
#include "support/testutil.h"
#include "train/model.h"

using namespace trawl;
using namespace trawl::test;
using embed::TestModelOptions;
using embed::TestModelOutput;

namespace {

// softmax(masked mean over the text of tanh(e W + ctx Ctx + b)) for one id sequence.
std::vector<double> reference(const embed::TestModelParams& p, const std::vector<int64_t>& ids) {
  const size_t h = size_t(p.dim), n = ids.size();
  std::vector<double> ctx(h, 0.0), cc(h, 0.0), out(h, 0.0);
  for (size_t l = 0; l < n; ++l)
    for (size_t k = 0; k < h; ++k) ctx[k] += p.embedding[size_t(ids[l]) * h + k] / double(n);
  for (size_t j = 0; j < h; ++j)
    for (size_t k = 0; k < h; ++k) cc[j] += ctx[k] * p.context[k * h + j];
  for (size_t l = 0; l < n; ++l)
    for (size_t j = 0; j < h; ++j) {
      double s = cc[j] + p.bias[j];
      for (size_t k = 0; k < h; ++k) s += p.embedding[size_t(ids[l]) * h + k] * p.weight[k * h + j];
      out[j] += std::tanh(s) / double(n);
    }
  double m = out[0], z = 0;
  for (double x : out) m = std::max(m, x);
  for (double& x : out) z += (x = std::exp(x - m));
  for (double& x : out) x /= z;
  return out;
}

struct Fixture : ::testing::Test {
  TempDir dir{"byo"};
  std::string vocab() { return dir / "vocab.txt"; }
  std::string module(const std::string& name, TestModelOptions o, int64_t vocab_size = 0) {
    if (!path_exists(vocab())) embed::write_test_vocab(vocab());
    const std::string path = dir / name;
    embed::write_test_model(path, vocab_size ? vocab_size : int64_t(embed::test_vocab_tokens().size()), o);
    return path;
  }
  byo::ImportOptions import_options(const std::string& mod, std::vector<std::string> classes, int max_length = 32) {
    byo::ImportOptions o;
    o.module_path = mod;
    o.vocab_path = vocab();
    o.classes = std::move(classes);
    o.max_length = max_length;
    o.output = dir / "model.h5";
    return o;
  }
  static TestModelOptions pooled(int dim) {
    TestModelOptions o;
    o.dim = dim;
    o.output = TestModelOutput::kPooled;
    return o;
  }
  // The import fails with an InputError (UsageError if usage) whose message matches every
  // part, and leaves no output.
  template <class E = InputError>
  void expect_rejected(const byo::ImportOptions& o, const std::vector<std::string>& parts) {
    try {
      byo::import_torchscript(o);
      ADD_FAILURE() << "import of " << o.module_path << " succeeded";
    } catch (const E& e) {
      for (auto& p : parts) EXPECT_NE(std::string(e.what()).find(p), std::string::npos) << e.what() << "\nmissing: " << p;
    }
    EXPECT_FALSE(path_exists(o.output));
  }
};

TEST_F(Fixture, ProbabilitiesMatchAHandComputation) {
  auto mod = module("m.pt", pooled(3));
  auto o = import_options(mod, {"a", "b", "c"});
  byo::import_torchscript(o);
  auto h = train::read_model_header(o.output);
  EXPECT_EQ(h.kind, "torchscript");
  EXPECT_EQ(h.input, "text");
  EXPECT_EQ(h.format_version, 3);
  EXPECT_EQ(h.max_length, 32);
  EXPECT_EQ(h.classes, (std::vector<std::string>{"a", "b", "c"}));
  auto payload = train::read_torchscript_payload(o.output, nullptr);
  EXPECT_EQ(payload.vocab, embed::test_vocab_tokens());
  EXPECT_EQ(payload.module, read_file(mod));
  EXPECT_TRUE(train::model_is_complete(o.output));

  byo::register_torchscript_models();
  auto m = train::Model::load(o.output, 1);
  EXPECT_TRUE(m->reads_text());
  EXPECT_FALSE(m->reads_tokens());
  EXPECT_FALSE(m->reads_embedding());
  // Lengths from 3 ids to past max length (truncated), more texts than one batch, any order.
  std::vector<std::string> texts;
  for (int i = 0; i < 75; ++i) {
    std::string t = "the job";
    for (int k = 0; k < (i * 7) % 40; ++k) t += k % 3 ? " lost" : " work";
    texts.push_back(i % 5 ? t : "");
  }
  std::vector<float> probs(texts.size() * 3, -1.0f);
  m->predict_texts(texts, probs.data());
  auto params = embed::read_test_model_params(mod);
  auto wp = embed::WordPiece::from_tokens(embed::test_vocab_tokens());
  double worst = 0, spread = 0;
  for (size_t i = 0; i < texts.size(); ++i) {
    auto ref = reference(params, wp.encode(texts[i], 32));
    for (size_t c = 0; c < 3; ++c) {
      worst = std::max(worst, std::abs(ref[c] - double(probs[i * 3 + c])));
      spread = std::max(spread, std::abs(ref[c] - ref[0]));
    }
  }
  EXPECT_LT(worst, 1e-5);
  EXPECT_GT(spread, 1e-3);  // the comparison can tell the classes apart
}

// Without a registered loader (a binary that links no LibTorch), Model::load turns to the
// plugin (core/plugin.h); where that is missing, the error names the model and the path tried.
TEST_F(Fixture, ModelLoadWithoutTheLoaderNeedsThePlugin) {
  byo::import_torchscript(import_options(module("m.pt", pooled(2)), {"neg", "pos"}));
  train::set_torchscript_loader(nullptr);
  const std::string nowhere = std::string(dir / "nowhere") + "/libtrawl-torch.so";
  ::setenv("TRAWL_TORCH_PLUGIN", nowhere.c_str(), 1);
  try {
    train::Model::load(dir / "model.h5", 1);
    ADD_FAILURE() << "a torchscript model loaded without a loader or the plugin";
  } catch (const UsageError& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find(dir / "model.h5"), std::string::npos) << what;
    EXPECT_NE(what.find(nowhere + ": no such file"), std::string::npos) << what;
  }
  ::unsetenv("TRAWL_TORCH_PLUGIN");
  EXPECT_FALSE(plugin::torch_loaded());
  byo::register_torchscript_models();
  EXPECT_NO_THROW(train::Model::load(dir / "model.h5", 1));
}

TEST_F(Fixture, ClassCountMismatch) {
  auto mod = module("m.pt", pooled(3));
  expect_rejected(import_options(mod, {"neg", "pos"}), {mod, "forward returns 3 logits per text but 2 classes"});
}

TEST_F(Fixture, TokenStatesAreNotLogits) {
  TestModelOptions o;
  o.dim = 2;
  o.output = TestModelOutput::kTokens;
  auto mod = module("m.pt", o);
  expect_rejected(import_options(mod, {"neg", "pos"}), {mod, "forward returned shape [1, 3, 2]", "expected logits [1, 2]"});
}

TEST_F(Fixture, WrongSignature) {
  auto o = pooled(2);
  o.dict_input = true;
  auto mod = module("m.pt", o);
  expect_rejected(import_options(mod, {"neg", "pos"}), {mod, "forward has signature", "Dict(str, Tensor)"});
}

TEST_F(Fixture, VocabularyLargerThanTheModule) {
  auto mod = module("m.pt", pooled(2), 100);
  const auto last = embed::test_vocab_tokens().size() - 1;
  expect_rejected(import_options(mod, {"neg", "pos"}),
                  {mod, "forward failed", cat("last id ", last), "is the vocabulary the module's own"});
}

TEST_F(Fixture, ModuleThatThrowsOnLongInput) {
  auto o = pooled(2);
  o.max_positions = 16;
  auto mod = module("m.pt", o);
  expect_rejected(import_options(mod, {"neg", "pos"}, 32), {mod, "forward failed", "--max-length 32"});
  auto ok = import_options(mod, {"neg", "pos"}, 16);
  EXPECT_NO_THROW(byo::import_torchscript(ok));
}

TEST_F(Fixture, DamagedModuleIsRefused) {
  auto o = import_options(module("m.pt", pooled(2)), {"neg", "pos"});
  byo::import_torchscript(o);
  {
    auto f = io::h5::File::open(o.output, io::h5::File::kReadWrite);
    f.set_attr("module-checksum", "crc32:00000000/size:1");
  }
  EXPECT_FALSE(train::model_is_complete(o.output));
  try {
    train::read_torchscript_payload(o.output, nullptr);
    ADD_FAILURE() << "damaged module accepted";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find(o.output + ": dataset 'module' has checksum"), std::string::npos) << e.what();
  }
}

TEST_F(Fixture, DamagedVocabularyIsRefused) {
  auto o = import_options(module("m.pt", pooled(2)), {"neg", "pos"});
  byo::import_torchscript(o);
  {
    auto f = io::h5::File::open(o.output, io::h5::File::kReadWrite);
    f.set_attr("vocab-checksum", "crc32:00000000/size:1");
  }
  try {
    train::read_torchscript_payload(o.output, nullptr);
    ADD_FAILURE() << "damaged vocabulary accepted";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find(o.output + ": dataset 'vocab' has checksum"), std::string::npos) << e.what();
  }
}

TEST_F(Fixture, ClassicModelsAreStillWrittenAsVersion2) {
  train::ModelHeader h;
  h.kind = "logreg";
  h.input = "embedding";
  h.classes = {"neg", "pos"};
  h.input_dim = 2;
  auto params = train::param_layout(h);
  params[0].values = {1, 2, 3, 4};
  params[1].values = {0, 0};
  train::write_model(dir / "logreg.h5", h, params);
  EXPECT_EQ(train::read_model_header(dir / "logreg.h5").format_version, 2);
  EXPECT_THROW(train::read_torchscript_payload(dir / "logreg.h5", nullptr), InputError);
}

}  // namespace
