// Training options, checks and the model header (contract in train/train.h): torch-free, for
// the trawl-train stage, which trains logreg itself and hands mlp and embbag to LibTorch —
// linked in (register_torch_training, train/train.cpp) or trawl's LibTorch plugin (core/plugin.h).
#include "train/train.h"

#include <cmath>
#include <iomanip>
#include <numeric>
#include <sstream>

#include "core/error.h"
#include "core/plugin.h"

namespace trawl::train {

namespace {

std::string fmt(double v, int prec = 4) {
  std::ostringstream os;
  os << std::setprecision(prec) << v;
  return os.str();
}

TorchTrainer& torch_trainer() {
  static TorchTrainer t = nullptr;
  return t;
}

}  // namespace

// ---- validation -----------------------------------------------------------------------------

std::string input_of(const TrainOptions& o) {
  if (o.model == "logreg") {
    if (o.features == "tokens" || o.features == "embedding" || o.features == "tokens+embedding") return o.features;
    throw UsageError(cat("--features: '", o.features, "' is not one of tokens, embedding, tokens+embedding"));
  }
  if (o.model == "mlp") return "embedding";
  if (o.model == "embbag") return "tokens";
  if (o.model == "torchscript") return "text";
  throw UsageError(cat("--model: '", o.model, "' is not one of logreg, mlp, embbag, torchscript"));
}

void validate(const TrainOptions& o) {
  input_of(o);
  if (o.model == "logreg") {
    if (!(o.C > 0) || !std::isfinite(o.C)) throw UsageError(cat("--C: ", o.C, " must be a positive number"));
    if (!(o.tol > 0) || !std::isfinite(o.tol)) throw UsageError(cat("--tol: ", o.tol, " must be a positive number"));
    if (o.feature_buckets < 1) throw UsageError(cat("--feature-buckets: ", o.feature_buckets, " must be at least 1"));
  }
  if (o.model == "torchscript") {
    if (o.init.empty()) throw UsageError("--model torchscript: --init FILE is required (a model file from trawl-import-model)");
    if (!(o.warmup >= 0 && o.warmup < 1)) throw UsageError(cat("--warmup: ", o.warmup, " must be in [0, 1)"));
  } else if (!o.init.empty() || o.freeze_encoder) {
    throw UsageError(cat("--init/--freeze-encoder apply to --model torchscript, not ", o.model));
  }
  if (o.model != "logreg" && o.model != "torchscript" && o.hidden < 1) throw UsageError(cat("--hidden: ", o.hidden, " must be at least 1"));
  if (o.model == "embbag" && o.buckets < 1) throw UsageError(cat("--buckets: ", o.buckets, " must be at least 1"));
  if (o.epochs < 1) throw UsageError(cat("--epochs: ", o.epochs, " must be at least 1"));
  if (o.min_steps < 0) throw UsageError(cat("--min-steps: ", o.min_steps, " must not be negative"));
  if (o.batch_size < 1) throw UsageError(cat("--batch-size: ", o.batch_size, " must be at least 1"));
  if (!(o.lr > 0) || !std::isfinite(o.lr)) throw UsageError(cat("--lr: ", o.lr, " must be a positive number"));
  if (!(o.weight_decay >= 0) || !std::isfinite(o.weight_decay))
    throw UsageError(cat("--weight-decay: ", o.weight_decay, " must be a non-negative number"));
  if (o.threads < 1) throw UsageError(cat("--threads: ", o.threads, " must be at least 1"));
}

uint64_t training_steps(uint64_t n, int batch_size, int epochs, int min_steps) {
  TRAWL_ASSERT(batch_size >= 1 && epochs >= 0 && min_steps >= 0);
  uint64_t batches = (n + uint64_t(batch_size) - 1) / uint64_t(batch_size);
  return std::max<uint64_t>(batches * uint64_t(epochs), uint64_t(min_steps));
}

std::vector<uint64_t> class_counts(const TrainData& d) {
  std::vector<uint64_t> c(d.classes.size(), 0);
  for (int y : d.y) {
    TRAWL_ASSERT_MSG(y >= 0 && size_t(y) < c.size(), "class index ", y, " of ", c.size());
    ++c[size_t(y)];
  }
  return c;
}

std::vector<double> class_weights(const std::vector<uint64_t>& counts, const std::vector<std::string>& classes,
                                  bool allow_missing, const std::string& what) {
  TRAWL_ASSERT(counts.size() == classes.size());
  uint64_t n = 0, present = 0;
  for (size_t c = 0; c < counts.size(); ++c) {
    n += counts[c];
    if (counts[c]) {
      ++present;
    } else if (!allow_missing) {
      throw InputError(cat(what, ": class '", classes[c], "' has no training examples (",
                           "label some items of it, drop it from --classes, or pass --allow-missing-classes ",
                           "to train with weight 0 for it)"));
    }
  }
  std::vector<double> w(counts.size(), 0.0);
  for (size_t c = 0; c < counts.size(); ++c)
    if (counts[c]) w[c] = double(n) / (double(present) * double(counts[c]));
  return w;
}

void check_data(const TrainData& d, const std::string& input, const std::string& what) {
  auto where = [&](size_t i) {
    if (d.where) return d.where(i);
    return i < d.uid.size() ? cat("uid ", d.uid[i]) : cat("example ", i);
  };
  if (d.classes.empty()) throw UsageError(cat(what, ": no classes"));
  if (d.size() == 0) throw InputError(cat(what, ": no labelled examples to train on"));
  if (!d.uid.empty() && d.uid.size() != d.size())
    throw UsageError(cat(what, ": ", d.uid.size(), " uids for ", d.size(), " labels"));
  if (input != "tokens") {
    if (d.dim <= 0) throw InputError(cat(what, ": embedding dim ", d.dim, " is not positive"));
    if (d.x.size() != d.size() * size_t(d.dim))
      throw UsageError(cat(what, ": ", d.x.size(), " embedding values for ", d.size(), " examples of dim ", d.dim));
    for (size_t i = 0; i < d.size(); ++i)
      for (int j = 0; j < d.dim; ++j) {
        float v = d.x[i * size_t(d.dim) + size_t(j)];
        if (!std::isfinite(v))
          throw InputError(cat(where(i), ": embedding value ", j, " is ", v, " (expected a finite number)"));
      }
  }
  if (input != "embedding") {
    if (d.token_offsets.size() != d.size() + 1 || d.token_offsets[0] != 0 || d.token_offsets.back() != d.token_ids.size())
      throw UsageError(cat(what, ": token offsets (", d.token_offsets.size(), ") do not describe ", d.size(),
                           " rows of ", d.token_ids.size(), " ids"));
    for (size_t i = 0; i < d.size(); ++i)
      if (d.token_offsets[i + 1] < d.token_offsets[i])
        throw InputError(cat(where(i), ": token offsets decrease"));
  }
}

// ---- training -------------------------------------------------------------------------------

std::string TrainResult::summary(const std::vector<std::string>& classes) const {
  uint64_t n = std::accumulate(counts.begin(), counts.end(), uint64_t(0));
  std::string s = cat("examples=", n, " (");
  for (size_t c = 0; c < counts.size(); ++c) s += cat(c ? " " : "", classes[c], "=", counts[c]);
  s += cat(") steps=", steps, " final_loss=", fmt(final_loss), " train_accuracy=", fmt(train_accuracy));
  if (minority >= 0) s += cat(" minority_f1[", classes[size_t(minority)], "]=", fmt(minority_f1));
  return s;
}

ModelHeader make_header(const TrainData& d, const TrainOptions& o) {
  ModelHeader h;
  h.kind = o.model;
  h.input = input_of(o);
  h.classes = d.classes;
  h.input_dim = o.model == "embbag" ? o.buckets : d.dim;
  if (o.model == "logreg" && h.input != "embedding") {
    h.buckets = o.feature_buckets;
    h.input_dim = o.feature_buckets + (h.input == "tokens+embedding" ? d.dim : 0);
  }
  h.hidden = o.model == "logreg" ? 0 : o.hidden;
  h.seed = o.seed;
  h.round = o.round;
  h.format_version = kModelFormatVersionClassic;
  return h;
}

void set_torch_trainer(TorchTrainer t) { torch_trainer() = t; }

TrainResult train_model(const TrainData& d, const TrainOptions& o, const std::string& what) {
  validate(o);
  check_data(d, input_of(o), what);
  if (o.model == "logreg") return train_logreg(d, o, what);  // convex: train/logreg_train.cpp
  if (torch_trainer()) return torch_trainer()(d, o, what);
  // No LibTorch linked in: the plugin's trainer, which fills *out.
  using PluginTrain = void (*)(const TrainData* d, const TrainOptions* o, const std::string* what, TrainResult* out);
  auto train = reinterpret_cast<PluginTrain>(plugin::torch_symbol("trawl_torch_train", cat("--model ", o.model)));
  TrainResult r;
  train(&d, &o, &what, &r);
  return r;
}

}  // namespace trawl::train
