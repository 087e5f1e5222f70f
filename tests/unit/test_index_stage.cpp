// trawl-libs: trawl_stage_index trawl_io
// The trawl-index stage over real shards written with io::ShardWriter: indexes exist, search
// like exact search over the shard's vectors, are skipped when up to date and rebuilt when
// their shard changed, and the memory check fails before any work.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <algorithm>
#include <cmath>
#include <set>

#include "core/error.h"
#include "core/fs.h"
#include "core/rng.h"
#include "index/hnsw_index.h"
#include "core/memory.h"
#include "stages/index_stage.h"
#include "io/shard.h"
#include "mpi/comm.h"
#include "support/testutil.h"

using namespace trawl;
using index::Hit;

namespace {

constexpr int kDim = 32;

std::vector<float> clustered(size_t n, int dim, uint64_t seed, uint64_t draw) {
  Rng crng(key(seed, 1));
  const int clusters = 12;
  std::vector<double> c(size_t(clusters) * dim);
  for (auto& x : c) x = crng.normal();
  Rng rng(key(seed, 2, draw));
  std::vector<float> v(n * dim);
  for (size_t i = 0; i < n; ++i) {
    const double* ci = &c[rng.below(clusters) * dim];
    double s = 0;
    std::vector<double> x(dim);
    for (int j = 0; j < dim; ++j) s += std::pow(x[j] = ci[j] + 0.9 * rng.normal(), 2);
    for (int j = 0; j < dim; ++j) v[i * dim + j] = float(x[j] / std::sqrt(s));
  }
  return v;
}

struct ShardData {
  std::vector<uint64_t> uids;
  std::vector<float> emb;
};

ShardData write_shard(const std::string& dir, uint64_t chunk, size_t n, uint64_t draw, bool nan_row = false) {
  ShardData d;
  d.emb = clustered(n, kDim, 5, draw);
  if (nan_row) d.emb[kDim * (n / 2) + 3] = std::nanf("");
  io::ShardMeta meta;
  meta.encoder = "test";
  meta.encoder_params = "draw=" + std::to_string(draw);
  meta.dim = kDim;
  meta.source_file = "chunk-" + std::to_string(chunk);
  meta.source_checksum = "crc32:00000000/size:" + std::to_string(draw);
  meta.chunk_index = chunk;
  std::string path = join_path(dir, io::shard_file_name(chunk));
  remove_file(path);
  io::ShardWriter w(path, meta, 256);
  io::ShardBlock b;
  for (size_t i = 0; i < n; ++i) {
    b.uid.push_back(io::make_uid(chunk, i));
    b.id.push_back("item" + std::to_string(i));
    b.text.push_back("text");
    b.token_offsets.push_back(0);
  }
  b.embedding = d.emb;
  w.append(b);
  w.close(0);
  d.uids = b.uid;
  return d;
}

/// Exact top K by cosine distance in double precision, ties by uid.
std::vector<std::vector<Hit>> exact(const ShardData& s, const std::vector<float>& q, int K) {
  size_t n = s.uids.size(), nq = q.size() / kDim;
  std::vector<std::vector<Hit>> out(nq);
  for (size_t a = 0; a < nq; ++a) {
    std::vector<std::pair<double, uint64_t>> all;
    double qn = 0;
    for (int j = 0; j < kDim; ++j) qn += double(q[a * kDim + j]) * q[a * kDim + j];
    for (size_t i = 0; i < n; ++i) {
      double d = 0, xn = 0;
      for (int j = 0; j < kDim; ++j) {
        d += double(q[a * kDim + j]) * s.emb[i * kDim + j];
        xn += double(s.emb[i * kDim + j]) * s.emb[i * kDim + j];
      }
      all.emplace_back(1 - d / std::sqrt(qn * xn), s.uids[i]);
    }
    std::partial_sort(all.begin(), all.begin() + K, all.end());
    for (int k = 0; k < K; ++k) out[a].push_back(Hit{float(all[k].first), all[k].second});
  }
  return out;
}

/// HNSW at an ef covering the whole shard must give the exact lists (the same uids in the same
/// order, distances to float precision; a swap of two near-equal distances is tolerated).
void expect_exact(const std::string& index_path, const ShardData& s, const std::vector<float>& q) {
  auto idx = index::HnswIndex::load(index_path);
  ASSERT_EQ(idx.size(), s.uids.size());
  const int K = 15;
  auto got = idx.search(q.data(), q.size() / kDim, K, int(s.uids.size()));
  auto want = exact(s, q, K);
  for (size_t a = 0; a < want.size(); ++a) {
    ASSERT_EQ(got[a].size(), size_t(K));
    for (int k = 0; k < K; ++k) {
      EXPECT_NEAR(got[a][k].dist, want[a][k].dist, 1e-5) << "query " << a << " rank " << k;
      if (got[a][k].uid != want[a][k].uid) {
        EXPECT_LT(std::fabs(want[a][k].dist - (k + 1 < K ? want[a][k + 1].dist : want[a][k - 1].dist)), 1e-5)
            << "query " << a << " rank " << k;
      }
    }
  }
}

ino_t inode(const std::string& p) {
  struct stat st;
  return ::stat(p.c_str(), &st) == 0 ? st.st_ino : 0;
}

stages::IndexOptions options(const std::string& pool) {
  stages::IndexOptions o;
  o.pool = pool;
  o.params.M = 16;
  o.params.ef_construction = 100;
  o.threads = 2;
  o.block_rows = 100;  // several blocks per shard
  o.config = "M = 16\nef-construction = 100\n";
  return o;
}

stages::IndexSummary run(const mpi::Comm& comm, const stages::IndexOptions& o) {
  stages::IndexSummary s;
  EXPECT_EQ(stages::run_index(comm, o, &s), 0);
  s.built = comm.sum(s.built);  // totals over ranks: the test holds at any rank count
  s.skipped = comm.sum(s.skipped);
  s.rows = comm.sum(s.rows);
  return s;
}

}  // namespace

TEST(IndexStage, BuildsSkipsAndRebuildsWhenAShardChanges) {
  auto comm = mpi::Comm::world();
  test::TempDir d("idxstage");
  const std::string pool = d / "shards";
  ShardData s0, s1;
  if (comm.root()) {
    make_dirs(pool);
    s0 = write_shard(pool, 0, 700, 1);
    s1 = write_shard(pool, 1, 450, 2);
  } else {  // other ranks need the data for the checks only
    s0.emb = clustered(700, kDim, 5, 1);
    s1.emb = clustered(450, kDim, 5, 2);
    for (size_t i = 0; i < 700; ++i) s0.uids.push_back(io::make_uid(0, i));
    for (size_t i = 0; i < 450; ++i) s1.uids.push_back(io::make_uid(1, i));
  }
  comm.barrier();
  const auto queries = clustered(40, kDim, 5, 99);
  const std::string i0 = pool + "/index/shard-000000.hnsw", i1 = pool + "/index/shard-000001.hnsw";

  auto s = run(comm, options(pool));
  EXPECT_EQ(s.built, 2u);
  EXPECT_EQ(s.skipped, 0u);
  EXPECT_EQ(s.rows, 1150u);
  ASSERT_TRUE(path_exists(i0) && path_exists(i1));
  expect_exact(i0, s0, queries);
  expect_exact(i1, s1, queries);
  auto info = index::HnswIndex::read_info(i1);
  EXPECT_EQ(info.shard, "shard-000001.h5");
  EXPECT_EQ(info.shard_checksum, checksum_file(pool + "/shard-000001.h5").str());
  EXPECT_EQ(info.params.M, 16);
  EXPECT_EQ(info.params.ef_construction, 100);
  EXPECT_EQ(info.config, "M = 16\nef-construction = 100\n");
  EXPECT_TRUE(list_files(pool + "/index", "", ".tmp").empty());

  // Rerun: both are up to date.
  ino_t n0 = inode(i0), n1 = inode(i1);
  comm.barrier();
  s = run(comm, options(pool));
  EXPECT_EQ(s.built, 0u);
  EXPECT_EQ(s.skipped, 2u);
  EXPECT_EQ(inode(i0), n0);
  EXPECT_EQ(inode(i1), n1);

  // Shard 1 rewritten with other vectors: its index is older than it and is rebuilt; shard 0's not.
  comm.barrier();
  if (comm.root()) s1 = write_shard(pool, 1, 450, 3);
  else s1.emb = clustered(450, kDim, 5, 3);
  comm.barrier();
  s = run(comm, options(pool));
  EXPECT_EQ(s.built, 1u);
  EXPECT_EQ(s.skipped, 1u);
  EXPECT_EQ(inode(i0), n0);
  EXPECT_NE(inode(i1), n1);
  expect_exact(i1, s1, queries);
  EXPECT_EQ(index::HnswIndex::read_info(i1).shard_checksum, checksum_file(pool + "/shard-000001.h5").str());

  // A damaged index (truncated) and a leftover temporary: rebuilt, temporary removed.
  comm.barrier();
  if (comm.root()) {
    std::string bytes = test::read_file(i0);
    test::write_file(i0, bytes.substr(0, bytes.size() / 2));
    test::write_file(i0 + ".tmp.123.456", "partial");
  }
  comm.barrier();
  s = run(comm, options(pool));
  EXPECT_EQ(s.built, 1u);
  expect_exact(i0, s0, queries);
  EXPECT_FALSE(path_exists(i0 + ".tmp.123.456"));

  // Other parameters: rebuilt; --force: rebuilt.
  comm.barrier();
  auto o = options(pool);
  o.params.M = 8;
  s = run(comm, o);
  EXPECT_EQ(s.built, 2u);
  EXPECT_EQ(index::HnswIndex::read_info(i0).params.M, 8);
  comm.barrier();
  o.force = true;
  s = run(comm, o);
  EXPECT_EQ(s.built, 2u);
}

TEST(IndexStage, ResultsDoNotDependOnTheSplit) {
  // As array tasks (--shard-id/--num-shards) the shards are split; together they build all,
  // and each index holds exactly its shard's uids.
  auto comm = mpi::Comm::world();
  test::TempDir d("idxsplit");
  const std::string pool = d / "shards";
  std::vector<ShardData> data(3);
  if (comm.root()) {
    make_dirs(pool);
    for (uint64_t c = 0; c < 3; ++c) data[c] = write_shard(pool, c, 120 + 10 * c, 10 + c);
  }
  comm.barrier();
  uint64_t built = 0;
  for (int task = 0; task < 2; ++task) {
    auto o = options(pool);
    o.output = d / "idx";
    o.shard_id = task;
    o.num_shards = 2;
    built += run(comm, o).built;
  }
  EXPECT_EQ(built, 3u);
  if (comm.root()) {
    for (uint64_t c = 0; c < 3; ++c) {
      auto idx = index::HnswIndex::load(d / ("idx/shard-00000" + std::to_string(c) + ".hnsw"));
      auto u = idx.uids();
      std::sort(u.begin(), u.end());
      EXPECT_EQ(u, data[c].uids);
    }
  }
}

TEST(IndexStage, FailsFastWhenTheIndexWouldNotFitInMemory) {
  auto comm = mpi::Comm::world();
  if (comm.size() > 1) GTEST_SKIP() << "one-rank error path";
  test::TempDir d("idxmem");
  const std::string pool = d / "shards";
  if (comm.root()) {
    make_dirs(pool);
    write_shard(pool, 0, 300, 1);
  }
  comm.barrier();
  auto o = options(pool);
  o.max_memory = 100000;  // 100 kB: far below what 300 vectors need
  {
    try {
      stages::run_index(comm, o);
      FAIL() << "no error";
    } catch (const UsageError& e) {
      std::string w = e.what();
      EXPECT_NE(w.find("shard-000000.h5"), std::string::npos) << w;
      EXPECT_NE(w.find("memory"), std::string::npos) << w;
      EXPECT_NE(w.find("--max-memory"), std::string::npos) << w;
    }
    EXPECT_TRUE(list_files(pool + "/index", "shard-", "").empty()) << "nothing is built";
  }
  // The estimate it compares against is what the build takes (within 2x of the file size).
  o.max_memory = index::estimate_memory(300, kDim, 16, 2) + 300 * 8 + 100 * kDim * 4;
  stages::IndexSummary s;
  EXPECT_NO_THROW(stages::run_index(comm, o, &s));
  EXPECT_EQ(s.built, 1u);
}

TEST(IndexStage, BadEmbeddingsNameTheShardAndLeaveNoIndex) {
  auto comm = mpi::Comm::world();
  if (comm.size() > 1) GTEST_SKIP() << "one-rank error path";
  test::TempDir d("idxbad");
  const std::string pool = d / "shards";
  make_dirs(pool);
  write_shard(pool, 4, 200, 1, /*nan_row=*/true);
  try {
    stages::run_index(comm, options(pool));
    FAIL() << "no error";
  } catch (const InputError& e) {
    std::string w = e.what();
    EXPECT_NE(w.find("shard-000004.h5"), std::string::npos) << w;
    EXPECT_NE(w.find(std::to_string(io::make_uid(4, 100))), std::string::npos) << w;
    EXPECT_NE(w.find("non-finite"), std::string::npos) << w;
  }
  EXPECT_TRUE(list_files(pool + "/index", "shard-", "").empty());
  // Bad options are usage errors.
  auto o = options(pool);
  o.params.M = 1;
  EXPECT_THROW(stages::run_index(comm, o), UsageError);
  o = options(d / "nonexistent");
  EXPECT_THROW(stages::run_index(comm, o), IoError);
}

TEST(IndexStage, ParseBytes) {
  EXPECT_EQ(parse_bytes("1000"), 1000u);
  EXPECT_EQ(parse_bytes("64K"), 65536u);
  EXPECT_EQ(parse_bytes("1.5G"), 1536ull << 20);
  EXPECT_EQ(parse_bytes("2TB"), 2ull << 40);
  EXPECT_EQ(parse_bytes("512m"), 512ull << 20);
  for (const char* bad : {"", "G", "-1G", "12X", "1e30", "abc"}) EXPECT_THROW(parse_bytes(bad), UsageError) << bad;
  EXPECT_GT(available_memory(1), 0u);
  EXPECT_LE(available_memory(4), available_memory(1) / 4 + 1);
}

TEST(IndexStage, TheBinaryRunsWithTheShippedConfig) {
  auto comm = mpi::Comm::world();
  std::string bin = test::bin_dir() + "/trawl-index";
  if (comm.size() > 1) GTEST_SKIP() << "one-rank error path";
  if (!path_exists(bin)) FAIL() << bin << " not built";
  test::TempDir d("idxbin");
  const std::string pool = d / "shards";
  make_dirs(pool);
  write_shard(pool, 0, 150, 1);
  std::string conf = test::source_dir() + "/conf/index.ini", out;
  int rc = test::run(cat(bin, " --config ", conf, " --pool ", pool, " --M 8 --threads 2"), &out);
  EXPECT_EQ(rc, 0) << out;
  EXPECT_TRUE(path_exists(pool + "/index/shard-000000.hnsw")) << out;
  EXPECT_NE(out.find("1 indexed"), std::string::npos) << out;
  rc = test::run(cat(bin, " --pool ", pool, " --M 8"), &out);
  EXPECT_EQ(rc, 0) << out;
  EXPECT_NE(out.find("1 already up to date"), std::string::npos) << out;
  EXPECT_EQ(test::run(cat(bin, " --pool ", pool, " --M 0"), &out), kExitUsage) << out;
  EXPECT_EQ(test::run(cat(bin, " --pool ", pool, " --max-memory 1K"), &out), kExitUsage) << out;
  EXPECT_EQ(test::run(cat(bin), &out), kExitUsage) << out;  // --pool missing
}
