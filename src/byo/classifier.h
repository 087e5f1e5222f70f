// Bring your own model: a user's TorchScript text classifier wrapped in a trawl model file
// (kind "torchscript", input "text"; format in docs/FORMATS.md "Model file"), scored over the
// shards' text and fine-tuned on the labelled set. No LibTorch types in this header.
//
// Module contract: forward(input_ids: int64 [B, L], attention_mask: int64 [B, L]) -> logits
// float [B, C] (exactly these two required arguments; further arguments must have defaults),
// C = the number of classes given at import. Texts are WordPiece-tokenised as BERT does
// (embed_torch/wordpiece.h: [CLS] pieces [SEP], at most max_length ids, [PAD] = 0 padding,
// mask 1 on real ids). Probabilities = softmax of the logits, computed by torch in float.
//
// Inference sorts the texts of one predict_texts call by id length (stable) and runs batches of
// kBatch texts padded to the longest of the batch, so a text's probabilities depend only on the
// call's texts and the thread count — the scoring stage calls it per block of a shard, so the
// result does not depend on the number of ranks.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "train/model.h"

namespace trawl::byo {

constexpr int kBatch = 32;  // texts per forward call when scoring

struct ImportOptions {
  std::string module_path;           // torch.jit.save archive
  std::string vocab_path;            // vocab.txt: one WordPiece token per line
  std::vector<std::string> classes;  // output columns, in logit order
  int max_length = 128;
  bool lowercase = true;
  std::string output;                // the model file to write
  std::string config;
};

/// Loads and checks the module against the vocabulary and classes (see check_module), then
/// writes the model file atomically. Nothing is written when a check fails.
train::ModelHeader import_torchscript(const ImportOptions& o);

/// Checks a TorchScript archive (bytes) for use as a classifier: it loads, forward takes
/// (input_ids, attention_mask), a probe with the vocabulary's last id and a full-length
/// probe run, and the output is float [B, C] with C = classes. InputError naming `what`
/// (the module file) and the offending value otherwise.
void check_module(const std::string& bytes, const std::vector<std::string>& vocab, bool lowercase, int max_length,
                  size_t num_classes, const std::string& what);

/// The loader Model::load uses for kind "torchscript"; register_torchscript_models() installs it.
std::unique_ptr<train::Model> load_torchscript_model(const std::string& path, int threads);
void register_torchscript_models();

// ---- fine-tuning -------------------------------------------------------------------------------

struct FineTuneOptions {
  int epochs = 3;
  int min_steps = 0;
  int batch_size = 16;
  double lr = 5e-5;
  double weight_decay = 0.01;
  double warmup = 0.1;             // fraction of the steps with a linear warm-up from 0 to lr
  bool freeze_encoder = false;     // train only the parameters under head_prefix
  std::string head_prefix = "classifier";
  bool class_weighting = true;
  bool allow_missing_classes = false;
  uint64_t seed = 42, round = 0;
  int threads = 1;
  bool progress = true;
};

struct FineTuneResult {
  std::string module;               // the fine-tuned archive (torch.jit.save bytes)
  std::vector<uint64_t> counts;     // examples per class
  std::vector<double> weights;      // loss weights per class
  uint64_t steps = 0;
  uint64_t trained_tensors = 0, trained_values = 0;
  double last_loss = 0, final_loss = 0, train_accuracy = 0;
  int minority = -1;                // the present class with the fewest examples (ties: lowest index)
  double minority_f1 = 0;           // its F1 on the training set
  double seconds = 0;
  std::string summary(const std::vector<std::string>& classes) const;
};

/// Fine-tunes the module of the torchscript model file `init` on (texts, y) with
/// class-weighted cross-entropy (weight_c = n / (C n_c)), AdamW (torch defaults betas, eps;
/// lr, weight decay from o) under a linear warm-up over ⌈warmup · steps⌉ steps then a linear
/// decay to 0, steps = max(⌈n / batch⌉ · epochs, min_steps). Deterministic: torch's generator
/// (dropout) is seeded from key(seed, round) and each epoch's order is a Fisher–Yates shuffle
/// from trawl::Rng keyed by (seed, round, epoch); the same inputs and thread count give the
/// same parameters. `what` names the labels in errors.
FineTuneResult finetune(const std::string& init, const std::vector<std::string>& texts, const std::vector<int>& y,
                        const std::vector<std::string>& classes, const FineTuneOptions& o, const std::string& what);

/// Probabilities (n × C) of an in-memory module (fine-tuned bytes) with the init file's
/// tokenizer settings: for out-of-fold scores.
std::vector<float> predict_with(const std::string& module_bytes, const train::ModelHeader& h,
                                const std::vector<std::string>& vocab, const std::vector<std::string>& texts,
                                int threads);

/// finetune and predict_with run LibTorch code (byo/classifier.cpp): the implementations
/// registered by register_torchscript_models() in binaries that link LibTorch, else those of
/// trawl's LibTorch plugin (core/plugin.h; UsageError when it cannot be loaded). The functions
/// above are torch-free front ends (byo/api.cpp).
using FineTuneFn = FineTuneResult (*)(const std::string& init, const std::vector<std::string>& texts,
                                      const std::vector<int>& y, const std::vector<std::string>& classes,
                                      const FineTuneOptions& o, const std::string& what);
using PredictWithFn = std::vector<float> (*)(const std::string& module_bytes, const train::ModelHeader& h,
                                             const std::vector<std::string>& vocab,
                                             const std::vector<std::string>& texts, int threads);
void set_torch_finetune(FineTuneFn finetune, PredictWithFn predict_with);

}  // namespace trawl::byo
