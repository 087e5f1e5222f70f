// Document frequencies of token ids over a pool (trawl-vocab), and the idf weights the hash
// encoder takes from them.
//
// Vocab file format v1 (HDF5; written to a temporary name and renamed when complete):
//   attributes on the root group: trawl-format = "vocab", trawl-format-version = 1,
//     trawl-version, n_docs u64 (documents counted; bad rows are not documents), min_df u64,
//     pruned_ids u64 (distinct ids dropped because df < min_df), tokens u64 (all token ids
//     counted, unigrams and bigrams), bad_rows u64 (skipped input rows), config (the resolved
//     configuration of the counting run);
//   datasets: id u32[m] strictly increasing · df u64[m] (documents containing the id) ·
//     tf u64[m] (occurrences of the id over all documents) · input_file str[k] (the chunk
//     list in order, as given) · input_checksum str[k] (FileChecksum::str() of each chunk).
//   The input list is a dataset, not an attribute, because HDF5 attributes are limited to
//   64 KiB and a pool has ~1000 chunks.
// Partial counts of one array task ("vocab-part", part-<i>-of-<N>.h5) have the same datasets
// and attributes, unpruned (min_df 1), plus shard_id and num_shards; input_checksum is empty
// for chunks other tasks count. trawl-vocab --merge-parts sums them into the vocab file an
// MPI run over the same chunk list writes.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "embed/encoder.h"
#include "text/reader.h"

namespace trawl::mpi {
class Comm;
}

namespace trawl::embed {

constexpr const char* kVocabFormat = "vocab";
constexpr const char* kVocabPartFormat = "vocab-part";
constexpr int kVocabFormatVersion = 1;

struct Vocab {
  uint64_t n_docs = 0;
  uint64_t min_df = 1;
  uint64_t pruned_ids = 0;
  uint64_t tokens = 0;
  uint64_t bad_rows = 0;
  std::vector<uint32_t> id;  // strictly increasing
  std::vector<uint64_t> df;  // same length as id
  std::vector<uint64_t> tf;  // same length as id
  std::vector<std::string> input_file, input_checksum;
  std::string config;
  // Filled by read_vocab:
  std::string trawl_version;
  int format_version = kVocabFormatVersion;
  std::string format = kVocabFormat;  // "vocab" or "vocab-part"
  int shard_id = 0, num_shards = 0;   // parts only

  size_t size() const { return id.size(); }
  /// Position of id in the sorted arrays, or -1 (binary search).
  int64_t find(uint32_t token_id) const;
  uint64_t df_of(uint32_t token_id) const;  // 0 for ids not in the vocab
  /// ln((1 + n_docs) / (1 + df)) + 1; ids not in the vocab have df = 0.
  double idf(uint32_t token_id) const;
  /// Content identity over n_docs, id and df (what idf weights depend on):
  /// "vocab:<16 hex digits>". Equal counts give equal checksums whatever wrote the file.
  std::string checksum() const;
};

/// Reads and validates a vocab file (or a part file when allow_part). Throws IoError when the
/// file cannot be opened, InputError naming the file and attribute or dataset when it is not
/// a trawl vocab, has a newer or unknown format version, or its datasets are inconsistent.
Vocab read_vocab(const std::string& path, bool allow_part = false);

/// Writes v to path atomically (temporary name, renamed when complete). v.format selects
/// "vocab" or "vocab-part". Throws IoError.
void write_vocab(const std::string& path, const Vocab& v);

/// True when path exists and reads as a valid vocab (never throws).
bool vocab_is_complete(const std::string& path, bool allow_part = false);

/// The hash encoder with idf weights from an in-memory vocab (o.idf_path is ignored; a null
/// vocab means unweighted).
std::unique_ptr<Encoder> make_hash_encoder(const HashEncoderOptions& o,
                                           std::shared_ptr<const Vocab> idf);

struct VocabOptions {
  std::vector<std::string> inputs;  // the whole chunk list; the same on every rank and task
  text::ReaderOptions reader;
  std::string output;       // the vocab file
  std::string parts_dir;    // array mode: where part files go (default: output + ".parts")
  uint64_t min_df = 2;
  int shard_id = 0;
  int num_shards = 0;       // > 0: array mode (write a part file, no pruning)
  bool force = false;       // recount even when the output exists and validates
  std::string config;       // the resolved configuration, stored in the output
  uint64_t batch_rows = 4096;                  // rows tokenised per parallel batch
  uint64_t max_message_bytes = 512ULL << 20;   // per rank and exchange round (tests lower it)
};


/// "part-3-of-8.h5"
std::string vocab_part_name(int shard_id, int num_shards);

/// The chunk list of --input-list: one path a line; blank lines and '#' comments skipped,
/// surrounding spaces trimmed. IoError if it cannot be read, InputError if it names no file.
std::vector<std::string> read_chunk_list(const std::string& list_file);

/// What counting and reducing gives (count_and_reduce). Totals are over all ranks and on
/// every rank; `counts` is filled on rank 0 only: the kept ids ascending with df and tf, and
/// input_checksum[c] for every chunk c of o.inputs that was counted ("" for the others).
struct ReducedCounts {
  uint64_t docs = 0, bad_rows = 0, tokens = 0, kept_ids = 0, pruned_ids = 0, exchange_rounds = 0;
  uint64_t local_docs = 0;   // this rank's documents
  double count_seconds = 0;  // this rank's counting time
  std::string first_bad;     // "file:line: reason" of a bad row, when there is one
  Vocab counts;
};

/// Collective over comm. Counts per-document distinct token ids (text::text_to_ids) of the
/// chunks `mine` (indices into o.inputs; o.reader, o.batch_rows) on this process, exchanges
/// the counts so each id is summed by one owner rank (o.max_message_bytes per round), drops
/// ids with df < min_df and gathers the rest to rank 0. Bad rows are skipped and counted.
/// Reading errors reach every rank (mpi::collective). Memory per rank: its local counts (24
/// bytes a distinct id, at load <= 0.7) plus the ids it owns after the exchange.
ReducedCounts count_and_reduce(const mpi::Comm& comm, const VocabOptions& o, const std::vector<uint64_t>& mine,
                               uint64_t min_df);

/// Sums vocabulary parts one at a time (memory: the union of their ids) into id/df/tf.
class PartSum {
 public:
  PartSum();
  ~PartSum();
  PartSum(const PartSum&) = delete;
  PartSum& operator=(const PartSum&) = delete;
  void add(const Vocab& part);
  /// out.id/df/tf = the ids with summed df >= min_df, ascending; out.pruned_ids = the others.
  void finish(uint64_t min_df, Vocab& out);

 private:
  struct Impl;
  Impl* impl_;
};

}  // namespace trawl::embed
