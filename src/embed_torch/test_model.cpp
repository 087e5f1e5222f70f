#include "embed_torch/test_model.h"

#include <torch/script.h>

#include <cctype>
#include <cmath>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include "core/error.h"
#include "core/fs.h"
#include "core/rng.h"

namespace trawl::embed {

TestModelOutput parse_test_model_output(const std::string& s) {
  if (s == "tokens") return TestModelOutput::kTokens;
  if (s == "pooled") return TestModelOutput::kPooled;
  if (s == "tuple") return TestModelOutput::kTuple;
  if (s == "dict") return TestModelOutput::kDict;
  throw UsageError(cat("--output-kind '", s, "': expected tokens, pooled, tuple or dict"));
}

std::string to_string(TestModelOutput o) {
  switch (o) {
    case TestModelOutput::kTokens: return "tokens";
    case TestModelOutput::kPooled: return "pooled";
    case TestModelOutput::kTuple: return "tuple";
    case TestModelOutput::kDict: return "dict";
  }
  return "?";
}

std::vector<std::string> test_vocab_tokens() {
  std::vector<std::string> v = {"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"};
  for (char c = 33; c < 127; ++c)
    if (!std::isalnum(static_cast<unsigned char>(c))) v.emplace_back(1, c);
  for (char c = '0'; c <= '9'; ++c) v.emplace_back(1, c);
  for (char c = '0'; c <= '9'; ++c) v.push_back(std::string("##") + c);
  for (char c = 'a'; c <= 'z'; ++c) v.emplace_back(1, c);
  for (char c = 'a'; c <= 'z'; ++c) v.push_back(std::string("##") + c);
  // Common words, then subword pieces. Space-separated for compactness.
  static const char* kWords =
      "the of and to a in is it you that he was for on are with as i his they be at one have this "
      "from or had by not word but what some we can out other were all there when up use your how "
      "said an each she which do their time if will way about many then them write would like so "
      "these her long make thing see him two has look more day could go come did number sound no "
      "most people my over know water than call first who may down side been now find any new work "
      "part take get place made live where after back little only round man year came show every "
      "good me give our under name very through just form sentence great think say help low line "
      "differ turn cause much mean before move right boy old too same tell does set three want air "
      "well also play small end put home read hand port large spell add even land here must big "
      "high such follow act why ask men change went light kind off need house picture try us again "
      "animal point mother world near build self earth father job jobs lost hired fired offer "
      "interview unemployed laid layoff boss salary career hiring position apply resume company "
      "today tomorrow week month happy sad love hate really thanks please money pay paid school "
      "free news city game team best life night still last never always something nothing going "
      "got getting feel feeling lol omg via rt http https www com un aff able affable run running "
      "runner quick quickly brown fox jumps lazy dog hello goodbye cafe naive resume";
  static const char* kPieces =
      "##s ##es ##ed ##ing ##er ##ers ##est ##ly ##ness ##ment ##ments ##tion ##tions ##able "
      "##ible ##al ##ial ##ful ##less ##ous ##ive ##ize ##ise ##ity ##ty ##y ##en ##ee ##ist "
      "##ism ##ship ##hood ##ward ##wise ##aff ##ab ##le ##un ##re ##in ##on ##an ##at ##or "
      "##ar ##ic ##ch ##sh ##th ##ll ##ss ##st ##nt ##nd ##ng ##ck ##ght ##ough";
  std::set<std::string> seen(v.begin(), v.end());
  for (const char* list : {kWords, kPieces}) {
    std::istringstream in(list);
    std::string w;
    while (in >> w)
      if (seen.insert(w).second) v.push_back(w);
  }
  return v;
}

void write_test_vocab(const std::string& path) {
  AtomicOutput out(path);
  {
    std::ofstream f(out.temp_path(), std::ios::binary);
    if (!f) throw IoError(cat(path, ": cannot write the vocabulary"));
    for (const auto& t : test_vocab_tokens()) f << t << '\n';
    f.flush();
    if (!f) throw IoError(cat(path, ": write error"));
  }
  out.commit();
}

namespace {

const char* kPrelude = R"(
def _states(self, input_ids, attention_mask):
    e = torch.embedding(self.embedding, input_ids)
    m = attention_mask.unsqueeze(-1).float()
    ctx = (e * m).sum(1) / m.sum(1).clamp(min=1.0)
    return torch.tanh(torch.matmul(e, self.weight) + torch.matmul(ctx, self.context).unsqueeze(1) + self.bias)
)";

std::string forward_source(const TestModelOptions& o) {
  std::string src = o.dict_input ? "\ndef forward(self, features: Dict[str, Tensor])"
                                 : "\ndef forward(self, input_ids, attention_mask)";
  src += o.output == TestModelOutput::kDict ? " -> Dict[str, Tensor]:\n" : ":\n";
  if (o.dict_input)
    src += "    input_ids = features[\"input_ids\"]\n"
           "    attention_mask = features[\"attention_mask\"]\n";
  if (o.max_positions > 0)
    src += cat("    assert input_ids.size(1) <= ", o.max_positions, ", \"input of more than ", o.max_positions,
               " positions\"\n");
  src += "    h = self._states(input_ids, attention_mask)\n";
  switch (o.output) {
    case TestModelOutput::kTokens:
      src += "    return h\n";
      break;
    case TestModelOutput::kPooled:
      src += "    m = attention_mask.unsqueeze(-1).float()\n"
             "    return (h * m).sum(1) / m.sum(1).clamp(min=1.0)\n";
      break;
    case TestModelOutput::kTuple:
      src += "    return (h, h[:, 0])\n";
      break;
    case TestModelOutput::kDict:
      src += "    return {\"token_embeddings\": h, \"sentence_embedding\": h[:, 0]}\n";
      break;
  }
  return src;
}

at::Tensor random_tensor(std::vector<int64_t> shape, uint64_t seed, uint64_t which, double scale) {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  std::vector<float> v(static_cast<size_t>(n));
  Rng rng(key(seed, 0x7465737431ULL, which));
  for (auto& x : v) x = static_cast<float>(rng.normal() * scale);
  return torch::from_blob(v.data(), shape, torch::kFloat).clone();
}

}  // namespace

void write_test_model(const std::string& path, int64_t vocab_size, const TestModelOptions& o) {
  if (o.dim < 1 || o.dim > 4096) throw UsageError(cat("--dim ", o.dim, ": expected 1..4096"));
  if (vocab_size < 1) throw UsageError(cat("test model: vocab_size ", vocab_size, " must be positive"));
  const int64_t h = o.dim;
  torch::jit::Module m("TrawlTestEncoder");
  m.register_parameter("embedding", random_tensor({vocab_size, h}, o.seed, 1, 1.0), false);
  m.register_parameter("weight", random_tensor({h, h}, o.seed, 2, 1.0 / std::sqrt(double(h))), false);
  m.register_parameter("context", random_tensor({h, h}, o.seed, 3, 0.5 / std::sqrt(double(h))), false);
  m.register_parameter("bias", random_tensor({h}, o.seed, 4, 0.1), false);
  m.define(kPrelude);
  m.define(forward_source(o));
  m.eval();
  // Saved through a stream: the archive's inner folder is then "archive" rather than the
  // (temporary) file name, so the same options give a byte-identical file and checksum.
  AtomicOutput out(path);
  {
    std::ofstream f(out.temp_path(), std::ios::binary);
    if (!f) throw IoError(cat(path, ": cannot write the TorchScript model"));
    try {
      m.save(f);
    } catch (const std::exception& e) {
      throw IoError(cat(path, ": cannot write the TorchScript model: ", e.what()));
    }
    f.flush();
    if (!f) throw IoError(cat(path, ": write error"));
  }
  out.commit();
}

TestEncoderFiles write_test_encoder(const std::string& dir, const TestModelOptions& o) {
  check_writable_dir(dir);
  TestEncoderFiles f{join_path(dir, "model.pt"), join_path(dir, "vocab.txt")};
  write_test_vocab(f.vocab_path);
  write_test_model(f.model_path, static_cast<int64_t>(test_vocab_tokens().size()), o);
  return f;
}

TestModelParams read_test_model_params(const std::string& model_path) {
  torch::jit::Module m;
  try {
    m = torch::jit::load(model_path, torch::kCPU);
  } catch (const std::exception& e) {
    throw InputError(cat(model_path, ": cannot load the test model: ", e.what()));
  }
  std::map<std::string, at::Tensor> p;
  for (const auto& np : m.named_parameters(false)) p[np.name] = np.value.detach().to(torch::kFloat).contiguous();
  for (const char* name : {"embedding", "weight", "context", "bias"})
    if (!p.count(name)) throw InputError(cat(model_path, ": not a trawl test model (no parameter '", name, "')"));
  TestModelParams r;
  r.vocab_size = p["embedding"].size(0);
  r.dim = p["embedding"].size(1);
  auto copy = [](const at::Tensor& t) {
    const float* d = t.data_ptr<float>();
    return std::vector<float>(d, d + t.numel());
  };
  r.embedding = copy(p["embedding"]);
  r.weight = copy(p["weight"]);
  r.context = copy(p["context"]);
  r.bias = copy(p["bias"]);
  return r;
}

}  // namespace trawl::embed
