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
                         std::vector<uint64_t> rows_per_shard, bool prefetch)
    : shards_(std::move(shards)), cols_(cols), on_open_(std::move(on_open)), open_(shards_.size()) {
  if (rows_per_shard.empty())
    for (const auto& s : shards_) rows_per_shard.push_back(ShardReader(s).rows());
  start(std::move(rows_per_shard), block_rows, prefetch);
}

ShardStream::ShardStream(std::vector<std::unique_ptr<ShardReader>> readers, unsigned cols, uint64_t block_rows,
                         bool prefetch)
    : cols_(cols), opened_(std::move(readers)), open_(opened_.size()) {
  std::vector<uint64_t> rows;
  for (const auto& r : opened_) {
    TRAWL_ASSERT(r);
    shards_.push_back(r->path());
    rows.push_back(r->rows());
  }
  start(std::move(rows), block_rows, prefetch);
}

void ShardStream::start(std::vector<uint64_t> rows_per_shard, uint64_t block_rows, bool prefetch) {
  TRAWL_ASSERT(rows_per_shard.size() == shards_.size());
  stream_ = std::make_unique<BlockStream<ShardBlock>>(
      block_tasks(rows_per_shard, block_rows),
      [this](const BlockTask& t, ShardBlock& b) {
        if (t.source != open_) {
          reader_.reset();
          if (!opened_.empty())
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
