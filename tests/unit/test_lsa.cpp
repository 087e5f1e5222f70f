// trawl_libs below. The LSA encoder (src/embed/lsa.h): the randomized SVD on a matrix with a
// known SVD, against scikit-learn's TruncatedSVD(algorithm="randomized") and numpy's exact SVD
// on the same TF-IDF matrix (tests/support/lsa_ref.py, Debian's /usr/bin/python3: a reference
// that cannot run fails the test), dim above the rank, the file format (round trip, a changed
// byte, foreign and missing files) and the encoders (lsa against a hand computation, lsa+hash).
// trawl-libs: trawl_embed
#include <gtest/gtest.h>
#include <omp.h>

#include <Eigen/Dense>
#include <cmath>
#include <fstream>
#include <map>
#include <random>
#include <set>

#include "core/error.h"
#include "embed/lsa.h"
#include "embed/vocab.h"
#include "io/h5.h"
#include "mpi/comm.h"
#include "support/testutil.h"
#include "text/tokenize.h"

using namespace trawl;
using train::linear::Csr;

namespace {

// A Csr from dense rows (zeros dropped).
Csr csr_of(const std::vector<std::vector<float>>& rows, int cols) {
  Csr c;
  c.cols = cols;
  for (auto& r : rows) {
    for (int j = 0; j < cols; ++j)
      if (r[size_t(j)] != 0.0f) {
        c.index.push_back(uint32_t(j));
        c.value.push_back(r[size_t(j)]);
      }
    c.offsets.push_back(c.index.size());
  }
  return c;
}

std::vector<uint32_t> keys_of(size_t V) {
  std::vector<uint32_t> k(V);
  for (size_t i = 0; i < V; ++i) k[i] = uint32_t(1000 + 7 * i);
  return k;
}

// A = Σ_i σ_i e_i v_iᵀ with σ = 3, 2, 1 and v_i columns of the normalised 4×4 Hadamard matrix:
// rows 3·v1, 2·v2, 1·v3 (exact in float). Its SVD: σ = (3, 2, 1, 0), right vectors v1, v2, v3.
std::vector<std::vector<float>> hadamard_rows() {
  return {{1.5f, 1.5f, 1.5f, 1.5f}, {1.0f, -1.0f, 1.0f, -1.0f}, {0.5f, 0.5f, -0.5f, -0.5f}};
}

TEST(LsaSvd, KnownSvdByHand) {
  auto comm = mpi::Comm::world();
  auto rows = hadamard_rows();
  // Two blocks: the second holds row 2 only.
  std::vector<embed::SvdBlock> blocks(2);
  blocks[0].rows = csr_of({rows[0], rows[1]}, 4);
  blocks[1].rows = csr_of({rows[2]}, 4);
  blocks[1].block = 1;
  embed::SvdOptions o;
  o.dim = 2;
  o.oversample = 1;
  o.power_iterations = 2;
  auto r = embed::randomized_svd(comm, blocks, keys_of(4), o);
  ASSERT_EQ(r.singular_values.size(), 2u);
  // The passes sum A Z and Aᵀ(A Z) in float: exact to float rounding (~1e-7), not to double's.
  const double tol = 1e-6;
  EXPECT_NEAR(r.singular_values[0], 3.0, tol);
  EXPECT_NEAR(r.singular_values[1], 2.0, tol);
  EXPECT_EQ(r.rows, 3u);
  const double v1[4] = {0.5, 0.5, 0.5, 0.5}, v2[4] = {0.5, -0.5, 0.5, -0.5};
  // v1 has one sign with a positive largest entry; v2's entries tie in |value|, so its sign is
  // whichever rounding makes largest (the convention: the largest |entry| is positive).
  double dot2 = 0;
  for (int i = 0; i < 4; ++i) {
    EXPECT_NEAR(r.basis[size_t(i) * 2 + 0], v1[i], tol) << "row " << i;
    dot2 += r.basis[size_t(i) * 2 + 1] * v2[i];
  }
  EXPECT_NEAR(std::fabs(dot2), 1.0, tol);
  for (int c = 0; c < 2; ++c) {
    int arg = 0;
    for (int i = 1; i < 4; ++i)
      if (std::fabs(r.basis[size_t(i) * 2 + size_t(c)]) > std::fabs(r.basis[size_t(arg) * 2 + size_t(c)])) arg = i;
    EXPECT_GT(r.basis[size_t(arg) * 2 + size_t(c)], 0.0) << "column " << c;
  }
  // dim 3 (the full rank) still works; dim 4 exceeds the rank 3.
  o.dim = 3;
  o.oversample = 1;
  auto r3 = embed::randomized_svd(comm, blocks, keys_of(4), o);
  EXPECT_NEAR(r3.singular_values[2], 1.0, tol);
  // Rank 3 with 4 rows: dim 4 exceeds the numerical rank.
  std::vector<embed::SvdBlock> four(1);
  four[0].rows = csr_of({rows[0], rows[1], rows[2], rows[1]}, 4);
  o.dim = 4;
  o.oversample = 0;
  try {
    embed::randomized_svd(comm, four, keys_of(4), o);
    FAIL() << "dim 4 > rank 3 must fail";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("exceeds the numerical rank"), std::string::npos) << e.what();
  }
  o.dim = 5;
  EXPECT_THROW(embed::randomized_svd(comm, blocks, keys_of(4), o), UsageError);  // > features
  o.dim = 0;
  EXPECT_THROW(embed::randomized_svd(comm, blocks, keys_of(4), o), UsageError);
}

// The fixed-point sums assume rows of norm <= 1 (TF-IDF rows), with 2^8 of headroom: rows a
// little larger still fit and give the scaled answer; rows far larger are an error, never
// wrapped-around sums.
TEST(LsaSvd, RowsBeyondTheFixedPointRangeAreAnError) {
  auto comm = mpi::Comm::world();
  auto rows = hadamard_rows();  // norms 3, 2, 1
  embed::SvdOptions o;
  o.dim = 2;
  o.oversample = 1;
  for (float f : {10.0f, 1e5f}) {
    auto big = rows;
    for (auto& r : big)
      for (auto& x : r) x *= f;
    std::vector<embed::SvdBlock> blocks(1);
    blocks[0].rows = csr_of(big, 4);
    if (f == 10.0f) {
      auto r = embed::randomized_svd(comm, blocks, keys_of(4), o);
      EXPECT_NEAR(r.singular_values[0], 30.0, 30.0 * 1e-6);
    } else {
      const std::string m = test::error_of([&] { embed::randomized_svd(comm, blocks, keys_of(4), o); });
      EXPECT_NE(m.find("exceed their fixed-point range"), std::string::npos) << m;
    }
  }
}

TEST(LsaSvd, BlocksDoNotChangeTheBits) {
  // The same rows split into other blocks, or the blocks in another order: identical bits.
  auto comm = mpi::Comm::world();
  std::mt19937_64 g(5);
  std::vector<std::vector<float>> rows(300, std::vector<float>(40, 0.0f));
  for (auto& r : rows)
    for (int t = 0; t < 6; ++t) r[g() % 40] = float(g() % 1000) / 1000.0f + 0.01f;
  embed::SvdOptions o;
  o.dim = 8;
  std::vector<embed::SvdBlock> a(1), b(3);
  a[0].rows = csr_of(rows, 40);
  // b: in another order, but the blocks must carry the same row sets for the same bits only
  // when they are the same blocks; here we check the order of blocks only.
  b[0].rows = csr_of(std::vector<std::vector<float>>(rows.begin() + 200, rows.end()), 40);
  b[1].rows = csr_of(std::vector<std::vector<float>>(rows.begin(), rows.begin() + 100), 40);
  b[2].rows = csr_of(std::vector<std::vector<float>>(rows.begin() + 100, rows.begin() + 200), 40);
  std::vector<embed::SvdBlock> c = {b[1], b[2], b[0]};
  auto rb = embed::randomized_svd(comm, b, keys_of(40), o);
  auto rc = embed::randomized_svd(comm, c, keys_of(40), o);
  EXPECT_EQ(rb.basis, rc.basis);
  EXPECT_EQ(rb.singular_values, rc.singular_values);
  // One block versus three: not the same bits in general, but the same answer to rounding (the
  // blocks' sums are in float).
  auto ra = embed::randomized_svd(comm, a, keys_of(40), o);
  for (int i = 0; i < o.dim; ++i)
    EXPECT_NEAR(ra.singular_values[size_t(i)], rb.singular_values[size_t(i)], 1e-6 * rb.singular_values[size_t(i)]);
}

TEST(LsaSvd, ThreadsDoNotChangeTheBits) {
  // Rows with shared columns, more than one 4,096-row slice, several blocks; 1, 2 and 3 threads.
  auto comm = mpi::Comm::world();
  std::mt19937_64 g(9);
  const int V = 70;
  std::vector<embed::SvdBlock> blocks(3);
  for (size_t b = 0; b < blocks.size(); ++b) {
    std::vector<std::vector<float>> rows(b == 0 ? 5000 : 700, std::vector<float>(V, 0.0f));
    for (auto& r : rows)
      for (int t = 0; t < 5; ++t) r[g() % V] = float(g() % 1000) / 1000.0f + 0.01f;
    blocks[b].rows = csr_of(rows, V);
    blocks[b].block = b;
  }
  embed::SvdOptions o;
  o.dim = 9;
  o.oversample = 8;
  o.power_iterations = 3;
  const int before = omp_get_max_threads();
  std::vector<embed::SvdResult> r;
  for (int threads : {1, 2, 3}) {
    omp_set_num_threads(threads);
    r.push_back(embed::randomized_svd(comm, blocks, keys_of(V), o));
  }
  omp_set_num_threads(before);
  for (size_t i = 1; i < r.size(); ++i) {
    EXPECT_TRUE(r[i].basis == r[0].basis) << "threads " << i + 1;
    EXPECT_TRUE(r[i].singular_values == r[0].singular_values) << "threads " << i + 1;
  }
}

// ---- against scikit-learn ------------------------------------------------------------------

struct Corpus {
  std::vector<uint64_t> offsets{0};
  std::vector<uint32_t> ids;
};

// Documents from 12 topics (each a Zipf distribution over its own 150 token ids) plus a shared
// background of 300 ids: a TF-IDF matrix with a clear low-rank structure and a noisy tail.
Corpus make_corpus(int n, uint64_t seed) {
  std::mt19937_64 g(seed);
  Corpus c;
  std::vector<double> zipf(150);
  for (int i = 0; i < 150; ++i) zipf[size_t(i)] = 1.0 / (i + 1.0);
  std::discrete_distribution<int> word(zipf.begin(), zipf.end());
  for (int d = 0; d < n; ++d) {
    int topic = int(g() % 12), topic2 = int(g() % 12);
    int len = 15 + int(g() % 40);
    for (int t = 0; t < len; ++t) {
      uint32_t id;
      double u = double(g() >> 11) * 0x1.0p-53;
      if (u < 0.6) id = uint32_t(100000 + topic * 1000 + word(g));
      else if (u < 0.75) id = uint32_t(100000 + topic2 * 1000 + word(g));
      else id = uint32_t(500000 + g() % 300);
      c.ids.push_back(id * 2654435761u);  // spread like hashed ids
    }
    c.offsets.push_back(c.ids.size());
  }
  return c;
}

embed::Vocab vocab_of(const Corpus& c) {
  std::map<uint32_t, uint64_t> df;
  for (size_t i = 0; i + 1 < c.offsets.size(); ++i) {
    std::set<uint32_t> s(c.ids.begin() + long(c.offsets[i]), c.ids.begin() + long(c.offsets[i + 1]));
    for (auto id : s) df[id]++;
  }
  embed::Vocab v;
  v.n_docs = c.offsets.size() - 1;
  for (auto& [id, n] : df) {
    v.id.push_back(id);
    v.df.push_back(n);
    v.tf.push_back(n);
  }
  return v;
}

template <class T>
void write_bin(const std::string& path, const std::vector<T>& v) {
  std::ofstream f(path, std::ios::binary);
  f.write(reinterpret_cast<const char*>(v.data()), std::streamsize(v.size() * sizeof(T)));
  ASSERT_TRUE(bool(f)) << path;
}

template <class T>
std::vector<T> read_bin(const std::string& path) {
  std::ifstream f(path, std::ios::binary | std::ios::ate);
  EXPECT_TRUE(bool(f)) << path << " missing";
  std::vector<T> v(size_t(f.tellg()) / sizeof(T));
  f.seekg(0);
  f.read(reinterpret_cast<char*>(v.data()), std::streamsize(v.size() * sizeof(T)));
  return v;
}

TEST(LsaSvd, AgreesWithScikitLearn) {
  auto comm = mpi::Comm::world();
  const int n = 3000, dim = 20, iters = 4, over = 10;
  Corpus corpus = make_corpus(n, 17);
  embed::Vocab v = vocab_of(corpus);
  std::vector<uint32_t> ids;
  std::vector<uint64_t> df;
  std::vector<float> idf;
  embed::select_features(v, 1500, &ids, &df, &idf);
  ASSERT_EQ(ids.size(), 1500u);
  embed::LsaFeaturizer feat(ids, idf);
  Csr x;
  feat.rows(corpus.offsets.data(), corpus.ids.data(), size_t(n), &x);
  // The SVD input: blocks of 700 rows, as trawl-fit cuts them.
  std::vector<embed::SvdBlock> blocks;
  for (size_t r0 = 0; r0 < size_t(n); r0 += 700) {
    embed::SvdBlock b;
    b.block = r0 / 700;
    b.rows.cols = x.cols;
    for (size_t r = r0; r < std::min<size_t>(n, r0 + 700); ++r) {
      for (uint64_t q = x.offsets[r]; q < x.offsets[r + 1]; ++q) {
        b.rows.index.push_back(x.index[q]);
        b.rows.value.push_back(x.value[q]);
      }
      b.rows.offsets.push_back(b.rows.index.size());
    }
    blocks.push_back(std::move(b));
  }
  embed::SvdOptions o;
  o.dim = dim;
  o.oversample = over;
  o.power_iterations = iters;
  auto r = embed::randomized_svd(comm, blocks, ids, o);

  test::TempDir dir("lsa-sk");
  test::write_file(dir / "meta.txt", cat(n, " ", x.cols, " ", dim, " ", iters, " ", over, "\n"));
  write_bin(dir / "offsets.u64", x.offsets);
  write_bin(dir / "index.u32", x.index);
  write_bin(dir / "value.f32", x.value);
  std::string out;
  ASSERT_EQ(test::run("/usr/bin/python3 " + test::source_dir() + "/tests/support/lsa_ref.py svd " + dir.path(), &out),
            0)
      << "the scikit-learn reference must run (Debian's python3-sklearn): " << out;
  auto sk_sigma = read_bin<double>(dir / "sk_sigma.f64");
  auto sk_comp = read_bin<double>(dir / "sk_components.f64");
  auto exact = read_bin<double>(dir / "exact_sigma.f64");
  ASSERT_EQ(sk_sigma.size(), size_t(dim));
  ASSERT_EQ(exact.size(), size_t(dim));
  ASSERT_EQ(sk_comp.size(), size_t(dim) * ids.size());
  for (int i = 0; i < dim; ++i) {
    EXPECT_NEAR(r.singular_values[size_t(i)], sk_sigma[size_t(i)], 0.01 * sk_sigma[size_t(i)]) << "sigma " << i;
    // Against the exact SVD: within 1% for the 12 topics; the flat noise tail beyond them is
    // where a randomized sketch (sklearn's as well) converges slowest: within 10%, and below.
    if (i < 12)
      EXPECT_NEAR(r.singular_values[size_t(i)], exact[size_t(i)], 0.01 * exact[size_t(i)]) << "exact sigma " << i;
    else
      EXPECT_NEAR(r.singular_values[size_t(i)], exact[size_t(i)], 0.10 * exact[size_t(i)]) << "exact sigma " << i;
    EXPECT_LE(r.singular_values[size_t(i)], exact[size_t(i)] * (1 + 1e-6)) << "a sketch never exceeds sigma " << i;
  }
  // The structure is real: the 12 topics stand out.
  EXPECT_GT(r.singular_values[0], 2.0 * r.singular_values[dim - 1]);
  // Principal angles between the top-k subspaces: cosines = singular values of B_ᵀ C.
  const Eigen::Index V = Eigen::Index(ids.size());
  for (int k : {1, 4, 8, 12}) {
    Eigen::MatrixXd B(V, k), C(V, k);
    for (Eigen::Index i = 0; i < V; ++i)
      for (int c = 0; c < k; ++c) {
        B(i, c) = r.basis[size_t(i) * size_t(dim) + size_t(c)];
        C(i, c) = sk_comp[size_t(c) * size_t(V) + size_t(i)];
      }
    Eigen::JacobiSVD<Eigen::MatrixXd> s(B.transpose() * C);
    double min_cos = s.singularValues().minCoeff();
    EXPECT_GT(min_cos, std::cos(2.0 * M_PI / 180.0)) << "largest principal angle of the top " << k
                                                     << " components: " << std::acos(std::min(1.0, min_cos)) * 180 / M_PI
                                                     << " degrees";
  }
  // The basis is orthonormal.
  Eigen::Map<const Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>> Bm(r.basis.data(), V, dim);
  EXPECT_LT((Bm.transpose() * Bm - Eigen::MatrixXd::Identity(dim, dim)).cwiseAbs().maxCoeff(), 1e-10);
}

// ---- the file and the encoders -----------------------------------------------------------

embed::LsaModel small_model() {
  // Features: the ids of "apple", "banana", "cherry" (unigrams) with idf 1, 2, 3; basis 3 × 2.
  embed::LsaModel m;
  std::vector<uint32_t> ids;
  for (const char* w : {"apple", "banana", "cherry"}) {
    std::vector<uint32_t> t;
    text::text_to_ids(w, t);
    ids.push_back(t.at(0));
  }
  std::vector<size_t> order = {0, 1, 2};
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) { return ids[a] < ids[b]; });
  const float idf[3] = {1.0f, 2.0f, 3.0f};
  const float basis[3][2] = {{1.0f, 0.0f}, {0.0f, 1.0f}, {0.6f, 0.8f}};
  m.dim = 2;
  for (size_t i : order) {
    m.id.push_back(ids[i]);
    m.df.push_back(1 + i);
    m.idf.push_back(idf[i]);
    m.basis.push_back(basis[i][0]);
    m.basis.push_back(basis[i][1]);
  }
  m.singular_values = {2.0, 1.0};
  m.rows = 10;
  m.n_docs = 10;
  m.input_file = {"a.tsv"};
  m.input_checksum = {"x"};
  return m;
}

TEST(LsaFile, RoundTripAndCorruption) {
  test::TempDir dir("lsa-file");
  auto m = small_model();
  embed::write_lsa(dir / "enc.h5", m);
  EXPECT_EQ(m.checksum.substr(0, 4), "lsa:");
  auto r = embed::read_lsa(dir / "enc.h5");
  EXPECT_EQ(r.id, m.id);
  EXPECT_EQ(r.basis, m.basis);
  EXPECT_EQ(r.idf, m.idf);
  EXPECT_EQ(r.singular_values, m.singular_values);
  EXPECT_EQ(r.checksum, m.checksum);
  EXPECT_TRUE(embed::lsa_is_complete(dir / "enc.h5"));
  // Missing file: IoError naming it.
  try {
    embed::read_lsa(dir / "nope.h5");
    FAIL();
  } catch (const IoError& e) {
    EXPECT_NE(std::string(e.what()).find("nope.h5"), std::string::npos);
  }
  // Not HDF5.
  test::write_file(dir / "junk.h5", "this is not an encoder\n");
  EXPECT_THROW(embed::read_lsa(dir / "junk.h5"), InputError);
  EXPECT_FALSE(embed::lsa_is_complete(dir / "junk.h5"));
  // A vocab file is a trawl file of another format.
  embed::Vocab v;
  v.n_docs = 1;
  embed::write_vocab(dir / "vocab.h5", v);
  try {
    embed::read_lsa(dir / "vocab.h5");
    FAIL();
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("lsa-encoder"), std::string::npos) << e.what();
  }
  // One changed basis value: the checksum catches it.
  {
    auto f = io::h5::File::open(dir / "enc.h5", io::h5::File::kReadWrite);
    auto d = io::h5::Dataset::open(f, "basis");
    float row[2] = {1.0f, 1e-7f};
    d.write(0, 1, row);
    f.close();
  }
  try {
    embed::read_lsa(dir / "enc.h5");
    FAIL() << "a changed byte must be caught";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("checksum"), std::string::npos) << e.what();
  }
  // A truncated file.
  embed::write_lsa(dir / "enc2.h5", m);
  std::string bytes = test::read_file(dir / "enc2.h5");
  test::write_file(dir / "trunc.h5", bytes.substr(0, bytes.size() / 2));
  EXPECT_THROW(embed::read_lsa(dir / "trunc.h5"), InputError);
}

// Rows wide enough for the encoder's 64-element register slabs (64, 64 + 36, 4·64 + 44), over
// more than one 512-row piece, with repeated, unselected and no tokens: against TF-IDF and the
// product computed here in double from the model's arrays, and the same bits at 1 and 2 threads.
TEST(LsaEncoder, WideRowsMatchADoubleReference) {
  for (int d : {64, 100, 300}) {
    auto m = std::make_shared<embed::LsaModel>();
    std::mt19937_64 g{uint64_t(d)};
    std::normal_distribution<float> nd(0.f, 1.f);
    const size_t V = 300;
    m->dim = d;
    for (size_t j = 0; j < V; ++j) {
      m->id.push_back(uint32_t(3 * j + 1));
      m->df.push_back(1 + j);
      m->idf.push_back(1.0f + float(j % 7) * 0.5f);
    }
    for (size_t i = 0; i < V * size_t(d); ++i) m->basis.push_back(nd(g));
    m->singular_values.assign(size_t(d), 1.0);
    m->checksum = m->content_checksum();
    const size_t n = 1300;
    std::vector<uint64_t> offs = {0};
    std::vector<uint32_t> ids;
    for (size_t r = 0; r < n; ++r) {
      const size_t len = r % 97 == 5 ? 0 : 1 + g() % 30;
      for (size_t k = 0; k < len; ++k) ids.push_back(uint32_t(g() % (3 * V + 30)));  // ~1/3 selected
      if (len > 2) ids.push_back(ids[ids.size() - 2]);                               // a repeat
      offs.push_back(ids.size());
    }
    std::vector<std::string> texts(n);
    auto enc = embed::make_lsa_encoder(m);
    std::vector<float> out(n * size_t(d)), out2(n * size_t(d));
    omp_set_num_threads(1);
    enc->encode(texts, offs, ids, out.data());
    omp_set_num_threads(2);
    enc->encode(texts, offs, ids, out2.data());
    omp_set_num_threads(1);
    EXPECT_EQ(out, out2) << "d = " << d;
    double worst = 0;
    size_t zero_rows = 0;
    for (size_t r = 0; r < n; ++r) {
      std::map<uint32_t, int> tf;
      for (uint64_t k = offs[r]; k < offs[r + 1]; ++k)
        if (ids[k] % 3 == 1 && ids[k] / 3 < V) ++tf[ids[k] / 3];
      std::vector<double> e(size_t(d), 0.0);
      for (const auto& [j, c] : tf) {
        const double x = (1.0 + std::log(double(c))) * double(m->idf[j]);
        for (int t = 0; t < d; ++t) e[size_t(t)] += x * double(m->basis[j * size_t(d) + size_t(t)]);
      }
      double nn = 0;
      for (double v : e) nn += v * v;
      nn = std::sqrt(nn);
      if (tf.empty()) ++zero_rows;
      for (int t = 0; t < d; ++t) {
        const double ref = nn > 0 ? e[size_t(t)] / nn : 0.0;
        worst = std::max(worst, std::abs(double(out[r * size_t(d) + size_t(t)]) - ref));
      }
    }
    EXPECT_LT(worst, 2e-6) << "d = " << d;
    EXPECT_GT(zero_rows, 0u);
  }
}

TEST(LsaEncoder, MatchesAHandComputation) {
  auto m = std::make_shared<embed::LsaModel>(small_model());
  m->checksum = m->content_checksum();
  auto enc = embed::make_lsa_encoder(m);
  EXPECT_EQ(enc->name(), "lsa");
  EXPECT_EQ(enc->params(), "dim=2;lsa=" + m->checksum);
  EXPECT_EQ(enc->dim(), 2);
  // "apple apple cherry durian": tf apple 2 (idf 1), cherry 1 (idf 3); durian and the bigrams
  // are not features. x = ((1 + ln 2)·1, 3) (before the L2 norm, which the final norm undoes);
  // e = x_apple·(1, 0) + x_cherry·(0.6, 0.8).
  std::vector<std::string> texts = {"apple apple cherry durian", "durian only", "banana"};
  std::vector<float> out(6, -1.0f);
  enc->encode(texts, {}, {}, out.data());
  double xa = 1.0 + std::log(2.0), xc = 3.0;
  double e0 = xa + 0.6 * xc, e1 = 0.8 * xc, nn = std::sqrt(e0 * e0 + e1 * e1);
  EXPECT_NEAR(out[0], e0 / nn, 1e-6);
  EXPECT_NEAR(out[1], e1 / nn, 1e-6);
  EXPECT_EQ(out[2], 0.0f);  // no selected id: zero
  EXPECT_EQ(out[3], 0.0f);
  EXPECT_NEAR(out[4], 0.0, 1e-7);  // banana -> (0, 1)
  EXPECT_NEAR(out[5], 1.0, 1e-7);

  // lsa+hash: both parts, each unit, scaled by 1/√2; a row where lsa is zero keeps a unit hash part.
  std::vector<std::unique_ptr<embed::Encoder>> parts;
  parts.push_back(embed::make_lsa_encoder(m));
  embed::HashEncoderOptions ho;
  ho.dim = 8;
  parts.push_back(embed::make_hash_encoder(ho));
  auto both = embed::make_concat_encoder(std::move(parts));
  EXPECT_EQ(both->name(), "lsa+hash");
  EXPECT_EQ(both->dim(), 10);
  EXPECT_EQ(both->params().find("lsa.dim=2;lsa.lsa=" + m->checksum + ";hash.dim=8;hash.seed="), 0u) << both->params();
  std::vector<float> o2(30);
  both->encode(texts, {}, {}, o2.data());
  auto hash = embed::make_hash_encoder(ho);
  std::vector<float> h(24);
  hash->encode(texts, {}, {}, h.data());
  for (int r = 0; r < 3; ++r) {
    double s = r == 1 ? 1.0 : 1.0 / std::sqrt(2.0);
    for (int t = 0; t < 2; ++t) EXPECT_NEAR(o2[size_t(r) * 10 + size_t(t)], out[size_t(r) * 2 + size_t(t)] * s, 1e-6);
    for (int t = 0; t < 8; ++t) EXPECT_NEAR(o2[size_t(r) * 10 + 2 + size_t(t)], h[size_t(r) * 8 + size_t(t)] * s, 1e-6);
    double nn2 = 0;
    for (int t = 0; t < 10; ++t) nn2 += double(o2[size_t(r) * 10 + size_t(t)]) * o2[size_t(r) * 10 + size_t(t)];
    EXPECT_NEAR(nn2, 1.0, 1e-5) << "row " << r;
  }
}

TEST(LsaFeatures, TopByDocumentFrequency) {
  embed::Vocab v;
  v.n_docs = 100;
  v.id = {5, 9, 12, 40, 77};
  v.df = {10, 50, 50, 3, 20};
  v.tf = v.df;
  std::vector<uint32_t> ids;
  std::vector<uint64_t> df;
  std::vector<float> idf;
  embed::select_features(v, 3, &ids, &df, &idf);
  EXPECT_EQ(ids, (std::vector<uint32_t>{9, 12, 77}));
  EXPECT_EQ(df, (std::vector<uint64_t>{50, 50, 20}));
  EXPECT_NEAR(idf[2], std::log(101.0 / 21.0) + 1.0, 1e-6);
  embed::select_features(v, 0, &ids, &df, &idf);
  EXPECT_EQ(ids.size(), 5u);
}

}  // namespace
