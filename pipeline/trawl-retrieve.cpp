// trawl-libs: trawl_stage_retrieve trawl_cli
// trawl-retrieve: one round's subpool (AnchorAL, or a baseline) from the pool's shards.
#include <sstream>

#include "cli/options.h"
#include "mpi/run.h"
#include "stages/retrieve_stage.h"

using namespace trawl;
namespace po = cli::po;

int main(int argc, char** argv) {
  return mpi::run_main(argc, argv, "trawl-retrieve", [&](mpi::Comm& comm) {
    stages::RetrieveOptions o;
    std::string classes;
    cli::Cli c("trawl-retrieve", "retrieve",
               "select one round's subpool. AnchorAL: per class up to A labelled anchors (k-means++ seeded by "
               "seed and round), the K nearest unlabelled items of every anchor searched shard by shard and "
               "reduced across ranks, scored 1 - mean cosine distance; the top M form the subpool. Baselines: "
               "seals, randsub, full, random. Under mpirun the ranks split the shards; as an array task "
               "(--num-shards N) it writes a partial result that trawl-merge combines.");
    c.required().add_options()
        ("pool", po::value<std::string>(&o.pool)->required(), "directory of the pool's shard-*.h5 files")
        ("labels", po::value<std::string>(&o.labels)->required(), "labelled set: TSV with columns uid and label")
        ("output,o", po::value<std::string>(&o.output)->required(), "the round directory (subpool.h5, anchors.tsv)");
    c.optional().add_options()
        ("round", po::value<uint64_t>(&o.round)->default_value(0), "round number (anchors change every round)")
        ("seed", po::value<uint64_t>(&o.seed)->default_value(42), "seed of anchors and samples")
        ("method", po::value<std::string>(&o.method)->default_value("anchoral"), "anchoral, seals, randsub, full or random")
        ("backend", po::value<std::string>(&o.backend)->default_value("exact"),
         "exact (streaming blocked GEMM over the shards) or hnsw (per-shard indexes from trawl-index)")
        ("anchors-per-class", po::value<int>(&o.anchors_per_class)->default_value(10), "A: anchors per class")
        ("neighbours", po::value<int>(&o.neighbours)->default_value(50), "K: nearest unlabelled items per anchor")
        ("subpool-size", po::value<uint64_t>(&o.subpool_size)->default_value(10000), "M: items in the subpool")
        ("ef", po::value<int>(&o.ef)->default_value(0), "hnsw: search width (0: max(K, 100))")
        ("index-dir", po::value<std::string>(&o.index_dir)->default_value(""), "hnsw: index directory (default <pool>/index)")
        ("classes", po::value<std::string>(&classes)->default_value(""),
         "comma-separated class names (default: the labels' distinct values)")
        ("exclude", po::value<std::string>(&o.exclude)->default_value(""),
         "uid list (TSV with a uid column) never retrieved, e.g. a held-out test split")
        ("state", po::value<std::string>(&o.state)->default_value(""),
         "seals: the previous round's seals-state.h5 (none in the first round)")
        ("block-rows", po::value<uint64_t>(&o.block_rows)->default_value(32768), "exact: rows per streamed block");
    if (!c.parse(argc, argv)) return 0;
    std::stringstream ss(classes);
    for (std::string x; std::getline(ss, x, ',');)
      if (!x.empty()) o.classes.push_back(x);
    o.shard_id = c.common().shard_id;
    o.num_shards = c.common().num_shards;
    o.threads = c.common().threads;
    o.config = c.resolved_config();
    stages::run_retrieve(comm, o);
    return 0;
  });
}
