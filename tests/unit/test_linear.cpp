// trawl-libs: trawl_linear
// Logistic regression and the TF-IDF featuriser (src/train/linear.h): hand-checked tf-idf and idf
// cases, tf-idf against sklearn's TfidfTransformer and a numpy idf, fits against scikit-learn's
// LogisticRegression (tests/support/logreg_ref.py, run by Debian's /usr/bin/python3 with
// python3-sklearn 1.2) on seeded datasets — binary and multinomial, sparse hashed TF-IDF (2^18
// columns) and dense 256-d, class-weighted and not, C from 0.01 to 100, nearly separable data, a
// class without examples — determinism, and bad input. The reference must run: if it cannot,
// the tests fail.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <fstream>
#include <limits>
#include <map>
#include <numeric>
#include <set>
#include <sstream>

#include "core/error.h"
#include "core/rng.h"
#include "support/testutil.h"
#include "train/linear.h"

using namespace trawl;
using namespace trawl::train::linear;

namespace {

constexpr uint32_t kBuckets = 1u << 18;

// ---- file helpers ------------------------------------------------------------------------------

template <class T>
void write_bin(const std::string& path, const std::vector<T>& v) {
  std::ofstream o(path, std::ios::binary);
  ASSERT_TRUE(o) << path;
  o.write(reinterpret_cast<const char*>(v.data()), std::streamsize(v.size() * sizeof(T)));
}
template <class T>
std::vector<T> read_bin(const std::string& path) {
  std::ifstream i(path, std::ios::binary);
  std::vector<T> v;
  T x;
  while (i.read(reinterpret_cast<char*>(&x), sizeof x)) v.push_back(x);
  return v;
}
std::string ref_script() { return test::source_dir() + "/tests/support/logreg_ref.py"; }

// ---- data --------------------------------------------------------------------------------------

// Token documents: class c (drawn from prior) uses its own 300 tokens with probability `signal`,
// else a shared background of 20000 tokens; token draws are log-uniform (Zipf-like); 5-50 tokens
// per document; ids are 32-bit hashes of the token number.
struct Docs {
  std::vector<uint64_t> off{0};
  std::vector<uint32_t> ids;
  std::vector<int> y;
};
uint32_t token_id(uint64_t t) { return uint32_t(mix64(t * 0x9e3779b97f4a7c15ULL + 12345) >> 17); }
uint64_t loguniform(Rng& r, uint64_t m) {
  return std::min<uint64_t>(m - 1, uint64_t(std::exp(r.uniform() * std::log(double(m) + 1.0)) - 1.0));
}
Docs make_docs(size_t n, const std::vector<double>& prior, double signal, uint64_t seed, int min_len = 5,
               int max_len = 50) {
  Rng r(seed);
  const int K = int(prior.size());
  Docs d;
  for (size_t i = 0; i < n; ++i) {
    double u = r.uniform() * std::accumulate(prior.begin(), prior.end(), 0.0);
    int c = 0;
    while (c + 1 < K && u >= prior[size_t(c)]) u -= prior[size_t(c++)];
    d.y.push_back(c);
    const int len = min_len + int(r.below(uint64_t(max_len - min_len + 1)));
    for (int t = 0; t < len; ++t) {
      const uint64_t tok = r.uniform() < signal ? uint64_t(c) * 300 + loguniform(r, 300)
                                                : uint64_t(K) * 300 + loguniform(r, 20000);
      d.ids.push_back(token_id(tok));
    }
    d.off.push_back(d.ids.size());
  }
  return d;
}
// The pool vocabulary of the documents: (id, number of documents containing it).
void vocab_of(const Docs& d, std::vector<uint32_t>* id, std::vector<uint64_t>* df) {
  std::map<uint32_t, uint64_t> m;
  for (size_t i = 0; i + 1 < d.off.size(); ++i) {
    std::set<uint32_t> s(d.ids.begin() + long(d.off[i]), d.ids.begin() + long(d.off[i + 1]));
    for (uint32_t t : s) ++m[t];
  }
  id->clear(), df->clear();
  for (auto& [t, c] : m) id->push_back(t), df->push_back(c);
}
Csr featurise(const Docs& d, uint32_t buckets) {
  std::vector<uint32_t> id;
  std::vector<uint64_t> df;
  vocab_of(d, &id, &df);
  const auto idf = bucket_idf(id, df, d.y.size(), buckets);
  Csr X;
  tfidf_rows(d.off.data(), d.ids.data(), d.y.size(), buckets, idf.data(), &X);
  return X;
}

// Dense rows (every entry nonzero): x = N(0, I) + shift · mu_c, mu_c a random unit vector.
void make_dense(size_t n, int dim, const std::vector<double>& prior, double shift, uint64_t seed, Csr* X,
                std::vector<int>* y) {
  Rng r(seed);
  const int K = int(prior.size());
  std::vector<double> mu(size_t(K * dim));
  for (int c = 0; c < K; ++c) {
    double s = 0;
    for (int j = 0; j < dim; ++j) s += std::pow(mu[size_t(c * dim + j)] = r.normal(), 2);
    for (int j = 0; j < dim; ++j) mu[size_t(c * dim + j)] /= std::sqrt(s);
  }
  *X = Csr{};
  X->cols = dim;
  y->clear();
  for (size_t i = 0; i < n; ++i) {
    double u = r.uniform() * std::accumulate(prior.begin(), prior.end(), 0.0);
    int c = 0;
    while (c + 1 < K && u >= prior[size_t(c)]) u -= prior[size_t(c++)];
    y->push_back(c);
    for (int j = 0; j < dim; ++j) {
      float v = float(r.normal() + shift * mu[size_t(c * dim + j)]);
      if (v == 0) v = 1e-3f;
      X->index.push_back(uint32_t(j));
      X->value.push_back(v);
    }
    X->offsets.push_back(X->index.size());
  }
}

// ---- featuriser, hand-checked ------------------------------------------------------------------

TEST(Tfidf, HandCheckedRows) {
  // Offsets relative to ids (starting at 2): row 0 = {3, 13, 5, 3} -> buckets 3,3,5,3 (tf 3 and 1);
  // row 1 empty; row 2 = {19, 9} -> bucket 9 twice.
  const std::vector<uint32_t> ids = {77, 77, 3, 13, 5, 3, 19, 9};
  const std::vector<uint64_t> off = {2, 6, 6, 8};
  Csr X;
  tfidf_rows(off.data(), ids.data(), 3, 10, nullptr, &X);
  EXPECT_EQ(X.cols, 10);
  ASSERT_EQ(X.offsets, (std::vector<uint64_t>{0, 2, 2, 3}));
  EXPECT_EQ(X.index, (std::vector<uint32_t>{3, 5, 9}));
  const double a = 1 + std::log(3.0), nrm = std::sqrt(a * a + 1);
  EXPECT_FLOAT_EQ(X.value[0], float(a / nrm));  // 0.90275
  EXPECT_FLOAT_EQ(X.value[1], float(1 / nrm));  // 0.43017
  EXPECT_FLOAT_EQ(X.value[2], 1.0f);            // a single bucket normalises to 1
  EXPECT_NEAR(X.value[0], 0.90275, 1e-5);
  EXPECT_NEAR(X.value[1], 0.43017, 1e-5);

  // With idf: bucket 3 weighs 2, bucket 5 weighs 0.5.
  std::vector<float> idf(10, 1.0f);
  idf[3] = 2.0f, idf[5] = 0.5f;
  tfidf_rows(off.data(), ids.data(), 3, 10, idf.data(), &X);
  const double b3 = 2 * a, b5 = 0.5, n2 = std::sqrt(b3 * b3 + b5 * b5);
  EXPECT_FLOAT_EQ(X.value[0], float(b3 / n2));
  EXPECT_FLOAT_EQ(X.value[1], float(b5 / n2));
  EXPECT_EQ(X.offsets, (std::vector<uint64_t>{0, 2, 2, 3}));

  // Output is replaced, not appended to; n = 0 gives an empty matrix.
  tfidf_rows(off.data(), ids.data(), 0, 7, nullptr, &X);
  EXPECT_EQ(X.rows(), 0u);
  EXPECT_EQ(X.cols, 7);
  EXPECT_TRUE(X.index.empty());
}

TEST(Tfidf, HandCheckedBucketIdf) {
  // buckets 10: id 1 (df 3) and 11 (df 4) share bucket 1 -> 7; id 2 -> 1; id 7 (df 10) is capped at
  // n_docs = 8; every other bucket has df 0.
  const auto idf = bucket_idf({1, 11, 2, 7}, {3, 4, 1, 10}, 8, 10);
  ASSERT_EQ(idf.size(), 10u);
  EXPECT_FLOAT_EQ(idf[1], float(std::log(9.0 / 8.0) + 1));
  EXPECT_FLOAT_EQ(idf[2], float(std::log(9.0 / 2.0) + 1));
  EXPECT_FLOAT_EQ(idf[7], 1.0f);
  for (int b : {0, 3, 4, 5, 6, 8, 9}) EXPECT_FLOAT_EQ(idf[size_t(b)], float(std::log(9.0) + 1)) << b;
  EXPECT_NEAR(idf[1], 1.117783, 1e-6);
  // Huge document frequencies saturate instead of wrapping.
  // (ids 0 and 2 share bucket 0; id 1 alone in bucket 1.)
  const auto big = bucket_idf({0, 2, 1}, {~uint64_t(0), 5, 7}, 100, 2);
  EXPECT_FLOAT_EQ(big[0], 1.0f);
  EXPECT_FLOAT_EQ(big[1], float(std::log(101.0 / 8.0) + 1));
  // No documents: every idf is 1.
  EXPECT_EQ(bucket_idf({}, {}, 0, 3), (std::vector<float>{1, 1, 1}));
}

TEST(Tfidf, AgainstSklearnTransformer) {
  test::TempDir dir("tfidf-ref");
  for (uint32_t buckets : {997u, kBuckets}) {
    Docs d = make_docs(300, {1, 1, 1}, 0.5, 4242 + buckets, 0, 60);  // some empty rows
    // Ids with repeats and collisions: also a few small ids hitting the same buckets.
    for (size_t j = 0; j < d.ids.size(); j += 7) d.ids[j] = uint32_t(j % 50);
    std::vector<uint32_t> vid;
    std::vector<uint64_t> vdf;
    vocab_of(d, &vid, &vdf);
    vid.push_back(123456789), vdf.push_back(1000);  // a vocabulary-only id whose df exceeds n_docs
    const uint64_t n_docs = d.y.size();
    const auto idf = bucket_idf(vid, vdf, n_docs, buckets);
    Csr X;
    tfidf_rows(d.off.data(), d.ids.data(), d.y.size(), buckets, idf.data(), &X);
    size_t empty = 0;
    for (size_t i = 0; i < X.rows(); ++i) empty += X.offsets[i] == X.offsets[i + 1];
    ASSERT_GT(empty, 0u);

    const std::string c = dir / ("b" + std::to_string(buckets));
    ASSERT_EQ(test::run("mkdir -p " + c), 0);
    test::write_file(c + "/meta.txt", cat(d.y.size(), " ", buckets, " ", n_docs, "\n"));
    write_bin(c + "/tok_offsets.u64", d.off);
    write_bin(c + "/tok_ids.u32", d.ids);
    write_bin(c + "/vocab_id.u32", vid);
    write_bin(c + "/vocab_df.u64", vdf);
    write_bin(c + "/idf_cpp.f32", idf);
    std::string out;
    ASSERT_EQ(test::run("/usr/bin/python3 " + ref_script() + " tfidf " + c, &out), 0) << out;

    const auto ridf = read_bin<double>(c + "/idf.f64");
    ASSERT_EQ(ridf.size(), idf.size());
    for (size_t b = 0; b < idf.size(); ++b) ASSERT_NEAR(idf[b], ridf[b], 1e-6 * ridf[b]) << "bucket " << b;
    const auto roff = read_bin<uint64_t>(c + "/tf_offsets.u64");
    const auto ridx = read_bin<uint32_t>(c + "/tf_index.u32");
    const auto rval = read_bin<double>(c + "/tf_value.f64");
    ASSERT_EQ(X.offsets, roff);
    ASSERT_EQ(X.index, ridx);
    ASSERT_EQ(X.value.size(), rval.size());
    for (size_t j = 0; j < rval.size(); ++j) ASSERT_NEAR(X.value[j], rval[j], 1e-6) << "entry " << j;
  }
}

TEST(Tfidf, Deterministic) {
  Docs d = make_docs(500, {1, 2}, 0.3, 99);
  std::vector<uint32_t> id;
  std::vector<uint64_t> df;
  vocab_of(d, &id, &df);
  const auto i1 = bucket_idf(id, df, 500, kBuckets), i2 = bucket_idf(id, df, 500, kBuckets);
  ASSERT_EQ(std::memcmp(i1.data(), i2.data(), i1.size() * 4), 0);
  Csr a, b;
  tfidf_rows(d.off.data(), d.ids.data(), 500, kBuckets, i1.data(), &a);
  tfidf_rows(d.off.data(), d.ids.data(), 500, kBuckets, i2.data(), &b);
  // The same rows featurised one at a time give the same bits too.
  Csr one;
  for (size_t i = 0; i < 500; i += 97) {
    tfidf_rows(d.off.data() + i, d.ids.data(), 1, kBuckets, i1.data(), &one);
    const uint64_t s = a.offsets[i];
    ASSERT_EQ(one.index.size(), a.offsets[i + 1] - s);
    ASSERT_EQ(std::memcmp(one.value.data(), a.value.data() + s, one.value.size() * 4), 0) << i;
  }
  ASSERT_EQ(a.offsets, b.offsets);
  ASSERT_EQ(a.index, b.index);
  ASSERT_EQ(std::memcmp(a.value.data(), b.value.data(), a.value.size() * 4), 0);
  for (size_t i = 0; i < a.rows(); ++i) {
    double s = 0;
    for (uint64_t j = a.offsets[i]; j < a.offsets[i + 1]; ++j) s += double(a.value[j]) * a.value[j];
    if (a.offsets[i + 1] > a.offsets[i]) {
      ASSERT_NEAR(s, 1.0, 1e-6) << "row " << i;
    }
  }
}

// ---- logistic regression against sklearn -------------------------------------------------------

struct Case {
  std::string name;
  Csr X;
  std::vector<int> y;
  int K = 2;
  LogregOptions o;
  bool full = false;  // sklearn sees every column, not only those that occur
};

Case sparse_case(const std::string& name, size_t n, std::vector<double> prior, double signal, double C, bool bal,
                 uint64_t seed) {
  Case c;
  c.name = name;
  Docs d = make_docs(n, prior, signal, seed);
  c.X = featurise(d, kBuckets);
  c.y = d.y;
  c.K = int(prior.size());
  c.o.C = C;
  c.o.class_weight_balanced = bal;
  return c;
}
Case dense_case(const std::string& name, size_t n, std::vector<double> prior, double shift, double C, bool bal,
                uint64_t seed) {
  Case c;
  c.name = name;
  make_dense(n, 256, prior, shift, seed, &c.X, &c.y);
  c.K = int(prior.size());
  c.o.C = C;
  c.o.class_weight_balanced = bal;
  return c;
}

std::vector<Case> reference_cases() {
  std::vector<Case> cs;
  cs.push_back(sparse_case("bin_sparse_bal_C1_full", 800, {0.75, 0.25}, 0.3, 1.0, true, 11));
  cs.back().full = true;
  cs.push_back(sparse_case("bin_sparse_C10", 500, {0.6, 0.4}, 0.2, 10.0, false, 12));
  cs.push_back(sparse_case("bin_sparse_bal_C0.1", 2000, {0.9, 0.1}, 0.2, 0.1, true, 13));
  cs.push_back(dense_case("bin_dense_bal_C0.1", 600, {0.7, 0.3}, 1.0, 0.1, true, 14));
  cs.push_back(dense_case("bin_dense_C1", 400, {0.5, 0.5}, 0.7, 1.0, false, 15));
  cs.push_back(sparse_case("mc3_sparse_bal_C1", 900, {0.5, 0.3, 0.2}, 0.3, 1.0, true, 16));
  cs.push_back(sparse_case("mc3_sparse_C0.1", 600, {1, 1, 1}, 0.3, 0.1, false, 17));
  cs.push_back(sparse_case("mc5_sparse_bal_C10", 1200, {0.4, 0.25, 0.15, 0.12, 0.08}, 0.25, 10.0, true, 18));
  cs.push_back(dense_case("mc5_dense_C1", 700, {1, 1, 1, 1, 1}, 1.0, 1.0, false, 19));
  cs.push_back(dense_case("mc4_dense_bal_C10", 500, {0.4, 0.3, 0.2, 0.1}, 1.5, 10.0, true, 20));
  // Tiny and extreme C.
  cs.push_back(sparse_case("bin_sparse_n10_C0.01", 10, {0.5, 0.5}, 0.5, 0.01, true, 21));
  cs.push_back(dense_case("mc3_dense_n12_C100", 12, {1, 1, 1}, 1.0, 100.0, false, 22));
  {
    // Nearly separable: labels from a hyperplane with a margin, 3 labels flipped; C = 10 and 100.
    for (double C : {10.0, 100.0}) {
      Case c = dense_case(C == 10 ? "bin_dense_separable_C10" : "bin_dense_separable_C100", 1500, {1}, 0.0, C, true,
                          23);
      std::vector<double> w(256);
      Rng r(24);
      for (auto& v : w) v = r.normal();
      c.K = 2;
      for (size_t i = 0; i < c.y.size(); ++i) {
        double s = 0.3;
        for (uint64_t j = c.X.offsets[i]; j < c.X.offsets[i + 1]; ++j) s += w[c.X.index[j]] * c.X.value[j];
        c.y[i] = s > 0 ? 1 : 0;
        if (i % 500 == 7) c.y[i] = 1 - c.y[i];
      }
      cs.push_back(std::move(c));
    }
  }
  cs.push_back(sparse_case("mc3_sparse_separable_bal_C10", 1000, {0.5, 0.3, 0.2}, 0.9, 10.0, true, 25));
  return cs;
}

void write_case(const std::string& d, const Case& c, int K) {
  ASSERT_EQ(test::run("mkdir -p " + d), 0);
  std::ostringstream meta;
  meta.precision(17);
  meta << c.X.rows() << " " << c.X.cols << " " << K << " " << c.o.C << " " << (c.o.class_weight_balanced ? 1 : 0)
       << " " << (c.full ? 1 : 0) << "\n";
  test::write_file(d + "/meta.txt", meta.str());
  write_bin(d + "/offsets.u64", c.X.offsets);
  write_bin(d + "/index.u32", c.X.index);
  write_bin(d + "/value.f32", c.X.value);
  write_bin(d + "/y.i32", c.y);
}

struct Ref {
  std::vector<double> coef, intercept, proba;
  double lbfgs_dev = 0, grad_norm = 0, objective = 0;
  int lbfgs_iter = 0, ncg_iter = 0;
};
Ref read_ref(const std::string& d) {
  Ref r;
  r.coef = read_bin<double>(d + "/coef.f64");
  r.intercept = read_bin<double>(d + "/intercept.f64");
  r.proba = read_bin<double>(d + "/proba.f64");
  std::istringstream info(test::read_file(d + "/info.txt"));
  info >> r.lbfgs_iter >> r.ncg_iter >> r.lbfgs_dev >> r.grad_norm >> r.objective;
  EXPECT_FALSE(info.fail()) << d << "/info.txt";
  return r;
}
void run_ref(const std::vector<std::string>& dirs) {
  std::string cmd = "/usr/bin/python3 " + ref_script() + " fit", out;
  for (auto& d : dirs) cmd += " " + d;
  ASSERT_EQ(test::run(cmd, &out), 0) << "the sklearn reference failed:\n" << out;
}

TEST(Logreg, AgainstSklearn) {
  test::TempDir dir("logreg-ref");
  const auto cases = reference_cases();
  std::vector<std::string> dirs;
  for (auto& c : cases) {
    dirs.push_back(dir / c.name);
    write_case(dirs.back(), c, c.K);
  }
  run_ref(dirs);
  for (size_t t = 0; t < cases.size(); ++t) {
    const Case& c = cases[t];
    SCOPED_TRACE(c.name);
    const Ref r = read_ref(dirs[t]);
    const LogregFit f = fit_logreg(c.X, c.y, c.K, c.o);
    const size_t cols = size_t(c.X.cols), K = size_t(c.K);
    ASSERT_EQ(f.num_classes, c.K);
    ASSERT_EQ(f.W.size(), K * cols);
    ASSERT_EQ(f.b.size(), K);
    EXPECT_TRUE(f.converged);
    const size_t rows = K == 2 ? 1 : K;
    ASSERT_EQ(r.coef.size(), rows * cols);
    ASSERT_EQ(r.intercept.size(), rows);
    double dw = 0, db = 0, dp = 0, wmax = 0;
    for (size_t k = 0; k < rows; ++k) {
      const size_t mine = K == 2 ? 1 : k;
      for (size_t j = 0; j < cols; ++j) {
        dw = std::max(dw, std::abs(f.W[mine * cols + j] - r.coef[k * cols + j]));
        wmax = std::max(wmax, std::abs(r.coef[k * cols + j]));
      }
      db = std::max(db, std::abs(f.b[mine] - r.intercept[k]));
    }
    if (K == 2) {
      for (size_t j = 0; j < cols; ++j) ASSERT_EQ(f.W[j], 0.0);
      ASSERT_EQ(f.b[0], 0.0);
    }
    const auto P = predict_proba(f, c.X);
    ASSERT_EQ(P.size(), r.proba.size());
    for (size_t j = 0; j < P.size(); ++j) dp = std::max(dp, std::abs(P[j] - r.proba[j]));
    std::printf("  %-30s n=%5zu iters %4d (sklearn lbfgs %3d + newton-cg %4d, lbfgs alone off by %.1e)  |dW| %.1e "
                "|db| %.1e |dP| %.1e  max|W| %.2g  grad %.1e (sklearn %.1e)  F %.12g (sklearn %.12g)\n",
                c.name.c_str(), c.y.size(), f.iterations, r.lbfgs_iter, r.ncg_iter, r.lbfgs_dev, dw, db, dp, wmax,
                f.grad_norm, r.grad_norm, f.objective, r.objective);
    EXPECT_LE(dw, 1e-4);
    EXPECT_LE(db, 1e-4);
    EXPECT_LE(dp, 1e-5);
    // Our optimum is at least as good as sklearn's (same objective, computed independently there).
    EXPECT_LE(f.objective, r.objective + 1e-9 * std::max(1.0, std::abs(r.objective)));
    EXPECT_LE(f.grad_norm, 1e-5);
  }
}

TEST(Logreg, AbsentClassesAgainstSklearn) {
  // 5 classes declared, only 0, 2 and 4 have examples: the present rows are sklearn's 3-class
  // multinomial on the relabelled data; the absent rows are 0 with probability < e^-30 on the
  // training rows.
  test::TempDir dir("logreg-absent");
  Case c = sparse_case("absent", 700, {0.5, 0.3, 0.2}, 0.3, 1.0, true, 31);
  const std::vector<int> cls = {0, 2, 4};
  write_case(dir / "absent", c, 3);
  run_ref({dir / "absent"});
  const Ref r = read_ref(dir / "absent");
  std::vector<int> y5(c.y.size());
  for (size_t i = 0; i < y5.size(); ++i) y5[i] = cls[size_t(c.y[i])];
  const LogregFit f = fit_logreg(c.X, y5, 5, c.o);
  EXPECT_TRUE(f.converged);
  const size_t cols = size_t(c.X.cols);
  double dw = 0, db = 0;
  for (size_t k = 0; k < 3; ++k) {
    const size_t row = size_t(cls[k]);
    for (size_t j = 0; j < cols; ++j) dw = std::max(dw, std::abs(f.W[row * cols + j] - r.coef[k * cols + j]));
    db = std::max(db, std::abs(f.b[row] - r.intercept[k]));
  }
  EXPECT_LE(dw, 1e-4);
  EXPECT_LE(db, 1e-4);
  for (size_t row : {size_t(1), size_t(3)})
    for (size_t j = 0; j < cols; ++j) ASSERT_EQ(f.W[row * cols + j], 0.0);
  const auto P = predict_proba(f, c.X);
  double dp = 0, absent = 0;
  for (size_t i = 0; i < c.y.size(); ++i) {
    for (size_t k = 0; k < 3; ++k) dp = std::max(dp, std::abs(P[i * 5 + size_t(cls[k])] - r.proba[i * 3 + k]));
    absent = std::max({absent, P[i * 5 + 1], P[i * 5 + 3]});
  }
  EXPECT_LE(dp, 1e-5);
  EXPECT_LT(absent, std::exp(-kAbsentClassGap) * 1.0001);
  EXPECT_GT(absent, 0.0);
  std::printf("  absent classes: |dW| %.1e |db| %.1e |dP| %.1e  max P(absent) %.2e\n", dw, db, dp, absent);

  // The balanced weights count only the classes present: the same fit as the 3-class one.
  const LogregFit f3 = fit_logreg(c.X, c.y, 3, c.o);
  for (size_t k = 0; k < 3; ++k) EXPECT_NEAR(f3.b[k], f.b[size_t(cls[k])], 1e-6);
}

TEST(Logreg, OneClassPresent) {
  Case c = sparse_case("one", 50, {1.0}, 0.3, 1.0, true, 41);
  for (int present : {0, 1}) {
    std::vector<int> y(c.y.size(), present);
    const LogregFit f = fit_logreg(c.X, y, 2, c.o);
    EXPECT_TRUE(f.converged);
    EXPECT_EQ(f.iterations, 0);
    for (double w : f.W) ASSERT_EQ(w, 0.0);
    EXPECT_EQ(f.b[0], 0.0);
    EXPECT_EQ(f.b[1], present ? kAbsentClassGap : -kAbsentClassGap);
    const auto P = predict_proba(f, c.X);
    EXPECT_NEAR(P[size_t(present)], 1.0, 1e-12);
  }
  std::vector<int> y(c.y.size(), 2);
  const LogregFit f = fit_logreg(c.X, y, 4, c.o);
  EXPECT_EQ(f.b, (std::vector<double>{-kAbsentClassGap, -kAbsentClassGap, 0, -kAbsentClassGap}));
  // No rows at all: uniform.
  Csr empty;
  empty.cols = 5;
  const LogregFit e = fit_logreg(empty, {}, 3, c.o);
  EXPECT_EQ(e.b, (std::vector<double>{0, 0, 0}));
  EXPECT_EQ(e.W.size(), 15u);
}

// ---- properties that do not need the reference ------------------------------------------------

TEST(Logreg, Deterministic) {
  for (int K : {2, 3}) {
    std::vector<double> prior(size_t(K), 1.0);
    Case c = sparse_case("det", 1500, prior, 0.3, 1.0, true, 51 + uint64_t(K));
    const LogregFit a = fit_logreg(c.X, c.y, K, c.o), b = fit_logreg(c.X, c.y, K, c.o);
    ASSERT_EQ(a.W.size(), b.W.size());
    EXPECT_EQ(std::memcmp(a.W.data(), b.W.data(), a.W.size() * 8), 0);
    EXPECT_EQ(std::memcmp(a.b.data(), b.b.data(), a.b.size() * 8), 0);
    EXPECT_EQ(a.iterations, b.iterations);
    EXPECT_EQ(std::memcmp(&a.objective, &b.objective, 8), 0);
    const auto pa = predict_proba(a, c.X), pb = predict_proba(b, c.X);
    EXPECT_EQ(std::memcmp(pa.data(), pb.data(), pa.size() * 8), 0);
  }
}

TEST(Logreg, ConvergenceRuleAndIterationCap) {
  Case c = dense_case("cap", 300, {1, 1, 1}, 1.0, 10.0, false, 61);
  c.o.max_iter = 3;
  const LogregFit capped = fit_logreg(c.X, c.y, 3, c.o);
  EXPECT_EQ(capped.iterations, 3);
  EXPECT_FALSE(capped.converged);
  c.o.max_iter = 1000;
  c.o.tol = 1e-9;
  const LogregFit tight = fit_logreg(c.X, c.y, 3, c.o);
  EXPECT_TRUE(tight.converged);
  EXPECT_LE(tight.grad_norm, 1e-8);  // the rule is absolute (min(1, C·n) = 1 here), up to the final recompute
  EXPECT_LT(tight.objective, capped.objective);
  c.o.tol = 1e-4;
  const LogregFit loose = fit_logreg(c.X, c.y, 3, c.o);
  EXPECT_LE(loose.iterations, tight.iterations);
  double dw = 0;
  for (size_t j = 0; j < loose.W.size(); ++j) dw = std::max(dw, std::abs(loose.W[j] - tight.W[j]));
  EXPECT_LE(dw, 1e-3);  // ‖ΔW‖ ≲ ‖∇F‖
}

// ---- bad input ---------------------------------------------------------------------------------

template <class E, class F>
void expect_error(F f, const std::string& needle) {
  try {
    f();
    ADD_FAILURE() << "no exception, expected one naming '" << needle << "'";
  } catch (const E& e) {
    EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
  } catch (const std::exception& e) {
    ADD_FAILURE() << "wrong exception type: " << e.what();
  }
}

TEST(Logreg, BadInput) {
  Case c = sparse_case("bad", 40, {1, 1, 1}, 0.3, 1.0, true, 71);
  LogregOptions o;
  auto y = c.y;
  y[17] = 3;
  expect_error<UsageError>([&] { fit_logreg(c.X, y, 3, o); }, "y[17] = 3");
  y[17] = -1;
  expect_error<UsageError>([&] { fit_logreg(c.X, y, 3, o); }, "y[17] = -1");
  o.C = 0;
  expect_error<UsageError>([&] { fit_logreg(c.X, c.y, 3, o); }, "C = 0");
  o.C = -2.5;
  expect_error<UsageError>([&] { fit_logreg(c.X, c.y, 3, o); }, "C = -2.5");
  o.C = std::nan("");
  expect_error<UsageError>([&] { fit_logreg(c.X, c.y, 3, o); }, "C = nan");
  o = LogregOptions{};
  o.tol = -1;
  expect_error<UsageError>([&] { fit_logreg(c.X, c.y, 3, o); }, "tol = -1");
  o = LogregOptions{};
  o.max_iter = -5;
  expect_error<UsageError>([&] { fit_logreg(c.X, c.y, 3, o); }, "max_iter = -5");
  o = LogregOptions{};
  expect_error<UsageError>([&] { fit_logreg(c.X, c.y, 1, o); }, "num_classes = 1");
  expect_error<UsageError>([&] { fit_logreg(c.X, std::vector<int>(39, 0), 3, o); }, "39 labels for 40 rows");
  Csr bad = c.X;
  bad.index[3] = uint32_t(bad.cols);
  expect_error<InputError>([&] { fit_logreg(bad, c.y, 3, o); }, cat("column id ", bad.cols));
  bad = c.X;
  bad.value[5] = std::numeric_limits<float>::infinity();
  expect_error<InputError>([&] { fit_logreg(bad, c.y, 3, o); }, "expected finite");
  bad = c.X;
  std::swap(bad.index[0], bad.index[1]);
  expect_error<InputError>([&] { fit_logreg(bad, c.y, 3, o); }, "not strictly increasing");
  bad = c.X;
  bad.offsets.back() += 1;
  expect_error<InputError>([&] { fit_logreg(bad, c.y, 3, o); }, "offsets end at");

  const LogregFit f = fit_logreg(c.X, c.y, 3, o);
  Csr other = c.X;
  other.cols = 100;
  for (auto& i : other.index) i %= 100;
  other.offsets = {0};
  other.index.clear();
  other.value.clear();
  expect_error<UsageError>([&] { predict_proba(f, other); }, "cols = 100");

  const uint64_t off[] = {0, 2, 1};
  const uint32_t ids[] = {1, 2};
  Csr out;
  expect_error<UsageError>([&] { tfidf_rows(off, ids, 1, 0, nullptr, &out); }, "buckets = 0");
  expect_error<InputError>([&] { tfidf_rows(off, ids, 2, 8, nullptr, &out); }, "row 1: offsets decrease from 2 to 1");
  expect_error<UsageError>([&] { bucket_idf({1}, {}, 1, 8); }, "1 ids but 0 document frequencies");
  expect_error<UsageError>([&] { bucket_idf({}, {}, 1, 0); }, "buckets = 0");
}

}  // namespace
