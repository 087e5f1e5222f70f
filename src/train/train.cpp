// Training with LibTorch (contract in train/train.h). The only trawl file that includes torch
// headers for training; the stage, tests and benchmarks compile against the torch-free header.
#include "train/train.h"

#include <ATen/Parallel.h>
#include <torch/torch.h>

#include <sys/mman.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <iterator>
#include <cmath>
#include <iomanip>
#include <numeric>
#include <sstream>

#include "core/error.h"
#include "core/log.h"
#include "core/progress.h"
#include "core/rng.h"
#include "core/timer.h"

namespace trawl::train {

namespace {

// Streams of the seeded generators (key(seed, round, stream, ...)).
constexpr uint64_t kInitStream = 0x696e6974;     // "init"
constexpr uint64_t kShuffleStream = 0x73687566;  // "shuf"

// A [rows, cols] f32 tensor in memory the kernel is asked to back with transparent huge pages:
// the bag's used rows are scattered over up to 256 MiB, and with 4 KiB pages nearly every row
// visited by the optimiser costs a TLB miss. (Only advice: without THP it is ordinary memory.)
torch::Tensor huge_page_tensor(int64_t rows, int64_t cols) {
  constexpr size_t kHuge = size_t(2) << 20;
  size_t bytes = size_t(rows) * size_t(cols) * sizeof(float);
  size_t alloc = (bytes + kHuge - 1) / kHuge * kHuge;
  void* p = std::aligned_alloc(kHuge, alloc);
  if (!p) throw std::bad_alloc();
  ::madvise(p, alloc, MADV_HUGEPAGE);
  return torch::from_blob(p, {rows, cols}, [](void* q) { std::free(q); }, torch::kFloat32);
}

// The three classifiers as one torch module. Submodule names are the parameter paths stored
// in the model file (model.h param_layout).
struct Net : torch::nn::Module {
  std::string kind;
  torch::nn::Linear linear{nullptr}, hidden{nullptr}, output{nullptr};
  torch::nn::EmbeddingBag bag{nullptr};

  Net(const std::string& k, int64_t in, int64_t H, int64_t C, bool sparse_bag) : kind(k) {
    if (kind == "logreg") {
      linear = register_module("linear", torch::nn::Linear(in, C));
    } else if (kind == "mlp") {
      hidden = register_module("hidden", torch::nn::Linear(in, H));
      output = register_module("output", torch::nn::Linear(H, C));
    } else {
      // fastText's initialisation: small uniform token vectors, so what the bag learns
      // dominates its random start within the few hundred steps of a round.
      auto w = huge_page_tensor(in, H);
      {
        torch::NoGradGuard ng;
        w.uniform_(-1.0 / double(H), 1.0 / double(H));
      }
      bag = register_module(
          "bag", torch::nn::EmbeddingBag(
                     torch::nn::EmbeddingBagOptions(in, H).mode(torch::kMean).sparse(sparse_bag)._weight(w)));
      output = register_module("output", torch::nn::Linear(H, C));
    }
  }
  // x: [n, d] floats (embedding models) or ids/offsets (embbag).
  torch::Tensor logits(const torch::Tensor& x, const torch::Tensor& ids, const torch::Tensor& offsets) {
    if (kind == "logreg") return linear->forward(x);
    if (kind == "mlp") return output->forward(torch::relu(hidden->forward(x)));
    return output->forward(bag->forward(ids, offsets));
  }
};

// AdamW (torch's algorithm: decoupled decay p *= 1 − lr·wd, then the bias-corrected Adam step)
// for an embedding table with sparse gradients, touching only rows that have ever been used.
// Unused rows have m = v = 0, so their Adam step is exactly zero and they only decay; that
// decay is applied as one power before a row's first forward pass (touch), and to the never
// used rows at finish(). Moments are stored for used rows only.
class LazyRowAdamW {
 public:
  LazyRowAdamW(torch::Tensor w, double lr, double wd, double b1 = 0.9, double b2 = 0.999, double eps = 1e-8)
      : w_(std::move(w)), lr_(lr), wd_(wd), b1_(b1), b2_(b2), eps_(eps) {
    TRAWL_ASSERT(w_.is_contiguous() && w_.scalar_type() == torch::kFloat32 && w_.dim() == 2);
    rows_ = w_.size(0);
    H_ = w_.size(1);
    slot_.assign(size_t(rows_), -1);
    zeros_.assign(size_t(H_), 0.0f);
  }
  /// Before the forward pass of the next step: rows of `ids` used for the first time receive
  /// the decays they missed, so the forward sees the same values as dense AdamW's.
  void touch(const torch::Tensor& ids) {
    auto c = ids.contiguous();
    const int64_t* ip = c.data_ptr<int64_t>();
    float* w = w_.data_ptr<float>();
    const float f = float(std::pow(1.0 - lr_ * wd_, double(t_)));
    fresh_.clear();
    for (int64_t k = 0; k < c.numel(); ++k) {
      int64_t r = ip[k];
      TRAWL_ASSERT(r >= 0 && r < rows_);
      if (slot_[size_t(r)] != -1) continue;
      slot_[size_t(r)] = -2;  // seen in this batch
      for (int64_t h = 0; h < H_; ++h) w[r * H_ + h] *= f;
      fresh_.push_back(r);
    }
    if (fresh_.empty()) return;
    // Keep the used rows sorted by row index, with their moments in the same order, so that a
    // step walks the bag and the moments forward in memory.
    std::sort(fresh_.begin(), fresh_.end());
    std::vector<int64_t> rows;
    rows.reserve(active_.size() + fresh_.size());
    std::merge(active_.begin(), active_.end(), fresh_.begin(), fresh_.end(), std::back_inserter(rows));
    std::vector<float> m(rows.size() * size_t(H_), 0.0f), v(m.size(), 0.0f);
    for (size_t s = 0; s < rows.size(); ++s) {
      int64_t old = slot_[size_t(rows[s])];
      if (old >= 0) {
        std::copy_n(m_.begin() + old * H_, H_, m.begin() + long(s) * H_);
        std::copy_n(v_.begin() + old * H_, H_, v.begin() + long(s) * H_);
      }
    }
    for (size_t s = 0; s < rows.size(); ++s) slot_[size_t(rows[s])] = int64_t(s);
    active_.swap(rows);
    m_.swap(m);
    v_.swap(v);
  }
  void step(const torch::Tensor& sparse_grad) {
    ++t_;
    float* w = w_.data_ptr<float>();
    const double keep = 1.0 - lr_ * wd_;
    // This step's gradient rows (duplicates summed by coalesce); all were touch()ed.
    auto g = sparse_grad.coalesce();
    auto idx = g.indices()[0].contiguous();
    auto val = g.values().contiguous();
    const int64_t* ip = idx.data_ptr<int64_t>();
    const float* vp = val.data_ptr<float>();
    const int64_t nnz = idx.size(0);
    grad_of_.assign(active_.size(), -1);
    for (int64_t k = 0; k < nnz; ++k) {
      int64_t s = slot_[size_t(ip[k])];
      TRAWL_ASSERT_MSG(s >= 0, "bag row ", ip[k], " has a gradient but was not touched");
      grad_of_[size_t(s)] = k;
    }
    const float fkeep = float(keep), fb1 = float(b1_), fb2 = float(b2_), feps = float(eps_);
    const float c1 = float(1 - b1_), c2 = float(1 - b2_);
    const double bc1 = 1 - std::pow(b1_, double(t_)), bc2 = 1 - std::pow(b2_, double(t_));
    const float step_size = float(lr_ / bc1), sq_bc2 = float(std::sqrt(bc2));
    // Rows are independent: split over the intra-op threads (same result at any count).
    at::parallel_for(0, int64_t(active_.size()), 64, [&](int64_t sb, int64_t se) {
      for (size_t s = size_t(sb); s < size_t(se); ++s) {
        float* wr = w + active_[s] * H_;
        float* m = m_.data() + s * size_t(H_);
        float* v = v_.data() + s * size_t(H_);
        const float* gr = grad_of_[s] >= 0 ? vp + grad_of_[s] * H_ : zeros_.data();
        // Blocks of 8 with a fixed-length inner loop, so the compiler vectorises them (train.cpp
        // is compiled with -fno-math-errno so that sqrt vectorises too); the tail is scalar.
        int64_t h = 0;
        for (; h + 8 <= H_; h += 8) {
          float W[8], M[8], V[8], G[8];
          std::memcpy(W, wr + h, sizeof W);
          std::memcpy(M, m + h, sizeof M);
          std::memcpy(V, v + h, sizeof V);
          std::memcpy(G, gr + h, sizeof G);
          for (int l = 0; l < 8; ++l) update(W[l], M[l], V[l], G[l], fkeep, fb1, fb2, c1, c2, step_size, sq_bc2, feps);
          std::memcpy(wr + h, W, sizeof W);
          std::memcpy(m + h, M, sizeof M);
          std::memcpy(v + h, V, sizeof V);
        }
        for (; h < H_; ++h) update(wr[h], m[h], v[h], gr[h], fkeep, fb1, fb2, c1, c2, step_size, sq_bc2, feps);
      }
    });
  }
  static inline void update(float& w, float& m, float& v, float g, float keep, float b1, float b2, float c1, float c2,
                            float step_size, float sq_bc2, float eps) {
    w *= keep;
    m = m * b1 + g * c1;
    v = v * b2 + g * g * c2;
    w -= step_size * m / (std::sqrt(v) / sq_bc2 + eps);
  }
  /// Applies the pending decay to rows that were never touched.
  void finish() {
    float f = float(std::pow(1.0 - lr_ * wd_, double(t_)));
    if (f == 1.0f) return;
    float* w = w_.data_ptr<float>();
    for (int64_t r = 0; r < rows_; ++r)
      if (slot_[size_t(r)] < 0)
        for (int64_t h = 0; h < H_; ++h) w[r * H_ + h] *= f;
  }
  size_t touched() const { return active_.size(); }

 private:
  torch::Tensor w_;
  double lr_, wd_, b1_, b2_, eps_;
  int64_t rows_ = 0, H_ = 0;
  uint64_t t_ = 0;
  std::vector<int64_t> slot_, active_, grad_of_, fresh_;  // slot_: -1 never used
  std::vector<float> m_, v_, zeros_;
};

// Fisher–Yates with trawl's generator: the same permutation on every platform and library.
void fisher_yates(std::vector<int64_t>& v, Rng& r) {
  for (size_t i = v.size(); i > 1; --i) std::swap(v[i - 1], v[r.below(i)]);
}

// Inputs of a set of examples as tensors.
struct Batch {
  torch::Tensor x, ids, offsets, y;
};

class Inputs {
 public:
  Inputs(const TrainData& d, const std::string& input, int64_t buckets) : d_(d), tokens_(input == "tokens"), buckets_(buckets) {
    if (!tokens_)
      x_ = torch::from_blob(const_cast<float*>(d.x.data()), {int64_t(d.size()), int64_t(d.dim)}, torch::kFloat32);
    y_ = torch::tensor(std::vector<int64_t>(d.y.begin(), d.y.end()), torch::kInt64);
  }
  Batch make(const std::vector<int64_t>& idx) const {
    Batch b;
    auto it = torch::from_blob(const_cast<int64_t*>(idx.data()), {int64_t(idx.size())}, torch::kInt64);
    b.y = y_.index_select(0, it);
    if (!tokens_) {
      b.x = x_.index_select(0, it);
    } else {
      std::vector<int64_t> ids, offs;
      offs.reserve(idx.size());
      for (int64_t i : idx) {
        offs.push_back(int64_t(ids.size()));
        for (uint64_t k = d_.token_offsets[size_t(i)]; k < d_.token_offsets[size_t(i) + 1]; ++k)
          ids.push_back(int64_t(d_.token_ids[k] % uint64_t(buckets_)));
      }
      b.ids = torch::tensor(ids, torch::kInt64);
      b.offsets = torch::tensor(offs, torch::kInt64);
    }
    return b;
  }

 private:
  const TrainData& d_;
  bool tokens_;
  int64_t buckets_;
  torch::Tensor x_, y_;
};

}  // namespace

namespace {

// mlp and embbag (train_model has validated the options and checked the data).
TrainResult train_torch(const TrainData& d, const TrainOptions& o, const std::string& what) {
  const std::string input = input_of(o);
  TrainResult res;
  res.counts = class_counts(d);
  res.weights = class_weights(res.counts, d.classes, o.allow_missing_classes, what);
  if (!o.class_weighting)
    for (auto& w : res.weights) w = w > 0 ? 1.0 : 0.0;
  auto t0 = std::chrono::steady_clock::now();
  ScopedTimer timer("train");

  at::set_num_threads(o.threads);
  torch::manual_seed(key(o.seed, o.round, kInitStream));
  const int64_t n = int64_t(d.size()), C = int64_t(d.classes.size());
  const int64_t in = o.model == "embbag" ? o.buckets : d.dim;
  const bool lazy = o.model == "embbag" && o.lazy_bag;
  auto net = std::make_shared<Net>(o.model, in, o.model == "logreg" ? 0 : o.hidden, C, lazy);
  net->train();
  std::vector<torch::Tensor> dense_params;
  for (auto& p : net->named_parameters())
    if (!(lazy && p.key() == "bag.weight")) dense_params.push_back(p.value());
  torch::optim::AdamW opt(dense_params, torch::optim::AdamWOptions(o.lr).weight_decay(o.weight_decay));
  std::unique_ptr<LazyRowAdamW> bag_opt;
  if (lazy) bag_opt = std::make_unique<LazyRowAdamW>(net->bag->weight, o.lr, o.weight_decay);
  auto wt = torch::tensor(std::vector<float>(res.weights.begin(), res.weights.end()), torch::kFloat32);
  namespace F = torch::nn::functional;
  Inputs inputs(d, input, o.buckets);

  res.steps = training_steps(uint64_t(n), o.batch_size, o.epochs, o.min_steps);
  std::vector<int64_t> order(static_cast<size_t>(n)), idx;
  int64_t pos = n;  // start a new epoch at the first step
  uint64_t epoch = 0;
  Progress prog(cat("train ", o.model), o.progress ? res.steps : 0, "steps", o.progress ? 2.0 : 1e30);
  for (uint64_t step = 0; step < res.steps; ++step) {
    if (pos >= n) {
      std::iota(order.begin(), order.end(), int64_t(0));
      Rng r(key(o.seed, o.round, kShuffleStream, epoch++));
      fisher_yates(order, r);
      pos = 0;
    }
    int64_t e = std::min<int64_t>(n, pos + o.batch_size);
    idx.assign(order.begin() + pos, order.begin() + e);
    pos = e;
    Batch b = inputs.make(idx);
    if (lazy) bag_opt->touch(b.ids);
    auto loss = F::cross_entropy(net->logits(b.x, b.ids, b.offsets), b.y, F::CrossEntropyFuncOptions().weight(wt));
    opt.zero_grad();
    if (lazy) net->bag->weight.mutable_grad() = torch::Tensor();
    loss.backward();
    opt.step();
    if (lazy) {
      torch::NoGradGuard ng;
      bag_opt->step(net->bag->weight.grad());
    }
    if (step + 1 == res.steps) res.last_batch_loss = loss.item<double>();
    prog.add(1);
  }
  if (o.progress) prog.finish();
  if (lazy) {
    bag_opt->finish();
    log::debug("embbag: ", bag_opt->touched(), " of ", o.buckets, " buckets touched");
  }

  // The final model over the whole training set: weighted loss, accuracy, minority F1.
  {
    torch::NoGradGuard ng;
    net->eval();
    double wloss = 0, wsum = 0;
    std::vector<int64_t> pred{};
    pred.resize(size_t(n));
    const int64_t kEval = 4096;
    for (int64_t s = 0; s < n; s += kEval) {
      int64_t e = std::min(n, s + kEval);
      std::vector<int64_t> all(size_t(e - s));
      std::iota(all.begin(), all.end(), s);
      Batch b = inputs.make(all);
      auto lg = net->logits(b.x, b.ids, b.offsets);
      auto l = F::cross_entropy(lg.to(torch::kFloat64), b.y,
                                F::CrossEntropyFuncOptions().weight(wt.to(torch::kFloat64)).reduction(torch::kSum));
      wloss += l.item<double>();
      wsum += wt.to(torch::kFloat64).index_select(0, b.y).sum().item<double>();
      auto am = lg.argmax(1).contiguous();
      std::copy(am.data_ptr<int64_t>(), am.data_ptr<int64_t>() + (e - s), pred.begin() + s);
    }
    res.final_loss = wsum > 0 ? wloss / wsum : 0;
    uint64_t correct = 0;
    for (int64_t i = 0; i < n; ++i) correct += pred[size_t(i)] == d.y[size_t(i)];
    res.train_accuracy = double(correct) / double(n);
    for (size_t c = 0; c < res.counts.size(); ++c)
      if (res.counts[c] && (res.minority < 0 || res.counts[c] < res.counts[size_t(res.minority)])) res.minority = int(c);
    uint64_t tp = 0, fp = 0, fn = 0;
    for (int64_t i = 0; i < n; ++i) {
      bool p = pred[size_t(i)] == res.minority, t = d.y[size_t(i)] == res.minority;
      tp += p && t;
      fp += p && !t;
      fn += !p && t;
    }
    res.minority_f1 = tp ? 2.0 * double(tp) / double(2 * tp + fp + fn) : 0.0;
  }

  // Parameters in the file's order (model.h param_layout).
  ModelHeader h = make_header(d, o);
  res.params = param_layout(h, what);
  auto named = net->named_parameters();
  for (auto& p : res.params) {
    auto* t = named.find(p.name);
    TRAWL_ASSERT_MSG(t, "no torch parameter '", p.name, "'");
    auto c = t->detach().contiguous();
    TRAWL_ASSERT_MSG(uint64_t(c.numel()) == std::accumulate(p.shape.begin(), p.shape.end(), uint64_t(1), std::multiplies<uint64_t>()),
                     "parameter '", p.name, "' has ", c.numel(), " values");
    p.values.assign(c.data_ptr<float>(), c.data_ptr<float>() + c.numel());
  }
  res.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return res;
}

}  // namespace

void register_torch_training() { set_torch_trainer(&train_torch); }

}  // namespace trawl::train
