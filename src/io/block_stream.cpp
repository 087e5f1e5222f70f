#include "io/block_stream.h"

#include <algorithm>
#include <cstdlib>
#include <string>

#include "core/error.h"
#include "core/timer.h"

namespace trawl::io {

std::mutex& hdf5_lock() {
  static std::mutex m;
  return m;
}

bool read_ahead_enabled() {
  static const bool on = [] {
    const char* v = std::getenv("TRAWL_READ_AHEAD");
    return !(v && std::string(v) == "0");
  }();
  return on;
}

std::vector<BlockTask> block_tasks(const std::vector<uint64_t>& rows_per_source, uint64_t block_rows) {
  const uint64_t B = std::max<uint64_t>(1, block_rows);
  std::vector<BlockTask> t;
  for (size_t s = 0; s < rows_per_source.size(); ++s)
    for (uint64_t b = 0; b < rows_per_source[s]; b += B) t.push_back({s, b, std::min(rows_per_source[s], b + B)});
  return t;
}

ShardStream::ShardStream(std::vector<std::string> shards, unsigned cols, uint64_t block_rows, OnOpen on_open,
                         std::vector<uint64_t> rows_per_shard, bool prefetch,
                         std::vector<std::unique_ptr<ShardReader>> opened)
    : shards_(std::move(shards)),
      cols_(cols),
      on_open_(std::move(on_open)),
      opened_(std::move(opened)),
      open_(shards_.size()) {
  TRAWL_ASSERT(opened_.empty() || opened_.size() == shards_.size());
  if (rows_per_shard.empty())
    for (size_t i = 0; i < shards_.size(); ++i)
      rows_per_shard.push_back(i < opened_.size() && opened_[i] ? opened_[i]->rows() : ShardReader(shards_[i]).rows());
  TRAWL_ASSERT(rows_per_shard.size() == shards_.size());
  stream_ = std::make_unique<BlockStream<ShardBlock>>(
      block_tasks(rows_per_shard, block_rows),
      [this](const BlockTask& t, ShardBlock& b) {
        if (t.source != open_) {
          reader_.reset();
          if (t.source < opened_.size() && opened_[t.source])
            reader_ = std::move(opened_[t.source]);
          else
            reader_ = std::make_unique<ShardReader>(shards_[t.source]);
          open_ = t.source;
          if (on_open_) on_open_(*reader_);
        }
        if (t.end > reader_->rows())
          throw InputError(cat(shards_[t.source], ": ", reader_->rows(), " rows, expected at least ", t.end,
                               " (the shard changed while it was read)"));
        reader_->read(t.begin, t.end, b, cols_);
      },
      prefetch,
      [](ShardBlock& b) {
        ScopedTimer t("check views");
        b.check_views();
      },
      [](ShardBlock& b) { b.arm_check(); });
}

}  // namespace trawl::io
