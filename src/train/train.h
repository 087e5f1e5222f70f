// Training the classifiers of src/train/model.h with LibTorch (only train.cpp includes torch;
// this header is torch-free).
//
//  * Models: logreg (linear over stored embeddings), mlp (one ReLU hidden layer; features = the
//    hidden activations), embbag (EmbeddingBag(mean) over the shard's hashed token ids folded
//    into `buckets` buckets (id % buckets), width `hidden`, then a linear head; features = the
//    bag output).
//  * Loss: class-weighted cross-entropy, weight_c = n / (C · n_c) over the C classes that have
//    examples (sklearn's "balanced"); the loss of a batch is torch's weighted mean
//    Σ w_{y_i} l_i / Σ w_{y_i}. A class without examples is an InputError unless
//    allow_missing_classes, in which case its weight is 0 (it is only ever a negative).
//  * AdamW (torch defaults betas 0.9/0.999, eps 1e-8; lr and weight decay from the options),
//    batch 32, steps = max(⌈n / batch⌉ · epochs, min_steps) (reference/anchoral.md §5.5), no
//    scheduler, no clipping, trained from scratch on every call. The last model is kept (no
//    checkpoint selection by training minority-F1).
//  * embbag's bag holds buckets × hidden floats (2^18 × 256 = 256 MiB) of which a round's labelled
//    set touches a few thousand rows. Dense AdamW would update (and allocate gradients for) every
//    row at every step. Instead the bag gets sparse gradients and a row-lazy AdamW with the same
//    mathematics: a row never touched has zero moments, so its Adam step is exactly 0 and only
//    the decoupled weight decay (1 − lr·wd) applies, which is applied in one power when the row
//    is first touched (or at the end); touched rows then get the full update at every step,
//    zero-gradient steps included. Equal to torch's dense AdamW up to float rounding (tested).
//  * Deterministic: torch's generator is seeded with key(seed, round) before the weights are
//    initialised; each epoch's order is a Fisher–Yates shuffle drawn from trawl::Rng keyed by
//    (seed, round, epoch). The same data, options and thread count give bit-identical weights;
//    other thread counts agree up to float rounding (BLAS blocking), see docs/FORMATS.md.
#pragma once
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "train/model.h"

namespace trawl::train {

struct TrainOptions {
  std::string model = "logreg";  // logreg | mlp | embbag | torchscript (byo/classifier.h)
  // torchscript: fine-tune the module of a trawl-import-model file (lr default there: 5e-5)
  std::string init;              // the torchscript model file to start from
  bool freeze_encoder = false;   // train only parameters whose name starts with head_prefix
  std::string head_prefix = "classifier";
  double warmup = 0.1;           // fraction of steps of linear warm-up (then linear decay to 0)
  // logreg: a convex L2 logistic regression solved to convergence (train/linear.h), no learning rate
  std::string features = "tokens";  // tokens (sparse tf-idf of the hashed token ids) | embedding | tokens+embedding
  double C = 1.0;                // inverse L2 strength (scikit-learn's C)
  double tol = 1e-6;             // solver tolerance (train/linear.h)
  int feature_buckets = 1 << 18; // token ids folded into this many columns (id % buckets)
  std::string vocab;             // trawl-vocab file: idf weights of the buckets (empty: idf 1)
  int hidden = 256;              // mlp/embbag hidden (feature) width
  int buckets = 1 << 18;         // embbag: token ids are folded into this many buckets
  int epochs = 10;
  int min_steps = 100;
  int batch_size = 32;
  double lr = 1e-3;
  double weight_decay = 0.01;
  uint64_t seed = 42, round = 0;
  bool allow_missing_classes = false;
  int threads = 1;               // LibTorch intra-op threads (at::set_num_threads)
  bool class_weighting = true;   // false: plain cross-entropy (experiments and tests; not a CLI option)
  bool lazy_bag = true;          // embbag: row-lazy AdamW on the bag (see below); false: torch's dense
                                 // AdamW over all buckets (the reference the tests compare with)
  bool progress = true;          // progress line on stderr
};

/// Throws UsageError naming the option (--hidden, --lr, ...) when a value is out of range.
void validate(const TrainOptions& o);

/// The input kind a model reads: "embedding", "tokens" or (logreg) "tokens+embedding"
/// (UsageError for an unknown model or --features).
std::string input_of(const TrainOptions& o);

/// A labelled training set, in a fixed order (the stage sorts by uid).
struct TrainData {
  std::vector<std::string> classes;  // output columns
  std::vector<int> y;                // class index per example
  std::vector<uint64_t> uid;         // per example (for messages)
  // input "embedding": n × dim row-major
  int dim = 0;
  std::vector<float> x;
  // input "tokens": CSR rows
  std::vector<uint64_t> token_offsets{0};
  std::vector<uint32_t> token_ids;
  // input "text" (torchscript)
  std::vector<std::string> text;
  // logreg over tokens: idf per bucket (feature_buckets entries; empty: all 1)
  std::vector<float> idf;
  /// Where example i came from, for error messages (default "uid <u>").
  std::function<std::string(size_t)> where;
  size_t size() const { return y.size(); }
};

/// Optimisation steps for n examples: max(⌈n / batch⌉ · epochs, min_steps).
uint64_t training_steps(uint64_t n, int batch_size, int epochs, int min_steps);

/// Examples per class (size = classes.size()).
std::vector<uint64_t> class_counts(const TrainData& d);

/// n / (C · n_c) for the C classes with examples; 0 for an absent class when allowed, else
/// InputError "class 'x' has no training examples" (`what` names the labels).
std::vector<double> class_weights(const std::vector<uint64_t>& counts, const std::vector<std::string>& classes,
                                  bool allow_missing, const std::string& what);

/// Checks shapes and values of the data for model input `input`: InputError naming the example
/// (d.where) for a NaN or infinite embedding value, an empty set, mismatched sizes.
void check_data(const TrainData& d, const std::string& input, const std::string& what);

struct TrainResult {
  std::vector<Param> params;       // in param_layout order
  std::vector<uint64_t> counts;    // examples per class
  std::vector<double> weights;     // class weights used by the loss
  uint64_t steps = 0;
  double final_loss = 0;           // class-weighted loss of the final model over the training set
  double last_batch_loss = 0;
  double train_accuracy = 0;
  int minority = -1;               // the present class with the fewest examples (ties: lowest index)
  double minority_f1 = 0;          // its F1 on the training set
  double seconds = 0;
  /// "examples=120 (neg=100 pos=20) steps=100 final_loss=0.1234 train_accuracy=0.95 minority_f1[pos]=0.8"
  /// (no wall time: the model file must not depend on it).
  std::string summary(const std::vector<std::string>& classes) const;
};

/// Trains a fresh model on d (validated first: check_data, class_weights, validate). logreg
/// here; mlp and embbag with LibTorch: the trainer registered by register_torch_training() in
/// binaries that link LibTorch (train/train.cpp), else trawl's LibTorch plugin (core/plugin.h;
/// UsageError when it cannot be loaded).
TrainResult train_model(const TrainData& d, const TrainOptions& o, const std::string& what = "training data");

/// The LibTorch trainer of mlp and embbag (train/train.cpp, or the plugin's).
using TorchTrainer = TrainResult (*)(const TrainData& d, const TrainOptions& o, const std::string& what);
void set_torch_trainer(TorchTrainer t);
/// Installs train/train.cpp's trainer (defined only where LibTorch is linked).
void register_torch_training();

/// logreg: the convex class-weighted L2 logistic regression of train/linear.h over the rows'
/// features (tokens: sublinear tf-idf of the ids folded into feature_buckets columns, L2
/// normalised; embedding: the stored vector; tokens+embedding: both, concatenated), solved to
/// o.tol. torch-free (train/logreg_train.cpp); deterministic and thread-count independent.
TrainResult train_logreg(const TrainData& d, const TrainOptions& o, const std::string& what);

/// The header of a model trained with o on d (kind, input, classes, dims); encoder identity,
/// config and summary are filled by the caller.
ModelHeader make_header(const TrainData& d, const TrainOptions& o);

}  // namespace trawl::train
