// trawl-libs: trawl_stage_simulate trawl_cli
// trawl-simulate: many active-learning rounds with the pool's labels as the oracle, measured on
// a held-out test split (src/stages/simulate.h).
#include <sstream>

#include "cli/options.h"
#include "core/error.h"
#include "core/log.h"
#include "mpi/run.h"
#include "stages/simulate.h"

using namespace trawl;
namespace po = cli::po;

int main(int argc, char** argv) {
  return mpi::run_main(argc, argv, "trawl-simulate", [&](mpi::Comm& comm) {
    stages::SimulateOptions o;
    std::string seeds;
    cli::Cli c("trawl-simulate", "simulate",
               "run --rounds active-learning rounds on a labelled pool, the pool's own label column answering "
               "for the annotators, as the AnchorAL paper measures them: a stratified held-out test split "
               "(--test-fraction) is never retrieved, selected or trained on; each round retrieves a subpool "
               "(--method), trains (--model), selects a batch (--strategy; --method random: a uniform batch) and "
               "adds the batch's true labels; every --eval-every rounds the model is measured on the test split "
               "(per-class P/R/F1 at the decision, F1 at argmax, best F1, AP, ROC-AUC). Writes "
               "<output>/test-split.tsv, round-RRR/ (each stage's files), labels-RRR.tsv, metrics.tsv and "
               "metrics-classes.tsv (per seed in seed-<s>/ with --seeds); trawl-report makes tables and plots. "
               "A killed run resumes at the first unfinished round. Under mpirun every stage splits its work "
               "over the ranks; the results do not depend on the rank count.");
    c.required().add_options()
        ("pool", po::value<std::string>(&o.pool)->required(), "directory of shard-*.h5 with a label column (the oracle)")
        ("output,o", po::value<std::string>(&o.output)->required(), "directory for the rounds and metrics");
    c.optional().add_options()
        ("labels", po::value<std::string>(&o.labels)->default_value(""), "round 0's labelled set: TSV with uid and label")
        ("initial-minority", po::value<std::string>(&o.initial_minority)->default_value(""),
         "instead of --labels: draw round 0's labels per seed, --initial-per-class items of each of these "
         "comma-separated classes plus --initial-rest of the others (outside the test split)")
        ("initial-per-class", po::value<uint64_t>(&o.initial_per_class)->default_value(5), "seed items per minority class")
        ("initial-rest", po::value<uint64_t>(&o.initial_rest)->default_value(95), "seed items of the other classes")
        ("rounds", po::value<uint64_t>(&o.rounds)->default_value(5), "rounds to run")
        ("target", po::value<std::string>(&o.target)->default_value(""), "class the metrics follow (default: the rarest)")
        ("seed", po::value<uint64_t>(&o.seed)->default_value(42), "seed of every stage's random draws")
        ("seeds", po::value<std::string>(&seeds)->default_value(""),
         "comma-separated seeds: one run each in <output>/seed-<s>/ (overrides --seed)")
        ("test-fraction", po::value<double>(&o.test_fraction)->default_value(0.2, "0.2"),
         "held-out share of every class (stratified, keyed by uid)")
        ("split-seed", po::value<uint64_t>(&o.split_seed)->default_value(1), "key of the test split (the same for every --seed)")
        ("prior-correction", po::value<std::string>(&o.prior_correction)->default_value("none"),
         "none: the class-weighted model's argmax; em: decide under the pool prior estimated by EM from the "
         "calibrated pool scores (collapses when a weak model meets an actively selected labelled set: "
         "docs/RESULTS.md)")
        ("method", po::value<std::string>(&o.method)->default_value("anchoral"),
         "anchoral, seals, randsub, full, or random (uniform batches, no model in the loop)")
        ("backend", po::value<std::string>(&o.backend)->default_value("exact"), "exact or hnsw (needs trawl-index first)")
        ("anchors-per-class", po::value<int>(&o.anchors_per_class)->default_value(10), "A")
        ("neighbours", po::value<int>(&o.neighbours)->default_value(50), "K")
        ("subpool-size", po::value<uint64_t>(&o.subpool_size)->default_value(10000), "M")
        ("model", po::value<std::string>(&o.model)->default_value("logreg"), "logreg, mlp or embbag")
        ("features", po::value<std::string>(&o.features)->default_value("tokens"),
         "logreg: tokens (sparse tf-idf), embedding, or tokens+embedding")
        ("C", po::value<double>(&o.C)->default_value(1.0, "1"), "logreg: inverse L2 strength")
        ("vocab", po::value<std::string>(&o.vocab)->default_value(""), "logreg over tokens: trawl-vocab file (idf weights)")
        ("lr", po::value<double>(&o.lr)->default_value(1e-3, "0.001"), "mlp/embbag: AdamW learning rate")
        ("epochs", po::value<int>(&o.epochs)->default_value(10), "mlp/embbag: epochs")
        ("min-steps", po::value<int>(&o.min_steps)->default_value(100), "mlp/embbag: least optimisation steps")
        ("strategy", po::value<std::string>(&o.strategy)->default_value("entropy"),
         "random, least-confidence, margin, entropy, threshold, badge, kmeans, exploit-explore, or activelab "
         "(with --annotators: relabel or label new)")
        ("batch-size,b", po::value<uint64_t>(&o.batch_size)->default_value(25), "items labelled per round")
        ("eval-every", po::value<uint64_t>(&o.eval_every)->default_value(1), "evaluate every N rounds (0: last only)")
        ("annotators", po::value<int>(&o.annotators)->default_value(0),
         "M > 0: M simulated noisy annotators answer through <output>/journal.tsv (majority consensus); 0: the "
         "pool's labels answer exactly")
        ("accuracy", po::value<double>(&o.accuracy)->default_value(0.8, "0.8"),
         "noisy annotators: mean accuracy (each annotator's is drawn from +-0.1 around it)");
    if (!c.parse(argc, argv)) return 0;
    if (c.common().num_shards > 0)
      throw UsageError("--num-shards: trawl-simulate is not an array job (run it as one process or under mpirun)");
    std::stringstream ss(seeds);
    for (std::string x; std::getline(ss, x, ',');) {
      if (x.empty()) continue;
      size_t end = 0;
      unsigned long long v = 0;
      try {
        v = std::stoull(x, &end);
      } catch (const std::exception&) {
        end = 0;
      }
      if (end != x.size()) throw UsageError(cat("--seeds: '", x, "' is not an unsigned integer"));
      o.seeds.push_back(v);
    }
    o.threads = c.common().threads;
    o.config = c.resolved_config();
    auto runs = stages::run_simulate(comm, o);
    for (auto& s : runs) log::info("seed ", s.seed, ": metrics -> ", s.metrics_path);
    return 0;
  });
}
