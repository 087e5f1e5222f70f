// trawl-libs: trawl_stage_score trawl_cli
// trawl-score: class probabilities of a pool's items (or a subpool's) and the per-class top N and
// rank-point samples found by distributed selection.
#include "cli/options.h"
#include "mpi/run.h"
#include "stages/score_stage.h"

using namespace trawl;
namespace po = cli::po;

int main(int argc, char** argv) {
  return mpi::run_main(argc, argv, "trawl-score", [&](mpi::Comm& comm) {
    stages::ScoreOptions o;
    bool no_text = false;
    cli::Cli c("trawl-score", "score",
               "score items with a trained model. Pool mode (--pool): every shard gets "
               "<output>/shard-NNNNNN.scores.h5 (uid, probs [n, classes], optionally features); under mpirun the "
               "ranks split the shards, then select together the per-class top N (top-<class>.tsv) and the items "
               "at the 17 evaluation rank points 1..10^6, 10 each (cutoffs-<class>.tsv), without a global sort. As "
               "an array task (--num-shards N) it only writes scores files; run trawl-score --select-only --pool DIR "
               "--output DIR afterwards. Subpool mode (--subpool FILE): one <output>/subpool.scores.h5 in the "
               "subpool's order. Scores files made by the same model are skipped on rerun.");
    c.required().add_options()
        ("output,o", po::value<std::string>(&o.output)->required(),
         "directory for the scores files and TSVs (not the pool directory)");
    c.optional().add_options()
        ("model", po::value<std::string>(&o.model)->default_value(""),
         "model file from trawl-train or trawl-import-model (required unless --select-only; there it checks the "
         "scores' model). A torchscript model (trawl-import-model, trawl-train --model torchscript) reads the items' "
         "text, WordPiece-tokenised, in length-sorted batches of 32 within each block, with --threads LibTorch threads")
        ("pool", po::value<std::string>(&o.pool)->default_value(""), "directory of the pool's shard-*.h5 files")
        ("subpool", po::value<std::string>(&o.subpool)->default_value(""),
         "score this subpool.h5 (from trawl-retrieve) instead of the pool")
        ("features", po::bool_switch(&o.features), "also store the model's penultimate features (f32 [n, F])")
        ("top-n", po::value<uint64_t>(&o.top_n)->default_value(10000), "items per class in top-<class>.tsv (0: none)")
        ("cutoffs", po::value<bool>(&o.cutoffs)->default_value(true),
         "pool mode: write cutoffs-<class>.tsv, the items at ranks 1..10, r+1..r+10 of the 17 rank points (true/false)")
        ("no-text", po::bool_switch(&no_text), "leave the text column out of the TSVs")
        ("select-only", po::bool_switch(&o.select_only),
         "do not score: read the existing scores files of --pool from --output and select (after an array job)")
        ("prior-correction", po::value<std::string>(&o.prior_correction)->default_value("none"),
         "pool mode: em writes <output>/prior.tsv, the pool's class prior estimated by EM from the scores and "
         "the decision weights that correct the labelled set's class balance (needs --labels; --oof calibrates)")
        ("labels", po::value<std::string>(&o.labels)->default_value(""),
         "--prior-correction: the labelled set the model was trained on (uid, label TSV)")
        ("oof", po::value<std::string>(&o.oof)->default_value(""),
         "--prior-correction: the model's out-of-fold scores (trawl-train --oof-folds K: <model>.oof.scores.h5)")
        ("block-rows", po::value<uint64_t>(&o.block_rows)->default_value(16384),
         "rows per streamed block (a torchscript model holds one block's texts and ids in memory)");
    if (!c.parse(argc, argv)) return 0;
    o.text = !no_text;
    o.shard_id = c.common().shard_id;
    o.num_shards = c.common().num_shards;
    o.threads = c.common().threads;
    o.config = c.resolved_config();
    stages::run_score(comm, o);
    return 0;
  });
}
