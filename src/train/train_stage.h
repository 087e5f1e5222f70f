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
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "mpi/comm.h"
#include "train/train.h"

namespace trawl::train {

struct TrainStageOptions {
  std::string pool;                  // directory of shard-*.h5
  std::string labels;                // TSV with columns uid, label
  std::string output;                // the model file
  std::string subpool;               // optional subpool.h5 (trawl-retrieve) as a source of embeddings
  std::vector<std::string> classes;  // fixes the class list (default: the labels' classes)
  TrainOptions train;
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

/// The fingerprint stored in the model (exposed for tests): "key=value" lines.
std::string train_fingerprint(const TrainStageOptions& o, const std::string& labels_checksum,
                              const std::string& subpool_checksum, const std::string& encoder,
                              const std::string& encoder_params, int dim);

}  // namespace trawl::train
