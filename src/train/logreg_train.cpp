// trawl-train --model logreg: the convex logistic regression of train/linear.h over the
// features the model file's inference computes (train/model.cpp SparseLogreg / EigenModel).
// No LibTorch here. Contract in train/train.h (train_logreg).
#include <algorithm>
#include <chrono>
#include <cmath>

#include "core/error.h"
#include "core/log.h"
#include "core/timer.h"
#include "train/linear.h"
#include "train/train.h"

namespace trawl::train {

namespace {

// The rows as the model sees them: [tf-idf over B buckets | embedding].
linear::Csr features_of(const TrainData& d, const std::string& input, uint32_t B, const std::vector<float>& idf) {
  const size_t n = d.size();
  if (input == "embedding") {
    linear::Csr x;
    x.cols = d.dim;
    x.offsets.reserve(n + 1);
    for (size_t i = 0; i < n; ++i) {
      for (int j = 0; j < d.dim; ++j) {
        x.index.push_back(uint32_t(j));
        x.value.push_back(d.x[i * size_t(d.dim) + size_t(j)]);
      }
      x.offsets.push_back(x.index.size());
    }
    return x;
  }
  linear::Csr t;
  linear::tfidf_rows(d.token_offsets.data(), d.token_ids.data(), n, B, idf.empty() ? nullptr : idf.data(), &t);
  if (input == "tokens") return t;
  linear::Csr x;
  x.cols = int64_t(B) + d.dim;
  for (size_t i = 0; i < n; ++i) {
    for (uint64_t k = t.offsets[i]; k < t.offsets[i + 1]; ++k) {
      x.index.push_back(t.index[k]);
      x.value.push_back(t.value[k]);
    }
    for (int j = 0; j < d.dim; ++j) {
      x.index.push_back(B + uint32_t(j));
      x.value.push_back(d.x[i * size_t(d.dim) + size_t(j)]);
    }
    x.offsets.push_back(x.index.size());
  }
  return x;
}

}  // namespace

TrainResult train_logreg(const TrainData& d, const TrainOptions& o, const std::string& what) {
  const std::string input = input_of(o);
  const uint32_t B = uint32_t(o.feature_buckets);
  if (input != "embedding" && !d.idf.empty() && d.idf.size() != size_t(B))
    throw UsageError(cat(what, ": ", d.idf.size(), " idf weights for ", B, " feature buckets"));
  auto t0 = std::chrono::steady_clock::now();
  ScopedTimer timer("train");
  TrainResult res;
  res.counts = class_counts(d);
  res.weights = class_weights(res.counts, d.classes, o.allow_missing_classes, what);
  if (!o.class_weighting)
    for (auto& w : res.weights) w = w > 0 ? 1.0 : 0.0;
  const int C = int(d.classes.size());
  linear::Csr x = features_of(d, input, B, d.idf);
  linear::LogregOptions lo;
  lo.C = o.C;
  lo.tol = o.tol;
  lo.class_weight_balanced = o.class_weighting;
  // (fit_logreg keeps parameters only for the columns the rows use: its cost does not grow
  // with the bucket count.)
  linear::LogregFit fit;
  if (C == 1) {
    fit.num_classes = 1;  // one class: a constant model
    fit.W.assign(size_t(x.cols), 0.0);
    fit.b.assign(1, 0.0);
    fit.converged = true;
  } else {
    fit = linear::fit_logreg(x, d.y, C, lo);
  }
  if (!fit.converged)
    log::warn(what, ": logistic regression stopped after ", fit.iterations, " iterations without reaching --tol ", o.tol,
              " (gradient ", fit.grad_norm, ")");
  res.steps = uint64_t(fit.iterations);
  // The final model over the training set: weighted loss, accuracy, minority F1.
  std::vector<double> P = C == 1 ? std::vector<double>(d.size(), 1.0) : linear::predict_proba(fit, x);
  double wloss = 0, wsum = 0;
  uint64_t correct = 0;
  std::vector<int> pred(d.size());
  for (size_t i = 0; i < d.size(); ++i) {
    const double* p = P.data() + i * size_t(C);
    pred[i] = int(std::max_element(p, p + C) - p);
    correct += pred[i] == d.y[i];
    const double w = res.weights[size_t(d.y[i])];
    wloss += -w * std::log(std::max(p[d.y[i]], 1e-300));
    wsum += w;
  }
  res.final_loss = wsum > 0 ? wloss / wsum : 0;
  res.last_batch_loss = res.final_loss;
  res.train_accuracy = d.size() ? double(correct) / double(d.size()) : 0;
  for (size_t c = 0; c < res.counts.size(); ++c)
    if (res.counts[c] && (res.minority < 0 || res.counts[c] < res.counts[size_t(res.minority)])) res.minority = int(c);
  uint64_t tp = 0, fp = 0, fn = 0;
  for (size_t i = 0; i < d.size(); ++i) {
    const bool p = pred[i] == res.minority, t = d.y[i] == res.minority;
    tp += p && t, fp += p && !t, fn += !p && t;
  }
  res.minority_f1 = tp ? 2.0 * double(tp) / double(2 * tp + fp + fn) : 0.0;
  // Parameters in the file's order (model.h param_layout).
  ModelHeader h = make_header(d, o);
  res.params = param_layout(h, what);
  size_t k = 0;
  if (input != "embedding") {
    res.params[k].values = d.idf.empty() ? std::vector<float>(B, 1.0f) : d.idf;
    ++k;
  }
  const size_t F = size_t(h.input_dim);
  TRAWL_ASSERT_MSG(int64_t(F) == x.cols, "feature width ", F, " vs ", x.cols);
  auto& W = res.params[k].values;
  auto& b = res.params[k + 1].values;
  W.assign(size_t(C) * F, 0.0f);
  b.assign(size_t(C), 0.0f);
  if (C > 1)
    for (int c = 0; c < C; ++c) {
      for (size_t j = 0; j < F; ++j) W[size_t(c) * F + j] = float(fit.W[size_t(c) * F + j]);
      b[size_t(c)] = float(fit.b[size_t(c)]);
    }
  res.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  log::debug("logreg: ", fit.iterations, " iterations, objective ", fit.objective, ", gradient ", fit.grad_norm);
  return res;
}

}  // namespace trawl::train
