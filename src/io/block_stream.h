// The one shard-block streaming loop: every stage that streams rows of its inputs (retrieve's
// exact search, score, index, explore, select) walks them through a BlockStream.
//
// The rows of several sources (shards, scores files) are cut into blocks that start at
// multiples of block_rows within each source, whatever the rank count, so results never depend
// on how the work is split. With prefetch on, one reading thread per stream reads block i+1 while
// the caller computes on block i; the two blocks' buffers are reused, so a stream allocates once.
//
// HDF5 (Debian's build) is not thread-safe: the read callback runs under hdf5_lock(), and any
// HDF5 call the caller makes while a stream is live must hold that lock too.
#pragma once
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
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

  /// Optional, with a check: called after the read; the block is then handed out at once and
  /// the check runs on while the caller uses it, the caller's accesses waiting for the parts
  /// the check has passed (ShardBlock::arm_check). The checker then stays a chunk or so ahead of
  /// the caller, so the caller reads rows the checker has just brought into the cache instead
  /// of a second pass over memory.
  using ArmFn = std::function<void(Block& block)>;

  BlockStream(std::vector<BlockTask> tasks, ReadFn read, bool prefetch = true, CheckFn check = {}, ArmFn arm = {})
      : tasks_(std::move(tasks)), read_(std::move(read)), check_(std::move(check)), arm_(std::move(arm)),
        prefetch_(prefetch && read_ahead_enabled()) {
    if (!check_) arm_ = nullptr;
    if (prefetch_ && !tasks_.empty()) worker_ = std::thread([this] { run(); });
  }
  BlockStream(const BlockStream&) = delete;
  BlockStream& operator=(const BlockStream&) = delete;
  ~BlockStream() {
    if (!worker_.joinable()) return;
    {
      std::lock_guard<std::mutex> g(m_);
      stop_ = true;
    }
    cv_.notify_all();
    worker_.join();  // a read or check under way finishes first
  }

  /// The next block in task order, or nullptr after the last. The block stays valid (and
  /// unchanged) until the next call; task() describes it.
  Block* next() {
    if (!prefetch_) {
      if (next_ >= tasks_.size()) return nullptr;
      Block& b = slots_[0].block;
      {
        std::lock_guard<std::mutex> g(hdf5_lock());
        read_(tasks_[next_], b);
      }
      if (check_) check_(b);
      cur_task_ = next_++;
      return &b;
    }
    std::unique_lock<std::mutex> lk(m_);
    if (holding_) {  // the caller is done with the previous block: its slot is free again
      slots_[cur_task_ % 2].state = Slot::kFree;
      holding_ = false;
      cv_.notify_all();
    }
    if (next_ >= tasks_.size()) return nullptr;
    Slot& s = slots_[next_ % 2];
    cv_.wait(lk, [&] { return (s.task == next_ && s.state >= Slot::kArmed) || failed_task_ == next_; });
    if (!(s.task == next_ && s.state >= Slot::kArmed)) std::rethrow_exception(error_);
    cur_task_ = next_++;
    holding_ = true;
    return &s.block;
  }
  const BlockTask& task() const { return tasks_[cur_task_]; }
  /// Rows in all tasks.
  uint64_t total_rows() const {
    uint64_t n = 0;
    for (const auto& t : tasks_) n += t.rows();
    return n;
  }

 private:
  struct Slot {
    enum State { kFree, kLoading, kArmed, kReady } state = kFree;
    size_t task = SIZE_MAX;
    Block block;
  };

  // The reading thread: task after task into the two slots, each once the caller has let go of
  // the block it held before.
  void run() {
    for (size_t i = 0; i < tasks_.size(); ++i) {
      Slot& s = slots_[i % 2];
      {
        std::unique_lock<std::mutex> lk(m_);
        cv_.wait(lk, [&] { return stop_ || s.state == Slot::kFree; });
        if (stop_) return;
        s.state = Slot::kLoading;
        s.task = i;
      }
      bool armed = false;
      try {
        {
          std::lock_guard<std::mutex> g(hdf5_lock());
          read_(tasks_[i], s.block);
        }
        if (arm_) {
          arm_(s.block);
          publish(s, Slot::kArmed);
          armed = true;
        }
        if (check_) check_(s.block);  // armed: its failure also reaches the caller through the block
        publish(s, Slot::kReady);
      } catch (...) {
        std::lock_guard<std::mutex> g(m_);
        error_ = std::current_exception();
        failed_task_ = armed ? i + 1 : i;  // an armed block is the caller's already: it met the error there
        cv_.notify_all();
        return;
      }
    }
  }
  void publish(Slot& s, typename Slot::State st) {
    {
      std::lock_guard<std::mutex> g(m_);
      // An armed block's caller may have finished with it (set it free) before its check
      // returned here: free stays free.
      if (s.state != Slot::kFree) s.state = st;
    }
    cv_.notify_all();
  }

  std::vector<BlockTask> tasks_;
  ReadFn read_;
  CheckFn check_;
  ArmFn arm_;
  bool prefetch_;
  Slot slots_[2];
  size_t next_ = 0, cur_task_ = 0;
  bool holding_ = false;
  std::mutex m_;
  std::condition_variable cv_;
  bool stop_ = false;
  size_t failed_task_ = SIZE_MAX;
  std::exception_ptr error_;
  std::thread worker_;  // declared last: started after, and joined before, everything above
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
  /// opened: readers the caller has open for some of the shards (in order, null for the
  /// others; e.g. pool::OpenShards::take, which a stage's row fetches read through): the stream
  /// takes them over instead of opening those files again, and the chunks those fetches viewed
  /// are verified (or found verified) through the same state.
  ShardStream(std::vector<std::string> shards, unsigned cols, uint64_t block_rows, OnOpen on_open = {},
              std::vector<uint64_t> rows_per_shard = {}, bool prefetch = true,
              std::vector<std::unique_ptr<ShardReader>> opened = {});
  /// The next block (rows [task().begin, task().end) of shards()[task().source]), nullptr at the end.
  const ShardBlock* next() { return stream_->next(); }
  const BlockTask& task() const { return stream_->task(); }
  uint64_t total_rows() const { return stream_->total_rows(); }
  const std::vector<std::string>& shards() const { return shards_; }

 private:
  std::vector<std::string> shards_;
  unsigned cols_;
  OnOpen on_open_;
  std::vector<std::unique_ptr<ShardReader>> opened_;  // the caller's readers, taken in turn
  std::unique_ptr<ShardReader> reader_;  // the shard being read (stream thread only)
  size_t open_ = 0;
  std::unique_ptr<BlockStream<ShardBlock>> stream_;  // last: joined before the reader goes
};

}  // namespace trawl::io
