// Internals of trawl-simulate shared by its files (not a public interface):
//   simulate.cpp            the round loop and the multi-seed driver;
//   simulate_eval.cpp       the held-out test split, seed draws, the test-split evaluation, metrics files;
//   simulate_annotators.cpp simulated noisy annotators, majority and CROWDLAB consensus.
#pragma once
#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "mpi/comm.h"
#include "pool/pool.h"
#include "score/metrics.h"
#include "stages/simulate.h"

namespace trawl::stages::sim {

using LabelMap = std::map<uint64_t, std::string>;

LabelMap read_label_map(const std::string& path);
void write_label_map(const std::string& path, const LabelMap& m);

/// The oracle: pool labels of the given uids (collective).
LabelMap oracle(const mpi::Comm& comm, const pool::Pool& p, std::vector<uint64_t> uids, const std::string& what);

/// Per-class counts of the pool's labels (collective: ranks split the shards).
std::map<std::string, uint64_t> pool_label_counts(const mpi::Comm& comm, const pool::Pool& p);

/// The held-out test split (collective; the same on every rank and at any rank count): within
/// each class c, the round(fraction · n_c) items with the smallest (key(kSplit, split_seed, uid),
/// uid). Found exactly by a 2^16-bin histogram of the keys' top bits (one allreduce) and a
/// gather of the boundary bin's keys. uid sorted, with per-class counts.
struct TestSplit {
  std::vector<uint64_t> uid;
  std::map<std::string, uint64_t> per_class;
};
TestSplit make_test_split(const mpi::Comm& comm, const pool::Pool& p, const std::map<std::string, uint64_t>& counts,
                          double fraction, uint64_t split_seed);

/// A seed labelled set drawn from the pool's labels (collective): per_class items of every
/// class in `minority` plus `rest` items of the other classes, each the smallest
/// (mix64(key(seed, uid)), uid) of its group among the items not in `excluded` (sorted).
LabelMap draw_seed_labels(const mpi::Comm& comm, const pool::Pool& p, const std::set<std::string>& minority,
                          uint64_t per_class, uint64_t rest, uint64_t seed, const std::vector<uint64_t>& excluded);

/// One class's test metrics.
struct ClassEval {
  std::string cls;
  uint64_t support = 0;           // test items of the class
  score::Counts decision, argmax;  // at the prior-corrected decision, at the raw argmax
  score::RankingMetrics ranking;  // of the class's probability
  double prior = 0;               // the pool prior EM estimated (the training prior without --prior-correction)
};
struct TestEval {
  std::vector<ClassEval> classes;  // in the model's class order
  int em_iterations = 0;
  bool em_converged = false;
  double calibration_a = 1;  // the fitted temperature's inverse (1: not calibrated)
};

/// Evaluates the pool scores in scores_dir (collective): the pool prior by EM over every
/// unlabelled item's probabilities (per-shard partial sums combined in shard order, so the
/// result does not depend on the ranks), then on the test items (gathered to every rank in uid
/// order) per-class counts at the corrected decision and at the raw argmax, AP, ROC-AUC and
/// best-threshold F1. train_prior: per model class (uniform over the present classes for
/// class-weighted training). With prior correction and an out-of-fold scores file `oof` of the
/// labelled set, the pool's probabilities are first calibrated (score::fit_calibration, with
/// the class weights of training) — EM and the decision use the calibrated ones; the ranking
/// metrics always use the model's own.
TestEval evaluate_test(const mpi::Comm& comm, const pool::Pool& p, const std::string& scores_dir,
                       const LabelMap& labelled, const std::vector<uint64_t>& test_uids,
                       const std::vector<double>& train_prior, bool prior_correction, const std::string& oof);

/// metrics.tsv (format simulate-metrics v2) and metrics-classes.tsv, written atomically.
void write_metrics(const std::string& path, const std::string& classes_path, const SimulateOptions& o,
                   const SimulateSummary& s);

// ---- noisy annotators (simulate_annotators.cpp) ----
void write_consensus(const std::string& journal, const std::string& path, uint64_t seed);
bool write_crowdlab_consensus(const std::string& journal, const std::string& path,
                              const std::vector<std::string>& prob_files, const std::vector<std::string>& classes,
                              uint64_t seed, std::string* how);
void annotate(const std::string& journal, const std::vector<uint64_t>& queue, const LabelMap& truth,
              const std::vector<std::string>& classes, const SimulateOptions& o, uint64_t round);

}  // namespace trawl::stages::sim
