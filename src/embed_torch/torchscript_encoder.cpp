// The TorchScript sentence encoder (contract in embed_torch/torchscript_encoder.h).
#include "embed_torch/torchscript_encoder.h"

#include <ATen/Parallel.h>
#include <c10/core/InferenceMode.h>
#include <torch/script.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <mutex>
#include <numeric>

#include "core/error.h"
#include "core/fs.h"
#include "core/log.h"
#include "embed/encoder.h"
#include "embed_torch/torch_messages.h"
#include "embed_torch/wordpiece.h"

namespace trawl::embed {

void set_torch_threads(int n) {
  TRAWL_ASSERT_MSG(n >= 1, "torch threads ", n);
  at::set_num_threads(n);
}
int torch_threads() { return at::get_num_threads(); }

void limit_torch_interop_threads() {
  static std::once_flag once;
  std::call_once(once, [] {
    try {
      at::set_num_interop_threads(1);
    } catch (const std::exception& e) {
      // Already set, or the inter-op pool has started: harmless, keep what is there.
      log::debug("LibTorch inter-op threads left at ", at::get_num_interop_threads());
    }
  });
}

namespace {

std::string hex32(uint32_t v) {
  char buf[9];
  std::snprintf(buf, sizeof buf, "%08x", v);
  return buf;
}


class TorchScriptEncoder final : public Encoder {
 public:
  explicit TorchScriptEncoder(const TorchScriptEncoderOptions& o);
  std::string name() const override { return "torchscript"; }
  std::string params() const override { return params_; }
  int dim() const override { return dim_; }
  void encode(const std::vector<std::string>& texts, const std::vector<uint64_t>& token_offsets,
              const std::vector<uint32_t>& token_ids, float* out) override;

 private:
  // Runs one batch: rows[i] are the ids of output row dest[i]; writes L2-normalised vectors.
  void run_batch(const std::vector<const std::vector<int64_t>*>& rows,
                 const std::vector<size_t>& dest, float* out);
  at::Tensor forward(const at::Tensor& ids, const at::Tensor& mask);
  at::Tensor pick_output(const c10::IValue& v, int depth) const;

  TorchScriptEncoderOptions o_;
  WordPiece wp_;
  torch::jit::Module module_;
  enum class Inputs { kIdsMask, kIdsMaskTypes, kDict } inputs_ = Inputs::kIdsMask;
  int dim_ = 0;
  std::string output_kind_;  // for the log: what forward returned at the probe
  std::string params_;
};

// Validates the options before anything is loaded.
const TorchScriptEncoderOptions& checked(const TorchScriptEncoderOptions& o) {
  if (o.model_path.empty()) throw UsageError("torchscript encoder: no model given (--model FILE)");
  if (o.vocab_path.empty()) throw UsageError("torchscript encoder: no vocabulary given (--vocab FILE)");
  if (o.max_length < 2)
    throw UsageError(cat("--max-length ", o.max_length, ": must be at least 2 (room for [CLS] and [SEP])"));
  if (o.batch_size < 1) throw UsageError(cat("--batch-size ", o.batch_size, ": must be at least 1"));
  if (!path_exists(o.model_path)) throw IoError(cat(o.model_path, ": TorchScript model file not found"));
  if (is_directory(o.model_path))
    throw IoError(cat(o.model_path, ": is a directory, expected a TorchScript model file"));
  return o;
}

TorchScriptEncoder::TorchScriptEncoder(const TorchScriptEncoderOptions& o)
    : o_(checked(o)), wp_(WordPiece::load(o_.vocab_path, o_.lowercase)) {
  limit_torch_interop_threads();
  if (o_.threads > 0) set_torch_threads(o_.threads);

  try {
    module_ = torch::jit::load(o_.model_path, torch::kCPU);
  } catch (const std::exception& e) {
    throw InputError(cat(o_.model_path,
                         ": cannot load as a TorchScript module (expected a file written by "
                         "torch.jit.save, e.g. of torch.jit.trace(model, ...)): ",
                         embed::torch_error_text(e)));
  }
  module_.eval();
  auto fwd = module_.find_method("forward");
  if (!fwd) throw InputError(cat(o_.model_path, ": the TorchScript module has no forward method"));
  // forward(input_ids, attention_mask[, token_type_ids]) — parameters with defaults beyond
  // those are left to their defaults — or forward(features: Dict[str, Tensor]).
  const auto& schema = fwd->function().getSchema();
  const auto& args = schema.arguments();
  size_t user = args.empty() ? 0 : args.size() - 1, required = 0;  // minus self
  for (size_t i = 1; i < args.size(); ++i) required += args[i].default_value() ? 0 : 1;
  if (user >= 1 && args[1].type()->kind() == c10::TypeKind::DictType && required <= 1)
    inputs_ = Inputs::kDict;
  else if (user >= 2 && required <= 2)
    inputs_ = Inputs::kIdsMask;
  else if (required == 3)
    inputs_ = Inputs::kIdsMaskTypes;
  else
    throw InputError(cat(o_.model_path, ": forward has signature ", toString(schema),
                         "; expected forward(input_ids, attention_mask), optionally with token_type_ids "
                         "third, or forward(features: Dict[str, Tensor])"));

  // Probe: one text holding the largest id of the vocabulary, which discovers the output
  // dimension and catches a vocabulary larger than the model's embedding table.
  const int64_t last = wp_.size() - 1;
  std::vector<int64_t> probe_ids = {wp_.cls_id(), last, wp_.sep_id()};
  at::Tensor out;
  {
    c10::InferenceMode guard;
    at::Tensor ids = torch::tensor(probe_ids, torch::kLong).unsqueeze(0);
    at::Tensor mask = torch::ones({1, 3}, torch::kLong);
    try {
      out = forward(ids, mask);
    } catch (const InputError& e) {
      throw InputError(cat(e.what(), " (probe with the vocabulary's last id ", last, " '",
                           wp_.token(last), "' from ", o_.vocab_path,
                           "; is this vocab.txt the model's own vocabulary?)"));
    }
    if (out.dim() == 3) {
      output_kind_ = "[B,L,H] token states, mean-pooled over the attention mask";
      if (out.size(0) != 1 || out.size(1) != 3)
        throw InputError(cat(o_.model_path, ": forward returned token states of shape ", embed::tensor_shape(out),
                             " for input [1,3]; expected [1,3,H]"));
    } else if (out.dim() == 2) {
      output_kind_ = "[B,H] sentence vectors";
      if (out.size(0) != 1)
        throw InputError(cat(o_.model_path, ": forward returned shape ", embed::tensor_shape(out),
                             " for a batch of 1; expected [1,H]"));
    } else {
      throw InputError(cat(o_.model_path, ": forward returned a tensor of shape ", embed::tensor_shape(out),
                           "; expected [B,L,H] token states or [B,H] sentence vectors"));
    }
  }
  int64_t h = out.size(out.dim() - 1);
  if (h < 1 || h > (1 << 20))
    throw InputError(cat(o_.model_path, ": forward returned an embedding dimension of ", h));
  dim_ = static_cast<int>(h);
  // A second probe at full length, so a max_length beyond the model's positions fails now
  // rather than at the first long text hours into a job.
  if (o_.max_length > 3) {
    c10::InferenceMode guard;
    std::vector<int64_t> full(static_cast<size_t>(o_.max_length), wp_.unk_id());
    full.front() = wp_.cls_id();
    full.back() = wp_.sep_id();
    std::vector<const std::vector<int64_t>*> rows = {&full};
    std::vector<float> v(static_cast<size_t>(dim_));
    run_batch(rows, {0}, v.data());  // its error names the length and suggests --max-length
  }

  params_ = cat("model=", basename(o_.model_path), ";model_crc32=", hex32(checksum_file(o_.model_path).crc32),
                ";vocab_crc32=", hex32(checksum_file(o_.vocab_path).crc32), ";max_length=", o_.max_length,
                ";lowercase=", o_.lowercase ? "true" : "false");
  log::info("torchscript encoder: ", o_.model_path, " (dim ", dim_, ", ", output_kind_, "), vocab ",
            o_.vocab_path, " (", wp_.size(), " tokens", o_.lowercase ? ", lowercased" : ", cased",
            "), max_length ", o_.max_length, ", batch_size ", o_.batch_size, ", threads ",
            at::get_num_threads());
}

at::Tensor TorchScriptEncoder::pick_output(const c10::IValue& v, int depth) const {
  if (v.isTensor()) return v.toTensor();
  if (depth < 4) {
    if (v.isTuple()) {
      const auto& el = v.toTupleRef().elements();
      if (!el.empty()) return pick_output(el[0], depth + 1);
    } else if (v.isList()) {
      auto el = v.toListRef();
      if (!el.empty()) return pick_output(el[0], depth + 1);
    } else if (v.isGenericDict()) {
      auto d = v.toGenericDict();
      for (const char* key : {"sentence_embedding", "token_embeddings", "last_hidden_state"}) {
        for (const auto& kv : d)
          if (kv.key().isString() && kv.key().toStringRef() == key) return pick_output(kv.value(), depth + 1);
      }
      if (d.size() > 0) return pick_output(d.begin()->value(), depth + 1);
    }
  }
  throw InputError(cat(o_.model_path, ": forward returned a ", v.tagKind(),
                       "; expected a tensor, or a tuple, list or dict whose first (or "
                       "'sentence_embedding') entry is a tensor"));
}

at::Tensor TorchScriptEncoder::forward(const at::Tensor& ids, const at::Tensor& mask) {
  std::vector<c10::IValue> inputs;
  if (inputs_ == Inputs::kDict) {
    c10::Dict<std::string, at::Tensor> features;
    features.insert("input_ids", ids);
    features.insert("attention_mask", mask);
    features.insert("token_type_ids", torch::zeros_like(ids));
    inputs.emplace_back(features);
  } else {
    inputs = {ids, mask};
    if (inputs_ == Inputs::kIdsMaskTypes) inputs.emplace_back(torch::zeros_like(ids));
  }
  c10::IValue result;
  try {
    result = module_.forward(inputs);
  } catch (const std::exception& e) {
    throw InputError(cat(o_.model_path, ": forward failed on input_ids of shape ", embed::tensor_shape(ids), ": ",
                         embed::torch_error_text(e)));
  }
  at::Tensor t = pick_output(result, 0);
  if (t.is_complex() || !t.is_floating_point())
    throw InputError(cat(o_.model_path, ": forward returned a tensor of type ", t.scalar_type(),
                         "; expected floating point"));
  return t.to(torch::kCPU, torch::kFloat).contiguous();
}

void TorchScriptEncoder::run_batch(const std::vector<const std::vector<int64_t>*>& rows,
                                   const std::vector<size_t>& dest, float* out) {
  const int64_t b = static_cast<int64_t>(rows.size());
  int64_t len = 0;
  for (auto* r : rows) len = std::max<int64_t>(len, static_cast<int64_t>(r->size()));
  at::Tensor ids = torch::full({b, len}, wp_.pad_id(), torch::kLong);
  at::Tensor mask = torch::zeros({b, len}, torch::kLong);
  int64_t* pi = ids.data_ptr<int64_t>();
  int64_t* pm = mask.data_ptr<int64_t>();
  for (int64_t i = 0; i < b; ++i) {
    const auto& r = *rows[static_cast<size_t>(i)];
    std::copy(r.begin(), r.end(), pi + i * len);
    std::fill(pm + i * len, pm + i * len + static_cast<int64_t>(r.size()), int64_t{1});
  }
  at::Tensor t;
  try {
    t = forward(ids, mask);
  } catch (const InputError& e) {
    throw InputError(cat(e.what(), " (a batch of ", b, " texts of up to ", len,
                         " ids; a model with fewer positions needs a smaller --max-length)"));
  }
  const int64_t h = dim_;
  const bool tokens = t.dim() == 3;
  bool ok = tokens ? (t.size(0) == b && t.size(1) == len && t.size(2) == h)
                   : (t.dim() == 2 && t.size(0) == b && t.size(1) == h);
  if (!ok)
    throw InputError(cat(o_.model_path, ": forward returned shape ", embed::tensor_shape(t), " for input_ids ",
                         embed::tensor_shape(ids), "; expected [", b, ",", len, ",", h, "] or [", b, ",", h,
                         "] (the probe at load time gave dimension ", h, ")"));
  const float* pt = t.data_ptr<float>();
  std::vector<double> acc(static_cast<size_t>(h));
  for (int64_t i = 0; i < b; ++i) {
    std::fill(acc.begin(), acc.end(), 0.0);
    if (tokens) {
      // Masked mean; the division by the token count is left out since it cancels in the
      // L2 normalisation below.
      const int64_t n = static_cast<int64_t>(rows[static_cast<size_t>(i)]->size());
      for (int64_t l = 0; l < n; ++l) {
        const float* row = pt + (i * len + l) * h;
        for (int64_t k = 0; k < h; ++k) acc[static_cast<size_t>(k)] += row[k];
      }
    } else {
      const float* row = pt + i * h;
      for (int64_t k = 0; k < h; ++k) acc[static_cast<size_t>(k)] = row[k];
    }
    double ss = 0;
    for (double x : acc) ss += x * x;
    if (!std::isfinite(ss))
      throw InputError(cat(o_.model_path, ": forward produced non-finite values (row ", dest[static_cast<size_t>(i)],
                           " of the block)"));
    float* o = out + dest[static_cast<size_t>(i)] * static_cast<size_t>(h);
    const double inv = ss > 0 ? 1.0 / std::sqrt(ss) : 0.0;
    for (int64_t k = 0; k < h; ++k) o[k] = static_cast<float>(acc[static_cast<size_t>(k)] * inv);
  }
}

void TorchScriptEncoder::encode(const std::vector<std::string>& texts, const std::vector<uint64_t>&,
                                const std::vector<uint32_t>&, float* out) {
  const size_t n = texts.size();
  if (n == 0) return;
  c10::InferenceMode guard;
  std::vector<std::vector<int64_t>> ids(n);
  at::parallel_for(0, static_cast<int64_t>(n), 256, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i)
      wp_.encode(texts[static_cast<size_t>(i)], o_.max_length, ids[static_cast<size_t>(i)]);
  });
  // Similar lengths share a batch, so little compute goes into padding; ties keep input order.
  std::vector<size_t> order(n);
  std::iota(order.begin(), order.end(), size_t{0});
  std::stable_sort(order.begin(), order.end(),
                   [&](size_t a, size_t b) { return ids[a].size() < ids[b].size(); });
  std::vector<const std::vector<int64_t>*> rows;
  std::vector<size_t> dest;
  const size_t bs = static_cast<size_t>(o_.batch_size);
  for (size_t s = 0; s < n; s += bs) {
    rows.clear();
    dest.clear();
    for (size_t j = s; j < std::min(n, s + bs); ++j) {
      rows.push_back(&ids[order[j]]);
      dest.push_back(order[j]);
    }
    run_batch(rows, dest, out);
  }
}

}  // namespace

std::unique_ptr<Encoder> make_torchscript_encoder(const TorchScriptEncoderOptions& o) {
  return std::make_unique<TorchScriptEncoder>(o);
}

}  // namespace trawl::embed
