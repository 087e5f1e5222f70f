// trawl-libs: trawl_stage_retrieve trawl_cli
// trawl-merge: combines the partial results of an array-mode trawl-retrieve into the subpool.
#include "cli/options.h"
#include "mpi/run.h"
#include "stages/retrieve_stage.h"

using namespace trawl;
namespace po = cli::po;

int main(int argc, char** argv) {
  return mpi::run_main(argc, argv, "trawl-merge", [&](mpi::Comm& comm) {
    std::string round_dir, pool;
    cli::Cli c("trawl-merge", "merge",
               "combine <round>/parts/part-*-of-N.h5 written by the N tasks of an array-mode trawl-retrieve "
               "into <round>/subpool.h5 — the same file the MPI job writes. Fails, naming them, when parts "
               "are missing or come from another run.");
    c.required().add_options()("output,o", po::value<std::string>(&round_dir)->required(), "the round directory");
    c.optional().add_options()("pool", po::value<std::string>(&pool)->default_value(""),
                               "pool directory (default: the one recorded in the parts)");
    if (!c.parse(argc, argv)) return 0;
    stages::run_merge(comm, round_dir, pool, c.resolved_config());
    return 0;
  });
}
