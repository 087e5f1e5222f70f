// trawl-libs: trawl_embed_torch
// The TorchScript encoder against an independent computation of the tiny test model
// (embedding lookup, masked-mean context, tanh projection, masked mean pooling) done with
// plain loops on the parameters read back from the saved file.
#include <gtest/gtest.h>

#include <cmath>
#include <memory>
#include <regex>
#include <string>
#include <vector>

#include "core/error.h"
#include "core/fs.h"
#include "core/rng.h"
#include "embed/encoder.h"
#include "embed_torch/test_model.h"
#include "embed_torch/torchscript_encoder.h"
#include "embed_torch/wordpiece.h"
#include "support/testutil.h"

using namespace trawl;
using namespace trawl::embed;

namespace {

// Hand computation of the test model's sentence vector for one id sequence.
std::vector<double> reference(const TestModelParams& p, const std::vector<int64_t>& ids, bool cls_only) {
  const size_t h = static_cast<size_t>(p.dim), n = ids.size();
  std::vector<std::vector<double>> e(n, std::vector<double>(h));
  std::vector<double> ctx(h, 0.0);
  for (size_t l = 0; l < n; ++l)
    for (size_t k = 0; k < h; ++k) {
      e[l][k] = p.embedding[static_cast<size_t>(ids[l]) * h + k];
      ctx[k] += e[l][k] / double(n);
    }
  std::vector<double> cc(h, 0.0);
  for (size_t j = 0; j < h; ++j)
    for (size_t k = 0; k < h; ++k) cc[j] += ctx[k] * p.context[k * h + j];
  std::vector<double> out(h, 0.0);
  for (size_t l = 0; l < (cls_only ? 1 : n); ++l)
    for (size_t j = 0; j < h; ++j) {
      double s = cc[j] + p.bias[j];
      for (size_t k = 0; k < h; ++k) s += e[l][k] * p.weight[k * h + j];
      out[j] += std::tanh(s);
    }
  double ss = 0;
  for (double x : out) ss += x * x;
  for (double& x : out) x /= std::sqrt(ss);
  return out;
}

std::vector<float> run(Encoder& enc, const std::vector<std::string>& texts) {
  std::vector<float> out(texts.size() * static_cast<size_t>(enc.dim()), -7.0f);
  enc.encode(texts, {}, {}, out.data());
  return out;
}

double max_abs_diff(const std::vector<float>& a, const std::vector<float>& b) {
  EXPECT_EQ(a.size(), b.size());
  double m = 0;
  for (size_t i = 0; i < a.size() && i < b.size(); ++i) m = std::max(m, std::fabs(double(a[i]) - b[i]));
  return m;
}

class TorchScriptEncoderTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = std::make_unique<test::TempDir>("tse");
    files_ = write_test_encoder(*dir_ / "tokens");
    for (auto kind : {TestModelOutput::kPooled, TestModelOutput::kTuple, TestModelOutput::kDict}) {
      TestModelOptions o;
      o.output = kind;
      write_test_encoder(*dir_ / to_string(kind), o);
    }
    TestModelOptions st;  // like a traced sentence-transformers model: dict in, dict out
    st.dict_input = true;
    st.output = TestModelOutput::kDict;
    write_test_encoder(*dir_ / "st", st);
    st.output = TestModelOutput::kTokens;
    write_test_encoder(*dir_ / "dict-in", st);
    params_ = read_test_model_params(files_.model_path);
    texts_ = make_texts(200, 1);
  }
  static void TearDownTestSuite() { dir_.reset(); }

  // Texts of 0..80 words drawn from the test vocabulary plus unknown words, mixed case,
  // punctuation and accents; the longest exceed max_length and are truncated.
  static std::vector<std::string> make_texts(int n, uint64_t seed) {
    auto vocab = test_vocab_tokens();
    const char* extra[] = {"Caf\xC3\xA9", "JOB!", "zqxv", "don't", "#hiring", "@user", "\xE5\x8D\x9A", "..."};
    Rng rng(seed);
    std::vector<std::string> out;
    for (int i = 0; i < n; ++i) {
      std::string t;
      int words = static_cast<int>(rng.below(i % 10 == 0 ? 81 : 15));
      for (int w = 0; w < words; ++w) {
        std::string word = rng.below(5) == 0 ? std::string(extra[rng.below(8)])
                                             : vocab[5 + rng.below(vocab.size() - 5)];
        if (word.rfind("##", 0) == 0) word = word.substr(2);
        t += (w ? " " : "") + word;
      }
      out.push_back(t);
    }
    return out;
  }

  static TorchScriptEncoderOptions options(const std::string& kind = "tokens") {
    TorchScriptEncoderOptions o;
    o.model_path = *dir_ / kind + "/model.pt";
    o.vocab_path = *dir_ / kind + "/vocab.txt";
    return o;
  }

  // Reference vectors for texts, tokenised with the same vocabulary and max_length.
  static std::vector<float> reference_rows(const std::vector<std::string>& texts, int max_length, bool cls_only) {
    auto wp = WordPiece::load(files_.vocab_path);
    std::vector<float> out;
    for (const auto& t : texts)
      for (double x : reference(params_, wp.encode(t, max_length), cls_only)) out.push_back(static_cast<float>(x));
    return out;
  }

  static std::unique_ptr<test::TempDir> dir_;
  static TestEncoderFiles files_;
  static TestModelParams params_;
  static std::vector<std::string> texts_;
};
std::unique_ptr<test::TempDir> TorchScriptEncoderTest::dir_;
TestEncoderFiles TorchScriptEncoderTest::files_;
TestModelParams TorchScriptEncoderTest::params_;
std::vector<std::string> TorchScriptEncoderTest::texts_;

}  // namespace

TEST_F(TorchScriptEncoderTest, SavedModelHasTheExpectedParameters) {
  EXPECT_EQ(params_.dim, 32);
  EXPECT_EQ(params_.vocab_size, static_cast<int64_t>(test_vocab_tokens().size()));
  EXPECT_GT(params_.vocab_size, 300);
  EXPECT_EQ(params_.embedding.size(), static_cast<size_t>(params_.vocab_size * 32));
  EXPECT_EQ(params_.weight.size(), 32u * 32u);
  // Deterministic under the seed; another seed gives other weights.
  test::TempDir d("tse");
  TestModelOptions o;
  write_test_model(d / "same.pt", params_.vocab_size, o);
  o.seed = 2;
  write_test_model(d / "other.pt", params_.vocab_size, o);
  EXPECT_EQ(read_test_model_params(d / "same.pt").embedding, params_.embedding);
  // Byte-identical, so the encoder identity (params) of a rebuilt demo model is stable.
  EXPECT_EQ(checksum_file(d / "same.pt").crc32, checksum_file(files_.model_path).crc32);
  EXPECT_NE(read_test_model_params(d / "other.pt").embedding, params_.embedding);
}

TEST_F(TorchScriptEncoderTest, HandPickedIdsMatchHandComputation) {
  auto enc = make_torchscript_encoder(options());
  auto wp = WordPiece::load(files_.vocab_path);
  // "The JOB!" -> [CLS] the job ! [SEP], ids looked up one by one.
  std::vector<int64_t> ids = {wp.id("[CLS]"), wp.id("the"), wp.id("job"), wp.id("!"), wp.id("[SEP]")};
  for (auto id : ids) ASSERT_GE(id, 0);
  auto ref = reference(params_, ids, false);
  auto got = run(*enc, {"The JOB!"});
  ASSERT_EQ(got.size(), 32u);
  for (size_t k = 0; k < 32; ++k) EXPECT_NEAR(got[k], ref[k], 1e-5) << k;
}

TEST_F(TorchScriptEncoderTest, MatchesHandComputationOnManyTexts) {
  auto enc = make_torchscript_encoder(options());
  EXPECT_EQ(enc->name(), "torchscript");
  EXPECT_EQ(enc->dim(), 32);
  auto got = run(*enc, texts_);
  EXPECT_LT(max_abs_diff(got, reference_rows(texts_, 128, false)), 1e-5);
}

TEST_F(TorchScriptEncoderTest, BatchSizeDoesNotChangeVectors) {
  auto o = options();
  std::vector<std::vector<float>> outs;
  for (int bs : {1, 7, 64}) {
    o.batch_size = bs;
    auto enc = make_torchscript_encoder(o);
    outs.push_back(run(*enc, texts_));
  }
  EXPECT_LT(max_abs_diff(outs[0], outs[1]), 1e-5);
  EXPECT_LT(max_abs_diff(outs[0], outs[2]), 1e-5);
}

TEST_F(TorchScriptEncoderTest, PaddingDoesNotChangeVectors) {
  auto enc = make_torchscript_encoder(options());
  const std::string short_text = "lost my job today";
  std::string long_text;
  for (int i = 0; i < 60; ++i) long_text += "people work hard every day ";
  auto alone = run(*enc, {short_text});
  auto padded = run(*enc, {long_text, short_text, "a"});  // one batch, padded to the long text
  std::vector<float> second(padded.begin() + 32, padded.begin() + 64);
  EXPECT_LT(max_abs_diff(alone, second), 1e-5);
  EXPECT_LT(max_abs_diff(alone, reference_rows({short_text}, 128, false)), 1e-5);
  EXPECT_LT(max_abs_diff(padded, reference_rows({long_text, short_text, "a"}, 128, false)), 1e-5);
}

TEST_F(TorchScriptEncoderTest, VectorsHaveUnitNorm) {
  auto enc = make_torchscript_encoder(options());
  auto texts = texts_;
  texts.push_back("");
  texts.push_back("\x01\x02 \t");
  auto got = run(*enc, texts);
  for (size_t i = 0; i < texts.size(); ++i) {
    double ss = 0;
    for (size_t k = 0; k < 32; ++k) ss += double(got[i * 32 + k]) * got[i * 32 + k];
    EXPECT_NEAR(ss, 1.0, 1e-5) << "row " << i;
  }
}

TEST_F(TorchScriptEncoderTest, TruncatesToMaxLength) {
  auto o = options();
  o.max_length = 16;
  auto enc = make_torchscript_encoder(o);
  std::string text;
  auto vocab = test_vocab_tokens();
  for (size_t i = 150; i < 250; ++i) text += vocab[i].substr(vocab[i].rfind("##", 0) == 0 ? 2 : 0) + " ";
  auto got = run(*enc, {text});
  auto wp = WordPiece::load(files_.vocab_path);
  auto ids = wp.encode(text, 16);
  ASSERT_EQ(ids.size(), 16u);
  EXPECT_EQ(ids.back(), wp.id("[SEP]"));
  EXPECT_LT(max_abs_diff(got, reference_rows({text}, 16, false)), 1e-5);
  // ... which is not what the full-length encoder gives.
  auto full = make_torchscript_encoder(options());
  EXPECT_GT(max_abs_diff(got, run(*full, {text})), 1e-3);
}

TEST_F(TorchScriptEncoderTest, PooledTupleAndDictOutputs) {
  auto mean_ref = reference_rows(texts_, 128, false);
  auto cls_ref = reference_rows(texts_, 128, true);
  auto pooled = make_torchscript_encoder(options("pooled"));
  EXPECT_EQ(pooled->dim(), 32);
  EXPECT_LT(max_abs_diff(run(*pooled, texts_), mean_ref), 1e-5);
  auto tuple = make_torchscript_encoder(options("tuple"));  // (h, h[:,0]): the first element
  EXPECT_LT(max_abs_diff(run(*tuple, texts_), mean_ref), 1e-5);
  auto dict = make_torchscript_encoder(options("dict"));  // "sentence_embedding" = h[:,0]
  auto got = run(*dict, texts_);
  EXPECT_LT(max_abs_diff(got, cls_ref), 1e-5);
  EXPECT_GT(max_abs_diff(got, mean_ref), 1e-2);
}

TEST_F(TorchScriptEncoderTest, DictInputLikeSentenceTransformers) {
  auto dict_in = make_torchscript_encoder(options("dict-in"));
  EXPECT_LT(max_abs_diff(run(*dict_in, texts_), reference_rows(texts_, 128, false)), 1e-5);
  auto st = make_torchscript_encoder(options("st"));
  EXPECT_LT(max_abs_diff(run(*st, texts_), reference_rows(texts_, 128, true)), 1e-5);
}

TEST_F(TorchScriptEncoderTest, ThreadsDoNotChangeVectors) {
  auto o = options();
  o.threads = 2;
  auto two = run(*make_torchscript_encoder(o), texts_);
  EXPECT_EQ(torch_threads(), 2);
  o.threads = 1;
  auto one = run(*make_torchscript_encoder(o), texts_);
  EXPECT_EQ(torch_threads(), 1);
  EXPECT_LT(max_abs_diff(one, two), 1e-5);
}

TEST_F(TorchScriptEncoderTest, EmptyBlockIsANoOp) {
  auto enc = make_torchscript_encoder(options());
  float sentinel = 3.0f;
  enc->encode({}, {0}, {}, &sentinel);
  EXPECT_EQ(sentinel, 3.0f);
}

TEST_F(TorchScriptEncoderTest, ParamsIdentifyModelVocabAndSettings) {
  auto o = options();
  auto p = make_torchscript_encoder(o)->params();
  char crc[16];
  std::snprintf(crc, sizeof crc, "%08x", checksum_file(o.model_path).crc32);
  char vcrc[16];
  std::snprintf(vcrc, sizeof vcrc, "%08x", checksum_file(o.vocab_path).crc32);
  EXPECT_EQ(p, std::string("model=model.pt;model_crc32=") + crc + ";vocab_crc32=" + vcrc +
                   ";max_length=128;lowercase=true");
  o.max_length = 64;
  o.lowercase = false;
  EXPECT_EQ(make_torchscript_encoder(o)->params(), std::string("model=model.pt;model_crc32=") + crc +
                                                       ";vocab_crc32=" + vcrc + ";max_length=64;lowercase=false");
  // Batch size and threads do not change the vectors, so they are not part of the identity.
  o = options();
  o.batch_size = 3;
  EXPECT_EQ(make_torchscript_encoder(o)->params(), p);
  // Another model file: another checksum.
  EXPECT_NE(make_torchscript_encoder(options("pooled"))->params(), p);
}

TEST_F(TorchScriptEncoderTest, DimensionComesFromTheModel) {
  test::TempDir d("tse");
  TestModelOptions mo;
  mo.dim = 8;
  auto f = write_test_encoder(d.path(), mo);
  TorchScriptEncoderOptions o;
  o.model_path = f.model_path;
  o.vocab_path = f.vocab_path;
  auto enc = make_torchscript_encoder(o);
  EXPECT_EQ(enc->dim(), 8);
  EXPECT_EQ(run(*enc, {"hello world"}).size(), 8u);
}

namespace {
template <class E>
std::string error_of(const TorchScriptEncoderOptions& o) {
  try {
    make_torchscript_encoder(o);
  } catch (const E& e) {
    return e.what();
  } catch (const std::exception& e) {
    ADD_FAILURE() << "wrong exception type: " << e.what();
    return "";
  }
  ADD_FAILURE() << "no exception";
  return "";
}
}  // namespace

TEST_F(TorchScriptEncoderTest, MissingModelFileIsAnIoErrorNamingIt) {
  auto o = options();
  o.model_path = *dir_ / "no-such-model.pt";
  auto m = error_of<IoError>(o);
  EXPECT_NE(m.find(o.model_path), std::string::npos) << m;
}

TEST_F(TorchScriptEncoderTest, CorruptModelFileIsAnInputErrorNamingIt) {
  test::TempDir d("tse");
  Rng rng(5);
  std::string bytes;
  for (int i = 0; i < 4096; ++i) bytes += static_cast<char>(rng.below(256));
  test::write_file(d / "corrupt.pt", bytes);
  auto o = options();
  o.model_path = d / "corrupt.pt";
  auto m = error_of<InputError>(o);
  EXPECT_NE(m.find(o.model_path), std::string::npos) << m;
  EXPECT_NE(m.find("TorchScript"), std::string::npos) << m;
  // A truncated real model is corrupt too.
  std::string real = test::read_file(files_.model_path);
  test::write_file(d / "truncated.pt", real.substr(0, real.size() / 2));
  o.model_path = d / "truncated.pt";
  m = error_of<InputError>(o);
  EXPECT_NE(m.find(o.model_path), std::string::npos) << m;
}

TEST_F(TorchScriptEncoderTest, VocabWithoutClsIsAnInputErrorNamingIt) {
  test::TempDir d("tse");
  std::string vocab;
  for (const auto& t : test_vocab_tokens())
    if (t != "[CLS]") vocab += t + "\n";
  test::write_file(d / "vocab.txt", vocab);
  auto o = options();
  o.vocab_path = d / "vocab.txt";
  auto m = error_of<InputError>(o);
  EXPECT_NE(m.find(o.vocab_path), std::string::npos) << m;
  EXPECT_NE(m.find("[CLS]"), std::string::npos) << m;
}

TEST_F(TorchScriptEncoderTest, VocabLargerThanTheModelIsAnInputError) {
  test::TempDir d("tse");
  write_test_model(d / "small.pt", 50, TestModelOptions{});
  auto o = options();
  o.model_path = d / "small.pt";
  auto m = error_of<InputError>(o);
  EXPECT_NE(m.find(o.model_path), std::string::npos) << m;
  EXPECT_NE(m.find(o.vocab_path), std::string::npos) << m;
}

TEST_F(TorchScriptEncoderTest, MaxLengthBeyondTheModelsPositionsFailsAtLoad) {
  test::TempDir d("tse");
  TestModelOptions mo;
  mo.max_positions = 64;
  auto f = write_test_encoder(d.path(), mo);
  TorchScriptEncoderOptions o;
  o.model_path = f.model_path;
  o.vocab_path = f.vocab_path;
  o.max_length = 128;  // no text in this test is that long: the load-time probe must catch it
  auto m = error_of<InputError>(o);
  EXPECT_NE(m.find(o.model_path), std::string::npos) << m;
  EXPECT_NE(m.find("more than 64 positions"), std::string::npos) << m;
  EXPECT_NE(m.find("--max-length"), std::string::npos) << m;
  o.max_length = 64;
  auto enc = make_torchscript_encoder(o);
  EXPECT_LT(max_abs_diff(run(*enc, texts_), reference_rows(texts_, 64, false)), 1e-5);
}

TEST_F(TorchScriptEncoderTest, BadOptionsAreUsageErrors) {
  auto o = options();
  o.max_length = 1;
  error_of<UsageError>(o);
  o = options();
  o.batch_size = 0;
  error_of<UsageError>(o);
  o = options();
  o.model_path = "";
  error_of<UsageError>(o);
  o = options();
  o.vocab_path = *dir_ / "nope.txt";
  error_of<IoError>(o);
}
