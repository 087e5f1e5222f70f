// A trained classifier as the scoring stage sees it: load a model file and predict class
// probabilities (and optionally penultimate features) — no training code needed.
// Written by trawl-train (src/train/train.h); format in docs/FORMATS.md ("model", v1).
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace trawl::train {

constexpr const char* kModelFormat = "model";
// v2 (this build writes it): adds the `buckets` attribute and the logreg inputs "tokens" and
// "tokens+embedding" (with an `idf` parameter). v1 files (logreg/mlp over embeddings, embbag)
// read unchanged.
constexpr int kModelFormatVersion = 2;

struct ModelHeader {
  std::string kind;                  // "logreg" | "mlp" | "embbag"
  std::string input;                 // "embedding" (stored shard vectors) | "tokens" (shard token ids) |
                                     // "tokens+embedding" (logreg: both, concatenated)
  int buckets = 0;                   // logreg over tokens: token ids folded into this many tf-idf columns
  std::vector<std::string> classes;  // class names, index = output column
  int input_dim = 0;                 // embedding dim, or the number of hashed token buckets; logreg over
                                     // tokens: buckets (+ embedding dim for tokens+embedding)
  int hidden = 0;                    // mlp/embbag hidden (feature) width; logreg: 0
  std::string encoder, encoder_params;  // the shards' encoder identity the model was trained on
  std::string config;                // resolved training configuration
  std::string training_summary;      // e.g. "examples=100 steps=100 final_loss=0.12 seconds=0.4"
  std::string trawl_version;
  int format_version = 0;
  // Added by trawl-train (stored as attributes too):
  uint64_t seed = 0, round = 0;      // the training seed and round
  std::string fingerprint;           // everything the weights depend on (options, labels and subpool
                                     // checksums, encoder): an existing output with the same
                                     // fingerprint is up to date and trawl-train skips it
};

class Model {
 public:
  virtual ~Model() = default;
  /// Loads and validates a model file: format name and version (InputError naming the file
  /// for foreign, newer or corrupt files). threads: intra-op threads for inference.
  static std::unique_ptr<Model> load(const std::string& path, int threads = 1);
  virtual const ModelHeader& header() const = 0;
  int num_classes() const { return int(header().classes.size()); }
  /// Width of the penultimate features (the input itself for logreg over embeddings; 0 for
  /// logreg over tokens: it has no dense features).
  virtual int feature_dim() const = 0;
  /// input == "embedding": X is n × input_dim row-major. probs: n × C (softmax). features, if
  /// not null: n × feature_dim(). Deterministic; thread-count independent up to float rounding.
  virtual void predict(const float* X, size_t n, float* probs, float* features = nullptr) const = 0;
  /// input == "tokens": CSR rows (offsets has n+1 entries relative to ids).
  virtual void predict_tokens(const uint64_t* offsets, const uint32_t* ids, size_t n, float* probs,
                              float* features = nullptr) const = 0;
  /// input == "tokens+embedding": both (X n × (input_dim − buckets)).
  virtual void predict_mixed(const uint64_t* offsets, const uint32_t* ids, const float* X, size_t n,
                             float* probs) const;
  bool reads_tokens() const { return header().input != "embedding"; }
  bool reads_embedding() const { return header().input != "tokens"; }
  /// The embedding dim the model reads (0 when it reads none).
  int embedding_dim() const;
};

/// Throws InputError naming `what` when the model was trained on another encoder or dim than
/// the data it is about to score.
void check_compatible(const ModelHeader& m, const std::string& encoder, const std::string& encoder_params, int dim,
                      const std::string& what);

// ---- Additions: the model file itself (writers, tools, tests) ----------------------------------

/// One parameter tensor as stored: `name` is its path in the torch module ("output.weight"),
/// `shape` its dims, `values` row-major f32.
struct Param {
  std::string name;
  std::vector<uint64_t> shape;
  std::vector<float> values;
};

/// The parameters a model with header h must hold, in file order, with shapes and empty values
/// (C = classes, d = input_dim, H = hidden, B = input_dim for embbag):
///   logreg: linear.weight [C, d], linear.bias [C]; over tokens: idf [B], linear.weight [C, F],
///           linear.bias [C] (B = buckets, F = input_dim = B or B + embedding dim)
///   mlp:    hidden.weight [H, d], hidden.bias [H], output.weight [C, H], output.bias [C]
///   embbag: bag.weight [B, H], output.weight [C, H], output.bias [C]
/// InputError (naming `what`) for an unknown kind, a kind/input mismatch or non-positive sizes.
std::vector<Param> param_layout(const ModelHeader& h, const std::string& what = "model");

/// Writes a model file atomically (temporary name, renamed when complete). params must match
/// param_layout(h) (UsageError otherwise). The same header and params give the same bytes.
void write_model(const std::string& path, const ModelHeader& h, const std::vector<Param>& params);

/// Reads and validates the header only (no weights): cheap, for compatibility checks and tools.
ModelHeader read_model_header(const std::string& path);

/// Reads the header and every parameter, validating names, types, shapes and finiteness.
std::vector<Param> read_model_params(const std::string& path, ModelHeader* header);

/// An in-memory model over given parameters (what Model::load builds after reading the file).
std::unique_ptr<Model> make_model(const ModelHeader& h, std::vector<Param> params, int threads = 1);

/// True when path opens as a valid model file of a version this build reads (never throws).
bool model_is_complete(const std::string& path);

}  // namespace trawl::train
