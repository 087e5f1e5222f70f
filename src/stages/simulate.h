// trawl-simulate: many active-learning rounds with an oracle, measured the way the AnchorAL
// paper and the active-learning libraries measure them.
//
// The oracle is the pool's own `label` column (shards embedded with --label-column).
//
// Protocol (reference/anchoral.md §1, §6):
//  * A held-out test split (--test-fraction, default 0.2): within every class the
//    round(fraction · n_c) items with the smallest key(split-seed, uid) — stratified, keyed by
//    uid, so it is the same at any rank count, for every method and every --seed. It is written
//    to <output>/test-split.tsv and passed to retrieval and selection as --exclude: a test item
//    is never retrieved, selected, labelled or trained on (seed labels that fall in it are
//    dropped with a warning). Every quality metric is computed on it.
//  * Round 0's labels: --labels FILE, or drawn per seed from the pool's labels outside the test
//    split (--initial-minority CLASSES --initial-per-class N --initial-rest R, the reference's
//    5 per minority class + 95).
//  * Round r (r = 0 .. rounds-1), in <output>/round-RRR/:
//     1. trawl-retrieve (--method, --backend) from labels-RRR.tsv, the test split excluded;
//     2. trawl-train on the labelled set;
//     3. trawl-score the subpool (or the pool for --method full and exploit-explore) and
//        trawl-select a batch (--strategy); --method random queues the retrieved uniform
//        sample of b items itself (plain random sampling: no model in the loop);
//     4. the oracle labels the queue: labels-(R+1).tsv = labels-RRR.tsv ∪ the queue's labels;
//     5. every --eval-every rounds (and after the last) trawl-score the pool and measure the
//        round's model on the test split: per class precision, recall and F1 at the decision,
//        F1 at the raw argmax, best-threshold F1, average precision, ROC-AUC.
//  * The decision: the class-weighted model's argmax (--prior-correction none, the default: its
//    training prior is uniform over the classes), or (em) argmax_c (π_c / π_train,c) · q(c|x)
//    with q the pool probabilities calibrated on the labelled set's out-of-fold probabilities and
//    π the pool prior estimated from them by EM (Saerens et al. 2002; score/prior.h). EM is exact
//    under label shift, but active learning selects its labelled set by x, and on the package
//    pool EM drove the 1% class's prior to ~0 (docs/RESULTS.md) — hence not the default.
//  * <output>/metrics.tsv (format simulate-metrics v2, rewritten atomically after each round):
//    one row per round for the --target class, with the rare items labelled so far, the area
//    under the F1 learning curve (anchoral.md §6), the round's selection time (retrieval +
//    scoring for selection + selection; training excluded, as the reference times it) and its
//    training time; <output>/metrics-classes.tsv has every class's metrics per evaluated round.
//    trawl-report turns several runs into a table and plots.
//  * --seeds S1,S2,...: one run per seed in <output>/seed-<s>/ (the same test split for all).
//
// Noisy annotators (--annotators M > 0): instead of the exact oracle, M simulated annotators
// answer through the labels journal (<output>/journal.tsv, src/labels/journal.h). Annotator j
// is right with probability acc_j, drawn once uniformly from [accuracy − 0.1, accuracy + 0.1]
// (clipped to [0, 1]) by key(seed, j); when wrong, it answers one of the other classes
// uniformly. A queued item goes to the first annotator, counting round from key(seed, uid) % M,
// who has not labelled it yet (that first one again, when all have). The seed labels enter as
// annotator "seed". trawl-train also writes 5-fold out-of-fold probabilities, and round r+1's
// labelled set is the journal's CROWDLAB consensus (activelab.md §2, best_quality) with P from
// them (items labelled before round r) and from the round's subpool scores (items new in it) —
// or the majority rule while no item has two labels. With --strategy activelab, trawl-select
// also gets the journal's long table, so a round may relabel items as well as label new ones.
// metrics.tsv then also reports how many queued items were relabels and the consensus labels'
// accuracy against the truth.
// A finished round (its next labels file exists) is not redone, so a killed simulation resumes
// where it stopped. Results do not depend on the rank count.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "mpi/comm.h"

namespace trawl::stages {

struct SimulateOptions {
  std::string pool;              // shards with a label column (the oracle)
  std::string labels;            // round 0's labelled set (uid, label TSV); or draw it (initial_*)
  std::string initial_minority;  // comma-separated classes: draw round 0's labels per seed
  uint64_t initial_per_class = 5, initial_rest = 95;
  std::string output;            // directory for the round directories and metrics
  std::string target;            // the class the metrics follow (default: the rarest class of the pool)
  uint64_t rounds = 5, seed = 42;
  std::vector<uint64_t> seeds;   // several runs, one per seed, in <output>/seed-<s>/
  // protocol
  double test_fraction = 0.2;    // held-out share of every class (0: no split — remainder metrics are not offered)
  uint64_t split_seed = 1;
  std::string prior_correction = "none";  // none | em (see the header: EM fails under active learning's selection)
  // retrieval
  std::string method = "anchoral", backend = "exact";
  int anchors_per_class = 10, neighbours = 50;
  uint64_t subpool_size = 10000;
  // training
  std::string model = "logreg";
  std::string features = "tokens";  // logreg: tokens | embedding | tokens+embedding
  double C = 1.0;                // logreg: inverse L2 strength
  std::string vocab;             // logreg over tokens: trawl-vocab file for idf weights (empty: tf only)
  double lr = 1e-3;              // mlp / embbag (AdamW)
  int epochs = 10, min_steps = 100;
  // selection
  std::string strategy = "entropy";
  uint64_t batch_size = 25;
  // evaluation
  uint64_t eval_every = 1;       // 0: only after the last round
  // noisy annotators (0: the exact oracle)
  int annotators = 0;
  double accuracy = 0.8;
  int threads = 1;
  std::string config;
};

struct RoundMetrics {
  uint64_t round = 0, labelled = 0, target_labelled = 0, subpool = 0, subpool_target = 0;
  uint64_t queued = 0, queued_target = 0;
  uint64_t relabelled = 0;       // noisy mode: queued items that already had a label
  double label_accuracy = 1;     // noisy mode: consensus labels equal to the truth
  double select_seconds = 0;     // retrieve + scoring for selection + selection (training excluded)
  double train_seconds = 0;
  bool evaluated = false;
  // the target class on the test split
  double precision = 0, recall = 0, f1 = 0, f1_argmax = 0, best_f1 = 0, average_precision = 0, roc_auc = 0.5;
  double prior_target = 0;       // the estimated pool prior of the target
  // every class (evaluated rounds): name, support, P, R, F1, F1 argmax, AP, ROC-AUC, prior
  struct PerClass {
    std::string cls;
    uint64_t support = 0;
    double precision = 0, recall = 0, f1 = 0, f1_argmax = 0, average_precision = 0, roc_auc = 0.5, prior = 0;
  };
  std::vector<PerClass> classes;
};

struct SimulateSummary {
  std::string target;
  uint64_t pool_items = 0, pool_target = 0;
  uint64_t test_items = 0, test_target = 0;
  uint64_t seed = 0;
  std::vector<RoundMetrics> rounds;
  std::string metrics_path, classes_path, test_split_path;
};

/// Collective. Runs (or resumes) the simulation described above; with o.seeds, one run per
/// seed (the summaries in seed order).
std::vector<SimulateSummary> run_simulate(const mpi::Comm& comm, const SimulateOptions& o);

}  // namespace trawl::stages
