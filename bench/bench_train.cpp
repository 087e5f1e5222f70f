// trawl-libs: trawl_train
// Training time and inference throughput of the trawl-train classifiers.
//
//   bench_train [--dim 256] [--sizes 100,1000,10000] [--models logreg,logreg-tokens,mlp,embbag]
//   (logreg: the convex L-BFGS logistic regression over d-dim embeddings; logreg-tokens: over the
//   tf-idf of 8-24 hashed token ids per row in 2^18 columns; "steps" are its solver iterations)
//               [--rows 1000000] [--reps 3] [--threads T] [--hidden 256] [--buckets 262144]
//
// Part 1: wall time of train_model (defaults: AdamW lr 1e-3, batch 32, epochs 10, min-steps 100)
// on n synthetic labelled examples (two Gaussian classes, 10% positives, d = --dim; embbag:
// token documents of 8-24 hashed ids), with steps/s.
// Part 2: Model::predict throughput of a logreg model on --rows × --dim f32 rows held in memory:
// rows/s and GB/s of input read (best of --reps), and the same for mlp.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <sstream>
#include <string>
#include <vector>

#include "core/log.h"
#include "core/rng.h"
#include "train/model.h"
#include "train/train.h"
#include "bench_util.h"

// LibTorch is linked into this binary: mlp and embbag train in-process, not through the plugin.
static const bool kTorchTraining = (trawl::train::register_torch_training(), true);

using namespace trawl;
using trawl::bench::now;
using namespace trawl::train;

namespace {

std::vector<std::string> split(const std::string& s) {
  std::vector<std::string> out;
  std::stringstream ss(s);
  for (std::string x; std::getline(ss, x, ',');)
    if (!x.empty()) out.push_back(x);
  return out;
}

TrainData synthetic(size_t n, int d, const std::string& model, uint64_t seed) {
  Rng r(seed);
  TrainData t;
  t.classes = {"neg", "pos"};
  t.dim = d;
  for (size_t i = 0; i < n; ++i) {
    int y = i % 10 == 0 ? 1 : 0;
    t.y.push_back(y);
    t.uid.push_back(i);
    if (model == "embbag" || model == "logreg-tokens") {
      size_t len = 8 + r.below(17);
      for (size_t k = 0; k < len; ++k) t.token_ids.push_back(uint32_t(r.below(50000)) * 2654435761u);
      if (y) t.token_ids[t.token_ids.size() - 1] = 12345u;
      t.token_offsets.push_back(t.token_ids.size());
    } else {
      for (int j = 0; j < d; ++j) t.x.push_back(float((y && j < 4 ? 0.5 : 0.0) + r.normal() * 0.2));
    }
  }
  return t;
}

}  // namespace

int main(int argc, char** argv) {
  int dim = 256, reps = 3, threads = 1, hidden = 256, buckets = 1 << 18;
  size_t rows = 1000000;
  std::string sizes = "100,1000,10000", models = "logreg,logreg-tokens,mlp";
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto next = [&]() -> std::string {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "%s needs a value\n", a.c_str());
        std::exit(2);
      }
      return argv[++i];
    };
    if (a == "--dim") dim = std::atoi(next().c_str());
    else if (a == "--sizes") sizes = next();
    else if (a == "--models") models = next();
    else if (a == "--rows") rows = size_t(std::atoll(next().c_str()));
    else if (a == "--reps") reps = std::atoi(next().c_str());
    else if (a == "--threads") threads = std::atoi(next().c_str());
    else if (a == "--hidden") hidden = std::atoi(next().c_str());
    else if (a == "--buckets") buckets = std::atoi(next().c_str());
    else {
      std::fprintf(stderr, "usage: bench_train [--dim D] [--sizes a,b] [--models logreg,mlp,embbag] [--rows N] "
                           "[--reps R] [--threads T] [--hidden H] [--buckets B]\n");
      return 2;
    }
  }
  log::set_level(log::Level::kWarn);

  std::printf("# training: d=%d hidden=%d buckets=%d threads=%d (AdamW lr 1e-3, batch 32, epochs 10, min-steps 100)\n",
              dim, hidden, buckets, threads);
  std::printf("%-8s %8s %7s %10s %10s %10s\n", "model", "n", "steps", "seconds", "steps/s", "train_acc");
  for (auto& m : split(models)) {
    for (auto& ns : split(sizes)) {
      size_t n = size_t(std::atoll(ns.c_str()));
      auto d = synthetic(n, dim, m, 7);
      TrainOptions o;
      o.model = m == "logreg-tokens" ? "logreg" : m;
      o.features = m == "logreg-tokens" ? "tokens" : "embedding";  // logreg: the convex solver over either
      o.hidden = hidden;
      o.buckets = buckets;
      o.threads = threads;
      o.progress = false;
      double t0 = now();
      auto r = train_model(d, o);
      double s = now() - t0;
      std::printf("%-8s %8zu %7llu %10.3f %10.0f %10.3f\n", m.c_str(), n, (unsigned long long)r.steps, s,
                  double(r.steps) / s, r.train_accuracy);
      std::fflush(stdout);
    }
  }

  if (rows == 0) return 0;
  std::printf("\n# inference: Model::predict on %zu x %d f32 rows in memory (%.2f GB), threads=%d, best of %d\n", rows,
              dim, double(rows) * dim * 4 / 1e9, threads, reps);
  std::printf("%-8s %12s %10s %10s\n", "model", "rows/s", "GB/s", "seconds");
  std::vector<float> X(rows * size_t(dim));
  {
    Rng r(3);
    for (auto& v : X) v = float(r.uniform() - 0.5);
  }
  {
    // The machine's read bandwidth for reference: a plain 8-lane sum over the same rows.
    double best = 1e30, total = 0;
    for (int rep = 0; rep < reps; ++rep) {
      double t0 = now();
      float acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
      const size_t n = X.size() / 8 * 8;
      for (size_t i = 0; i < n; i += 8)
        for (int l = 0; l < 8; ++l) acc[l] += X[i + size_t(l)];
      best = std::min(best, now() - t0);
      total = 0;
      for (float a : acc) total += a;
    }
    std::printf("%-8s %12.0f %10.2f %10.3f   (read-sum reference; checksum %.1f)\n", "sum", double(rows) / best,
                double(rows) * dim * 4 / best / 1e9, best, total);
  }
  for (std::string kind : {"logreg", "mlp"}) {
    ModelHeader h;
    h.kind = kind;
    h.input = "embedding";
    h.classes = {"neg", "pos"};
    h.input_dim = dim;
    h.hidden = kind == "logreg" ? 0 : hidden;
    auto ps = param_layout(h);
    Rng r(5);
    for (auto& p : ps) {
      uint64_t k = 1;
      for (auto s : p.shape) k *= s;
      p.values.resize(k);
      for (auto& v : p.values) v = float(r.normal() * 0.05);
    }
    auto model = make_model(h, ps, threads);
    std::vector<float> probs(rows * 2);
    double best = 1e30;
    for (int rep = 0; rep < reps; ++rep) {
      double t0 = now();
      model->predict(X.data(), rows, probs.data());
      best = std::min(best, now() - t0);
    }
    double sum = 0;
    for (size_t i = 0; i < rows; i += 9973) sum += probs[2 * i];
    std::printf("%-8s %12.0f %10.2f %10.3f   (checksum %.4f)\n", kind.c_str(), double(rows) / best,
                double(rows) * dim * 4 / best / 1e9, best, sum);
  }
  return 0;
}
