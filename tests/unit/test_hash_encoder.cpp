// trawl-libs: trawl_embed
// The hash encoder against an independent, deliberately naive reference: an explicit dense
// {-1,+1} matrix (one row per feature id) built from the generator definition documented in
// embed/encoder.h, with weights and norms in double precision.
#include <gtest/gtest.h>
#include <omp.h>

#include <cmath>
#include <cstring>
#include <map>
#include <memory>
#include <random>

#include "core/error.h"
#include "core/rng.h"
#include "embed/encoder.h"
#include "embed/vocab.h"
#include "support/testutil.h"
#include "text/tokenize.h"

using namespace trawl;
using embed::HashEncoderOptions;

namespace {

// ---- The reference, written from the documentation -----------------------------------------

/// The sign matrix: row f is r_f. Component j = 64*b + i takes bit i of mix64(key(seed, f) + b);
/// a set bit is -1.
struct DenseProjection {
  int dim;
  uint64_t seed;
  std::map<uint32_t, std::vector<int>> rows;
  const std::vector<int>& row(uint32_t f) {
    auto it = rows.find(f);
    if (it != rows.end()) return it->second;
    std::vector<int> r(dim);
    uint64_t k = key(seed, uint64_t(f));
    for (int j = 0; j < dim; ++j) {
      uint64_t word = mix64(k + uint64_t(j / 64));
      r[j] = (word >> (j % 64)) & 1 ? -1 : 1;
    }
    return rows.emplace(f, std::move(r)).first->second;
  }
};

std::vector<double> naive_row(DenseProjection& P, const std::vector<uint32_t>& ids, double bigram_weight,
                              const embed::Vocab* vocab) {
  // Weight per distinct id: occurrences x (bigram weight) x idf.
  std::map<uint32_t, double> w;
  for (uint32_t f : ids) w[f] += (f >> 31) ? bigram_weight : 1.0;
  std::vector<double> v(P.dim, 0.0);
  for (auto& [f, wf] : w) {
    double idf = 1.0;
    if (vocab) {
      uint64_t df = 0;
      for (size_t i = 0; i < vocab->id.size(); ++i)  // linear scan: no shared code with the encoder
        if (vocab->id[i] == f) df = vocab->df[i];
      idf = std::log((1.0 + double(vocab->n_docs)) / (1.0 + double(df))) + 1.0;
    }
    const auto& r = P.row(f);
    for (int j = 0; j < P.dim; ++j) v[j] += wf * idf * r[j];
  }
  double ss = 0;
  for (double x : v) ss += x * x;
  if (ss > 0)
    for (double& x : v) x /= std::sqrt(ss);
  return v;
}

struct Rows {
  std::vector<std::string> texts;
  std::vector<uint64_t> offs{0};
  std::vector<uint32_t> ids;
  void add(const std::vector<uint32_t>& r) {
    texts.emplace_back("unused");
    ids.insert(ids.end(), r.begin(), r.end());
    offs.push_back(ids.size());
  }
  std::vector<uint32_t> row(size_t i) const { return {ids.begin() + offs[i], ids.begin() + offs[i + 1]}; }
  size_t size() const { return texts.size(); }
};

Rows random_rows(size_t n, uint64_t seed) {
  std::mt19937_64 g(seed);
  Rows rows;
  std::vector<uint32_t> small_vocab(40);
  for (auto& x : small_vocab) x = uint32_t(g() & 0x7fffffffu);
  for (size_t i = 0; i < n; ++i) {
    std::vector<uint32_t> r;
    size_t len = g() % 30;  // includes empty rows
    for (size_t k = 0; k < len; ++k) {
      uint32_t u = g() % 3 == 0 ? small_vocab[g() % small_vocab.size()] : uint32_t(g() & 0x7fffffffu);
      r.push_back(u);  // repeats from the small vocabulary give tf > 1
    }
    size_t nb = r.empty() ? 0 : r.size() - 1;
    for (size_t k = 0; k < nb; ++k) r.push_back(0x80000000u | uint32_t(g() % 50));  // repeated bigrams too
    if (i % 17 == 5) r.push_back(0xffffffffu);  // the largest id
    rows.add(r);
  }
  return rows;
}

std::vector<float> encode(embed::Encoder& e, const Rows& rows) {
  std::vector<float> out(rows.size() * e.dim(), -7.0f);
  e.encode(rows.texts, rows.offs, rows.ids, out.data());
  return out;
}

double cosine(const float* a, const float* b, int d) {
  double ab = 0, aa = 0, bb = 0;
  for (int k = 0; k < d; ++k) ab += double(a[k]) * b[k], aa += double(a[k]) * a[k], bb += double(b[k]) * b[k];
  return ab / std::sqrt(aa * bb);
}

}  // namespace

TEST(HashEncoder, MatchesDenseReference) {
  Rows rows = random_rows(300, 11);
  for (int dim : {1, 7, 64, 100, 256, 300}) {
    for (double bw : {0.5, 0.0, 2.0}) {
      HashEncoderOptions o;
      o.dim = dim;
      o.bigram_weight = bw;
      o.seed = 12345 + dim;
      auto enc = embed::make_hash_encoder(o);
      auto out = encode(*enc, rows);
      DenseProjection P{dim, o.seed, {}};
      double worst = 0;
      for (size_t i = 0; i < rows.size(); ++i) {
        auto ref = naive_row(P, rows.row(i), bw, nullptr);
        for (int j = 0; j < dim; ++j) worst = std::max(worst, std::fabs(ref[j] - double(out[i * dim + j])));
      }
      EXPECT_LT(worst, 2e-6) << "dim " << dim << " bigram_weight " << bw;
    }
  }
}

TEST(HashEncoder, UnitNormAndZeroRows) {
  Rows rows = random_rows(500, 3);
  rows.add({});                                  // no ids
  rows.add({0x80000001u, 0x80000002u});          // bigrams only, weight 0 below
  HashEncoderOptions o;
  o.bigram_weight = 0.0;
  auto enc = embed::make_hash_encoder(o);
  auto out = encode(*enc, rows);
  const int d = enc->dim();
  for (size_t i = 0; i < rows.size(); ++i) {
    double ss = 0;
    for (int k = 0; k < d; ++k) ss += double(out[i * d + k]) * out[i * d + k];
    bool has_unigram = false;
    for (uint64_t k = rows.offs[i]; k < rows.offs[i + 1]; ++k) has_unigram |= !(rows.ids[k] >> 31);
    if (has_unigram)
      EXPECT_NEAR(ss, 1.0, 1e-5) << "row " << i;
    else
      EXPECT_EQ(ss, 0.0) << "row " << i << " has no weighted feature and must stay zero";
  }
}

TEST(HashEncoder, IdenticalAcrossThreadCounts) {
  Rows rows = random_rows(3000, 5);
  HashEncoderOptions o;
  o.dim = 200;
  auto enc = embed::make_hash_encoder(o);
  int saved = omp_get_max_threads();
  omp_set_num_threads(1);
  auto a = encode(*enc, rows);
  for (int t : {2, 3, 8}) {
    omp_set_num_threads(t);
    auto b = encode(*enc, rows);
    EXPECT_EQ(0, std::memcmp(a.data(), b.data(), a.size() * sizeof(float))) << t << " threads";
  }
  omp_set_num_threads(saved);
  // A second encoder with the same options gives the same vectors; another seed does not.
  auto enc2 = embed::make_hash_encoder(o);
  auto c = encode(*enc2, rows);
  EXPECT_EQ(0, std::memcmp(a.data(), c.data(), a.size() * sizeof(float)));
  o.seed += 1;
  auto enc3 = embed::make_hash_encoder(o);
  auto e = encode(*enc3, rows);
  EXPECT_NE(0, std::memcmp(a.data(), e.data(), a.size() * sizeof(float)));
}

TEST(HashEncoder, IdfWeightsHandChecked) {
  // At dim 1 a row's vector is the sign of sum_f w_f r_f. Find unigrams A, B with r_A = +1 and
  // r_B = -1 (the generator as documented), then: unweighted, A + B cancel to the zero vector;
  // with idf over N = 3 documents, df(A) = 3 gives w_A = ln(4/4) + 1 = 1 and df(B) = 1 gives
  // w_B = ln(4/2) + 1 = 1.693, so the row becomes -1; C, absent from the vocab (df 0), weighs
  // ln(4) + 1 = 2.386 and outweighs B when r_C = +1.
  const uint64_t seed = 99;
  auto sign = [&](uint32_t f) { return mix64(key(seed, uint64_t(f))) & 1 ? -1 : 1; };
  uint32_t A = 0, B = 0, C = 0;
  for (uint32_t f = 1; !A || !B || !C; ++f) {
    if (sign(f) == 1 && !A) A = f;
    else if (sign(f) == 1 && A && !C && f != A) C = f;
    else if (sign(f) == -1 && !B) B = f;
  }
  auto v = std::make_shared<embed::Vocab>();
  v->n_docs = 3;
  v->id = {std::min(A, B), std::max(A, B)};
  v->df = {A < B ? 3u : 1u, A < B ? 1u : 3u};
  v->tf = v->df;
  EXPECT_NEAR(v->idf(A), 1.0, 1e-12);
  EXPECT_NEAR(v->idf(B), 1.0 + std::log(2.0), 1e-12);
  EXPECT_NEAR(v->idf(C), 1.0 + std::log(4.0), 1e-12);

  HashEncoderOptions o;
  o.dim = 1;
  o.seed = seed;
  Rows rows;
  rows.add({A, B});
  rows.add({A, A, B});  // tf 2 for A: 2 > 1.693
  rows.add({B, C});     // 2.386 > 1.693
  auto plain = encode(*embed::make_hash_encoder(o), rows);
  EXPECT_EQ(plain[0], 0.0f);
  EXPECT_EQ(plain[1], 1.0f);
  EXPECT_EQ(plain[2], 0.0f);
  auto weighted = encode(*embed::make_hash_encoder(o, v), rows);
  EXPECT_EQ(weighted[0], -1.0f);
  EXPECT_EQ(weighted[1], 1.0f);
  EXPECT_EQ(weighted[2], 1.0f);

  // At dim 2 the values themselves: v = (w_A r_A + w_B r_B) / norm, computed here by hand.
  o.dim = 2;
  auto two = encode(*embed::make_hash_encoder(o, v), rows);
  auto comp = [&](uint32_t f, int j) { return (mix64(key(seed, uint64_t(f))) >> j) & 1 ? -1.0 : 1.0; };
  double wa = 1.0, wb = 1.0 + std::log(2.0);
  double x0 = wa * comp(A, 0) + wb * comp(B, 0), x1 = wa * comp(A, 1) + wb * comp(B, 1);
  double nrm = std::sqrt(x0 * x0 + x1 * x1);
  EXPECT_NEAR(two[0], x0 / nrm, 1e-6);
  EXPECT_NEAR(two[1], x1 / nrm, 1e-6);

  // Weighted rows also match the dense reference at a realistic dim, and the vocab read back
  // from a file gives the same vectors as the in-memory one.
  Rows many = random_rows(200, 8);
  auto big = std::make_shared<embed::Vocab>();
  big->n_docs = 1000;
  for (size_t i = 0; i < many.ids.size(); i += 3) big->id.push_back(many.ids[i]);
  std::sort(big->id.begin(), big->id.end());
  big->id.erase(std::unique(big->id.begin(), big->id.end()), big->id.end());
  for (size_t i = 0; i < big->id.size(); ++i) big->df.push_back(1 + (big->id[i] % 997));
  big->tf = big->df;
  o.dim = 96;
  o.bigram_weight = 0.75;
  auto out = encode(*embed::make_hash_encoder(o, big), many);
  DenseProjection P{o.dim, o.seed, {}};
  double worst = 0;
  for (size_t i = 0; i < many.size(); ++i) {
    auto ref = naive_row(P, many.row(i), 0.75, big.get());
    for (int j = 0; j < o.dim; ++j) worst = std::max(worst, std::fabs(ref[j] - double(out[i * o.dim + j])));
  }
  EXPECT_LT(worst, 2e-6);

  test::TempDir d("hashenc");
  embed::write_vocab(d / "v.h5", *big);
  o.idf_path = d / "v.h5";
  auto from_file = embed::make_hash_encoder(o);
  auto out2 = encode(*from_file, many);
  EXPECT_EQ(0, std::memcmp(out.data(), out2.data(), out.size() * sizeof(float)));
  EXPECT_NE(from_file->params().find("idf=" + big->checksum()), std::string::npos) << from_file->params();
}

TEST(HashEncoder, SharedWordsAreCloserThanUnrelatedTexts) {
  HashEncoderOptions o;
  auto enc = embed::make_hash_encoder(o);
  std::vector<std::string> texts = {
      "I lost my job today and I am looking for work",
      "Lost my job yesterday, looking for work again",
      "The weather is sunny and warm at the beach",
      "Sunny weather at the beach all weekend",
  };
  std::vector<float> out(texts.size() * enc->dim());
  enc->encode(texts, {}, {}, out.data());  // no token ids: the encoder tokenises
  const int d = enc->dim();
  double job = cosine(&out[0], &out[d], d), beach = cosine(&out[2 * d], &out[3 * d], d);
  double cross1 = cosine(&out[0], &out[2 * d], d), cross2 = cosine(&out[1 * d], &out[3 * d], d);
  EXPECT_GT(job, cross1 + 0.25);
  EXPECT_GT(job, cross2 + 0.25);
  EXPECT_GT(beach, cross1 + 0.25);
  EXPECT_GT(beach, cross2 + 0.25);

  // Tokenising here equals passing text::text_to_ids's ids explicitly.
  std::vector<uint64_t> offs{0};
  std::vector<uint32_t> ids;
  for (auto& t : texts) {
    text::text_to_ids(t, ids);
    offs.push_back(ids.size());
  }
  std::vector<float> out2(out.size());
  enc->encode(texts, offs, ids, out2.data());
  EXPECT_EQ(0, std::memcmp(out.data(), out2.data(), out.size() * sizeof(float)));
}

TEST(HashEncoder, IdentityAndBadOptions) {
  HashEncoderOptions o;
  auto enc = embed::make_hash_encoder(o);
  EXPECT_EQ(enc->name(), "hash");
  EXPECT_EQ(enc->dim(), 256);
  EXPECT_EQ(enc->params(), "dim=256;seed=" + std::to_string(o.seed) + ";bigram_weight=0.5;idf=none");
  o.bigram_weight = 0.1;
  o.dim = 32;
  EXPECT_EQ(embed::make_hash_encoder(o)->params(), "dim=32;seed=" + std::to_string(o.seed) + ";bigram_weight=0.1;idf=none");
  o.dim = 0;
  EXPECT_THROW(embed::make_hash_encoder(o), UsageError);
  o.dim = 8;
  o.bigram_weight = -1;
  EXPECT_THROW(embed::make_hash_encoder(o), UsageError);
  o.bigram_weight = NAN;
  EXPECT_THROW(embed::make_hash_encoder(o), UsageError);
  o.bigram_weight = 0.5;
  o.idf_path = "/nonexistent/vocab.h5";
  try {
    embed::make_hash_encoder(o);
    FAIL() << "expected IoError";
  } catch (const IoError& e) {
    EXPECT_NE(std::string(e.what()).find("/nonexistent/vocab.h5"), std::string::npos) << e.what();
  }
}
