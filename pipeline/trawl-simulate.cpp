// trawl-libs: trawl_stage_simulate trawl_cli
// trawl-simulate: many active-learning rounds with the pool's labels as the oracle.
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
    cli::Cli c("trawl-simulate", "simulate",
               "run --rounds active-learning rounds on a labelled pool, the pool's own label column answering "
               "for the annotators: each round retrieves a subpool (--method), trains (--model), scores the "
               "subpool, selects a batch (--strategy) and adds the batch's true labels to the labelled set; "
               "every --eval-every rounds it scores the whole pool and measures the --target class on the "
               "unlabelled items (precision, recall, F1 at argmax; precision of the top N). Writes "
               "<output>/round-RRR/ (each stage's files), labels-RRR.tsv, metrics.tsv and learning-curve.svg. "
               "A killed run resumes at the first unfinished round. Under mpirun every stage splits its work "
               "over the ranks; the results do not depend on the rank count.");
    c.required().add_options()
        ("pool", po::value<std::string>(&o.pool)->required(), "directory of shard-*.h5 with a label column (the oracle)")
        ("labels", po::value<std::string>(&o.labels)->required(), "round 0's labelled set: TSV with uid and label")
        ("output,o", po::value<std::string>(&o.output)->required(), "directory for the rounds, metrics and plot");
    c.optional().add_options()
        ("rounds", po::value<uint64_t>(&o.rounds)->default_value(5), "rounds to run")
        ("target", po::value<std::string>(&o.target)->default_value(""), "class the metrics follow (default: the rarest)")
        ("seed", po::value<uint64_t>(&o.seed)->default_value(42), "seed of every stage's random draws")
        ("method", po::value<std::string>(&o.method)->default_value("anchoral"), "anchoral, seals, randsub, full or random")
        ("backend", po::value<std::string>(&o.backend)->default_value("exact"), "exact or hnsw (needs trawl-index first)")
        ("anchors-per-class", po::value<int>(&o.anchors_per_class)->default_value(10), "A")
        ("neighbours", po::value<int>(&o.neighbours)->default_value(50), "K")
        ("subpool-size", po::value<uint64_t>(&o.subpool_size)->default_value(10000), "M")
        ("model", po::value<std::string>(&o.model)->default_value("logreg"), "logreg, mlp or embbag")
        ("lr", po::value<double>(&o.lr)->default_value(0.05, "0.05"), "AdamW learning rate")
        ("epochs", po::value<int>(&o.epochs)->default_value(10), "epochs")
        ("min-steps", po::value<int>(&o.min_steps)->default_value(300), "least optimisation steps")
        ("strategy", po::value<std::string>(&o.strategy)->default_value("entropy"),
         "random, least-confidence, margin, entropy, threshold, badge, kmeans, exploit-explore, or activelab "
         "(with --annotators: relabel or label new)")
        ("batch-size,b", po::value<uint64_t>(&o.batch_size)->default_value(25), "items labelled per round")
        ("eval-every", po::value<uint64_t>(&o.eval_every)->default_value(1), "score the whole pool every N rounds (0: last only)")
        ("precision-at", po::value<uint64_t>(&o.precision_at)->default_value(100), "N of precision at the top N (0: off)")
        ("annotators", po::value<int>(&o.annotators)->default_value(0),
         "M > 0: M simulated noisy annotators answer through <output>/journal.tsv (majority consensus); 0: the "
         "pool's labels answer exactly")
        ("accuracy", po::value<double>(&o.accuracy)->default_value(0.8, "0.8"),
         "noisy annotators: mean accuracy (each annotator's is drawn from +-0.1 around it)");
    if (!c.parse(argc, argv)) return 0;
    if (c.common().num_shards > 0)
      throw UsageError("--num-shards: trawl-simulate is not an array job (run it as one process or under mpirun)");
    o.threads = c.common().threads;
    o.config = c.resolved_config();
    auto s = stages::run_simulate(comm, o);
    log::info("metrics -> ", s.metrics_path, ", learning curve -> ", s.plot_path);
    return 0;
  });
}
