// trawl-train: one round's classifier from the labelled set.
//
// Data: the labels TSV (uid, label) joined with the pool's shards — embeddings for logreg/mlp,
// token ids for embbag — gathered by uid with pool::fetch_rows (collective: the ranks split the
// shards that hold labelled items). With --subpool, labelled items found in the round's
// subpool.h5 take their embedding from there (its encoder must be the pool's) and only the rest
// are read from the shards.
//
// Ranks: every rank takes part in gathering; rank 0 alone trains and writes the model (the
// labelled set is small; training it on every rank would only burn allocation). Errors found on
// rank 0 (bad data, training failure) are sent to every rank and thrown there too, so a job
// never hangs and the exit code is the same everywhere. The model file is therefore identical at
// any rank count.
//
// Reruns: the model records a fingerprint of everything its weights depend on (options that
// affect training, the labels' and subpool's checksums, the pool's encoder). An existing output
// with the same fingerprint is valid and skipped; otherwise it is replaced atomically.
//
// Out-of-fold probabilities (--oof-folds K, 2 <= K <= n; 0 = off): besides the model, rank 0
// writes <output>.oof.scores.h5, a scores file (trawl-score's layout: trawl-format "scores" v1,
// attributes classes, model, model-checksum, model-kind, model-input, source-kind = "oof",
// shard = the labels file's name, shard-identity = its checksum, shard-rows = rows = n,
// encoder, encoder-params, dim, feature-dim = 0, config, plus oof-folds and fingerprint;
// datasets uid u64[n] sorted, probs f32[n, C]) holding for every labelled item the
// probabilities of a model trained with the same options on the other K − 1 folds. Folds are
// stratified and keyed: within each class (in class order) the items are ordered by
// key(seed, round, uid) and dealt round-robin to the folds, one running counter over the
// classes, so folds depend on the labelled set only — not on ranks or file order. A class absent
// from a fold's training part (a class with fewer examples than folds) gets loss weight 0 there
// (allow_missing_classes for the fold models only). The model is skipped as up to date only when
// the out-of-fold file is up to date too (same fingerprint and K).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "mpi/comm.h"
#include "train/train.h"

namespace trawl::stages {

struct TrainStageOptions {
  std::string pool;                  // directory of shard-*.h5
  std::string labels;                // TSV with columns uid, label
  std::string output;                // the model file
  std::string subpool;               // optional subpool.h5 (trawl-retrieve) as a source of embeddings
  std::vector<std::string> classes;  // fixes the class list (default: the labels' classes)
  train::TrainOptions train;
  int oof_folds = 0;                 // K > 0: also <output>.oof.scores.h5 (see above)
  std::string config;                // resolved configuration stored in the model
};

struct TrainStageSummary {
  bool skipped = false;              // the output was up to date
  std::string output;
  std::vector<std::string> classes;
  std::vector<uint64_t> per_class;   // examples per class
  uint64_t examples = 0, from_subpool = 0;
  uint64_t steps = 0;
  double final_loss = 0, train_accuracy = 0, minority_f1 = 0, seconds = 0;
  std::string summary;               // the model's training-summary line
};

/// Collective over comm. Returns the same summary on every rank.
TrainStageSummary run_train(const mpi::Comm& comm, const TrainStageOptions& o);

/// "<output>.oof.scores.h5".
std::string oof_scores_path(const std::string& model_output);

/// The fold (0..K−1) of each labelled item as described above (y: class per item, uid per item;
/// any order in, the same fold per uid out). UsageError unless 2 <= K <= n.
std::vector<int> oof_fold_assignment(const std::vector<uint64_t>& uid, const std::vector<int>& y, int num_classes,
                                     int K, uint64_t seed, uint64_t round);

/// The fingerprint stored in the model (exposed for tests): "key=value" lines.
std::string train_fingerprint(const TrainStageOptions& o, const std::string& labels_checksum,
                              const std::string& subpool_checksum, const std::string& encoder,
                              const std::string& encoder_params, int dim);

}  // namespace trawl::stages
