// Shard format v1: one HDF5 file per input chunk (docs/FORMATS.md).
//   uid u64[n]
//   id_offsets u64[n+1] · id_bytes u8[*]        (CSR UTF-8: row i is bytes [o[i], o[i+1]))
//   text_offsets u64[n+1] · text_bytes u8[*]
//   label_offsets u64[n+1] · label_bytes u8[*]  (optional)
//   token_offsets u64[n+1] · token_ids u32[*] (CSR; per row: unigram ids, then bigram ids)
//   embedding f32|f16 [n, dim]
// All chunked along rows (the byte arrays in 1 MiB / 256 KiB chunks) so row blocks stream: a
// row range reads only its offsets and the bytes between its first and last offset. Strings
// are CSR bytes rather than HDF5 variable-length strings because those cost a global-heap
// object each, which made string columns most of a shard's write time. Attributes on the root group: trawl-format =
// "shard", trawl-format-version, trawl-version, encoder, encoder-params, dim, dtype,
// normalisation, source-file, source-checksum, chunk-index, rows, rejected-rows, config.
#pragma once
#include <algorithm>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace trawl {
class AtomicOutput;
}

namespace trawl::io {

constexpr const char* kShardFormat = "shard";
constexpr int kShardFormatVersion = 1;

enum class Dtype { kF32, kF16 };
Dtype parse_dtype(const std::string& s);  // "f32" | "f16"; throws UsageError
const char* dtype_name(Dtype d);

struct ShardMeta {
  std::string encoder;         // "hash" | "torchscript"
  std::string encoder_params;  // canonical "k=v;k=v": an encoder's identity (same params, same vectors)
  int dim = 0;
  Dtype dtype = Dtype::kF32;
  std::string normalisation = "l2";
  std::string source_file;      // the input chunk's path as given
  std::string source_checksum;  // FileChecksum::str() of the input chunk
  uint64_t chunk_index = 0;     // position of the chunk in the input list; uid = chunk_index << 40 | row
  bool has_label = false;
  uint64_t rejected_rows = 0;
  std::string config;  // the resolved configuration of the stage that wrote the file
  // Filled by the reader:
  uint64_t rows = 0;
  std::string trawl_version;
  int format_version = 0;
};

/// A block of consecutive rows. token_offsets has size()+1 entries and starts at 0.
struct ShardBlock {
  std::vector<uint64_t> uid;
  std::vector<std::string> id, text, label;
  std::vector<uint64_t> token_offsets{0};
  std::vector<uint32_t> token_ids;
  std::vector<float> embedding;  // size() * dim, row-major (f16 files are widened on read)
  /// kEmbeddingView: the embedding rows as views into the mapped shard instead of `embedding`
  /// (when the shard allows it; else `embedding` is filled and this is empty): consecutive
  /// runs of rows within one stored chunk each. Every chunk viewed is verified (Fletcher-32, in
  /// the mapping) by check_views, which a BlockStream runs on its reading thread outside the
  /// HDF5 lock before it hands the block out; read the views through for_each_embedding_run,
  /// which also releases each chunk's pages after its last row.
  struct Segment {
    const float* data;  // f32 rows; null for f16 rows (kEmbeddingViewHalf), which are in `half`
    uint64_t rows;
    size_t chunk;
    const uint16_t* half = nullptr;
  };
  std::vector<Segment> emb_segments;
  /// Values per tile where rows are widened (f16) or checked and used (arm_work) a piece at a
  /// time: 64 Ki, 256 KiB of f32, well inside L2.
  static constexpr uint64_t kTileValues = uint64_t(1) << 16;
  std::shared_ptr<struct EmbeddingViews> views;  // the mapping and its chunks' state
  size_t size() const { return uid.size(); }
  void clear();
  /// fn(rows, first_row, count, norm_bound) over the embedding rows in order (norm_bound: an
  /// upper bound of the rows' L2 norms (rows with NaN aside; +inf when one is infinite), found
  /// while the chunk was verified with norms, 2^-10 relative above the float computation so that
  /// any summation order stays below it; -1, unknown, for copied rows, f16 rows and chunks
  /// verified without norms): the views (a chunk's pages
  /// leave this process's mapping after its last row, so resident memory stays at about a
  /// block), or `embedding` as one run. A view of a chunk not verified yet (a block read by
  /// ShardReader::read without check_views) is verified here: InputError naming the shard,
  /// dataset and rows.
  template <class F>
  void for_each_embedding_run(int dim, F&& fn) const {
    if (emb_segments.empty()) {
      if (size()) fn(static_cast<const float*>(embedding.data()), uint64_t(0), uint64_t(embedding.size() / uint64_t(dim)), -1.0f);
      return;
    }
    uint64_t at = 0;
    for (const auto& s : emb_segments) {
      view_before(s);
      if (s.data) {
        fn(s.data, at, s.rows, view_bound(s));
      } else {  // f16: widened a tile (256 KiB of f32) at a time
        const uint64_t tile = std::max<uint64_t>(1, kTileValues / uint64_t(dim));
        for (uint64_t r = 0; r < s.rows; r += tile) {
          const uint64_t n = std::min(tile, s.rows - r);
          fn(widen(s, r, n, dim), at + r, n, -1.0f);
        }
      }
      view_after(s, dim);
      at += s.rows;
    }
  }

  /// Drops the pages under the block's views from this process's mapping (they stay in the
  /// page cache), whole 2 MiB pages around them included: for a block whose rows were copied
  /// out (a fetch of a few rows) while no other thread reads the same shard's mapping.
  void release_views() const;

  /// Verifies every viewed chunk not verified yet (Fletcher-32, in the mapping: InputError naming
  /// the shard, dataset and rows) and, with `norms`, finds the chunk's norm bound (a second
  /// pass over the chunk while it is in cache, for the exact search; scoring has no use for it).
  /// Needs no HDF5 lock: a BlockStream runs it on its reading thread after the read, outside
  /// the lock. Each chunk is verified once, by whichever thread claims it first; armed
  /// (arm_check), this skips the chunks another thread has claimed instead of waiting for them.
  void check_views(bool norms = true);
  /// Before check_views runs on another thread while this block is already in use (a
  /// BlockStream's ArmFn): for_each_embedding_run then takes each chunk as soon as it is
  /// verified, and verifies one nobody has claimed yet itself (reading it into its own cache
  /// right before using it) rather than wait; `norms` as check_views's. The next read into
  /// this block disarms it.
  void arm_check(bool norms = true);

  /// fn(rows, first_row, count) over a run of the block's embedding rows (first_row counted from
  /// the block's start), for work that more than one thread may do at once on different runs:
  /// e.g. scoring with a reentrant model, each run's results stored by first_row.
  using RunFn = std::function<void(const float* x, uint64_t at, uint64_t n)>;
  /// Instead of arm_check, on a block with views (emb_segments): its rows are to be used by `fn`,
  /// segment by segment, by every thread that calls work_views (a BlockStream's reading thread
  /// in its CheckFn, and the caller) — each takes the next segment nobody has taken. A segment
  /// whose chunk nobody has verified is verified and used in one pass, tile by tile (a tile's
  /// checksum, then its rows from cache); f16 rows are widened tile by tile. The next read into
  /// this block disarms it. tile_values: a tile's size in values (tests pass small ones).
  void arm_work(RunFn fn, int dim, uint64_t tile_values = kTileValues);
  bool armed_for_work() const { return work_ != nullptr; }
  /// Takes and works segments until none is left; throws the failure of one it worked (a
  /// checksum mismatch, or fn's exception), after which no thread takes another.
  void work_views();
  /// Returns once every segment has been worked (by any thread); rethrows the first failure in
  /// row order.
  void wait_views() const;

 private:
  struct Work;
  std::shared_ptr<Work> work_;
  void work_segment(size_t k);
  bool armed_ = false, armed_norms_ = false;
  bool defer_check_ = false;  // read with ShardReader::kDeferCheck
  friend class ShardReader;
  friend class DeferredChecks;
  float view_bound(const Segment& s) const;
  const float* widen(const Segment& s, uint64_t first, uint64_t n, int dim) const;
  mutable std::vector<float> widened_;  // for_each_embedding_run's tile of widened f16 rows
  void view_before(const Segment& s) const;
  void view_after(const Segment& s, int dim) const;
};

/// The embedding chunks of blocks read with ShardReader::kDeferCheck, whose rows were used
/// before their checksums were verified. verify() then verifies each one that nobody has
/// verified since — a ShardStream over the same readers (pool::OpenShards) verifies every chunk
/// it passes, so for a shard the stream covers this costs nothing — with the read's own error
/// (InputError naming the shard, dataset and rows). Its callers run it before any result
/// computed from those rows is written, and before reporting another error those rows may
/// have caused.
class DeferredChecks {
 public:
  /// The chunks holding rows `used` (ascending, counted from b's first row) of b, a block read
  /// with kDeferCheck.
  void add(const ShardBlock& b, const std::vector<uint64_t>& used);
  void verify() const;
  /// Chunks added that are not verified yet (by anyone).
  size_t pending() const;

 private:
  std::vector<std::pair<std::shared_ptr<EmbeddingViews>, size_t>> chunks_;
};

/// uid of row `row` of chunk `chunk_index`: unique and the same however the work is split.
inline uint64_t make_uid(uint64_t chunk_index, uint64_t row) { return (chunk_index << 40) | row; }
constexpr uint64_t kMaxRowsPerChunk = 1ULL << 40;
constexpr uint64_t kMaxChunks = 1ULL << 24;

/// "shard-000042.h5"
std::string shard_file_name(uint64_t chunk_index);

/// Writes a shard to `path` (callers pass an AtomicOutput temporary and rename on success).
class ShardWriter {
 public:
  ShardWriter(const std::string& path, const ShardMeta& meta, uint64_t chunk_rows = 4096);
  ~ShardWriter();
  ShardWriter(const ShardWriter&) = delete;
  ShardWriter& operator=(const ShardWriter&) = delete;
  void append(const ShardBlock& b);  // b.embedding must hold b.size() * dim floats
  /// Writes the final attributes (rows, rejected-rows) and closes the file.
  void close(uint64_t rejected_rows);
  uint64_t rows() const;

 private:
  struct Impl;
  Impl* impl_;
};

/// Puts a shard written under out's temporary name (ShardWriter, closed) in place —
/// out.commit(): synced, renamed — and has the page cache hold it in 2 MiB pages where the file
/// system allows (recache_in_large_pages, io/mapped.h): every later pass over its rows through
/// a mapping costs about half as much.
void commit_shard(AtomicOutput& out);

/// Reads a shard. The constructor validates the format name and version (and that the
/// datasets exist with consistent lengths) and throws InputError naming the file and the
/// dataset or attribute at fault.
class ShardReader {
 public:
  enum Columns : unsigned {
    kUid = 1, kId = 2, kText = 4, kLabel = 8, kTokens = 16, kEmbedding = 32, kAll = 63,
    /// The embeddings as views into the mapped file (ShardBlock::emb_segments): f32 shards whose
    /// chunks can be read directly, each chunk verified against its checksum once per reader.
    /// Other shards fill `embedding` as kEmbedding does.
    kEmbeddingView = 64,
    /// With kEmbeddingView: f16 shards are viewed too; for_each_embedding_run widens their rows
    /// (exactly, with F16C where the CPU has it) tile by tile on the consumer's thread, so the
    /// reading thread neither copies nor widens them under the HDF5 lock.
    kEmbeddingViewHalf = 128,
    /// With kEmbeddingView: for_each_embedding_run hands out the viewed rows without verifying
    /// their chunks; the caller collects the block in a DeferredChecks and verifies them before
    /// anything computed from the rows leaves the process (e.g. a search's anchors, whose chunks
    /// the search's own stream over the same reader verifies anyway).
    kDeferCheck = 256
  };
  explicit ShardReader(const std::string& path);
  ~ShardReader();
  ShardReader(const ShardReader&) = delete;
  ShardReader& operator=(const ShardReader&) = delete;
  const ShardMeta& meta() const;
  uint64_t rows() const;
  const std::string& path() const;
  /// Rows [begin, end) into out (cleared first); only the requested columns are filled.
  void read(uint64_t begin, uint64_t end, ShardBlock& out, unsigned cols = kAll) const;
  /// Embeddings of rows [begin, end) as f32, row-major, into out[(end-begin)*dim].
  void read_embeddings(uint64_t begin, uint64_t end, float* out) const;
  std::vector<uint64_t> read_uids() const;
  /// A deep check: every dataset's shape and type, all offsets (tokens and strings) monotone
  /// and in range, strings valid UTF-8, uids unique and increasing, embeddings finite. Throws
  /// InputError.
  void validate_deep() const;

 private:
  struct Impl;
  Impl* impl_;
};

/// True if path exists and opens as a complete shard of the current version (never throws).
bool shard_is_complete(const std::string& path);

/// Shard files of a pool directory, sorted by name (throws IoError/InputError if none).
std::vector<std::string> list_shards(const std::string& dir);

}  // namespace trawl::io
