// trawl-libs: trawl_stage_evaluate trawl_cli
// trawl-evaluate: calibration, precision and expansion of one class (twitter-labor §8).
#include <sstream>

#include "cli/options.h"
#include "core/error.h"
#include "mpi/run.h"
#include "score/evaluate.h"
#include "stages/evaluate_stage.h"

using namespace trawl;
namespace po = cli::po;

int main(int argc, char** argv) {
  return mpi::run_main(argc, argv, "trawl-evaluate", [&](mpi::Comm& comm) {
    stages::EvaluateOptions o;
    std::string top;
    cli::Cli c("trawl-evaluate", "evaluate",
               "evaluate one class the twitter-labor way from its labelled rank-bucket sample: --cutoffs is "
               "trawl-score's cutoffs-<class>.tsv (ranks 1..10^6, 10 items at each of 17 points), --labels the "
               "annotators' labels of those items (trawl-label --mode consensus). Fits --bootstrap unpenalised "
               "logistic regressions label ~ score on balanced resamples (calibration), reports precision of "
               "the first 20 labelled rows, the rank T95 where the calibrated score drops below 0.95 and the "
               "precision above it, and, with --scores (the pool's scores files), the expansion numerator: the "
               "pool items whose score exceeds the calibrated 0.5 point, with its bootstrap standard error. "
               "Writes evaluate-<class>.tsv, calibration-<class>.tsv (a, c and root per fit) and "
               "calibration-<class>.svg. Under mpirun the ranks split the scores files.");
    c.required().add_options()
        ("cutoffs", po::value<std::string>(&o.cutoffs)->required(), "cutoffs-<class>.tsv (or top-<class>.tsv) from trawl-score")
        ("labels", po::value<std::string>(&o.labels)->required(), "labels of the sample: TSV with uid and label")
        ("class", po::value<std::string>(&o.cls)->required(), "the class whose probability column is evaluated")
        ("output,o", po::value<std::string>(&o.output)->required(), "directory of the outputs");
    c.optional().add_options()
        ("positive", po::value<std::string>(&o.positive)->default_value(""),
         "the label that counts as positive (default: the class name); every other label is negative")
        ("scores", po::value<std::string>(&o.scores)->default_value(""),
         "directory of the pool's shard-*.scores.h5, for the expansion numerator")
        ("bootstrap", po::value<uint64_t>(&o.bootstrap)->default_value(10000),
         "bootstrap fits (reference: 10000); 0 = one fit on the labelled rows as they are")
        ("seed", po::value<uint64_t>(&o.seed)->default_value(42), "seed of the bootstrap draws (fit b uses key(seed, b))")
        ("top", po::value<std::string>(&top)->default_value("10000"), "comma-separated T for precision at top T");
    if (!c.parse(argc, argv)) return 0;
    if (c.common().num_shards > 0) throw UsageError("--num-shards: trawl-evaluate is not an array job");
    std::stringstream ss(top);
    for (std::string x; std::getline(ss, x, ',');) {
      if (x.empty()) continue;
      char* e = nullptr;
      unsigned long long v = std::strtoull(x.c_str(), &e, 10);
      if (*e || v == 0) throw UsageError(cat("--top: '", x, "' is not a positive integer"));
      o.top.push_back(v);
    }
    o.config = c.resolved_config();
    stages::run_evaluate(comm, o);
    return 0;
  });
}
