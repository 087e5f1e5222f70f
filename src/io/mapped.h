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

/// Best effort, for a file just written and synced (its cached pages clean): drops the file's
/// cached pages and reads it back through a mapping that asks for 2 MiB pages (MADV_HUGEPAGE),
/// so that where the file system caches files in large folios (XFS; ext4 on recent kernels,
/// as this machine's 6.18) the page cache holds it in 2 MiB pages. Every later mapping of it
/// (MappedFile) then maps 2 MiB with one page-table entry instead of 512 — a pass over a
/// cached shard through a mapping
/// costs about half as much (docs/BENCHMARKS.md, "Scoring"). Written in HDF5's pieces (a chunk
/// at a time at unaligned offsets) the file is cached in small pages, which would stay until
/// it leaves the cache. Costs a read of the file; once a process finds the file system gives
/// no large pages, later calls do nothing; TRAWL_RECACHE=0 in the environment turns it off
/// (e.g. where re-reading a file just written is slow: a disk far slower than memory).
/// Returns whether the file is now cached in 2 MiB pages; never throws.
bool recache_in_large_pages(const std::string& path);

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
