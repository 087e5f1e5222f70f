// The one shard-block streaming loop: every stage that streams rows of its inputs (retrieve's
// exact search, score, index, explore, select) walks them through a BlockStream.
//
// The rows of several sources (shards, scores files) are cut into blocks that start at
// multiples of block_rows within each source, whatever the rank count, so results never depend
// on how the work is split. With prefetch on, a helper thread reads block i+1 while the caller
// computes on block i; the two blocks' buffers are reused, so a stream allocates once.
//
// HDF5 (Debian's build) is not thread-safe: the read callback runs under hdf5_lock(), and any
// HDF5 call the caller makes while a stream is live must hold that lock too.
#pragma once
#include <cstdint>
#include <exception>
#include <functional>
#include <future>
#include <mutex>
#include <utility>
#include <memory>
#include <string>
#include <vector>

#include "io/shard.h"

namespace trawl::io {

/// The process-wide lock for HDF5 calls made from more than one thread.
std::mutex& hdf5_lock();

/// False when the environment sets TRAWL_READ_AHEAD=0 (benchmarks compare the two; results
/// are the same either way).
bool read_ahead_enabled();

/// Rows [begin, end) of source `source`.
struct BlockTask {
  size_t source = 0;
  uint64_t begin = 0, end = 0;
  uint64_t rows() const { return end - begin; }
};

/// The blocks of the given sources in order: source by source, block_rows rows at a time
/// (block_rows >= 1); empty sources give no block.
std::vector<BlockTask> block_tasks(const std::vector<uint64_t>& rows_per_source, uint64_t block_rows);

template <class Block>
class BlockStream {
 public:
  /// Fills `block` with the rows of `task`; called under hdf5_lock(), one call at a time, in
  /// task order (so it may keep the current source open between calls). Its exceptions reach
  /// the caller from next().
  using ReadFn = std::function<void(const BlockTask& task, Block& block)>;

  /// Then, on the same thread but without the lock, before the block is handed out: work on
  /// the rows read that needs no HDF5 (e.g. ShardBlock::check_views over mapped rows), so the
  /// caller's own HDF5 calls need not wait for it.
  using CheckFn = std::function<void(Block& block)>;

  BlockStream(std::vector<BlockTask> tasks, ReadFn read, bool prefetch = true, CheckFn check = {})
      : tasks_(std::move(tasks)), read_(std::move(read)), check_(std::move(check)),
        prefetch_(prefetch && read_ahead_enabled()) {}
  BlockStream(const BlockStream&) = delete;
  BlockStream& operator=(const BlockStream&) = delete;
  ~BlockStream() { wait_quietly(); }

  /// The next block in task order, or nullptr after the last. The block stays valid (and
  /// unchanged) until the next call; task() describes it.
  Block* next() {
    if (next_ >= tasks_.size() && !ahead_.valid()) return nullptr;
    if (ahead_.valid()) {
      ahead_.get();  // rethrows the read's exception
      std::swap(cur_, nxt_);
    } else {
      load(next_, cur_);
    }
    cur_task_ = next_++;
    if (prefetch_ && next_ < tasks_.size()) {
      const size_t i = next_;
      ahead_ = std::async(std::launch::async, [this, i] { load(i, nxt_); });
    }
    return &cur_;
  }
  const BlockTask& task() const { return tasks_[cur_task_]; }
  /// Rows in all tasks.
  uint64_t total_rows() const {
    uint64_t n = 0;
    for (const auto& t : tasks_) n += t.rows();
    return n;
  }

 private:
  void load(size_t i, Block& b) {
    {
      std::lock_guard<std::mutex> g(hdf5_lock());
      read_(tasks_[i], b);
    }
    if (check_) check_(b);
  }
  void wait_quietly() noexcept {
    if (!ahead_.valid()) return;
    try {
      ahead_.get();
    } catch (...) {  // the caller stopped early (an error of its own is already on its way)
    }
  }

  std::vector<BlockTask> tasks_;
  ReadFn read_;
  CheckFn check_;
  bool prefetch_;
  Block cur_, nxt_;
  size_t next_ = 0, cur_task_ = 0;
  std::future<void> ahead_;  // declared last: destroyed (joined) first
};

/// The rows of a list of shards, block by block: the columns `cols` of ShardReader::read
/// (kEmbedding gives the embeddings widened to f32). Opens each shard once, on the stream's
/// thread; `on_open` (optional) checks a shard when it is opened, e.g. that it belongs to the
/// pool (pool::check_shard), and its exceptions reach the caller from next().
class ShardStream {
 public:
  using OnOpen = std::function<void(const ShardReader&)>;
  /// rows_per_shard: each shard's row count (the caller has opened them to plan its work);
  /// empty: read from the shards here.
  ShardStream(std::vector<std::string> shards, unsigned cols, uint64_t block_rows, OnOpen on_open = {},
              std::vector<uint64_t> rows_per_shard = {}, bool prefetch = true);
  /// The next block (rows [task().begin, task().end) of shards()[task().source]), nullptr at the end.
  const ShardBlock* next() { return stream_->next(); }
  const BlockTask& task() const { return stream_->task(); }
  uint64_t total_rows() const { return stream_->total_rows(); }
  const std::vector<std::string>& shards() const { return shards_; }

 private:
  std::vector<std::string> shards_;
  unsigned cols_;
  OnOpen on_open_;
  std::unique_ptr<ShardReader> reader_;  // the shard being read (stream thread only)
  size_t open_ = 0;
  std::unique_ptr<BlockStream<ShardBlock>> stream_;  // last: joined before the reader goes
};

}  // namespace trawl::io
