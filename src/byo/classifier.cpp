// Bring-your-own TorchScript classifiers (contract in byo/classifier.h).
#include "byo/classifier.h"

#include <ATen/Parallel.h>
#include <c10/core/InferenceMode.h>
#include <torch/optim/adamw.h>
#include <torch/csrc/jit/runtime/graph_executor.h>
#include <torch/script.h>

#include <dlfcn.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <fstream>
#include <iomanip>
#include <numeric>
#include <sstream>

#include "core/error.h"
#include "core/fs.h"
#include "core/log.h"
#include "core/progress.h"
#include "core/rng.h"
#include "core/timer.h"
#include "embed_torch/torchscript_encoder.h"
#include "embed_torch/torch_messages.h"
#include "embed_torch/wordpiece.h"

namespace trawl::byo {

using embed::WordPiece;

namespace {


std::string join(const std::vector<std::string>& v) {
  std::string s;
  for (size_t i = 0; i < v.size(); ++i) s += cat(i ? "," : "", v[i]);
  return s;
}

// LibTorch's intra-op threads, and OpenBLAS's own pool (Debian's LibTorch calls the system BLAS,
// whose pool is sized by the CPUs the process may use: 2 threads unpinned, 1 under mpirun's
// core binding — and sgemm rounds differently with each). The same count everywhere gives the
// same scores at any rank count.
void set_threads(int n) {
  n = std::max(1, n);
  embed::limit_torch_interop_threads();
  embed::set_torch_threads(n);
  using SetThreads = void (*)(int);
  if (auto f = reinterpret_cast<SetThreads>(dlsym(RTLD_DEFAULT, "openblas_set_num_threads"))) f(n);
}

torch::jit::Module load_bytes(const std::string& bytes, const std::string& what) {
  // The JIT's graph executor profiles the first calls, then runs a graph optimised for the
  // shapes it saw (fused, specialised): a text's scores would depend on what the process ran
  // before (the shards of other ranks, earlier blocks). Unoptimised graphs run the same ops
  // on every call, so scores are the same at any rank count and block history.
  torch::jit::setGraphExecutorOptimize(false);
  try {
    std::istringstream is(bytes);
    auto m = torch::jit::load(is, torch::kCPU);
    return m;
  } catch (const std::exception& e) {
    throw InputError(cat(what, ": cannot load as a TorchScript module (expected a file written by torch.jit.save of "
                               "torch.jit.script or torch.jit.trace): ",
                         embed::torch_error_text(e)));
  }
}

std::string save_bytes(torch::jit::Module& m) {
  std::ostringstream os;
  m.save(os);
  return os.str();
}

void check_signature(torch::jit::Module& m, const std::string& what) {
  auto fwd = m.find_method("forward");
  if (!fwd) throw InputError(cat(what, ": the TorchScript module has no forward method"));
  const auto& schema = fwd->function().getSchema();
  const auto& args = schema.arguments();
  bool ok = args.size() >= 3;
  for (size_t i = 1; ok && i < args.size(); ++i) {
    if (i <= 2) ok = !args[i].default_value() && args[i].type()->kind() == c10::TypeKind::TensorType;
    else ok = bool(args[i].default_value());
  }
  if (!ok)
    throw InputError(cat(what, ": forward has signature ", toString(schema),
                         "; expected forward(input_ids: Tensor, attention_mask: Tensor) -> Tensor (logits [batch, "
                         "classes]; further arguments need defaults)"));
}

// forward(ids, mask) -> float logits [B, C], checked.
at::Tensor logits_of(torch::jit::Module& m, const at::Tensor& ids, const at::Tensor& mask, size_t C,
                     const std::string& what) {
  c10::IValue r;
  try {
    r = m.forward({ids, mask});
  } catch (const std::exception& e) {
    throw InputError(cat(what, ": forward failed on input_ids of shape ", embed::tensor_shape(ids), ": ", embed::torch_error_text(e)));
  }
  if (!r.isTensor())
    throw InputError(cat(what, ": forward returned a ", r.tagKind(), "; expected a tensor of logits [batch, classes]"));
  at::Tensor t = r.toTensor();
  if (t.is_complex() || !t.is_floating_point())
    throw InputError(cat(what, ": forward returned a tensor of type ", t.scalar_type(), "; expected float logits"));
  if (t.dim() != 2 || t.size(0) != ids.size(0) || t.size(1) != int64_t(C)) {
    if (t.dim() == 2 && t.size(0) == ids.size(0))
      throw InputError(cat(what, ": forward returns ", t.size(1), " logits per text but ", C,
                           " classes were given; the classes must name the module's outputs in order"));
    throw InputError(cat(what, ": forward returned shape ", embed::tensor_shape(t), " for input_ids ", embed::tensor_shape(ids),
                         "; expected logits [", ids.size(0), ", ", C, "]"));
  }
  return t;
}

// ids rows -> padded tensors ([PAD] = pad, mask 1 on real ids).
void pad_batch(const std::vector<const std::vector<int64_t>*>& rows, int64_t pad, at::Tensor* ids, at::Tensor* mask) {
  const int64_t b = int64_t(rows.size());
  int64_t len = 0;
  for (auto* r : rows) len = std::max<int64_t>(len, int64_t(r->size()));
  *ids = torch::full({b, len}, pad, torch::kLong);
  *mask = torch::zeros({b, len}, torch::kLong);
  int64_t* pi = ids->data_ptr<int64_t>();
  int64_t* pm = mask->data_ptr<int64_t>();
  for (int64_t i = 0; i < b; ++i) {
    const auto& r = *rows[size_t(i)];
    std::copy(r.begin(), r.end(), pi + i * len);
    std::fill(pm + i * len, pm + i * len + int64_t(r.size()), int64_t{1});
  }
}

WordPiece make_wordpiece(const std::vector<std::string>& vocab, bool lowercase, const std::string& what) {
  WordPiece wp = WordPiece::from_tokens(vocab, lowercase, what);
  if (wp.pad_id() != 0)
    throw InputError(cat(what, ": [PAD] has id ", wp.pad_id(), "; a BERT vocabulary has [PAD] at id 0 (line 1)"));
  return wp;
}

// Probabilities of texts (n × C) in input order: sorted by id length, batches of kBatch.
void predict_texts_with(torch::jit::Module& m, const WordPiece& wp, int max_length, size_t C,
                        const std::vector<std::string>& texts, float* probs, const std::string& what) {
  const size_t n = texts.size();
  if (n == 0) return;
  // No-grad rather than InferenceMode: a module trained in this process has differentiable
  // graphs specialised by the JIT, which refuse inference tensors.
  torch::NoGradGuard guard;
  std::vector<std::vector<int64_t>> ids(n);
  at::parallel_for(0, int64_t(n), 256, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) wp.encode(texts[size_t(i)], max_length, ids[size_t(i)]);
  });
  std::vector<size_t> order(n);
  std::iota(order.begin(), order.end(), size_t{0});
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return ids[a].size() < ids[b].size(); });
  std::vector<const std::vector<int64_t>*> rows;
  for (size_t s = 0; s < n; s += size_t(kBatch)) {
    const size_t e = std::min(n, s + size_t(kBatch));
    rows.clear();
    for (size_t j = s; j < e; ++j) rows.push_back(&ids[order[j]]);
    at::Tensor ti, tm;
    pad_batch(rows, wp.pad_id(), &ti, &tm);
    at::Tensor p = at::softmax(logits_of(m, ti, tm, C, what).to(torch::kFloat), 1).contiguous();
    const float* pp = p.data_ptr<float>();
    for (size_t j = s; j < e; ++j) {
      const float* src = pp + (j - s) * C;
      for (size_t c = 0; c < C; ++c) {
        if (!std::isfinite(src[c]))
          throw InputError(cat(what, ": forward produced a non-finite logit for text ", order[j], " of the block"));
        probs[order[j] * C + c] = src[c];
      }
    }
  }
}

class TorchScriptClassifier final : public train::Model {
 public:
  TorchScriptClassifier(const std::string& path, int threads) : what_(path) {
    auto payload = train::read_torchscript_payload(path, &h_);
    wp_ = std::make_unique<WordPiece>(make_wordpiece(payload.vocab, h_.lowercase, path));
    set_threads(threads);
    m_ = load_bytes(payload.module, path);
    m_.eval();
    check_signature(m_, path);
  }
  const train::ModelHeader& header() const override { return h_; }
  int feature_dim() const override { return 0; }
  void predict(const float*, size_t, float*, float*) const override {
    throw UsageError(cat(what_, ": a torchscript model reads text, not embeddings"));
  }
  void predict_tokens(const uint64_t*, const uint32_t*, size_t, float*, float*) const override {
    throw UsageError(cat(what_, ": a torchscript model reads text, not token ids"));
  }
  void predict_texts(const std::vector<std::string>& texts, float* probs) const override {
    predict_texts_with(m_, *wp_, h_.max_length, h_.classes.size(), texts, probs, what_);
  }

 private:
  std::string what_;
  train::ModelHeader h_;
  std::unique_ptr<WordPiece> wp_;
  mutable torch::jit::Module m_;
};

}  // namespace

void check_module(const std::string& bytes, const std::vector<std::string>& vocab, bool lowercase, int max_length,
                  size_t num_classes, const std::string& what) {
  if (max_length < 2) throw UsageError(cat("--max-length ", max_length, ": must be at least 2 ([CLS] and [SEP])"));
  if (num_classes < 2) throw UsageError(cat("--classes: a classifier needs at least 2 classes, got ", num_classes));
  WordPiece wp = make_wordpiece(vocab, lowercase, what);
  auto m = load_bytes(bytes, what);
  m.eval();
  check_signature(m, what);
  torch::NoGradGuard guard;
  const int64_t last = wp.size() - 1;
  std::vector<int64_t> probe = {wp.cls_id(), last, wp.sep_id()};
  std::vector<const std::vector<int64_t>*> rows = {&probe};
  at::Tensor ids, mask;
  pad_batch(rows, wp.pad_id(), &ids, &mask);
  try {
    logits_of(m, ids, mask, num_classes, what);
  } catch (const InputError& e) {
    const std::string msg = e.what();
    if (msg.find("forward failed") == std::string::npos) throw;
    throw InputError(cat(msg, " (probe with the vocabulary's last id ", last, " '", wp.token(last),
                         "'; is the vocabulary the module's own? It has ", wp.size(), " tokens)"));
  }
  // Full length: a max length beyond the module's positions fails now, not hours into a job.
  std::vector<int64_t> full(size_t(max_length), wp.unk_id());
  full.front() = wp.cls_id();
  full.back() = wp.sep_id();
  rows = {&full, &probe};
  pad_batch(rows, wp.pad_id(), &ids, &mask);
  try {
    logits_of(m, ids, mask, num_classes, what);
  } catch (const InputError& e) {
    throw InputError(cat(e.what(), " (probe of --max-length ", max_length, " ids with padding; a module with fewer "
                                    "positions needs a smaller --max-length)"));
  }
}

train::ModelHeader import_torchscript(const ImportOptions& o) {
  if (o.module_path.empty()) throw UsageError("--torchscript: required (a torch.jit.save file)");
  if (o.vocab_path.empty()) throw UsageError("--vocab: required (the module's vocab.txt)");
  if (o.output.empty()) throw UsageError("--output: required (the model file to write)");
  {
    auto c = o.classes;
    std::sort(c.begin(), c.end());
    auto d = std::adjacent_find(c.begin(), c.end());
    if (d != c.end()) throw UsageError(cat("--classes: class '", *d, "' is listed twice"));
    for (auto& x : o.classes)
      if (x.empty()) throw UsageError("--classes: an empty class name");
  }
  if (!path_exists(o.module_path)) throw IoError(cat(o.module_path, ": TorchScript module file not found (--torchscript)"));
  if (!path_exists(o.vocab_path)) throw IoError(cat(o.vocab_path, ": vocabulary file not found (--vocab)"));
  check_writable_dir(parent_dir(o.output));
  train::TorchScriptPayload p;
  {
    std::ifstream f(o.module_path, std::ios::binary);
    std::ostringstream ss;
    ss << f.rdbuf();
    if (!f && !f.eof()) throw IoError(cat(o.module_path, ": cannot read"));
    p.module = ss.str();
  }
  {
    // The tokens as WordPiece::load reads them (BOM and CR removed), so the stored vocabulary is
    // exactly the one the module was checked with.
    std::ifstream f(o.vocab_path);
    if (!f) throw IoError(cat(o.vocab_path, ": cannot read"));
    for (std::string line; std::getline(f, line);) {
      if (!line.empty() && line.back() == '\r') line.pop_back();
      if (p.vocab.empty() && line.rfind("\xEF\xBB\xBF", 0) == 0) line = line.substr(3);
      p.vocab.push_back(line);
    }
    if (p.vocab.empty()) throw InputError(cat(o.vocab_path, ": empty vocabulary"));
  }
  make_wordpiece(p.vocab, o.lowercase, o.vocab_path);  // its errors name the vocabulary file
  check_module(p.module, p.vocab, o.lowercase, o.max_length, o.classes.size(), o.module_path);
  train::ModelHeader h;
  h.kind = "torchscript";
  h.input = "text";
  h.classes = o.classes;
  h.input_dim = int(p.vocab.size());
  h.max_length = o.max_length;
  h.lowercase = o.lowercase;
  h.encoder = "text";
  h.encoder_params = cat("module=", basename(o.module_path), ";vocab=", basename(o.vocab_path));
  h.config = o.config;
  h.training_summary = cat("imported from ", basename(o.module_path));
  h.fingerprint = cat("imported module=", checksum_file(o.module_path).str(), " vocab=", checksum_file(o.vocab_path).str());
  write_torchscript_model(o.output, h, p);
  log::info("imported ", o.module_path, " (", o.classes.size(), " classes: ", join(o.classes), "; vocabulary ",
            p.vocab.size(), " tokens, max length ", o.max_length, ") -> ", o.output);
  return h;
}

std::unique_ptr<train::Model> load_torchscript_model(const std::string& path, int threads) {
  return std::make_unique<TorchScriptClassifier>(path, threads);
}

FineTuneResult finetune_torch(const std::string& init, const std::vector<std::string>& texts, const std::vector<int>& y,
                              const std::vector<std::string>& classes, const FineTuneOptions& o, const std::string& what);
std::vector<float> predict_with_torch(const std::string& module_bytes, const train::ModelHeader& h,
                                      const std::vector<std::string>& vocab, const std::vector<std::string>& texts,
                                      int threads);

void register_torchscript_models() {
  train::set_torchscript_loader(&load_torchscript_model);
  set_torch_finetune(&finetune_torch, &predict_with_torch);
}

// ---- fine-tuning ---------------------------------------------------------------------------------

FineTuneResult finetune_torch(const std::string& init, const std::vector<std::string>& texts, const std::vector<int>& y,
                              const std::vector<std::string>& classes, const FineTuneOptions& o, const std::string& what) {
  auto t0 = std::chrono::steady_clock::now();
  if (o.epochs < 1) throw UsageError(cat("--epochs ", o.epochs, ": must be at least 1"));
  if (o.batch_size < 1) throw UsageError(cat("--batch-size ", o.batch_size, ": must be at least 1"));
  if (!(o.lr > 0) || !std::isfinite(o.lr)) throw UsageError(cat("--lr ", o.lr, ": must be positive"));
  if (!(o.weight_decay >= 0)) throw UsageError(cat("--weight-decay ", o.weight_decay, ": must be >= 0"));
  if (!(o.warmup >= 0 && o.warmup < 1)) throw UsageError(cat("--warmup ", o.warmup, ": must be in [0, 1)"));
  train::ModelHeader h;
  auto payload = train::read_torchscript_payload(init, &h);
  if (h.classes != classes)
    throw InputError(cat(init, ": the module's classes are ", join(h.classes), " but training asks for ", join(classes),
                         " (--classes must list the module's classes in its order)"));
  const size_t n = texts.size(), C = classes.size();
  if (n == 0 || y.size() != n) throw InputError(cat(what, ": no labelled examples"));
  FineTuneResult r;
  r.counts.assign(C, 0);
  for (int c : y) ++r.counts[size_t(c)];
  r.weights.assign(C, 1.0);
  size_t present = 0;
  for (auto c : r.counts) present += c > 0;
  for (size_t c = 0; c < C; ++c) {
    if (r.counts[c] == 0) {
      if (!o.allow_missing_classes)
        throw InputError(cat(what, ": class '", classes[c], "' has no training examples (--allow-missing-classes "
                                   "trains anyway with its loss weight 0)"));
      r.weights[c] = 0;
    } else if (o.class_weighting) {
      r.weights[c] = double(n) / (double(present) * double(r.counts[c]));
    }
  }
  WordPiece wp = make_wordpiece(payload.vocab, h.lowercase, init);
  set_threads(o.threads);
  torch::manual_seed(key(o.seed, o.round, 0x42595f4654ULL));  // dropout and any sampling in the module
  auto m = load_bytes(payload.module, init);
  check_signature(m, init);
  std::vector<std::vector<int64_t>> ids(n);
  for (size_t i = 0; i < n; ++i) wp.encode(texts[i], h.max_length, ids[i]);

  std::vector<at::Tensor> trainable;
  std::vector<std::string> names;
  for (const auto& p : m.named_parameters(/*recurse=*/true)) {
    names.push_back(p.name);
    const bool train = !o.freeze_encoder || p.name.rfind(o.head_prefix, 0) == 0;
    p.value.requires_grad_(train);
    if (train) {
      trainable.push_back(p.value);
      ++r.trained_tensors;
      r.trained_values += uint64_t(p.value.numel());
    }
  }
  if (trainable.empty())
    throw UsageError(cat(init, ": no parameter to train",
                         o.freeze_encoder ? cat(" under the head prefix '", o.head_prefix, "' (--head-prefix); the module's "
                                                "parameters are ", join(names))
                                          : std::string(" (the module has none)")));
  torch::optim::AdamW opt(trainable, torch::optim::AdamWOptions(o.lr).weight_decay(o.weight_decay));
  const uint64_t per_epoch = (n + size_t(o.batch_size) - 1) / size_t(o.batch_size);
  r.steps = std::max<uint64_t>(per_epoch * uint64_t(o.epochs), uint64_t(std::max(0, o.min_steps)));
  const uint64_t warm = uint64_t(std::ceil(o.warmup * double(r.steps)));
  auto lr_at = [&](uint64_t s) {
    if (s < warm) return o.lr * double(s + 1) / double(warm);
    return o.lr * double(r.steps - s) / double(r.steps - warm);
  };
  auto wt = torch::tensor(std::vector<float>(r.weights.begin(), r.weights.end()), torch::kFloat);
  m.train();
  Progress prog("fine-tune", r.steps, "steps");
  std::vector<size_t> perm(n);
  std::vector<const std::vector<int64_t>*> rows;
  std::vector<int64_t> tgt;
  uint64_t step = 0;
  std::unique_ptr<ScopedTimer> loop_timer = std::make_unique<ScopedTimer>("fine-tune steps");
  for (uint64_t epoch = 0; step < r.steps; ++epoch) {
    std::iota(perm.begin(), perm.end(), size_t{0});
    Rng rng(key(o.seed, o.round, epoch));
    for (size_t i = n; i > 1; --i) std::swap(perm[i - 1], perm[rng.below(i)]);
    for (size_t s = 0; s < n && step < r.steps; s += size_t(o.batch_size), ++step) {
      rows.clear();
      tgt.clear();
      for (size_t j = s; j < std::min(n, s + size_t(o.batch_size)); ++j) {
        rows.push_back(&ids[perm[j]]);
        tgt.push_back(y[perm[j]]);
      }
      at::Tensor ti, tm;
      pad_batch(rows, wp.pad_id(), &ti, &tm);
      at::Tensor logits = logits_of(m, ti, tm, C, init).to(torch::kFloat);
      at::Tensor loss = at::cross_entropy_loss(logits, torch::tensor(tgt, torch::kLong), wt);
      for (auto& g : opt.param_groups()) static_cast<torch::optim::AdamWOptions&>(g.options()).lr(lr_at(step));
      opt.zero_grad();
      loss.backward();
      opt.step();
      r.last_loss = loss.item<double>();
      if (!std::isfinite(r.last_loss))
        throw InputError(cat(what, ": the loss became ", r.last_loss, " at step ", step + 1, " (lower --lr?)"));
      if (o.progress) prog.set(step + 1);
    }
  }
  loop_timer.reset();
  if (o.progress) prog.finish();
  m.eval();
  for (const auto& p : m.named_parameters(true)) p.value.requires_grad_(true);
  // Final loss and accuracy over the training set (inference, batched like scoring).
  std::vector<float> probs(n * C);
  predict_texts_with(m, wp, h.max_length, C, texts, probs.data(), init);
  double num = 0, den = 0;
  uint64_t right = 0;
  for (size_t i = 0; i < n; ++i) {
    const float* p = probs.data() + i * C;
    const double w = r.weights[size_t(y[i])];
    num += -w * std::log(std::max(1e-30, double(p[y[i]])));
    den += w;
    right += size_t(std::max_element(p, p + C) - p) == size_t(y[i]);
  }
  for (size_t c = 0; c < C; ++c)
    if (r.counts[c] > 0 && (r.minority < 0 || r.counts[c] < r.counts[size_t(r.minority)])) r.minority = int(c);
  {
    uint64_t tp = 0, fp = 0, fn = 0;
    for (size_t i = 0; i < n; ++i) {
      const float* p = probs.data() + i * C;
      const bool pred = int(std::max_element(p, p + C) - p) == r.minority, truth = y[i] == r.minority;
      tp += pred && truth;
      fp += pred && !truth;
      fn += !pred && truth;
    }
    r.minority_f1 = tp ? 2.0 * double(tp) / double(2 * tp + fp + fn) : 0.0;
  }
  r.final_loss = den > 0 ? num / den : 0;
  r.train_accuracy = double(right) / double(n);
  r.module = save_bytes(m);
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return r;
}

std::vector<float> predict_with_torch(const std::string& module_bytes, const train::ModelHeader& h,
                                      const std::vector<std::string>& vocab, const std::vector<std::string>& texts,
                                      int threads) {
  WordPiece wp = make_wordpiece(vocab, h.lowercase, "fine-tuned module");
  set_threads(threads);
  auto m = load_bytes(module_bytes, "fine-tuned module");
  m.eval();
  std::vector<float> probs(texts.size() * h.classes.size());
  predict_texts_with(m, wp, h.max_length, h.classes.size(), texts, probs.data(), "fine-tuned module");
  return probs;
}

}  // namespace trawl::byo
