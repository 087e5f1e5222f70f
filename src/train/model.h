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
constexpr int kModelFormatVersion = 1;

struct ModelHeader {
  std::string kind;                  // "logreg" | "mlp" | "embbag"
  std::string input;                 // "embedding" (stored shard vectors) | "tokens" (shard token ids)
  std::vector<std::string> classes;  // class names, index = output column
  int input_dim = 0;                 // embedding dim, or the number of hashed token buckets
  int hidden = 0;                    // mlp/embbag hidden (feature) width; logreg: 0
  std::string encoder, encoder_params;  // the shards' encoder identity the model was trained on
  std::string config;                // resolved training configuration
  std::string training_summary;      // e.g. "examples=100 steps=100 final_loss=0.12 seconds=0.4"
  std::string trawl_version;
  int format_version = 0;
};

class Model {
 public:
  virtual ~Model() = default;
  /// Loads and validates a model file: format name and version (InputError naming the file
  /// for foreign, newer or corrupt files). threads: intra-op threads for inference.
  static std::unique_ptr<Model> load(const std::string& path, int threads = 1);
  virtual const ModelHeader& header() const = 0;
  int num_classes() const { return int(header().classes.size()); }
  /// Width of the penultimate features (the input itself for logreg).
  virtual int feature_dim() const = 0;
  /// input == "embedding": X is n × input_dim row-major. probs: n × C (softmax). features, if
  /// not null: n × feature_dim(). Deterministic; thread-count independent up to float rounding.
  virtual void predict(const float* X, size_t n, float* probs, float* features = nullptr) const = 0;
  /// input == "tokens": CSR rows (offsets has n+1 entries relative to ids).
  virtual void predict_tokens(const uint64_t* offsets, const uint32_t* ids, size_t n, float* probs,
                              float* features = nullptr) const = 0;
};

/// Throws InputError naming `what` when the model was trained on another encoder or dim than
/// the data it is about to score.
void check_compatible(const ModelHeader& m, const std::string& encoder, const std::string& encoder_params, int dim,
                      const std::string& what);

}  // namespace trawl::train
