// trawl-libs: trawl_pool
// pool::fetch_rows and pool::gather_embeddings against the rows as written: a uid's row is
// found whether or not rows before it were rejected (its low 40 bits are then not its row), an
// unknown uid is an error naming where it came from, and rows held in memory are taken as they
// are while the rest are read.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "core/error.h"
#include "core/fs.h"
#include "io/h5.h"
#include "io/block_stream.h"
#include "io/shard.h"
#include "pool/pool.h"
#include "support/shard_faults.h"
#include "support/testutil.h"

using namespace trawl;

namespace {
float value(uint64_t row, int d) { return float(std::sin(double(row * 31 + uint64_t(d)))); }

// Chunk `chunk` with input rows 0..n-1 except those in `gaps` (rejected rows leave uid gaps).
void write_shard(const std::string& path, uint64_t chunk, uint64_t n, const std::vector<uint64_t>& gaps, int dim,
                 io::Dtype dt = io::Dtype::kF32) {
  io::ShardMeta m;
  m.dtype = dt;
  m.encoder = "hash";
  m.encoder_params = "dim=4;seed=1";
  m.dim = dim;
  m.source_file = "chunk.tsv";
  m.source_checksum = "crc32:00000000/size:0";
  m.chunk_index = chunk;
  io::ShardWriter w(path, m, 8);
  io::ShardBlock b;
  for (uint64_t i = 0; i < n; ++i) {
    if (std::find(gaps.begin(), gaps.end(), i) != gaps.end()) continue;
    b.uid.push_back(io::make_uid(chunk, i));
    b.id.push_back("r" + std::to_string(i));
    b.text.push_back("t");
    b.token_offsets.push_back(0);
    for (int d = 0; d < dim; ++d) b.embedding.push_back(value(i, d));
  }
  w.append(b);
  w.close(gaps.size());
}

// A pool of one shard, 60 rows in chunks of 8, under dir/<dtype>: the shard's path.
std::string one_shard_pool(const test::TempDir& dir, int dim, io::Dtype dt) {
  const std::string sub = dir / io::dtype_name(dt);
  make_dirs(sub);
  const std::string path = join_path(sub, io::shard_file_name(0));
  write_shard(path, 0, 60, {}, dim, dt);
  return path;
}
}  // namespace

TEST(Pool, FetchRowsFindsRowsAfterRejectedOnesAndNamesUnknownUids) {
  test::TempDir dir("pool");
  const int dim = 4;
  write_shard(dir / io::shard_file_name(0), 0, 40, {}, dim);
  write_shard(dir / io::shard_file_name(1), 1, 40, {3, 4, 20}, dim);  // rows shift after 3
  // Rows are read in runs of nearby rows: here the first run (row 5) is right, a later one is
  // not where its uid's low bits say (rows shift after 300), and the last is beyond the rows.
  write_shard(dir / io::shard_file_name(2), 2, 400, {300}, dim);
  auto comm = mpi::Comm::world();
  auto p = pool::open_pool(comm, dir.path());
  std::vector<uint64_t> want = {io::make_uid(0, 5),   io::make_uid(0, 39),  io::make_uid(1, 2),
                                io::make_uid(1, 5),   io::make_uid(1, 21),  io::make_uid(1, 39),
                                io::make_uid(2, 5),   io::make_uid(2, 350), io::make_uid(2, 399)};
  auto rows = pool::fetch_rows(comm, p, want, [](uint64_t) { return std::string("test"); },
                               io::ShardReader::kEmbedding | io::ShardReader::kId);
  ASSERT_EQ(rows.uid, want);
  for (size_t i = 0; i < want.size(); ++i) {
    const uint64_t input_row = want[i] & (io::kMaxRowsPerChunk - 1);
    EXPECT_EQ(rows.id[i], "r" + std::to_string(input_row));
    for (int d = 0; d < dim; ++d) EXPECT_EQ(rows.row(i, dim)[d], value(input_row, d)) << want[i];
  }
  // Rejected row 4 of chunk 1 is not in the pool.
  try {
    pool::fetch_rows(comm, p, {io::make_uid(1, 4)}, [](uint64_t) { return std::string("labels.tsv:7"); });
    FAIL() << "no error";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("labels.tsv:7: uid"), std::string::npos) << e.what();
  }
  // gather_embeddings: the held rows as given (a marker value proves they were not re-read).
  pool::Rows known;
  known.uid = {io::make_uid(0, 39), io::make_uid(1, 21), io::make_uid(1, 30)};  // the last is not wanted
  known.emb.assign(3 * dim, 7.5f);
  auto g = pool::gather_embeddings(comm, p, want, known, [](uint64_t) { return std::string("test"); });
  ASSERT_EQ(g.uid, want);
  for (size_t i = 0; i < want.size(); ++i) {
    const bool held = want[i] == io::make_uid(0, 39) || want[i] == io::make_uid(1, 21);
    const uint64_t input_row = want[i] & (io::kMaxRowsPerChunk - 1);
    for (int d = 0; d < dim; ++d) EXPECT_EQ(g.row(i, dim)[d], held ? 7.5f : value(input_row, d)) << want[i];
  }
}

// Embeddings are fetched through the shard's mapping (each wanted row's chunk verified in place):
// f32 rows as stored, f16 rows widened exactly as ShardReader::read widens them; a changed byte
// in a wanted row's chunk is an error naming the shard and the chunk's rows, while rows of intact
// chunks of the same shard are still fetched.
TEST(Pool, FetchedEmbeddingsAreTheStoredRowsAndEachChunkIsVerified) {
  test::TempDir dir("poolv");
  const int dim = 6;
  for (io::Dtype dt : {io::Dtype::kF32, io::Dtype::kF16}) {
    const std::string path = one_shard_pool(dir, dim, dt);
    auto comm = mpi::Comm::world();
    auto p = pool::open_pool(comm, parent_dir(path));
    io::ShardBlock all;
    io::ShardReader(path).read(0, 60, all, io::ShardReader::kUid | io::ShardReader::kEmbedding);
    std::vector<uint64_t> want = {io::make_uid(0, 0), io::make_uid(0, 9), io::make_uid(0, 10), io::make_uid(0, 33),
                                  io::make_uid(0, 59)};
    auto rows = pool::fetch_rows(comm, p, want, [](uint64_t) { return std::string("test"); }, io::ShardReader::kEmbedding);
    ASSERT_EQ(rows.uid, want);
    for (size_t i = 0; i < want.size(); ++i)
      for (int d = 0; d < dim; ++d)
        EXPECT_EQ(rows.row(i, dim)[d], all.embedding[size_t(want[i]) * dim + size_t(d)]) << io::dtype_name(dt) << " " << want[i];
    test::flip_embedding_byte(path, 4, 3);  // chunk 4: rows [32, 40)
    const std::string m = test::error_of([&] {
      pool::fetch_rows(comm, p, {io::make_uid(0, 33)}, [](uint64_t) { return std::string("test"); }, io::ShardReader::kEmbedding);
    });
    EXPECT_NE(m.find(path), std::string::npos) << m;
    EXPECT_NE(m.find("checksum mismatch in rows [32, 40)"), std::string::npos) << m;
    auto ok = pool::fetch_rows(comm, p, {io::make_uid(0, 10), io::make_uid(0, 12)}, [](uint64_t) { return std::string("test"); },
                               io::ShardReader::kEmbedding);
    ASSERT_EQ(ok.uid.size(), 2u);
    EXPECT_EQ(ok.row(1, dim)[0], all.embedding[12 * dim]);
  }
}

// fetch_rows with checks deferred (FetchVia::later) hands out the stored rows without verifying
// their chunks, and DeferredChecks::verify then verifies each chunk nobody verified since: a
// changed chunk is the read's own error there. Through OpenShards, a ShardStream that takes the
// readers over verifies the same chunks as it passes them (nothing is left pending), and a
// changed chunk stops that stream.
TEST(Pool, DeferredChecksVerifyTheFetchedChunksOnceWhoeverGetsThereFirst) {
  test::TempDir dir("poold");
  const int dim = 6;
  for (io::Dtype dt : {io::Dtype::kF32, io::Dtype::kF16}) {
    const std::string path = one_shard_pool(dir, dim, dt);
    auto comm = mpi::Comm::world();
    auto p = pool::open_pool(comm, parent_dir(path));
    auto where = [](uint64_t) { return std::string("test"); };
    const std::vector<uint64_t> want = {io::make_uid(0, 1), io::make_uid(0, 9), io::make_uid(0, 33), io::make_uid(0, 59)};
    const auto ref = pool::fetch_rows(comm, p, want, where, io::ShardReader::kEmbedding);
    {
      // Clean: the same rows; four chunks pending until a stream over the same reader passes them.
      pool::OpenShards open;
      io::DeferredChecks later;
      auto rows = pool::fetch_rows(comm, p, want, where, io::ShardReader::kEmbedding, {&open, &later});
      EXPECT_EQ(rows.uid, ref.uid);
      EXPECT_EQ(rows.emb, ref.emb) << io::dtype_name(dt);
      EXPECT_EQ(later.pending(), 4u);
      io::ShardStream s({path}, io::ShardReader::kUid | io::ShardReader::kEmbeddingView | io::ShardReader::kEmbeddingViewHalf,
                        16, {}, {}, true, open.take({path}));
      uint64_t seen = 0;
      while (const io::ShardBlock* b = s.next())
        b->for_each_embedding_run(dim, [&](const float*, uint64_t, uint64_t n, float) { seen += n; });
      EXPECT_EQ(seen, 60u);
      EXPECT_EQ(later.pending(), 0u) << io::dtype_name(dt);
      EXPECT_NO_THROW(later.verify());
    }
    test::flip_embedding_byte(path, 4, 3);  // chunk 4: rows [32, 40)
    {
      // Deferred: the fetch succeeds, verify names the chunk.
      io::DeferredChecks later;
      auto rows = pool::fetch_rows(comm, p, want, where, io::ShardReader::kEmbedding, {nullptr, &later});
      EXPECT_EQ(rows.uid, ref.uid);
      EXPECT_EQ(later.pending(), 4u);
      const std::string m = test::error_of([&] { later.verify(); });
      EXPECT_NE(m.find(path), std::string::npos) << m;
      EXPECT_NE(m.find("checksum mismatch in rows [32, 40)"), std::string::npos) << m;
    }
    {
      // Through a stream over the same reader: the stream stops at the chunk, and verify after
      // it reports the same failure.
      pool::OpenShards open;
      io::DeferredChecks later;
      pool::fetch_rows(comm, p, want, where, io::ShardReader::kEmbedding, {&open, &later});
      io::ShardStream s({path}, io::ShardReader::kUid | io::ShardReader::kEmbeddingView | io::ShardReader::kEmbeddingViewHalf,
                        16, {}, {}, true, open.take({path}));
      const std::string m = test::error_of([&] {
        while (const io::ShardBlock* b = s.next()) b->for_each_embedding_run(dim, [](const float*, uint64_t, uint64_t, float) {});
      });
      EXPECT_NE(m.find("checksum mismatch in rows [32, 40)"), std::string::npos) << m;
      const std::string m2 = test::error_of([&] { later.verify(); });
      EXPECT_NE(m2.find("checksum mismatch in rows [32, 40)"), std::string::npos) << m2;
    }
  }
}

// OpenShards keeps at most `keep` readers open (memory flat in the number of shards): a fetch
// over more shards still returns every row, the stream takes over the open ones (their fetched
// chunks are verified in passing) and opens the others itself, and DeferredChecks::verify
// verifies exactly the fetched chunks the stream's own readers could not mark.
TEST(Pool, OpenShardsKeepsAFewReadersAndTheRestAreVerifiedAtTheEnd) {
  test::TempDir dir("poolk");
  const int dim = 4;
  std::vector<std::string> paths;
  for (uint64_t c = 0; c < 3; ++c) {
    paths.push_back(dir / io::shard_file_name(c));
    write_shard(paths.back(), c, 40, {}, dim);  // 5 chunks of 8 rows each
  }
  auto comm = mpi::Comm::world();
  auto p = pool::open_pool(comm, dir.path());
  auto where = [](uint64_t) { return std::string("test"); };
  std::vector<uint64_t> want;
  for (uint64_t c = 0; c < 3; ++c)
    for (uint64_t r : {3, 30}) want.push_back(io::make_uid(c, r));  // chunks 0 and 3 of each shard
  const auto ref = pool::fetch_rows(comm, p, want, where, io::ShardReader::kEmbedding);
  pool::OpenShards open(1);
  io::DeferredChecks later;
  auto rows = pool::fetch_rows(comm, p, want, where, io::ShardReader::kEmbedding, {&open, &later});
  EXPECT_EQ(rows.uid, ref.uid);
  EXPECT_EQ(rows.emb, ref.emb);
  EXPECT_EQ(later.pending(), 6u);
  const auto n = open.rows(p, paths);
  EXPECT_EQ(n, (std::vector<uint64_t>{40, 40, 40}));
  auto taken = open.take(paths);
  ASSERT_EQ(taken.size(), 3u);
  EXPECT_TRUE(taken[0] != nullptr);  // the first shard fetched from stayed open
  EXPECT_TRUE(taken[1] == nullptr && taken[2] == nullptr);
  io::ShardStream s(paths, io::ShardReader::kUid | io::ShardReader::kEmbeddingView, 16, {}, n, true, std::move(taken));
  uint64_t seen = 0;
  while (const io::ShardBlock* b = s.next())
    b->for_each_embedding_run(dim, [&](const float*, uint64_t, uint64_t k, float) { seen += k; });
  EXPECT_EQ(seen, 120u);
  EXPECT_EQ(later.pending(), 4u);  // shards 1 and 2 were streamed through readers of their own
  later.verify();
  EXPECT_EQ(later.pending(), 0u);
}
