// One HNSW graph per shard over its embeddings (hnswlib 0.6.2, cosine), with trawl's own file
// wrapper. Labels are the items' global uids, so results from many shards merge without maps.
//
// Metric. Cosine: vectors are L2-normalised on insert and queries before search; hnswlib's
// InnerProductSpace then gives dist = 1 − <a, b> (0 = same direction, 2 = opposite). A
// zero vector stays zero (distance 1 to everything). Non-finite values are an InputError.
//
// Determinism. Levels are drawn from hnswlib's generator seeded by HnswParams::seed. With one
// build thread the graph (and the saved payload) is a function of the vectors, the uids, their
// order, M, ef_construction and the seed. With several threads the insertion order — and so
// the graph — varies from run to run (as in every parallel HNSW build); search results are then
// validated by recall against exact search, never by identity. Exact search (src/retrieve) is
// the reference that sharded results must equal. (hnswlib 0.6.2 also draws levels from one
// unsynchronised generator during parallel inserts, as its Python binding does: a benign race
// that only changes which random levels are drawn.)
//
// Exclusion. hnswlib 0.6.2's searchKnn(query, k) takes no filter functor (isIdAllowed arrived
// in 0.7), so excluded uids are handled with its delete marks: each search() call marks the
// excluded uids present in this index, searches (the graph still routes through marked nodes;
// hnswlib keeps exploring until ef unmarked results are found), then unmarks them. Nothing is
// copied and the file is never touched. search() calls on one HnswIndex serialise on an internal
// mutex (each call parallelises over its queries); results are also post-filtered, so an
// excluded uid can never be returned.
//
// ef. hnswlib does not persist ef and falls back to 10 after a load (the AnchorAL loader bug,
// reference/anchoral.md §2.1). Here ef is explicit: search() takes it (≤ 0: the index default);
// the default is set to ef_construction by build and by load, and set_ef() changes it. hnswlib
// searches with max(ef, K).
//
// File (format "index", version 1; all integers little-endian):
//   "TRAWLIDX"                      8-byte magic
//   u32 format version              1
//   u32 H, then H header bytes      u32 entry count, then per entry u32 length + key bytes,
//                                   u32 length + value bytes (keys below)
//   u64 P, then P payload bytes     hnswlib 0.6.2's saveIndex layout, byte for byte
//   u32 CRC-32 (zlib)               of every byte after the magic up to here
// Header keys: trawl-format (= "index"), trawl-format-version, trawl-version, hnswlib
// (payload layout, "0.6.2"), metric (= "cosine"), dim, M, ef-construction, count, seed, shard
// (the indexed shard's basename), shard-checksum (checksum_file() of that shard when it was
// indexed), config (the resolved configuration of the stage that built it).
// Readers check magic, version, sizes, CRC and that the payload agrees with the header, and
// throw InputError naming the file on foreign, newer, truncated or corrupt files.
//
// Note: hnswlib.h defines non-inline functions, so it is included by hnsw_index.cpp only; other
// modules reach hnswlib through this class.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace trawl::index {

constexpr const char* kIndexFormat = "index";
constexpr uint32_t kIndexFormatVersion = 1;
constexpr char kIndexMagic[8] = {'T', 'R', 'A', 'W', 'L', 'I', 'D', 'X'};
/// An index file name for a shard: "shard-000042.h5" -> "shard-000042.hnsw".
std::string index_file_name(const std::string& shard_path);

struct HnswParams {
  int M = 64;                 // links per node per upper level; level 0 keeps 2M
  int ef_construction = 200;  // candidate list size while building
  uint64_t seed = 42;         // hnswlib's level generator
};

/// A search result: cosine distance and uid. Ordered by (dist, uid), like retrieve::Neighbour.
struct Hit {
  float dist;
  uint64_t uid;
};
inline bool operator<(const Hit& a, const Hit& b) {
  return a.dist < b.dist || (a.dist == b.dist && a.uid < b.uid);
}
inline bool operator==(const Hit& a, const Hit& b) { return a.dist == b.dist && a.uid == b.uid; }

/// A set of uids to leave out of results (e.g. the labelled items of every shard; uids that
/// are not in an index are ignored by it). Sorted and deduplicated on construction.
class UidSet {
 public:
  UidSet() = default;
  explicit UidSet(std::vector<uint64_t> uids);
  bool contains(uint64_t uid) const;
  bool empty() const { return uids_.empty(); }
  size_t size() const { return uids_.size(); }
  const std::vector<uint64_t>& uids() const { return uids_; }

 private:
  std::vector<uint64_t> uids_;
};

/// Provenance and shape stored in an index file's header.
struct IndexInfo {
  // Set by the writer from the index:
  int dim = 0;
  std::string metric = "cosine";
  HnswParams params;
  uint64_t count = 0;
  // Set by the caller of save():
  std::string shard;           // basename of the indexed shard
  std::string shard_checksum;  // FileChecksum::str() of the shard when indexed
  std::string config;          // resolved configuration of the stage that built the index
  // Filled by readers:
  std::string trawl_version;
  uint32_t format_version = 0;
  uint64_t file_size = 0;
};

/// Bytes a saved index of n vectors takes (exact but for the random upper levels, whose
/// expected size is used): see estimate_memory().
uint64_t estimate_file_size(uint64_t n, int dim, int M);

/// Bytes of RAM an index of n vectors of dimension dim needs while it is built or loaded and
/// searched by `threads` threads, from hnswlib 0.6.2's layout:
///   level 0, one block of n · (4 + 8M + 4·dim + 8) bytes (link count, 2M links, the
///     vector, the label);
///   upper levels: a node reaches level ≥ l with probability M^−l (level = ⌊−ln U / ln M⌋),
///     so E[levels] = 1/(M − 1) per node, each (4 + 4M) bytes, plus a malloc per node with
///     upper levels (probability 1/M);
///   per node: a link-list pointer (8), its level (4), a std::mutex (40) and an entry of the
///     uid → internal id unordered_map (~56 with its bucket);
///   fixed: 65536 update mutexes; per searching thread a visited list of n u16.
/// The result is within a few per cent of the process's resident growth and never below the
/// file size (estimate_file_size).
uint64_t estimate_memory(uint64_t n, int dim, int M, int threads = 1);

/// Move-only; a moved-from HnswIndex may only be destroyed or assigned to.
class HnswIndex {
 public:
  /// An empty index for up to max_elements vectors. Throws UsageError on bad parameters
  /// (dim < 1, M outside [2, 1024], ef_construction < 1, max_elements ≥ 2^32 − 1).
  HnswIndex(int dim, uint64_t max_elements, const HnswParams& params = HnswParams());
  HnswIndex(HnswIndex&&) noexcept;
  HnswIndex& operator=(HnswIndex&&) noexcept;
  ~HnswIndex();

  /// Inserts n row-major vectors (normalised on insert) with their uids, using `threads`
  /// threads (OpenMP). Throws UsageError when capacity would be exceeded, InputError on a
  /// uid already in the index or a non-finite value (naming the uid).
  void add(const float* vectors, const uint64_t* uids, size_t n, int threads = 1);

  /// An index over n vectors in one call (add() with capacity n).
  static HnswIndex build(const float* vectors, const uint64_t* uids, size_t n, int dim,
                         const HnswParams& params = HnswParams(), int threads = 1);

  /// The K nearest of each of nq row-major queries (normalised here), sorted by (dist, uid),
  /// with excluded uids left out; fewer than K when the index holds fewer eligible items.
  /// ef ≤ 0 uses ef(); hnswlib searches with max(ef, K). Thread-safe (calls serialise).
  std::vector<std::vector<Hit>> search(const float* queries, size_t nq, int K, int ef = 0,
                                       const UidSet& excluded = UidSet(), int threads = 1) const;

  /// Default ef of search(); set again after every load (load sets it to ef_construction).
  void set_ef(int ef);
  int ef() const;

  int dim() const;
  uint64_t size() const;      // vectors in the index
  uint64_t capacity() const;  // max_elements
  const HnswParams& params() const;
  bool contains(uint64_t uid) const;
  /// The uids in internal (insertion) order.
  std::vector<uint64_t> uids() const;

  /// Writes the index to path (callers pass an AtomicOutput temporary). info's shard,
  /// shard_checksum and config are stored; its shape fields are taken from the index.
  /// Throws IoError naming the file on a write failure (e.g. disk full).
  void save(const std::string& path, const IndexInfo& info) const;
  /// Reads and fully verifies an index file (one pass; the CRC covers every byte). Sets the
  /// default ef to ef_construction. Throws InputError naming the file when it is not a trawl
  /// index, is of a newer or unknown version, is truncated or corrupt; IoError when it cannot
  /// be read.
  static HnswIndex load(const std::string& path, IndexInfo* info = nullptr);
  /// Reads only the header and checks the file's size against it (cheap: no payload read, no
  /// CRC). Throws like load().
  static IndexInfo read_info(const std::string& path);
  /// Streams the whole file through the CRC check without building the index. Throws like load().
  static IndexInfo verify_file(const std::string& path);

  /// The payload bytes exactly as hnswlib's saveIndex writes them (for tests and tools).
  std::vector<char> payload_bytes() const;

  struct Impl;

 private:
  explicit HnswIndex(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace trawl::index
