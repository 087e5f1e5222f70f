// trawl-libs: trawl_stage_index trawl_io trawl_cli
// trawl-index: build one HNSW index (hnswlib, cosine) per shard of a pool.
#include "cli/options.h"
#include "core/memory.h"
#include "stages/index_stage.h"
#include "mpi/run.h"

using namespace trawl;
namespace po = cli::po;

int main(int argc, char** argv) {
  return mpi::run_main(argc, argv, "trawl-index", [&](mpi::Comm& comm) {
    stages::IndexOptions o;
    std::string max_memory;
    cli::Cli c("trawl-index", "index",
               "build one HNSW index (hnswlib, cosine distance, labels = uids) per shard of a pool, into "
               "<output>/shard-NNNNNN.hnsw. Each MPI rank / array task takes its share of the shards; "
               "indexes that exist and match their shard (same checksum, M and ef-construction) are "
               "skipped, so a killed job is simply rerun. Fails before building when an index would not "
               "fit in memory.");
    c.required().add_options()
        ("pool", po::value<std::string>(&o.pool)->required(), "directory of the shards (shard-*.h5)");
    c.optional().add_options()
        ("output,o", po::value<std::string>(&o.output)->default_value(""), "directory for the indexes (default: <pool>/index)")
        ("M", po::value<int>(&o.params.M)->default_value(64), "HNSW links per node (level 0 keeps 2M)")
        ("ef-construction", po::value<int>(&o.params.ef_construction)->default_value(200),
         "HNSW candidate list size while building (larger: better graph, slower build)")
        ("seed", po::value<uint64_t>(&o.params.seed)->default_value(42),
         "seed of the HNSW level draws (keyed by shard)")
        ("max-memory", po::value<std::string>(&max_memory)->default_value(""),
         "memory one process may use, e.g. 16G (default: available memory and cgroup limit, shared by the "
         "ranks on the node)")
        ("block-rows", po::value<uint64_t>(&o.block_rows)->default_value(16384), "embedding rows read per block")
        ("force", po::bool_switch(&o.force), "rebuild indexes even when they exist and match their shard");
    if (!c.parse(argc, argv)) return 0;
    if (!max_memory.empty()) o.max_memory = parse_bytes(max_memory, "--max-memory");
    o.shard_id = c.common().shard_id;
    o.num_shards = c.common().num_shards;
    o.threads = c.common().threads;
    o.config = c.resolved_config();
    return stages::run_index(comm, o);
  });
}
