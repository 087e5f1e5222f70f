// trawl-simulate: many active-learning rounds with an oracle, for experiments and tests.
//
// The oracle is the pool's own `label` column (shards embedded with --label-column): every
// item a round queues is "annotated" with its true label. Round r (r = 0 .. rounds-1), in
// <output>/round-RRR/:
//   1. trawl-retrieve (method and backend by option) from labels-RRR.tsv (round 0: --labels);
//   2. trawl-train on the labelled set (embeddings from the subpool where it holds them);
//   3. trawl-score the subpool (features when the strategy needs them), trawl-select a batch;
//   4. the oracle labels the queue: labels-(R+1).tsv = labels-RRR.tsv ∪ the queue's labels;
//   5. every --eval-every rounds (and after the last), trawl-score the whole pool and measure
//      the target class on the items still unlabelled: precision, recall and F1 at argmax
//      (counts reduced across ranks — no item list in one process) and precision at the top N.
// <output>/metrics.tsv (rewritten atomically after each round) has one row per round, with the
// round's selection time (retrieval + subpool scoring + selection; training excluded, as
// anchoral.md §6 times it) and the area under the F1 learning curve so far (trapezoids with
// unit spacing over the evaluated rounds, anchoral.md §6);
// <output>/learning-curve.svg plots target F1 and the share of the pool's target items found
// against the number of labels.
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
// also gets the journal's long table, so a round may relabel items as well as label new ones (the reference's
// ActiveLab protocol). metrics.tsv then also reports how many queued items were relabels and the
// consensus labels' accuracy against the truth.
// A finished round (its next labels file exists) is not redone,
// so a killed simulation resumes where it stopped. Results do not depend on the rank count.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "mpi/comm.h"

namespace trawl::stages {

struct SimulateOptions {
  std::string pool;              // shards with a label column (the oracle)
  std::string labels;            // round 0's labelled set (uid, label TSV), e.g. from trawl-seed-labels
  std::string output;            // directory for the round directories, metrics.tsv and the plot
  std::string target;            // the class the metrics follow (default: the rarest class of the pool)
  uint64_t rounds = 5, seed = 42;
  // retrieval
  std::string method = "anchoral", backend = "exact";
  int anchors_per_class = 10, neighbours = 50;
  uint64_t subpool_size = 10000;
  // training
  std::string model = "logreg";
  double lr = 0.05;              // logreg over unit-norm embeddings needs large weights: see conf/train.ini
  int epochs = 10, min_steps = 300;
  // selection
  std::string strategy = "entropy";
  uint64_t batch_size = 25;
  // evaluation
  uint64_t eval_every = 1;       // 0: only after the last round
  uint64_t precision_at = 100;   // precision of the top N unlabelled items of the target class
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
  double select_seconds = 0;     // retrieve + subpool scoring + selection (training excluded, as the reference's query time)
  double train_seconds = 0;
  bool evaluated = false;
  uint64_t tp = 0, fp = 0, fn = 0, top_n = 0, top_hits = 0;
  double precision() const { return tp + fp ? double(tp) / double(tp + fp) : 0.0; }
  double recall() const { return tp + fn ? double(tp) / double(tp + fn) : 0.0; }
  double f1() const { return 2.0 * tp + fp + fn > 0 ? 2.0 * tp / (2.0 * tp + fp + fn) : 0.0; }
};

struct SimulateSummary {
  std::string target;
  uint64_t pool_items = 0, pool_target = 0;
  std::vector<RoundMetrics> rounds;
  std::string metrics_path, plot_path;
};

/// Collective. Runs (or resumes) the simulation described above.
SimulateSummary run_simulate(const mpi::Comm& comm, const SimulateOptions& o);

/// The learning curve as a standalone SVG document (exposed for tests).
std::string learning_curve_svg(const SimulateSummary& s);

}  // namespace trawl::stages
