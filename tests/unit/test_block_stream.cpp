// trawl-libs: trawl_io
// The one block-streaming loop (io/block_stream.h): block boundaries independent of the work
// split, every block once and in order with and without read-ahead, read errors delivered at
// the block that failed, early exit while a read is pending, and ShardStream against direct
// ShardReader reads of real shard files.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <thread>

#include "core/error.h"
#include "io/block_stream.h"
#include "io/h5.h"
#include "io/shard.h"
#include "support/shard_faults.h"
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
    ASSERT_NE(s.next(), nullptr);  // block 1 is now being read ahead (or about to be)
  }
  const int at_end = finished.load();
  EXPECT_GE(at_end, 1);
  EXPECT_LE(at_end, 2);  // two slots: block 2 waits for block 0's, which the caller never let go
  std::this_thread::sleep_for(std::chrono::milliseconds(60));
  EXPECT_EQ(finished.load(), at_end);  // the destructor joined the reader: nothing runs after the stream is gone
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

// Every shard's uids and embeddings read whole, one direct read per shard: the reference for the stream.
ShardBlock read_whole(const std::vector<std::string>& shards) {
  ShardBlock all;
  for (auto& s : shards) {
    ShardReader r(s);
    ShardBlock b;
    r.read(0, r.rows(), b, ShardReader::kUid | ShardReader::kEmbedding);
    all.uid.insert(all.uid.end(), b.uid.begin(), b.uid.end());
    all.embedding.insert(all.embedding.end(), b.embedding.begin(), b.embedding.end());
  }
  return all;
}

TEST(ShardStream, EqualsDirectReadsOfEachShard) {
  test::TempDir dir("bs");
  const int dim = 5;
  std::vector<std::string> shards = {dir / "a.h5", dir / "b.h5", dir / "c.h5"};
  write_shard(shards[0], 0, 37, dim, Dtype::kF16);
  write_shard(shards[1], 1, 0, dim, Dtype::kF16);
  write_shard(shards[2], 2, 50, dim, Dtype::kF16);
  ShardBlock want = read_whole(shards), got, all;
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

// kEmbeddingView: f32 shards come as views into the mapped file, run by run, equal bit for bit
// to the copied rows, for blocks aligned to the 16-row chunks or not; each run's norm bound
// is at or above its rows' largest norm (and not far above the shard's). f16 shards fall back to copies.
TEST(ShardStream, EmbeddingViewsEqualTheCopiedRows) {
  test::TempDir dir("bsv");
  const int dim = 24;  // a multiple of 8 (the vector norm path) ...
  for (int d : {dim, 5}) {  // ... and not
    std::vector<std::string> shards = {dir / ("a" + std::to_string(d) + ".h5"), dir / ("b" + std::to_string(d) + ".h5")};
    write_shard(shards[0], 0, 53, d, Dtype::kF32);
    write_shard(shards[1], 1, 40, d, Dtype::kF32);
    ShardBlock want = read_whole(shards);
    float all_max = 0;
    for (size_t r = 0; r < want.uid.size(); ++r) {
      double s2 = 0;
      for (int k = 0; k < d; ++k) s2 += double(want.embedding[r * d + k]) * want.embedding[r * d + k];
      all_max = std::max(all_max, float(std::sqrt(s2)));
    }
    for (uint64_t B : {7, 16, 32, 100}) {
      std::vector<uint64_t> uids;
      std::vector<float> emb;
      size_t runs = 0;
      ShardStream st(shards, ShardReader::kUid | ShardReader::kEmbeddingView, B);
      while (const ShardBlock* b = st.next()) {
        EXPECT_FALSE(b->emb_segments.empty()) << "dim " << d << ", block " << B << ": no views";
        EXPECT_TRUE(b->embedding.empty());
        uint64_t next = 0;
        b->for_each_embedding_run(d, [&](const float* x, uint64_t at, uint64_t n, float bound) {
          EXPECT_EQ(at, next);
          next += n;
          ++runs;
          float m2 = 0;
          emb.insert(emb.end(), x, x + n * uint64_t(d));
          for (uint64_t r = 0; r < n; ++r) {
            double s2 = 0;
            for (int k = 0; k < d; ++k) s2 += double(x[r * d + k]) * x[r * d + k];
            m2 = std::max(m2, float(s2));
          }
          EXPECT_GE(bound, std::sqrt(m2));
          EXPECT_LE(bound, all_max * 1.01f);  // the bound is its chunk's (the run may be part of one)
        });
        EXPECT_EQ(next, b->size());
        uids.insert(uids.end(), b->uid.begin(), b->uid.end());
      }
      EXPECT_EQ(uids, want.uid) << B;
      EXPECT_EQ(emb, want.embedding) << "dim " << d << ", block " << B;
      EXPECT_GE(runs, (93u + 15) / 16) << B;  // at least one run per chunk
    }
  }
  // f16: no views, the widened copy ...
  std::string h = dir / "h.h5";
  write_shard(h, 3, 20, 8, Dtype::kF16);
  ShardStream st({h}, ShardReader::kUid | ShardReader::kEmbeddingView, 64);
  const ShardBlock* b = st.next();
  ASSERT_NE(b, nullptr);
  EXPECT_TRUE(b->emb_segments.empty());
  EXPECT_EQ(b->embedding.size(), 20u * 8);
  // ... unless kEmbeddingViewHalf: views of the f16 rows, widened tile by tile as they are read,
  // bit for bit the copy (dim 5000: a tile of 13 rows, so a 16-row chunk spans two tiles).
  for (int d : {8, 5000}) {
    std::vector<std::string> hs = {dir / ("h1-" + std::to_string(d) + ".h5"), dir / ("h2-" + std::to_string(d) + ".h5")};
    write_shard(hs[0], 4, 37, d, Dtype::kF16);
    write_shard(hs[1], 5, 21, d, Dtype::kF16);
    ShardBlock want = read_whole(hs);
    for (uint64_t B : {5, 16, 64}) {
      std::vector<float> emb;
      ShardStream sh(hs, ShardReader::kUid | ShardReader::kEmbeddingView | ShardReader::kEmbeddingViewHalf, B);
      while (const ShardBlock* hb = sh.next()) {
        EXPECT_FALSE(hb->emb_segments.empty());
        EXPECT_TRUE(hb->embedding.empty());
        uint64_t next = 0;
        hb->for_each_embedding_run(d, [&](const float* x, uint64_t at, uint64_t n, float bound) {
          EXPECT_EQ(at, next);
          EXPECT_EQ(bound, -1.0f);  // f16 rows are never bounded
          next += n;
          emb.insert(emb.end(), x, x + n * uint64_t(d));
        });
        EXPECT_EQ(next, hb->size());
      }
      EXPECT_EQ(emb, want.embedding) << "dim " << d << ", block " << B;
    }
  }
}

// A changed byte in a viewed chunk is an InputError naming the file, the dataset and the rows,
// and it arrives before any of the chunk's rows are used.
TEST(ShardStream, AChangedByteInAViewedChunkIsAnError) {
  for (Dtype dt : {Dtype::kF32, Dtype::kF16}) {
  test::TempDir dir("bsc");
  std::string s = dir / "a.h5";
  write_shard(s, 0, 64, 8, dt);
  const uint64_t elem = dt == Dtype::kF16 ? 2 : 4;
  uint64_t off = 0, bytes = 0;
  {
    auto f = h5::File::open(s);
    auto e = h5::Dataset::open(f, "embedding");
    ASSERT_TRUE(e.direct());
    ASSERT_TRUE(e.chunk_extent(2, &off, &bytes));  // rows [32, 48)
    EXPECT_EQ(bytes, 16u * 8 * elem);
  }
  {
    FILE* fp = std::fopen(s.c_str(), "r+b");
    ASSERT_NE(fp, nullptr);
    std::fseek(fp, long(off + 50 * elem / 2), SEEK_SET);
    int c = std::fgetc(fp);
    std::fseek(fp, long(off + 50 * elem / 2), SEEK_SET);
    std::fputc(c ^ 0x10, fp);
    std::fclose(fp);
  }
  ShardStream st({s}, ShardReader::kUid | ShardReader::kEmbeddingView | ShardReader::kEmbeddingViewHalf, 16, {}, {},
                 false);
  uint64_t used = 0;
  try {
    while (const ShardBlock* b = st.next())
      b->for_each_embedding_run(8, [&](const float*, uint64_t, uint64_t n, float) { used += n; });
    FAIL() << "no error";
  } catch (const InputError& e) {
    std::string m = e.what();
    EXPECT_NE(m.find(s), std::string::npos) << m;
    EXPECT_NE(m.find("embedding"), std::string::npos) << m;
    EXPECT_NE(m.find("checksum mismatch in rows [32, 48)"), std::string::npos) << m;
  }
  EXPECT_EQ(used, 32u) << dtype_name(dt);  // rows [0, 32) only
  }
}

// With read-ahead, a block is handed out before its check is done (BlockStream's ArmFn): the
// reading thread verifies its chunks in order while the caller uses them, and the caller
// verifies a chunk itself rather than wait for one the checker is on. Whoever verifies what,
// every row arrives once, in order, equal to a direct read, and a bad chunk stops the caller
// exactly at its first row, whatever the block size and however the two threads interleave.
TEST(ShardStream, ArmedChecksShareTheChunksAndStopAtABadOne) {
  test::TempDir dir("bsa");
  const std::string s = dir / "a.h5";
  const int d = 8;
  write_shard(s, 0, 400, d, Dtype::kF32);  // 25 chunks of 16 rows
  const ShardBlock want = read_whole({s});
  for (uint64_t B : {16, 48, 64, 400}) {
    for (int pace = 0; pace < 3; ++pace) {  // the caller slower than, as fast as, or faster than the checker
      std::vector<float> emb;
      size_t runs = 0;
      ShardStream st({s}, ShardReader::kUid | ShardReader::kEmbeddingView, B);
      while (const ShardBlock* b = st.next())
        b->for_each_embedding_run(d, [&](const float* x, uint64_t, uint64_t n, float bound) {
          if (pace == 0 || (pace == 1 && runs % 3 == 0)) std::this_thread::sleep_for(std::chrono::microseconds(300));
          ++runs;
          EXPECT_GE(bound, 0.0f);  // verified with norms, by whichever thread
          emb.insert(emb.end(), x, x + n * uint64_t(d));
        });
      EXPECT_EQ(emb, want.embedding) << "block " << B << ", pace " << pace;
    }
  }
  test::flip_embedding_byte(s, 13, 100);  // rows [208, 224)
  for (uint64_t B : {16, 48, 64, 400})
    for (int pace = 0; pace < 2; ++pace) {
      uint64_t used = 0;
      ShardStream st({s}, ShardReader::kUid | ShardReader::kEmbeddingView, B);
      std::string m = test::error_of([&] {
        while (const ShardBlock* b = st.next())
          b->for_each_embedding_run(d, [&](const float*, uint64_t, uint64_t n, float) {
            if (pace == 0) std::this_thread::sleep_for(std::chrono::microseconds(300));
            used += n;
          });
      });
      EXPECT_NE(m.find("checksum mismatch in rows [208, 224)"), std::string::npos) << m;
      EXPECT_NE(m.find(s), std::string::npos) << m;
      EXPECT_EQ(used, 208u) << "block " << B << ", pace " << pace;
    }
}

// ShardBlock::arm_work, as trawl-score drives it: the stream's reading thread and the caller
// both take segments (work_views), each chunk verified tile by tile as its rows are used. Every
// row reaches the work once, at its place in the block, equal to the copied rows (f16 widened
// the same way), whatever the block size (aligned to the 16-row chunks or not), the tile size
// (5 rows: tiles that split chunks and segments) and which thread is the slower one; a changed
// byte fails the block holding it, and no block from there on is completed.
TEST(ShardStream, SharedWorkUsesEveryRowOnceAndStopsAtABadChunk) {
  test::TempDir dir("bsw");
  const int d = 8;
  for (Dtype dt : {Dtype::kF32, Dtype::kF16}) {
    const std::string s = dir / (std::string("w") + dtype_name(dt) + ".h5");
    write_shard(s, 0, 400, d, dt);  // 25 chunks of 16 rows
    const ShardBlock want = read_whole({s});
    struct Blk {
      uint64_t begin = 0, n = 0;
      ShardBlock rows;
      std::vector<float> out;
    };
    // Runs the stream; returns the rows of the blocks completed (wait_views returned), in order.
    auto run = [&](uint64_t B, uint64_t tile_values, int pace, std::vector<float>* got) {
      ShardReader r(s);
      const std::thread::id caller = std::this_thread::get_id();
      std::atomic<int> by_reader{0};
      BlockStream<Blk> st(
          block_tasks({r.rows()}, B),
          [&](const BlockTask& t, Blk& b) {
            b.begin = t.begin;
            b.n = t.rows();
            r.read(t.begin, t.end, b.rows, ShardReader::kUid | ShardReader::kEmbeddingView | ShardReader::kEmbeddingViewHalf);
          },
          true, [](Blk& b) { b.rows.work_views(); },
          [&](Blk& b) {
            ASSERT_FALSE(b.rows.emb_segments.empty());
            b.out.assign(b.n * d, -1.0f);
            b.rows.arm_work(
                [&, bp = &b](const float* x, uint64_t at, uint64_t n) {
                  const bool mine = std::this_thread::get_id() == caller;
                  if (!mine) ++by_reader;
                  if ((pace == 1 && mine) || (pace == 2 && !mine)) std::this_thread::sleep_for(std::chrono::microseconds(200));
                  ASSERT_LE(at + n, bp->n);
                  for (uint64_t i = 0; i < n * d; ++i) {
                    EXPECT_EQ(bp->out[at * d + i], -1.0f) << "row " << bp->begin + at + i / d << " used twice";
                    bp->out[at * d + i] = x[i];
                  }
                },
                d, tile_values);
          });
      while (Blk* b = st.next()) {
        b->rows.work_views();
        b->rows.wait_views();
        got->insert(got->end(), b->out.begin(), b->out.end());
      }
      return by_reader.load();
    };
    for (uint64_t B : {16, 40, 64, 400})
      for (uint64_t tile : {40, 1 << 16})
        for (int pace = 0; pace < 3; ++pace) {  // no sleeps; the caller slower; the reading thread slower
          std::vector<float> got;
          run(B, tile, pace, &got);
          EXPECT_EQ(got, want.embedding) << dtype_name(dt) << ", block " << B << ", tile " << tile << ", pace " << pace;
        }
    // The reading thread does take a share when the caller is slow.
    std::vector<float> got;
    EXPECT_GT(run(16, 40, 1, &got), 0);

    test::flip_embedding_byte(s, 13, 20);  // rows [208, 224)
    for (uint64_t B : {16, 40, 64, 400})
      for (int pace = 0; pace < 3; ++pace) {
        std::vector<float> done;
        std::string m = test::error_of([&] { run(B, 40, pace, &done); });
        EXPECT_NE(m.find("checksum mismatch in rows [208, 224)"), std::string::npos) << m;
        EXPECT_NE(m.find(s), std::string::npos) << m;
        EXPECT_EQ(done.size(), 208 / B * B * d) << dtype_name(dt) << ", block " << B << ", pace " << pace;
      }
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
