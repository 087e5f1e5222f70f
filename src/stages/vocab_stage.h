// trawl-vocab: the document-frequency vocabulary of the pool's chunks (the counting itself,
// distributed, is embed::count_and_reduce; the file is embed::read_vocab / write_vocab).
#pragma once
#include <cstdint>
#include <string>

#include "embed/vocab.h"
#include "mpi/comm.h"

namespace trawl::stages {

struct VocabStats {
  uint64_t docs = 0, bad_rows = 0, tokens = 0;
  uint64_t kept_ids = 0, pruned_ids = 0;
  uint64_t exchange_rounds = 0;  // all-to-all rounds used by the reduction
  bool skipped = false;          // the output existed and validated
  std::string output;            // the file written (vocab or part)
};

/// Collective over comm. Counts per-document distinct token ids (text::text_to_ids) over this
/// process's share of the chunks (mpi::work_split), reduces across ranks and writes the vocab
/// (or, with num_shards > 0, this task's part file) from rank 0. Bad rows are skipped, counted
/// and reported as a warning. Every rank returns the same stats, or throws the same family of
/// error (IoError naming a missing input, InputError for unreadable data, UsageError); nothing
/// is left behind on failure. An output that exists and validates for the same chunk list
/// (and min_df; for parts, the same shard) is kept (stats.skipped) unless o.force.
/// Memory per rank: its local counts (24 bytes a distinct id, at load <= 0.7) plus the ids
/// it owns after the exchange; rank 0 also holds the final vocab.
VocabStats run_vocab(const mpi::Comm& comm, const embed::VocabOptions& o);

/// Merges all part-<i>-of-<N>.h5 files of dir (all N present, one chunk list, every chunk
/// counted by exactly one part) into the vocab file output, pruning ids with df < min_df. The
/// result equals the vocab an MPI run over the same chunk list and min_df writes (same
/// datasets and count attributes). The stored config is part 0's followed by `config`.
/// Not collective: call it on one process. Skips (stats.skipped) when output already holds
/// the same merge, unless force. Memory: the union of the parts' ids, one part at a time.
VocabStats run_vocab_merge(const std::string& dir, const std::string& output, uint64_t min_df,
                             const std::string& config, bool force = false);

}  // namespace trawl::stages
