// The queue file: trawl-select writes <output>/queue.tsv, trawl-label exports it to the
// annotation tools and checks imports against it (docs/FORMATS.md "Queue"). One writer, one
// reader, one version here.
//
//   # trawl-format: queue
//   # trawl-format-version: 1
//   # trawl-version: ...
//   # config: <the resolved configuration, one escaped line each>
//   uid  id  text  class  score  rank  source  round      (tab-separated, fields tsv-escaped)
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace trawl::formats {

constexpr const char* kQueueFormat = "queue";
constexpr int kQueueFormatVersion = 1;

/// A row as trawl-select writes it (rank = position + 1; round from the writer).
struct QueueRow {
  uint64_t uid = 0;
  std::string id, text, cls;
  double score = 0;
  std::string source;
};

/// A row as read back.
struct QueueItem {
  uint64_t uid = 0;
  std::string id, text, cls;
  double score = 0;
  uint64_t rank = 0;
  std::string source;
  uint64_t round = 0;
  uint64_t line = 0;
};

/// Reads trawl-select's queue.tsv (comment lines with `# trawl-format: queue`, version <= 1,
/// then the header uid id text class score rank source round; id/text/class/source unescaped).

/// Writes the queue atomically (IoError naming the file on failure); scores with 9 digits.
void write_queue(const std::string& path, const std::vector<QueueRow>& q, uint64_t round, const std::string& config);

/// Reads a queue: the format line must come before the header, a newer version is refused,
/// every field is checked (InputError naming file and line), uids are unique.
std::vector<QueueItem> read_queue(const std::string& path);

}  // namespace trawl::formats
