// trawl-retrieve / trawl-merge: the AnchorAL subpool and its baselines.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "mpi/comm.h"

namespace trawl::stages {

struct RetrieveOptions {
  std::string pool;                // directory of shard-*.h5
  std::string index_dir;           // HNSW indexes (default <pool>/index)
  std::string labels;              // uid<TAB>label TSV
  std::vector<std::string> classes;  // fixes the class list (default: the labels' classes)
  std::string exclude;             // optional uid list (TSV with a uid column) never retrieved: a held-out split
  std::string output;              // the round directory
  uint64_t round = 0, seed = 0;
  std::string method = "anchoral";  // anchoral | seals | randsub | full | random
  std::string backend = "exact";    // exact | hnsw
  int anchors_per_class = 10;       // A
  int neighbours = 50;              // K
  uint64_t subpool_size = 10000;    // M
  int ef = 0;                       // hnsw search width; 0: max(K, 100)
  std::string state;                // seals: cumulative state file (default <output>/../seals-state.h5)
  uint64_t block_rows = 32768;      // exact: rows per streamed block
  int shard_id = 0, num_shards = 0;  // array mode when num_shards > 0: write a partial result
  int threads = 1;
  std::string config;
};

struct RetrieveSummary {
  uint64_t anchors = 0, candidates = 0, subpool = 0, items_scanned = 0;
  std::string subpool_path;  // empty in array mode
  std::string part_path;     // array mode
};

/// Collective. Without --num-shards: searches this rank's shards, reduces across ranks and
/// rank 0 writes <output>/subpool.h5 (and anchors.tsv). With --num-shards N: writes
/// <output>/parts/part-<id>-of-<N>.h5 for trawl-merge.
RetrieveSummary run_retrieve(const mpi::Comm& comm, const RetrieveOptions& o);

/// Collective. Combines the N parts of an array-mode retrieval in `round_dir` into the same
/// subpool.h5 the MPI job writes. `pool` overrides the pool directory recorded in the parts.
RetrieveSummary run_merge(const mpi::Comm& comm, const std::string& round_dir, const std::string& pool,
                          const std::string& config);

}  // namespace trawl::stages
