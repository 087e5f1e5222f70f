// trawl-libs: trawl_stage_fit trawl_cli
// trawl-fit: fits the pool-adapted LSA encoder (TF-IDF of the vocab's top ids, randomized
// truncated SVD across MPI ranks) that trawl-embed --encoder lsa uses.
#include <malloc.h>

#include <cstdlib>

#include "cli/options.h"
#include "core/error.h"
#include "embed/lsa.h"
#include "embed/vocab.h"
#include "mpi/run.h"
#include "stages/fit_stage.h"

using namespace trawl;
namespace po = cli::po;

int main(int argc, char** argv) {
  // The fit allocates and frees matrices of V × k doubles (~140 MiB) between its steps: keep
  // freed memory in the heap, so each does not page-fault fresh memory again.
  // (M_MMAP_THRESHOLD is capped at 32 MiB: no mmap at all instead.)
  mallopt(M_MMAP_MAX, 0);
  mallopt(M_TRIM_THRESHOLD, 1 << 30);
  return mpi::run_main(argc, argv, "trawl-fit", [&](mpi::Comm& comm) {
    stages::FitOptions o;
    std::vector<std::string> inputs;
    std::string input_list, format = "auto";
    bool no_checkpoint = false;
    cli::Cli c("trawl-fit", "fit",
               "fit the pool-adapted LSA encoder: the sublinear TF-IDF rows of the pool's text over the "
               "--max-features most frequent token ids of a trawl-vocab file, and their top --dim right "
               "singular vectors by a randomized truncated SVD (Halko, Martinsson and Tropp 2011). Ranks "
               "of an MPI job split the chunks; the result is bitwise the same at any rank or thread "
               "count. The output is the --lsa file of trawl-embed --encoder lsa (or lsa+hash). An "
               "output that exists and matches the inputs and parameters is kept; a killed fit, rerun, "
               "resumes after its last completed pass (OUTPUT.checkpoint) and writes the same encoder.");
    c.required().add_options()
        ("vocab", po::value<std::string>(&o.vocab_path)->required(), "the pool's trawl-vocab file (document frequencies)")
        ("output,o", po::value<std::string>(&o.output)->required(), "the encoder file to write (HDF5)");
    c.optional().add_options()
        ("input,i", po::value<std::vector<std::string>>(&inputs)->multitoken(), "input chunk files (as given to trawl-embed)")
        ("input-list", po::value<std::string>(&input_list), "file listing input chunks, one per line")
        ("format", po::value<std::string>(&format)->default_value("auto"), "auto, tsv, csv or jsonl")
        ("id-column", po::value<std::string>(&o.reader.id_column)->default_value("id"), "column holding the item id")
        ("text-column", po::value<std::string>(&o.reader.text_column)->default_value("text"), "column holding the text")
        ("max-line-bytes", po::value<uint64_t>(&o.reader.max_line_bytes)->default_value(1 << 20),
         "a longer line or record is a bad row (skipped, counted)")
        ("dim", po::value<int>(&o.svd.dim)->default_value(256), "embedding dimension (singular vectors kept)")
        ("max-features", po::value<uint64_t>(&o.max_features)->default_value(65536),
         "TF-IDF columns: the ids of the vocab with the highest document frequency (0: all)")
        ("power-iterations", po::value<int>(&o.svd.power_iterations)->default_value(4),
         "power iterations of the randomized SVD (each one more pass over the rows)")
        ("oversample", po::value<int>(&o.svd.oversample)->default_value(10), "extra sketch columns beyond --dim")
        ("sample", po::value<double>(&o.sample)->default_value(1.0),
         "fit on a keyed uniform sample of this fraction of the rows (by uid and --seed)")
        ("seed", po::value<uint64_t>(&o.svd.seed)->default_value(o.svd.seed), "seed of the Gaussian test matrix and the sample")
        ("block-rows", po::value<uint64_t>(&o.block_rows)->default_value(o.block_rows),
         "rows per reduction block (the unit summed in a fixed order; part of the result's identity)")
        ("memory-limit", po::value<double>(&o.memory_limit_gb)->default_value(0),
         "GiB per rank the fit may use; 0: MemAvailable / ranks on the node. Checked before reading")
        ("force", po::bool_switch(&o.force), "refit even when the output exists and matches (and ignore a checkpoint)")
        ("no-checkpoint", po::bool_switch(&no_checkpoint),
         "do not write OUTPUT.checkpoint after each power-iteration pass (by default a rerun after a kill "
         "resumes from it and writes the same encoder; it is removed when the output is written)")
        ("dump-matrix", po::value<std::string>(&o.dump_matrix)->default_value(""),
         "benchmarks: also write the TF-IDF matrix (CSR, raw little-endian files) to this directory (one rank only)");
    if (!c.parse(argc, argv)) return 0;
    if (!input_list.empty()) {
      if (!inputs.empty()) throw UsageError("give --input or --input-list, not both");
      inputs = embed::read_chunk_list(input_list);
    }
    if (inputs.empty()) throw UsageError("trawl-fit: no input files: give --input FILE... or --input-list FILE");
    o.inputs = inputs;
    o.reader.format = text::parse_format(format);
    if (c.common().num_shards > 0)
      throw UsageError("trawl-fit is an MPI job, not an array task (no --shard-id/--num-shards)");
    o.config = c.resolved_config();
    o.checkpoint = !no_checkpoint;
    // Tests of the resumable fit: stop once this many passes are done and checkpointed.
    if (const char* e = std::getenv("TRAWL_FIT_STOP_AFTER_PASS")) o.stop_after_pass = std::atoi(e);
    auto st = stages::run_fit(comm, o);
    return st.stopped ? 75 : 0;  // 75 (EX_TEMPFAIL): stopped as asked, rerun to resume
  });
}
