// A whole file mapped read-only (mmap, MAP_SHARED): reading from the page cache without
// copying it. Used for the embedding chunks of f32 shards (ShardReader::kEmbeddingView), which
// are verified against their Fletcher-32 in the mapping and then searched in place.
//
// trawl never rewrites a file in place (outputs are written to a temporary and renamed), so a
// mapped shard cannot shrink under a reader; a file truncated by someone else while mapped
// would make the process fail with SIGBUS on the next access past its new end.
#pragma once
#include <cstddef>
#include <memory>
#include <string>

namespace trawl::io {

class MappedFile {
 public:
  /// Maps path, or returns null (no error) when it cannot be mapped (empty, not a regular
  /// file, mmap refused): callers then read the file the ordinary way.
  static std::shared_ptr<const MappedFile> open(const std::string& path);
  ~MappedFile();
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;
  const char* data() const { return data_; }
  size_t size() const { return size_; }

 private:
  MappedFile(const char* d, size_t n) : data_(d), size_(n) {}
  const char* data_;
  size_t size_;
};

}  // namespace trawl::io
