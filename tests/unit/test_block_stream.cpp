// trawl-libs: trawl_io
// The one block-streaming loop (io/block_stream.h): block boundaries independent of the work
// split, every block once and in order with and without read-ahead, read errors delivered at
// the block that failed, early exit while a read is pending, and ShardStream against direct
// ShardReader reads of real shard files.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <thread>

#include "core/error.h"
#include "io/block_stream.h"
#include "io/shard.h"
#include "support/testutil.h"

using namespace trawl;
using namespace trawl::io;

namespace {

std::vector<std::tuple<size_t, uint64_t, uint64_t>> as_tuples(const std::vector<BlockTask>& t) {
  std::vector<std::tuple<size_t, uint64_t, uint64_t>> v;
  for (auto& x : t) v.emplace_back(x.source, x.begin, x.end);
  return v;
}

TEST(BlockStream, TasksStartAtMultiplesOfTheBlockWithinEachSource) {
  std::vector<std::tuple<size_t, uint64_t, uint64_t>> want = {{0, 0, 3}, {0, 3, 5}, {2, 0, 3}, {2, 3, 6}, {2, 6, 7}};
  EXPECT_EQ(as_tuples(block_tasks({5, 0, 7}, 3)), want);
  EXPECT_TRUE(block_tasks({}, 3).empty());
  EXPECT_EQ(block_tasks({4}, 0).size(), 4u);  // block_rows 0 is taken as 1
  EXPECT_EQ(as_tuples(block_tasks({4}, 100)), (std::vector<std::tuple<size_t, uint64_t, uint64_t>>{{0, 0, 4}}));
}

struct Blk {
  std::vector<uint64_t> v;
};

// Row r of source s holds 1000 s + r.
void fill(const BlockTask& t, Blk& b) {
  b.v.clear();
  for (uint64_t r = t.begin; r < t.end; ++r) b.v.push_back(1000 * t.source + r);
}

std::vector<uint64_t> drain(bool prefetch, std::vector<uint64_t> rows, uint64_t B, int* reads) {
  std::vector<uint64_t> got;
  std::thread::id caller = std::this_thread::get_id();
  std::atomic<int> other_thread{0};
  BlockStream<Blk> s(block_tasks(rows, B), [&](const BlockTask& t, Blk& b) {
    ++*reads;
    if (std::this_thread::get_id() != caller) ++other_thread;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
    fill(t, b);
  }, prefetch);
  while (Blk* b = s.next()) {
    EXPECT_EQ(b->v.size(), s.task().rows());
    EXPECT_EQ(b->v.front(), 1000 * s.task().source + s.task().begin);
    got.insert(got.end(), b->v.begin(), b->v.end());
  }
  EXPECT_EQ(s.next(), nullptr);  // stays at the end
  if (prefetch && read_ahead_enabled() && *reads > 1) {
    EXPECT_GT(other_thread.load(), 0);  // read ahead on the helper thread
  }
  if (!prefetch) {
    EXPECT_EQ(other_thread.load(), 0);
  }
  return got;
}

TEST(BlockStream, EveryRowOnceInOrderWithAndWithoutReadAhead) {
  std::vector<uint64_t> want;
  std::vector<uint64_t> rows = {10, 0, 7, 1};
  for (size_t s = 0; s < rows.size(); ++s)
    for (uint64_t r = 0; r < rows[s]; ++r) want.push_back(1000 * s + r);
  for (uint64_t B : {1, 3, 4, 64}) {
    int ra = 0, rb = 0;
    EXPECT_EQ(drain(true, rows, B, &ra), want) << B;
    EXPECT_EQ(drain(false, rows, B, &rb), want) << B;
    EXPECT_EQ(ra, int(block_tasks(rows, B).size()));
    EXPECT_EQ(rb, ra);
  }
  int n = 0;
  EXPECT_TRUE(drain(true, {}, 5, &n).empty());
  EXPECT_EQ(n, 0);
}

TEST(BlockStream, AReadErrorArrivesAtItsBlockNotBefore) {
  for (bool prefetch : {true, false}) {
    BlockStream<Blk> s(block_tasks({9}, 3), [](const BlockTask& t, Blk& b) {
      if (t.begin == 6) throw InputError("bad block at row 6");
      fill(t, b);
    }, prefetch);
    ASSERT_NE(s.next(), nullptr);
    ASSERT_NE(s.next(), nullptr);  // block [3, 6) arrives whole even though [6, 9) is failing ahead
    EXPECT_EQ(s.task().begin, 3u);
    EXPECT_EQ(test::error_of([&] { s.next(); }), "bad block at row 6");
  }
}

TEST(BlockStream, StoppingEarlyWaitsForThePendingRead) {
  std::atomic<int> finished{0};
  {
    BlockStream<Blk> s(block_tasks({100}, 10), [&](const BlockTask& t, Blk& b) {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
      fill(t, b);
      ++finished;
    });
    ASSERT_NE(s.next(), nullptr);  // block 1 is now being read ahead
  }
  EXPECT_EQ(finished.load(), 2);  // the destructor joined it: nothing runs after the stream is gone
}

ShardMeta meta(int dim, Dtype dt) {
  ShardMeta m;
  m.encoder = "hash";
  m.encoder_params = "dim=" + std::to_string(dim) + ";seed=1";
  m.dim = dim;
  m.dtype = dt;
  m.source_file = "chunk.tsv";
  m.source_checksum = "crc32:00000000/size:0";
  return m;
}

// A shard of n rows: uid = chunk << 40 | i, embedding[d] = cos(i + d) / 4, one token per row.
void write_shard(const std::string& path, uint64_t chunk, uint64_t n, int dim, Dtype dt) {
  ShardMeta m = meta(dim, dt);
  m.chunk_index = chunk;
  ShardWriter w(path, m, 16);
  ShardBlock b;
  for (uint64_t i = 0; i < n; ++i) {
    b.uid.push_back(make_uid(chunk, i));
    b.id.push_back("r" + std::to_string(i));
    b.text.push_back("text " + std::to_string(i));
    b.token_ids.push_back(uint32_t(i * 7));
    b.token_offsets.push_back(b.token_ids.size());
    for (int d = 0; d < dim; ++d) b.embedding.push_back(float(std::cos(double(i + d)) / 4));
  }
  w.append(b);
  w.close(0);
}

TEST(ShardStream, EqualsDirectReadsOfEachShard) {
  test::TempDir dir("bs");
  const int dim = 5;
  std::vector<std::string> shards = {dir / "a.h5", dir / "b.h5", dir / "c.h5"};
  write_shard(shards[0], 0, 37, dim, Dtype::kF16);
  write_shard(shards[1], 1, 0, dim, Dtype::kF16);
  write_shard(shards[2], 2, 50, dim, Dtype::kF16);
  ShardBlock want, got, all;
  for (auto& s : shards) {
    ShardReader r(s);
    ShardBlock b;
    r.read(0, r.rows(), b, ShardReader::kUid | ShardReader::kEmbedding);
    want.uid.insert(want.uid.end(), b.uid.begin(), b.uid.end());
    want.embedding.insert(want.embedding.end(), b.embedding.begin(), b.embedding.end());
  }
  ASSERT_EQ(want.uid.size(), 87u);
  for (uint64_t B : {1, 16, 20, 1000}) {
    got = ShardBlock();
    int opened = 0;
    ShardStream st(shards, ShardReader::kUid | ShardReader::kEmbedding, B, [&](const ShardReader&) { ++opened; });
    EXPECT_EQ(st.total_rows(), 87u);
    while (const ShardBlock* b = st.next()) {
      EXPECT_LE(b->size(), B);
      EXPECT_EQ(b->embedding.size(), b->size() * dim);
      EXPECT_TRUE(b->text.empty());  // only the asked columns
      got.uid.insert(got.uid.end(), b->uid.begin(), b->uid.end());
      got.embedding.insert(got.embedding.end(), b->embedding.begin(), b->embedding.end());
    }
    EXPECT_EQ(got.uid, want.uid) << B;
    EXPECT_EQ(got.embedding, want.embedding) << B;  // bit for bit: the same widening
    EXPECT_EQ(opened, 2);  // the empty shard is never opened
  }
}

TEST(ShardStream, TheOpenCheckAndAShrunkShardAreErrorsNamingTheFile) {
  test::TempDir dir("bs");
  std::vector<std::string> shards = {dir / "a.h5", dir / "b.h5"};
  write_shard(shards[0], 0, 10, 3, Dtype::kF32);
  write_shard(shards[1], 1, 10, 3, Dtype::kF32);
  {
    ShardStream st(shards, ShardReader::kUid, 4, [&](const ShardReader& r) {
      if (r.path() == shards[1]) throw InputError(r.path() + ": not of this pool");
    });
    int blocks = 0;
    std::string err = test::error_of([&] {
      while (st.next()) ++blocks;
    });
    EXPECT_EQ(err, shards[1] + ": not of this pool");
    EXPECT_EQ(blocks, 3);  // all of a.h5 first
  }
  {
    // Planned with more rows than b.h5 now has (rewritten between planning and reading).
    ShardStream st(shards, ShardReader::kUid, 4, {}, {10, 12});
    std::string err = test::error_of([&] {
      while (st.next()) {
      }
    });
    EXPECT_NE(err.find(shards[1]), std::string::npos) << err;
    EXPECT_NE(err.find("changed while it was read"), std::string::npos) << err;
  }
}

}  // namespace
