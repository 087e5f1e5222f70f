// trawl-libs: trawl_stage_select trawl_cli
// trawl-select: one round's queue for the annotators (queue.tsv) from trawl-score's output.
#include <sstream>

#include "cli/options.h"
#include "core/error.h"
#include "mpi/run.h"
#include "stages/select_stage.h"

using namespace trawl;
namespace po = cli::po;

int main(int argc, char** argv) {
  return mpi::run_main(argc, argv, "trawl-select", [&](mpi::Comm& comm) {
    stages::SelectOptions o;
    std::string classes, sizes, count_unit;
    cli::Cli c("trawl-select", "select",
               "choose the items the annotators label next. Strategies: random, least-confidence, margin, "
               "entropy, threshold (around --threshold on one --class), badge and kmeans (need trawl-score "
               "--features), exploit-explore (twitter-labor: a keyed sample of the class's top set plus "
               "matches of high-lift motifs sampled from the whole pool), activelab (ActiveLab: relabel an annotated item "
               "or label a new one, from --annotations and --labelled-scores; lowest scores first). Labelled items are "
               "never selected (activelab: annotated items only as relabels). "
               "Writes <output>/queue.tsv (uid, id, text, class, score, rank, source, round) atomically. "
               "Under mpirun the ranks split the scores files and the pool's shards.");
    c.required().add_options()
        ("scores", po::value<std::string>(&o.scores)->required(),
         "trawl-score output: subpool.scores.h5, or a directory of shard-*.scores.h5 (and top-<class>.tsv)")
        ("output,o", po::value<std::string>(&o.output)->required(), "directory of queue.tsv");
    c.optional().add_options()
        ("strategy", po::value<std::string>(&o.strategy)->default_value("least-confidence"),
         "random, least-confidence, margin, entropy, threshold, badge, kmeans, exploit-explore or activelab")
        ("batch-size,b", po::value<uint64_t>(&o.batch_size)->default_value(25), "b: items to select (per class for exploit-explore)")
        ("class", po::value<std::string>(&classes)->default_value(""),
         "threshold: the class; exploit-explore: comma-separated classes (default: every top-<class>.tsv)")
        ("threshold", po::value<double>(&o.threshold)->default_value(0.5), "threshold: the probability threshold")
        ("threshold-mode", po::value<std::string>(&o.threshold_mode)->default_value("split"),
         "threshold: split (half just above, half just below, as the reference) or nearest")
        ("pool", po::value<std::string>(&o.pool)->default_value(""),
         "the pool's shard directory (id and text of the queue; required by exploit-explore)")
        ("labels", po::value<std::string>(&o.labels)->default_value(""), "labelled set (TSV with uid and label): never selected")
        ("exclude", po::value<std::string>(&o.exclude)->default_value(""),
         "uid list (TSV with a uid column) never selected, e.g. a held-out test split")
        ("annotations", po::value<std::string>(&o.annotations)->default_value(""),
         "activelab: the labels so far, TSV with columns uid, annotator, label (one row per label; header only: none yet)")
        ("labelled-scores", po::value<std::string>(&o.labelled_scores)->default_value(""),
         "activelab: scores file of out-of-sample probabilities of every annotated uid (trawl-train --oof-folds)")
        ("round", po::value<uint64_t>(&o.round)->default_value(0), "round number (keys random draws)")
        ("seed", po::value<uint64_t>(&o.seed)->default_value(42), "seed of random draws")
        ("kmeans-iterations", po::value<int>(&o.kmeans_iterations)->default_value(20), "kmeans: Lloyd iterations")
        ("max-rows", po::value<uint64_t>(&o.max_rows)->default_value(2000000),
         "badge/kmeans: most rows gathered into one process")
        ("block-rows", po::value<uint64_t>(&o.block_rows)->default_value(65536), "rows read at a time")
        ("explore-fraction", po::value<double>(&o.explore_fraction)->default_value(0.5),
         "exploit-explore: share of b from exploration (reference: 50 + 50)")
        ("top-size", po::value<uint64_t>(&o.top_size)->default_value(10000), "exploit-explore: the top set's size")
        ("explore-per-motif", po::value<uint64_t>(&o.explore_per_motif)->default_value(0),
         "exploit-explore: most items per motif (reference: 5); 0 = round-robin over the motifs")
        ("exclude-motifs", po::value<std::string>(&o.exclude_motifs)->default_value(""),
         "exploit-explore: motifs never chosen (one per line, tokens separated by spaces; or an earlier motifs list)")
        ("motif-sizes", po::value<std::string>(&sizes)->default_value("2,3"), "exploit-explore: motif sizes")
        ("min-lift", po::value<double>(&o.explore.min_lift)->default_value(1.0), "exploit-explore: least lift of a motif")
        ("min-count", po::value<uint64_t>(&o.explore.min_count)->default_value(5),
         "exploit-explore: least count of a motif in the top set")
        ("min-pool-count", po::value<uint64_t>(&o.explore.min_pool_count)->default_value(10),
         "exploit-explore: least count of a motif in the pool (reference min_obs)")
        ("max-motifs", po::value<int>(&o.explore.max_motifs)->default_value(5), "exploit-explore: motifs chosen per size")
        ("motif-count", po::value<std::string>(&count_unit)->default_value("documents"),
         "exploit-explore: count documents or occurrences (the reference) of a motif")
        ("max-motif-tokens", po::value<int>(&o.explore.max_tokens)->default_value(64),
         "exploit-explore: first tokens of a document that form motifs (0: all)")
        ("pool-sample", po::value<uint64_t>(&o.explore.pool_sample)->default_value(0),
         "exploit-explore: count pool frequencies on a keyed sample of about this many documents (0: whole pool)");
    if (!c.parse(argc, argv)) return 0;
    std::stringstream ss(classes);
    for (std::string x; std::getline(ss, x, ',');)
      if (!x.empty()) o.classes.push_back(x);
    o.explore.sizes.clear();
    std::stringstream sz(sizes);
    for (std::string x; std::getline(sz, x, ',');) {
      if (x.empty()) continue;
      if (x != "2" && x != "3") throw UsageError(cat("--motif-sizes: '", x, "', expected 2 and/or 3"));
      o.explore.sizes.push_back(std::stoi(x));
    }
    if (count_unit != "documents" && count_unit != "occurrences")
      throw UsageError(cat("--motif-count '", count_unit, "', expected documents or occurrences"));
    o.explore.occurrences = count_unit == "occurrences";
    o.explore.block_rows = o.block_rows;
    o.config = c.resolved_config();
    stages::run_select(comm, o);
    return 0;
  });
}
