// trawl-index: one HNSW index per shard, index/<shard>.hnsw (see hnsw_index.h for the file).
//
// Each rank / array task takes its share of the pool's shards (shard i goes to part
// i % parts, mpi::work_split) and, per shard:
//  * skips it when <output>/<shard>.hnsw exists, its header reads, it was built with the same
//    M and ef-construction, and the shard checksum stored in it equals the shard file's checksum
//    now; an index older than its shard (checksum mismatch), of other parameters or unreadable
//    is rebuilt with a warning (a cheap header check: the payload's CRC is checked by every load);
//  * otherwise streams the embeddings in row blocks into an HnswIndex (threads: --threads)
//    and writes it to a temporary name, renamed when complete.
// Before building anything each rank checks that its largest index fits in memory
// (estimate_memory against --max-memory, else against MemAvailable and the cgroup limit
// shared by the ranks on the node) and fails fast with a UsageError if not.
#pragma once
#include <cstdint>
#include <string>

#include "index/hnsw_index.h"
#include "mpi/comm.h"

namespace trawl::stages {

using index::HnswParams;

struct IndexOptions {
  std::string pool;     // directory of shard-*.h5
  std::string output;   // default: <pool>/index
  HnswParams params;    // M, ef_construction, seed (the level seed is keyed by seed and shard)
  uint64_t max_memory = 0;  // bytes per process; 0: MemAvailable / cgroup limit / ranks on the node
  uint64_t block_rows = 16384;  // rows read from the shard per block
  bool force = false;   // rebuild indexes that exist and are up to date
  int shard_id = 0, num_shards = 0;
  int threads = 1;
  std::string config;   // resolved configuration, stored in every index
};

struct IndexSummary {
  uint64_t built = 0, skipped = 0, rows = 0, bytes_out = 0;  // this rank's share
};

/// Collective over comm. Returns kExitOk; throws UsageError/InputError/IoError (the main maps
/// them to exit codes). *summary, if given, receives this rank's counts.
int run_index(const mpi::Comm& comm, const IndexOptions& o, IndexSummary* summary = nullptr);

}  // namespace trawl::stages
