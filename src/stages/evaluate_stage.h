// trawl-evaluate: the twitter-labor evaluation of one class (reference/twitter-labor.md §8)
// from the labelled rank-bucket sample (cutoffs-<class>.tsv of trawl-score, labelled through
// trawl-label) and the whole pool's scores files.
//
//  * Calibration (§8.2): B bootstrap fits of an unpenalised logistic regression label ~ score.
//    Fit b draws, with trawl::Rng keyed by (seed, b), a subsample of the labelled negatives as
//    large as the positives (without replacement; all negatives when there are fewer), then
//    resamples positives and that subsample with replacement, and fits (a_b, c_b) by Newton's
//    method. calibrated(s) = mean_b sigmoid(a_b s + c_b). B = 0 is one fit on all labelled rows
//    as they are (no resampling), for checks against an independent fit.
//  * Precision (§8.3): precision_top20 = the share of positives among the first 20 labelled
//    rows by rank; precision at top T = the share among labelled rows with rank < T, for T =
//    the rank where calibrated(score) first drops below 0.95 (T95) and for given T.
//  * Expansion numerator (§8.4): E = the number of pool items whose raw score exceeds the
//    root of calibrated(s) = 0.5, and its standard error = the standard deviation over b of
//    the count above −c_b / a_b. The counts are histograms over the sorted roots, summed across
//    ranks: the pool's scores are streamed once, never gathered.
#pragma once
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "mpi/comm.h"

namespace trawl::stages {

struct EvaluateOptions {
  std::string cutoffs;   // cutoffs-<class>.tsv (bucket rank uid id score [text]) or top-<class>.tsv
  std::string labels;    // TSV uid, label: labels of (some of) those rows
  std::string cls;       // the class whose score column is evaluated
  std::string positive;  // the label value that counts as positive (default: cls)
  std::string scores;    // directory of shard-*.scores.h5 (the pool), for the expansion numerator
  std::string output;    // directory: evaluate-<class>.tsv, calibration-<class>.tsv, calibration-<class>.svg
  uint64_t bootstrap = 10000, seed = 42;
  std::vector<uint64_t> top;  // extra T for precision at top T
  std::string config;
};

struct EvaluateSummary {
  uint64_t labelled = 0, positives = 0;
  double precision_top20 = 0, t95 = 0, precision_t95 = 0;
  std::vector<std::pair<uint64_t, double>> precision_top;  // (T, precision), for o.top
  double root = 0;            // calibrated(s) = 0.5
  uint64_t expansion = 0;     // E
  double expansion_se = 0;
  uint64_t pool_items = 0;
  std::string summary_path;
};

/// Collective. Reads the inputs (InputError naming file and line), evaluates and writes the
/// outputs atomically from rank 0.
EvaluateSummary run_evaluate(const mpi::Comm& comm, const EvaluateOptions& o);

}  // namespace trawl::stages
