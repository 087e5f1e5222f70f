// trawl-libs: trawl_index
// HnswIndex against independent references: exact search in double precision (recall,
// distances, exclusion), hnswlib's own Python binding (the payload is hnswlib's file byte for
// byte and searches the same), and byte-level damage to the file wrapper.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <fstream>
#include <set>

#include "core/error.h"
#include "core/fs.h"
#include "core/rng.h"
#include "index/hnsw_index.h"
#include "support/testutil.h"

using namespace trawl;
using index::HnswIndex;
using index::HnswParams;
using index::Hit;
using index::IndexInfo;
using index::UidSet;

namespace {

/// n unit vectors around `clusters` random unit centres (noise of norm ~spread), row-major.
/// The centres depend on `seed` only, the points on (seed, draw): draws of one seed are samples
/// of the same distribution (e.g. an index's items and in-distribution queries).
std::vector<float> clustered(size_t n, int dim, int clusters, double spread, uint64_t seed, uint64_t draw = 0) {
  Rng centre_rng(key(seed, 1));
  std::vector<double> centres(size_t(clusters) * dim);
  for (int c = 0; c < clusters; ++c) {
    double s = 0;
    for (int j = 0; j < dim; ++j) s += std::pow(centres[size_t(c) * dim + j] = centre_rng.normal(), 2);
    for (int j = 0; j < dim; ++j) centres[size_t(c) * dim + j] /= std::sqrt(s);
  }
  Rng rng(key(seed, 2, draw));
  std::vector<float> v(n * dim);
  std::vector<double> x(dim);
  for (size_t i = 0; i < n; ++i) {
    const double* c = &centres[rng.below(clusters) * dim];
    double s = 0;
    for (int j = 0; j < dim; ++j) s += std::pow(x[j] = c[j] + spread * rng.normal() / std::sqrt(double(dim)), 2);
    for (int j = 0; j < dim; ++j) v[i * dim + j] = float(x[j] / std::sqrt(s));
  }
  return v;
}

std::vector<uint64_t> make_uids(size_t n, uint64_t chunk = 7) {
  std::vector<uint64_t> u(n);
  for (size_t i = 0; i < n; ++i) u[i] = (chunk << 40) | (i * 3 + 1);  // sparse, like real uids
  return u;
}

/// Exact K nearest by cosine distance (double precision, vectors normalised here), ties by uid.
std::vector<std::vector<Hit>> brute_force(const std::vector<float>& data, const std::vector<uint64_t>& uids,
                                          const std::vector<float>& queries, int dim, int K,
                                          const UidSet& excluded = UidSet()) {
  size_t n = uids.size(), nq = queries.size() / dim;
  std::vector<double> norms(n);
  for (size_t i = 0; i < n; ++i) {
    double s = 0;
    for (int j = 0; j < dim; ++j) s += double(data[i * dim + j]) * data[i * dim + j];
    norms[i] = std::sqrt(s);
  }
  std::vector<std::vector<Hit>> out(nq);
  for (size_t q = 0; q < nq; ++q) {
    double qs = 0;
    for (int j = 0; j < dim; ++j) qs += double(queries[q * dim + j]) * queries[q * dim + j];
    qs = std::sqrt(qs);
    std::vector<std::pair<double, uint64_t>> all;
    all.reserve(n);
    for (size_t i = 0; i < n; ++i) {
      if (excluded.contains(uids[i])) continue;
      double d = 0;
      for (int j = 0; j < dim; ++j) d += double(queries[q * dim + j]) * data[i * dim + j];
      all.emplace_back(1.0 - d / (qs * norms[i]), uids[i]);
    }
    size_t k = std::min<size_t>(K, all.size());
    std::partial_sort(all.begin(), all.begin() + k, all.end());
    for (size_t i = 0; i < k; ++i) out[q].push_back(Hit{float(all[i].first), all[i].second});
  }
  return out;
}

double recall(const std::vector<std::vector<Hit>>& got, const std::vector<std::vector<Hit>>& truth) {
  size_t hit = 0, total = 0;
  for (size_t q = 0; q < truth.size(); ++q) {
    std::set<uint64_t> t;
    for (auto& h : truth[q]) t.insert(h.uid);
    for (auto& h : got[q]) hit += t.count(h.uid);
    total += truth[q].size();
  }
  return total ? double(hit) / double(total) : 1.0;
}

std::string slurp(const std::string& p) { return test::read_file(p); }
void spit(const std::string& p, const std::string& s) { test::write_file(p, s); }

template <class F>
std::string input_error_of(F&& f) {
  try {
    f();
  } catch (const InputError& e) {
    return e.what();
  } catch (const std::exception& e) {
    return std::string("WRONG EXCEPTION TYPE: ") + e.what();
  }
  return "NO EXCEPTION";
}

constexpr int kDim = 64;

/// The 20k-vector index shared by the quality tests (built once, 2 threads).
struct Shared {
  std::vector<float> data, queries;
  std::vector<uint64_t> uids;
  std::unique_ptr<HnswIndex> index;
};
Shared& shared() {
  static Shared s = [] {
    Shared x;
    x.data = clustered(20000, kDim, 40, 0.8, 1);
    x.queries = clustered(200, kDim, 40, 0.8, 1, 1);
    x.uids = make_uids(20000);
    x.index = std::make_unique<HnswIndex>(
        HnswIndex::build(x.data.data(), x.uids.data(), x.uids.size(), kDim, HnswParams{64, 200, 42}, 2));
    return x;
  }();
  return s;
}

}  // namespace

TEST(HnswIndex, RecallAgainstExactSearchAtEf200) {
  auto& s = shared();
  ASSERT_EQ(s.index->size(), 20000u);
  for (int K : {10, 50}) {
    auto got = s.index->search(s.queries.data(), 200, K, 200, UidSet(), 2);
    auto truth = brute_force(s.data, s.uids, s.queries, kDim, K);
    double r = recall(got, truth);
    EXPECT_GE(r, 0.95) << "recall@" << K;
    std::printf("recall@%d at ef=200: %.4f\n", K, r);
    for (size_t q = 0; q < got.size(); ++q) {
      ASSERT_EQ(got[q].size(), size_t(K));
      EXPECT_TRUE(std::is_sorted(got[q].begin(), got[q].end()));
    }
  }
  // Reported distances are 1 - cosine, checked against an independent computation.
  auto got = s.index->search(s.queries.data(), 20, 10, 200);
  for (size_t q = 0; q < got.size(); ++q)
    for (auto& h : got[q]) {
      size_t row = (h.uid & ((1ull << 40) - 1)) / 3;
      ASSERT_EQ(s.uids[row], h.uid);
      auto one = brute_force({s.data.begin() + row * kDim, s.data.begin() + (row + 1) * kDim}, {h.uid},
                             {s.queries.begin() + q * kDim, s.queries.begin() + (q + 1) * kDim}, kDim, 1);
      EXPECT_NEAR(h.dist, one[0][0].dist, 2e-6);
    }
  // A low ef is worse than a high one on the same queries (ef really reaches hnswlib).
  double low = recall(s.index->search(s.queries.data(), 200, 50, 1), brute_force(s.data, s.uids, s.queries, kDim, 50));
  double high = recall(s.index->search(s.queries.data(), 200, 50, 400), brute_force(s.data, s.uids, s.queries, kDim, 50));
  EXPECT_LT(low, high);
}

TEST(HnswIndex, ExcludedUidsAreNeverReturned) {
  auto& s = shared();
  const int K = 20;
  auto plain = s.index->search(s.queries.data(), 200, K, 200);
  // Exclude each query's true top 10, every 3rd item, and uids of other shards.
  std::vector<uint64_t> ex;
  for (auto& l : brute_force(s.data, s.uids, s.queries, kDim, 10))
    for (auto& h : l) ex.push_back(h.uid);
  for (size_t i = 0; i < s.uids.size(); i += 3) ex.push_back(s.uids[i]);
  for (uint64_t i = 0; i < 100; ++i) ex.push_back((99ull << 40) | i);
  UidSet excluded(ex);
  auto got = s.index->search(s.queries.data(), 200, K, 200, excluded, 2);
  for (auto& l : got) {
    EXPECT_EQ(l.size(), size_t(K));
    for (auto& h : l) ASSERT_FALSE(excluded.contains(h.uid)) << h.uid;
  }
  double r = recall(got, brute_force(s.data, s.uids, s.queries, kDim, K, excluded));
  EXPECT_GE(r, 0.95) << "recall among the eligible items";
  // The marks are gone afterwards: the same unfiltered search gives the same results.
  EXPECT_EQ(s.index->search(s.queries.data(), 200, K, 200), plain);
  // Excluding all but a handful leaves only that handful.
  std::vector<uint64_t> all_but(s.uids.begin() + 5, s.uids.end());
  auto few = s.index->search(s.queries.data(), 3, K, 50, UidSet(all_but));
  for (auto& l : few) {
    std::set<uint64_t> got_uids;
    for (auto& h : l) got_uids.insert(h.uid);
    EXPECT_EQ(got_uids, std::set<uint64_t>(s.uids.begin(), s.uids.begin() + 5));
  }
}

TEST(HnswIndex, SaveLoadRoundTripSearchesIdentically) {
  auto& s = shared();
  test::TempDir d("hnsw");
  IndexInfo info;
  info.shard = "shard-000007.h5";
  info.shard_checksum = "crc32:01234567/size:89";
  info.config = "M = 64\nef-construction = 200\n";
  std::string path = d / "a.hnsw";
  s.index->save(path, info);
  IndexInfo got_info;
  HnswIndex loaded = HnswIndex::load(path, &got_info);
  EXPECT_EQ(loaded.ef(), 200) << "ef must not fall back to hnswlib's 10 after a load";
  EXPECT_EQ(got_info.shard, info.shard);
  EXPECT_EQ(got_info.shard_checksum, info.shard_checksum);
  EXPECT_EQ(got_info.config, info.config);
  EXPECT_EQ(got_info.dim, kDim);
  EXPECT_EQ(got_info.params.M, 64);
  EXPECT_EQ(got_info.params.ef_construction, 200);
  EXPECT_EQ(got_info.count, 20000u);
  EXPECT_EQ(got_info.metric, "cosine");
  EXPECT_EQ(got_info.file_size, file_size(path));
  EXPECT_EQ(loaded.uids(), s.index->uids());
  EXPECT_EQ(loaded.payload_bytes(), s.index->payload_bytes());
  for (int K : {1, 10, 50}) {
    EXPECT_EQ(loaded.search(s.queries.data(), 200, K, 100), s.index->search(s.queries.data(), 200, K, 100));
  }
  UidSet ex(std::vector<uint64_t>(s.uids.begin(), s.uids.begin() + 5000));
  EXPECT_EQ(loaded.search(s.queries.data(), 200, 10, 100, ex), s.index->search(s.queries.data(), 200, 10, 100, ex));
  // The cheap header read and the full verification agree with load.
  EXPECT_EQ(HnswIndex::read_info(path).shard_checksum, info.shard_checksum);
  EXPECT_EQ(HnswIndex::verify_file(path).count, 20000u);
}

TEST(HnswIndex, FileSizeAndMemoryEstimates) {
  auto& s = shared();
  test::TempDir d("hnsw");
  std::string path = d / "a.hnsw";
  s.index->save(path, IndexInfo());
  double measured = double(file_size(path));
  double est_file = double(index::estimate_file_size(20000, kDim, 64));
  double est_mem = double(index::estimate_memory(20000, kDim, 64, 2));
  EXPECT_NEAR(est_file / measured, 1.0, 0.02) << est_file << " vs " << measured;
  EXPECT_GE(est_mem, measured);
  EXPECT_LE(est_mem, 2 * measured);
  // Scales linearly in n and grows with dim and M.
  // Linear in n but for a fixed few MB.
  uint64_t m1 = index::estimate_memory(1000000, kDim, 64), m2 = index::estimate_memory(2000000, kDim, 64);
  EXPECT_NEAR(double(m2 - m1), double(m1 - index::estimate_memory(0, kDim, 64)), 1e3);
  EXPECT_LT(index::estimate_memory(0, kDim, 64), 8u << 20);
  EXPECT_GT(index::estimate_memory(1000, 256, 64), index::estimate_memory(1000, 64, 64));
  EXPECT_GT(index::estimate_memory(1000, 64, 64), index::estimate_memory(1000, 64, 16));
}

TEST(HnswIndex, OneThreadBuildIsDeterministic) {
  auto data = clustered(3000, 32, 10, 0.8, 5);
  auto uids = make_uids(3000);
  auto a = HnswIndex::build(data.data(), uids.data(), 3000, 32, HnswParams{16, 100, 7}, 1);
  auto b = HnswIndex::build(data.data(), uids.data(), 3000, 32, HnswParams{16, 100, 7}, 1);
  EXPECT_EQ(a.payload_bytes(), b.payload_bytes());
  // Block-wise adds (as the stage does) give the same graph as one add.
  HnswIndex c(32, 3000, HnswParams{16, 100, 7});
  for (size_t b0 = 0; b0 < 3000; b0 += 512) {
    size_t n = std::min<size_t>(512, 3000 - b0);
    c.add(data.data() + b0 * 32, uids.data() + b0, n, 1);
  }
  EXPECT_EQ(a.payload_bytes(), c.payload_bytes());
  auto other_seed = HnswIndex::build(data.data(), uids.data(), 3000, 32, HnswParams{16, 100, 8}, 1);
  EXPECT_NE(a.payload_bytes(), other_seed.payload_bytes());
}

TEST(HnswIndex, BadInputsAndParameters) {
  auto data = clustered(100, 8, 3, 0.5, 3);
  auto uids = make_uids(100);
  EXPECT_THROW(HnswIndex(8, 10, HnswParams{1, 100, 1}), UsageError);
  EXPECT_THROW(HnswIndex(0, 10), UsageError);
  EXPECT_THROW(HnswIndex(8, 10, HnswParams{16, 0, 1}), UsageError);
  {
    HnswIndex idx(8, 50);
    EXPECT_THROW(idx.add(data.data(), uids.data(), 100), UsageError);  // over capacity
  }
  {
    auto dup = uids;
    dup[50] = dup[10];
    HnswIndex idx(8, 100);
    std::string w = input_error_of([&] { idx.add(data.data(), dup.data(), 100); });
    EXPECT_NE(w.find("occurs twice"), std::string::npos) << w;
    EXPECT_EQ(idx.size(), 0u);
  }
  {
    HnswIndex idx(8, 100);
    idx.add(data.data(), uids.data(), 50);
    std::string w = input_error_of([&] { idx.add(data.data() + 8 * 40, uids.data() + 40, 20); });
    EXPECT_NE(w.find("already in the index"), std::string::npos) << w;
  }
  {
    auto bad = data;
    bad[8 * 33 + 2] = std::nanf("");
    HnswIndex idx(8, 100);
    std::string w = input_error_of([&] { idx.add(bad.data(), uids.data(), 100, 2); });
    EXPECT_NE(w.find(std::to_string(uids[33])), std::string::npos) << w;
    EXPECT_EQ(idx.size(), 0u) << "nothing is added when a vector is bad";
  }
  // An empty index searches to empty lists and round-trips.
  HnswIndex empty(8, 0);
  auto r = empty.search(data.data(), 2, 5);
  ASSERT_EQ(r.size(), 2u);
  EXPECT_TRUE(r[0].empty());
  test::TempDir d("hnsw");
  empty.save(d / "e.hnsw", IndexInfo());
  EXPECT_EQ(HnswIndex::load(d / "e.hnsw").size(), 0u);
  // Unnormalised input: the index normalises, so scaling changes nothing.
  auto scaled = data;
  for (auto& x : scaled) x *= 7.5f;
  auto a = HnswIndex::build(data.data(), uids.data(), 100, 8, HnswParams{8, 50, 1}, 1);
  auto b = HnswIndex::build(scaled.data(), uids.data(), 100, 8, HnswParams{8, 50, 1}, 1);
  auto qa = a.search(data.data(), 10, 5, 100), qb = b.search(scaled.data(), 10, 5, 100);
  for (size_t q = 0; q < 10; ++q) {
    ASSERT_EQ(qa[q].size(), qb[q].size());
    for (size_t i = 0; i < qa[q].size(); ++i) {
      EXPECT_EQ(qa[q][i].uid, qb[q][i].uid);
      EXPECT_NEAR(qa[q][i].dist, qb[q][i].dist, 1e-6);
    }
  }
}

// ---- damaged files -----------------------------------------------------------------------------

class HnswFile : public ::testing::Test {
 protected:
  void SetUp() override {
    data_ = clustered(2000, 16, 8, 0.8, 11);
    uids_ = make_uids(2000);
    HnswIndex idx = HnswIndex::build(data_.data(), uids_.data(), 2000, 16, HnswParams{8, 40, 3}, 1);
    IndexInfo info;
    info.shard = "shard-000001.h5";
    info.shard_checksum = "crc32:deadbeef/size:1";
    path_ = dir_ / "x.hnsw";
    idx.save(path_, info);
    good_ = slurp(path_);
    payload_size_ = idx.payload_bytes().size();
  }
  // Offset of the payload in the file: magic, version, header length, header, payload length.
  size_t payload_offset() const {
    uint32_t h;
    std::memcpy(&h, good_.data() + 12, 4);
    return 16 + h + 8;
  }
  test::TempDir dir_{"hnswfile"};
  std::vector<float> data_;
  std::vector<uint64_t> uids_;
  std::string path_, good_;
  size_t payload_size_ = 0;
};

TEST_F(HnswFile, LayoutIsMagicVersionHeaderPayloadCrc) {
  EXPECT_EQ(good_.compare(0, 8, "TRAWLIDX"), 0);
  uint32_t version;
  std::memcpy(&version, good_.data() + 8, 4);
  EXPECT_EQ(version, 1u);
  uint64_t plen;
  std::memcpy(&plen, good_.data() + payload_offset() - 8, 8);
  EXPECT_EQ(plen, payload_size_);
  EXPECT_EQ(good_.size(), payload_offset() + plen + 4);
  // The header is readable text keys.
  EXPECT_NE(good_.find("trawl-format"), std::string::npos);
  EXPECT_NE(good_.find("shard-000001.h5"), std::string::npos);
}

TEST_F(HnswFile, CorruptBytesAreChecksumErrorsNamingTheFile) {
  const size_t po = payload_offset();
  // Payload: hnswlib's fixed fields, level-0 links, a vector, a label, the upper levels' tail;
  // the header's values; the CRC itself.
  std::vector<size_t> where = {po + 3, po + 40, po + 100, po + 96 + 5 * 80, po + payload_size_ / 2,
                               po + payload_size_ - 3, good_.find("shard-000001") + 7, good_.size() - 2};
  for (size_t at : where) {
    std::string bad = good_;
    bad[at] ^= 0x20;
    spit(path_, bad);
    std::string w = input_error_of([&] { HnswIndex::load(path_); });
    EXPECT_NE(w.find(path_), std::string::npos) << "byte " << at << ": " << w;
    EXPECT_NE(w.find("checksum"), std::string::npos) << "byte " << at << ": " << w;
    std::string v = input_error_of([&] { HnswIndex::verify_file(path_); });
    EXPECT_NE(v.find("checksum"), std::string::npos) << "byte " << at << ": " << v;
  }
  spit(path_, good_);
  EXPECT_NO_THROW(HnswIndex::load(path_));
}

TEST_F(HnswFile, TruncatedFilesAreInputErrors) {
  const size_t po = payload_offset();
  for (size_t len : {size_t(3), size_t(8), size_t(14), size_t(20), po - 4, po + 50, po + payload_size_ / 2,
                     good_.size() - 1}) {
    spit(path_, good_.substr(0, len));
    std::string w = input_error_of([&] { HnswIndex::load(path_); });
    EXPECT_NE(w.find(path_), std::string::npos) << len << ": " << w;
    EXPECT_NE(w.find("truncated"), std::string::npos) << len << ": " << w;
    std::string i = input_error_of([&] { HnswIndex::read_info(path_); });
    EXPECT_NE(i.find("truncated"), std::string::npos) << len << ": " << i;
  }
  spit(path_, "");
  std::string w = input_error_of([&] { HnswIndex::load(path_); });
  EXPECT_NE(w.find("empty"), std::string::npos) << w;
  // Extra bytes at the end are not silently ignored either.
  spit(path_, good_ + "xyz");
  w = input_error_of([&] { HnswIndex::load(path_); });
  EXPECT_NE(w.find("unexpected bytes"), std::string::npos) << w;
}

TEST_F(HnswFile, ForeignFilesAreRecognised) {
  // A raw hnswlib file (the payload alone), an HDF5 file, text.
  spit(path_, good_.substr(payload_offset(), payload_size_));
  std::string w = input_error_of([&] { HnswIndex::load(path_); });
  EXPECT_NE(w.find("not a trawl index"), std::string::npos) << w;
  EXPECT_NE(w.find(path_), std::string::npos) << w;
  spit(path_, std::string("\x89HDF\r\n\x1a\n", 8) + std::string(100, '\0'));
  w = input_error_of([&] { HnswIndex::load(path_); });
  EXPECT_NE(w.find("HDF5"), std::string::npos) << w;
  spit(path_, "uid\tid\ttext\n1\ta\thello\n");
  w = input_error_of([&] { HnswIndex::load(path_); });
  EXPECT_NE(w.find("not a trawl index"), std::string::npos) << w;
  // Missing file: an IoError, not an InputError.
  EXPECT_THROW(HnswIndex::load(dir_ / "missing.hnsw"), IoError);
}

TEST_F(HnswFile, NewerVersionIsRejectedWithAClearMessage) {
  std::string newer = good_;
  uint32_t v = 2;
  std::memcpy(&newer[8], &v, 4);
  spit(path_, newer);
  std::string w = input_error_of([&] { HnswIndex::load(path_); });
  EXPECT_NE(w.find("newer"), std::string::npos) << w;
  EXPECT_NE(w.find(path_), std::string::npos) << w;
  w = input_error_of([&] { HnswIndex::read_info(path_); });
  EXPECT_NE(w.find("newer"), std::string::npos) << w;
}

// ---- hnswlib's own binding as the reference ---------------------------------------------------

TEST(HnswIndex, PayloadIsHnswlibsFileAndSearchesTheSameInPython) {
  const char* py = "/usr/bin/python3";
  if (test::run(std::string(py) + " -c 'import hnswlib, numpy'") != 0)
    FAIL() << "reference cannot run (tools/install-deps.sh installs it): " << "Debian's python3 with hnswlib and numpy is not available";
  auto& s = shared();
  test::TempDir d("hnswpy");
  std::string raw = d / "raw.bin", q = d / "q.f32", out = d / "labels.u64", resaved = d / "resaved.bin";
  auto payload = s.index->payload_bytes();
  spit(raw, std::string(payload.begin(), payload.end()));
  spit(q, std::string(reinterpret_cast<const char*>(s.queries.data()), s.queries.size() * sizeof(float)));
  spit(d / "check.py",
       "import sys, numpy as np, hnswlib\n"
       "raw, qf, out, resaved, dim = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5])\n"
       "p = hnswlib.Index(space='cosine', dim=dim)\n"
       "p.load_index(raw)\n"
       "p.set_ef(100)\n"
       "q = np.fromfile(qf, dtype=np.float32).reshape(-1, dim)\n"
       "labels, dists = p.knn_query(q, k=10, num_threads=1)\n"
       "labels.astype(np.uint64).tofile(out)\n"
       "p.save_index(resaved)\n");
  std::string log;
  int rc = test::run(cat(py, " ", d / "check.py", " ", raw, " ", q, " ", out, " ", resaved, " ", kDim), &log);
  ASSERT_EQ(rc, 0) << log;
  // hnswlib loads our payload and writes it back byte for byte.
  EXPECT_TRUE(slurp(resaved) == std::string(payload.begin(), payload.end()));
  // Same graph, same search: the same neighbours (queries are normalised in float by hnswlib and
  // in double here, so allow the odd near-tie to swap).
  std::string labels = slurp(out);
  ASSERT_EQ(labels.size(), 200u * 10 * 8);
  auto ours = s.index->search(s.queries.data(), 200, 10, 100);
  size_t differ = 0;
  for (size_t i = 0; i < 200; ++i) {
    std::set<uint64_t> a, b;
    for (int k = 0; k < 10; ++k) {
      uint64_t l;
      std::memcpy(&l, labels.data() + (i * 10 + k) * 8, 8);
      a.insert(l);
      b.insert(ours[i][k].uid);
    }
    differ += a != b;
  }
  EXPECT_LE(differ, 2u) << "queries whose top 10 differ from hnswlib's Python binding";
}
