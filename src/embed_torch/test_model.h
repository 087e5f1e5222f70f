// A tiny TorchScript sentence encoder and WordPiece vocabulary, built in C++ with
// deterministic weights, for tests and demos (tools/trawl-make-test-encoder). No LibTorch
// types in this header.
//
// The model (parameters embedding [V,H], weight [H,H], context [H,H], bias [H]):
//   e   = embedding[input_ids]                                   [B,L,H]
//   m   = attention_mask as float                                [B,L]
//   ctx = sum_l e[:,l] m[:,l] / max(1, sum_l m[:,l])             [B,H]  (masked mean)
//   h   = tanh(e @ weight + (ctx @ context)[:,None,:] + bias)    [B,L,H]
// so a token's state depends on the other (unmasked) tokens of its text, like attention, and
// a wrong mask changes the output. What forward returns depends on TestModelOutput.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace trawl::embed {

enum class TestModelOutput {
  kTokens,  // h [B,L,H]
  kPooled,  // masked mean of h over the sequence [B,H]
  kTuple,   // (h, h[:,0]) — like a Hugging Face (last_hidden_state, pooler_output) export
  kDict,    // {"token_embeddings": h, "sentence_embedding": h[:,0]} — like sentence-transformers
};
/// "tokens", "pooled", "tuple", "dict"; parse throws UsageError on anything else.
TestModelOutput parse_test_model_output(const std::string& s);
std::string to_string(TestModelOutput o);

struct TestModelOptions {
  int dim = 32;
  uint64_t seed = 1;
  TestModelOutput output = TestModelOutput::kTokens;
  /// forward(features: Dict[str, Tensor]) reading "input_ids" and "attention_mask", like a
  /// traced sentence-transformers model, instead of forward(input_ids, attention_mask).
  bool dict_input = false;
  /// > 0: forward raises for inputs longer than this, like a model with that many position
  /// embeddings.
  int max_positions = 0;
};

/// The test vocabulary in id order: [PAD]=0 [UNK]=1 [CLS]=2 [SEP]=3 [MASK]=4, ASCII
/// punctuation and digits, the letters a-z and ##a-##z (so every lowercase ASCII word has a
/// split), then a few hundred common English words and suffix pieces.
std::vector<std::string> test_vocab_tokens();

/// Writes vocab.txt (test_vocab_tokens, one per line). Atomic; throws IoError.
void write_test_vocab(const std::string& path);

/// Builds the model for a vocabulary of vocab_size tokens and saves it with Module::save.
/// Atomic; throws IoError when it cannot be written.
void write_test_model(const std::string& path, int64_t vocab_size, const TestModelOptions& o);

struct TestEncoderFiles {
  std::string model_path, vocab_path;
};
/// write_test_vocab(dir/vocab.txt) + write_test_model(dir/model.pt); creates dir.
TestEncoderFiles write_test_encoder(const std::string& dir, const TestModelOptions& o = {});

/// The parameters of a saved test model, read back from the file (row-major float32).
struct TestModelParams {
  int64_t vocab_size = 0, dim = 0;
  std::vector<float> embedding;  // [vocab_size, dim]
  std::vector<float> weight;     // [dim, dim], used as e @ weight
  std::vector<float> context;    // [dim, dim], used as ctx @ context
  std::vector<float> bias;       // [dim]
};
TestModelParams read_test_model_params(const std::string& model_path);

}  // namespace trawl::embed
