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
// v2: adds the `buckets` attribute and the logreg inputs "tokens" and "tokens+embedding" (with
// an `idf` parameter). v3 (this build writes it): adds the kind "torchscript" (input "text": a
// user's TorchScript classifier with its WordPiece vocabulary, see TorchScriptPayload). v1 and
// v2 files read unchanged; the other kinds are still written as v2, so older builds read them.
constexpr int kModelFormatVersion = 3;
constexpr int kModelFormatVersionClassic = 2;  // what write_model writes (logreg, mlp, embbag)

struct ModelHeader {
  std::string kind;                  // "logreg" | "mlp" | "embbag" | "torchscript"
  std::string input;                 // "embedding" (stored shard vectors) | "tokens" (shard token ids) |
                                     // "tokens+embedding" (logreg: both, concatenated) |
                                     // "text" (torchscript: the shard's text, WordPiece-tokenised)
  int buckets = 0;                   // logreg over tokens: token ids folded into this many tf-idf columns
  std::vector<std::string> classes;  // class names, index = output column
  int input_dim = 0;                 // embedding dim, or the number of hashed token buckets; logreg over
                                     // tokens: buckets (+ embedding dim for tokens+embedding)
  int hidden = 0;                    // mlp/embbag hidden (feature) width; logreg, torchscript: 0
                                     // (torchscript: input_dim = the vocabulary's size)
  int max_length = 0;                // torchscript: ids per text ([CLS] ... [SEP]), truncating
  bool lowercase = true;             // torchscript: WordPiece lower-cases (uncased vocabulary)
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
  /// True when predict() is a memory-bound pass over its rows that several threads may call at
  /// once on different rows (logistic regression over the embedding, loaded with threads = 1):
  /// the scoring stage then scores on its reading thread too. Results are the same either way.
  virtual bool concurrent_predict() const { return false; }
  /// input == "tokens": CSR rows (offsets has n+1 entries relative to ids).
  virtual void predict_tokens(const uint64_t* offsets, const uint32_t* ids, size_t n, float* probs,
                              float* features = nullptr) const = 0;
  /// input == "tokens+embedding": both (X n × (input_dim − buckets)).
  virtual void predict_mixed(const uint64_t* offsets, const uint32_t* ids, const float* X, size_t n,
                             float* probs) const;
  /// input == "text" (torchscript): probs n × C for n = texts.size().
  virtual void predict_texts(const std::vector<std::string>& texts, float* probs) const;
  bool reads_tokens() const { return header().input == "tokens" || header().input == "tokens+embedding"; }
  bool reads_embedding() const { return header().input == "embedding" || header().input == "tokens+embedding"; }
  bool reads_text() const { return header().input == "text"; }
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

/// A TorchScript classifier as stored in a model file of kind "torchscript" (format v3):
/// dataset `module` u8[bytes] (the torch.jit.save archive, Fletcher-32 per chunk), dataset
/// `vocab` str[V] (WordPiece vocabulary in id order), attributes `max-length`, `lowercase` and
/// `module-checksum` ("crc32:xxxxxxxx/size:N" of the module bytes) and `vocab-checksum` (of the
/// tokens, one per line), both checked on read. No
/// parameter datasets: param_layout() of such a header is empty.
struct TorchScriptPayload {
  std::string module;              // the archive's bytes
  std::vector<std::string> vocab;  // tokens in id order (size = header input_dim)
};
void write_torchscript_model(const std::string& path, const ModelHeader& h, const TorchScriptPayload& p);
/// Reads and checks the header and payload (InputError naming the file for a wrong kind, a
/// vocabulary size other than input-dim, or a module whose checksum does not match).
TorchScriptPayload read_torchscript_payload(const std::string& path, ModelHeader* header);

/// Model::load hands kind "torchscript" to this loader (set by the LibTorch part,
/// byo::register_torchscript_models, in binaries that link it); without one it loads trawl's
/// LibTorch plugin (core/plugin.h) and uses its loader, a UsageError when that cannot be loaded.
using TorchScriptLoader = std::unique_ptr<Model> (*)(const std::string& path, int threads);
void set_torchscript_loader(TorchScriptLoader loader);

/// True when path opens as a valid model file of a version this build reads (never throws).
bool model_is_complete(const std::string& path);

}  // namespace trawl::train
