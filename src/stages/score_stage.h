// trawl-score: class probabilities of every item of a pool (one scores file per shard) or of a
// round's subpool, and the distributed selection over them (per-class top N and the items at
// the evaluation rank points, score/topn.h) with their text fetched from the pool.
//
// Three ways to run, with the same files as the result:
//  * one process or an MPI job over the pool: each rank scores its share of the shards, then
//    the ranks select together and rank 0 writes top-<class>.tsv and cutoffs-<class>.tsv;
//  * an array job (--shard-id i --num-shards N): each task only writes its shards' scores
//    files; a final `trawl-score --select-only --pool DIR --output DIR` (one process or an
//    MPI job) reads them, each rank its share, and selects;
//  * --subpool FILE: one <output>/subpool.scores.h5 in the subpool's order (no selection).
// Finished scores files made by the same model (file checksum) are skipped on rerun.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "formats/scores.h"  // the scores file: formats::ScoresReader, ScoresWriter, scores_file_name
#include "mpi/comm.h"

namespace trawl::stages {

struct ScoreOptions {
  std::string model;    // model file from trawl-train (optional with select_only)
  std::string pool;     // directory of shard-*.h5
  std::string subpool;  // subpool.h5 from trawl-retrieve: subpool mode
  std::string output;   // directory for scores files and TSVs (not the pool directory)
  bool features = false;      // also store the model's penultimate features
  uint64_t top_n = 10000;     // per-class top N (0: none)
  bool cutoffs = true;        // pool mode: items at the 17 rank points
  bool text = true;           // TSVs with the text column
  bool select_only = false;   // read existing scores files and select
  uint64_t block_rows = 16384;  // rows per streamed block
  int shard_id = 0, num_shards = 0;  // array mode when num_shards > 0
  int threads = 1;
  std::string config;  // resolved configuration, stored in every output
  // Pool mode: the pool prior and decision weights under prior shift (score/prior.h) ->
  // <output>/prior.tsv. em needs --labels (the labelled set: left out of the estimate, its
  // classes give the training prior); --oof (trawl-train --oof-folds) calibrates first.
  std::string prior_correction = "none";  // none | em
  std::string labels, oof;
};

struct ScoreSummary {
  uint64_t shards_scored = 0, shards_skipped = 0;  // this process
  uint64_t rows_scored = 0, rows_read = 0;         // this process: scored now / read back from files
  uint64_t items_total = 0;                        // items over all ranks (pool and select modes)
  std::vector<std::string> outputs;                // TSVs or subpool.scores.h5 (on every rank)
};

/// Collective. Runs the stage as described at the top of this file.
ScoreSummary run_score(const mpi::Comm& comm, const ScoreOptions& o);

}  // namespace trawl::stages
