// The pool's class prior under the shift active learning causes, estimated from the pool's own
// scores (collective over the ranks), and the decision rule it gives.
//
// An active learner's labelled set has another class balance than the pool, and class-weighted
// training makes every present class equally likely a priori (training prior π_t uniform over
// the classes with examples). The pool prior π is estimated by EM (Saerens, Latinne &
// Decaestecker 2002; score/metrics.h) on probabilities first calibrated by bias-corrected
// temperature scaling fitted to the labelled set's out-of-fold probabilities (trawl-train
// --oof-folds; without calibration a regularised model is under-confident and EM drives a rare
// class's prior towards 0). Each item then goes to argmax_c (π_c / π_t,c) · q(c|x).
//
// Rank independence: every rank reads its shards' scores (shard s on rank s % size); each EM
// step sums per shard in row order, and the per-shard sums are combined in shard order.
#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "mpi/comm.h"
#include "pool/pool.h"
#include "score/metrics.h"

namespace trawl::score {

/// Uniform over the classes with a labelled example (class-weighted training's prior).
std::vector<double> weighted_training_prior(const std::vector<std::string>& classes,
                                            const std::map<uint64_t, std::string>& labelled);

/// Fits the calibration to an out-of-fold scores file (trawl-train --oof-folds) of the labelled
/// items, with the balanced class weights training used. classes: the file's, returned.
Calibration calibrate_from_oof(const std::string& oof, const std::map<uint64_t, std::string>& labelled,
                               std::vector<std::string>* classes);

struct PoolPrior {
  std::vector<std::string> classes;
  std::vector<double> train_prior, prior, weights;  // weights: the decision's π_c / π_t,c
  Calibration calibration;
  bool calibrated = false;
  uint64_t items = 0;  // unlabelled items the estimate is over
  int iterations = 0;
  bool converged = false;
};

/// Collective: EM over the scores files <scores_dir>/shard-*.scores.h5 of the pool's shards,
/// the uids in `skip` (sorted: the labelled items) left out. cal: applied first (may be null).
PoolPrior estimate_pool_prior(const mpi::Comm& comm, const pool::Pool& p, const std::string& scores_dir,
                              const std::vector<uint64_t>& skip, const std::vector<double>& train_prior,
                              const Calibration* cal, double tol = 1e-8, int max_iter = 1000);

/// <output>/prior.tsv: comment lines (calibration, EM iterations) and per class
/// class, train_prior, pool_prior, weight — written atomically.
void write_prior_tsv(const std::string& path, const PoolPrior& pp);

}  // namespace trawl::score
