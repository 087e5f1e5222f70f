// Encoders turn a block of texts (and their token ids) into L2-normalised vectors.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace trawl::embed {

class Encoder {
 public:
  virtual ~Encoder() = default;
  virtual std::string name() const = 0;    // "hash", "lsa", "lsa+hash", "torchscript"
  virtual std::string params() const = 0;  // canonical "k=v;k=v" identity, stored in shards
  virtual int dim() const = 0;
  /// Encodes n = texts.size() rows into out[n * dim()] (row-major, L2-normalised; an
  /// all-zero feature vector stays zero). token_offsets has n+1 entries into token_ids.
  /// Deterministic; may use OpenMP threads internally.
  virtual void encode(const std::vector<std::string>& texts,
                      const std::vector<uint64_t>& token_offsets,
                      const std::vector<uint32_t>& token_ids, float* out) = 0;
};

/// An encoder of token ids (hash, lsa): encode() uses the given token ids, or tokenises the
/// texts itself (text::texts_to_ids) when token_offsets is empty (queries, tests).
class TokenIdEncoder : public Encoder {
 public:
  void encode(const std::vector<std::string>& texts, const std::vector<uint64_t>& token_offsets,
              const std::vector<uint32_t>& token_ids, float* out) final;

 protected:
  /// Rows [0, n): row i's ids are ids[offs[i], offs[i + 1]).
  virtual void encode_ids(size_t n, const std::vector<uint64_t>& offs, const std::vector<uint32_t>& ids,
                          float* out) const = 0;
};

struct HashEncoderOptions {
  int dim = 256;
  uint64_t seed = 0x7472617731ULL;  // the projection's seed (part of the encoder identity)
  std::string idf_path;             // a trawl-vocab file; empty: unweighted
  double bigram_weight = 0.5;       // relative weight of bigram features
};
/// The hash encoder (name "hash"), no fit and no weights. For each row, over its distinct
/// token ids f (unigrams; bigrams have bit 31 set) with tf(f) occurrences in the row:
///   w_f = tf(f) · (bigram ? bigram_weight : 1) · idf(f)     (idf = 1 without a vocab;
///   idf(f) = ln((1 + n_docs) / (1 + df(f))) + 1, df = 0 for ids not in the vocab)
///   v = Σ_f w_f r_f, then v / ‖v‖ (a row without ids stays all-zero).
/// r_f ∈ {-1,+1}^dim: with k = trawl::key(seed, f), component j = 64·b + i takes bit i (least
/// significant first) of mix64(k + b) — the SplitMix64 stream started at state k — and is -1
/// where the bit is 1, +1 where it is 0. r_f for a smaller dim is a prefix of r_f for a larger.
/// params(): "dim=<d>;seed=<decimal>;bigram_weight=<shortest round-trip>;idf=<Vocab::checksum()
/// or none>". encode() ignores texts unless token_offsets is empty, in which case it
/// tokenises the texts itself (text::text_to_ids). Throws UsageError for dim < 1 or a negative
/// or non-finite bigram_weight, and read_vocab's errors for idf_path.
std::unique_ptr<Encoder> make_hash_encoder(const HashEncoderOptions& o);

struct TorchScriptEncoderOptions {
  std::string model_path;  // TorchScript module: forward(input_ids[B,L] i64, attention_mask[B,L] i64)
                           // -> [B,L,H] token states (mean-pooled over the mask) or [B,H] pooled
  std::string vocab_path;  // WordPiece vocab.txt, one token per line, id = line number
  int max_length = 128;
  int batch_size = 64;
  bool lowercase = true;
  int threads = 1;  // LibTorch intra-op threads (from --threads)
};
/// The encoder itself (src/embed_torch, LibTorch): for binaries and tests that link LibTorch.
std::unique_ptr<Encoder> make_torchscript_encoder(const TorchScriptEncoderOptions& o);
/// The same encoder from trawl's LibTorch plugin (core/plugin.h), loaded now: what trawl-embed
/// uses, so it loads LibTorch only for --encoder torchscript. UsageError when the plugin cannot
/// be loaded (or trawl was built without LibTorch).
std::unique_ptr<Encoder> load_torchscript_encoder(const TorchScriptEncoderOptions& o);

}  // namespace trawl::embed
