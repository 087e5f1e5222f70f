#include "strategy/activelab.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>

#include "core/error.h"
#include "core/rng.h"

namespace trawl::strategy::activelab {

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// Entries grouped by item and by annotator (entry indices in input order).
struct Index {
  std::vector<std::vector<int>> by_item, by_annotator;
  std::vector<int> n;  // labels per item
};
Index make_index(const Annotations& L) {
  Index x;
  x.by_item.resize(size_t(L.num_items));
  x.by_annotator.resize(size_t(L.num_annotators));
  for (size_t e = 0; e < L.size(); ++e) {
    x.by_item[size_t(L.item[e])].push_back(int(e));
    x.by_annotator[size_t(L.annotator[e])].push_back(int(e));
  }
  x.n.resize(size_t(L.num_items));
  for (int i = 0; i < L.num_items; ++i) x.n[size_t(i)] = int(x.by_item[size_t(i)].size());
  return x;
}

// First index of the maximum of a row (np.argmax).
int argmax_row(const MatrixXdR& P, int i) {
  int b = 0;
  for (int k = 1; k < P.cols(); ++k)
    if (P(i, k) > P(i, b)) b = k;
  return b;
}

void check_probs(const MatrixXdR& P, const char* what) {
  for (Eigen::Index i = 0; i < P.rows(); ++i) {
    double s = 0;
    for (Eigen::Index k = 0; k < P.cols(); ++k) {
      const double v = P(i, k);
      if (!std::isfinite(v) || v < 0)
        throw InputError(cat(what, ": row ", i, ", class ", k, ": ", v, " is not a probability (expected finite, >= 0)"));
      s += v;
    }
    if (!(s > 0)) throw InputError(cat(what, ": row ", i, " is all zeros"));
  }
}

struct Stats {
  std::vector<double> a;  // a_i
  double p_agree = 0, p_other = 0, mlc = 0, model_error = 0, w_m = 0;
  std::vector<double> w;  // w_j
  MatrixXdR post;
  std::vector<double> q;
};

// §2 Step 2 for consensus y. A: annotator agreement with the other annotators (consensus-free).
Stats step2(const Annotations& L, const Index& x, const MatrixXdR& P, const std::vector<int>& y,
            const std::vector<double>& A) {
  const int N = L.num_items, M = L.num_annotators, K = L.num_classes;
  Stats s;
  s.a.resize(size_t(N));
  for (int i = 0; i < N; ++i) {
    int agree = 0;
    for (int e : x.by_item[size_t(i)]) agree += L.label[size_t(e)] == y[size_t(i)];
    s.a[size_t(i)] = double(agree) / double(x.n[size_t(i)]);
  }
  double sum_a = 0;
  int n_multi = 0, model_wrong = 0;
  std::vector<int> bincount(static_cast<size_t>(K), 0);
  for (int i = 0; i < N; ++i) {
    if (x.n[size_t(i)] == 1) continue;
    ++n_multi;
    sum_a += s.a[size_t(i)];
    ++bincount[size_t(y[size_t(i)])];
    model_wrong += argmax_row(P, i) != y[size_t(i)];
  }
  TRAWL_ASSERT(n_multi > 0);
  s.p_agree = sum_a / n_multi;
  s.p_other = (1 - s.p_agree) / (K - 1);
  const int mlc_class = int(std::max_element(bincount.begin(), bincount.end()) - bincount.begin());
  s.mlc = std::max(kClipFloor, double(n_multi - bincount[size_t(mlc_class)]) / n_multi);
  s.model_error = double(model_wrong) / n_multi;
  double mean_n = 0;
  for (int v : x.n) mean_n += v;
  mean_n /= N;
  s.w_m = std::max(1 - s.model_error / s.mlc, kClipFloor) * std::sqrt(mean_n);
  s.w.resize(size_t(M));
  for (int j = 0; j < M; ++j) s.w[size_t(j)] = std::max(kClipFloor, 1 - (1 - A[size_t(j)]) / s.mlc);
  s.post.resize(N, K);
  s.q.resize(size_t(N));
  for (int i = 0; i < N; ++i) {
    double den = s.w_m;
    for (int e : x.by_item[size_t(i)]) den += s.w[size_t(L.annotator[size_t(e)])];
    for (int k = 0; k < K; ++k) {
      double num = s.w_m * P(i, k);
      for (int e : x.by_item[size_t(i)])
        num += s.w[size_t(L.annotator[size_t(e)])] * (L.label[size_t(e)] == k ? s.p_agree : s.p_other);
      s.post(i, k) = num / den;
    }
    s.q[size_t(i)] = s.post(i, y[size_t(i)]);
  }
  return s;
}

// A_j of §2 (weighted by n_i − 1 over j's multi-annotated items), imputed with the mean.
std::vector<double> agreement_with_annotators(const Annotations& L, const Index& x) {
  const int M = L.num_annotators;
  std::vector<double> A(static_cast<size_t>(M), kNaN);
  double sum = 0;
  int cnt = 0;
  for (int j = 0; j < M; ++j) {
    long num = 0, den = 0;
    for (int e : x.by_annotator[size_t(j)]) {
      const int i = L.item[size_t(e)];
      const int ni = x.n[size_t(i)];
      if (ni < 2) continue;
      int same = 0;
      for (int f : x.by_item[size_t(i)]) same += L.label[size_t(f)] == L.label[size_t(e)];
      num += same - 1;
      den += ni - 1;
    }
    if (den > 0) {
      A[size_t(j)] = double(num) / double(den);
      sum += A[size_t(j)];
      ++cnt;
    }
  }
  if (cnt > 0)
    for (auto& v : A)
      if (std::isnan(v)) v = sum / cnt;
  return A;
}

}  // namespace

Annotations from_dense(const Eigen::MatrixXi& L, int num_classes) {
  Annotations a;
  a.num_items = int(L.rows());
  a.num_annotators = int(L.cols());
  a.num_classes = num_classes;
  for (int i = 0; i < L.rows(); ++i)
    for (int j = 0; j < L.cols(); ++j)
      if (L(i, j) != kMissing) a.add(i, j, L(i, j));
  return a;
}

void validate(const Annotations& L, const MatrixXdR* P) {
  if (L.num_classes < 2) throw InputError(cat("annotations: ", L.num_classes, " classes, expected at least 2"));
  if (L.item.size() != L.annotator.size() || L.item.size() != L.label.size())
    throw InputError("annotations: item, annotator and label lists differ in length");
  std::vector<int> per_item(size_t(std::max(L.num_items, 0)), 0), per_ann(size_t(std::max(L.num_annotators, 0)), 0);
  std::vector<std::pair<int, int>> pairs;
  pairs.reserve(L.size());
  for (size_t e = 0; e < L.size(); ++e) {
    const int i = L.item[e], j = L.annotator[e], k = L.label[e];
    if (i < 0 || i >= L.num_items) throw InputError(cat("annotations: entry ", e, ": item ", i, " outside [0, ", L.num_items, ")"));
    if (j < 0 || j >= L.num_annotators)
      throw InputError(cat("annotations: entry ", e, ": annotator ", j, " outside [0, ", L.num_annotators, ")"));
    if (k < 0 || k >= L.num_classes)
      throw InputError(cat("annotations: entry ", e, ": label ", k, " outside [0, ", L.num_classes, ")"));
    ++per_item[size_t(i)];
    ++per_ann[size_t(j)];
    pairs.emplace_back(i, j);
  }
  std::sort(pairs.begin(), pairs.end());
  auto d = std::adjacent_find(pairs.begin(), pairs.end());
  if (d != pairs.end())
    throw InputError(cat("annotations: annotator ", d->second, " labelled item ", d->first, " twice"));
  for (int i = 0; i < L.num_items; ++i)
    if (per_item[size_t(i)] == 0) throw InputError(cat("annotations: item ", i, " has no label"));
  for (int j = 0; j < L.num_annotators; ++j)
    if (per_ann[size_t(j)] == 0) throw InputError(cat("annotations: annotator ", j, " labelled no item"));
  if (P) {
    if (P->rows() != L.num_items || P->cols() != L.num_classes)
      throw InputError(cat("probabilities: ", P->rows(), " × ", P->cols(), ", expected ", L.num_items, " × ", L.num_classes,
                           " (items × classes)"));
    check_probs(*P, "probabilities");
  }
}

uint64_t tie_break_key(uint64_t seed, uint64_t uid) { return key(seed, uid); }

MajorityVote majority_vote(const Annotations& L, const MatrixXdR* P, const std::vector<uint64_t>& uids, uint64_t seed) {
  validate(L, P);
  if (uids.size() != size_t(L.num_items))
    throw InputError(cat("majority vote: ", uids.size(), " uids for ", L.num_items, " items"));
  const int N = L.num_items, K = L.num_classes, M = L.num_annotators;
  const Index x = make_index(L);
  Eigen::MatrixXi count = Eigen::MatrixXi::Zero(N, K);
  for (size_t e = 0; e < L.size(); ++e) ++count(L.item[e], L.label[e]);
  std::vector<long> freq(static_cast<size_t>(K), 0);
  for (int i = 0; i < N; ++i)
    for (int k = 0; k < K; ++k) freq[size_t(k)] += count(i, k);

  MajorityVote mv;
  mv.label.assign(size_t(N), -1);
  mv.decided_by.assign(size_t(N), 0);
  std::vector<std::vector<int>> tied(static_cast<size_t>(N));
  std::vector<char> nontied(static_cast<size_t>(N), 0);
  // Keeps the classes of t whose value is maximal (exactly); decides when one is left.
  auto keep_max = [&](int i, std::vector<int>& t, const std::vector<double>& v, int step) {
    const double m = *std::max_element(v.begin(), v.end());
    std::vector<int> k2;
    for (size_t c = 0; c < t.size(); ++c)
      if (v[c] == m) k2.push_back(t[c]);
    if (k2.empty()) return;  // NaN values: leave the tie
    t = k2;
    if (t.size() == 1) {
      mv.label[size_t(i)] = t[0];
      mv.decided_by[size_t(i)] = step;
    }
  };
  for (int i = 0; i < N; ++i) {
    const int m = count.row(i).maxCoeff();
    for (int k = 0; k < K; ++k)
      if (count(i, k) == m) tied[size_t(i)].push_back(k);
    if (tied[size_t(i)].size() == 1) {
      mv.label[size_t(i)] = tied[size_t(i)][0];
      nontied[size_t(i)] = 1;
    }
  }
  // Tie-break 1: the highest P.
  if (P)
    for (int i = 0; i < N; ++i) {
      if (mv.label[size_t(i)] >= 0) continue;
      std::vector<double> v;
      for (int k : tied[size_t(i)]) v.push_back((*P)(i, k));
      keep_max(i, tied[size_t(i)], v, 1);
    }
  // Tie-break 2: the lowest total vote count.
  for (int i = 0; i < N; ++i) {
    if (mv.label[size_t(i)] >= 0) continue;
    std::vector<double> v;
    for (int k : tied[size_t(i)]) v.push_back(-double(freq[size_t(k)]));
    keep_max(i, tied[size_t(i)], v, 2);
  }
  // Tie-break 3: annotator agreement with the majority on the items without a tie.
  bool any_left = false;
  for (int i = 0; i < N; ++i) any_left |= mv.label[size_t(i)] < 0;
  if (any_left) {
    std::vector<double> agree(static_cast<size_t>(M), kNaN);
    double sum = 0;
    int cnt = 0;
    for (int j = 0; j < M; ++j) {
      int num = 0, den = 0;
      for (int e : x.by_annotator[size_t(j)]) {
        const int i = L.item[size_t(e)];
        if (!nontied[size_t(i)]) continue;
        ++den;
        num += L.label[size_t(e)] == mv.label[size_t(i)];
      }
      if (den) {
        agree[size_t(j)] = double(num) / den;
        sum += agree[size_t(j)];
        ++cnt;
      }
    }
    if (cnt > 0) {
      for (auto& v : agree)
        if (std::isnan(v)) v = sum / cnt;
      for (int i = 0; i < N; ++i) {
        if (mv.label[size_t(i)] >= 0) continue;
        std::vector<double> v;
        for (int k : tied[size_t(i)]) {
          double s = 0;
          int c = 0;
          for (int e : x.by_item[size_t(i)])
            if (L.label[size_t(e)] == k) {
              s += agree[size_t(L.annotator[size_t(e)])];
              ++c;
            }
          v.push_back(s / c);
        }
        keep_max(i, tied[size_t(i)], v, 3);
      }
    }
  }
  // Tie-break 4: keyed by (seed, uid).
  for (int i = 0; i < N; ++i) {
    if (mv.label[size_t(i)] >= 0) continue;
    const auto& t = tied[size_t(i)];
    mv.label[size_t(i)] = t[size_t(tie_break_key(seed, uids[size_t(i)]) % t.size())];
    mv.decided_by[size_t(i)] = 4;
  }
  return mv;
}

namespace {
// What the temperature loss needs that does not depend on T: per item, log P (−inf where P = 0)
// shifted by its row maximum (softmax(log P / T) is unchanged by the shift), and the item's label
// vector v_i as cleanlab 2.9 builds it: its find_best_temp_scaler counts each item's labels with
// value_counts(labels, num_classes = K) on float labels (NaN = not labelled), which puts the
// counts of the classes present, in ascending class order, in slots 0, 1, ... of v_i, divided by
// n_i. Only when all K classes are present are the counts at their own classes; otherwise the
// vector is not aligned with the classes ({1, 1} counts as class 0, {0, 2} of K = 3 as
// [1/2, 1/2, 0]). Every item enters, single-labelled ones too.
struct LossInputs {
  int N = 0, K = 0;
  std::vector<double> lp, v;  // N×K each
};
LossInputs loss_inputs(const Annotations& L, const MatrixXdR& P) {
  const Index x = make_index(L);
  LossInputs in;
  in.N = L.num_items, in.K = L.num_classes;
  in.lp.assign(size_t(in.N) * size_t(in.K), 0.0);
  in.v.assign(size_t(in.N) * size_t(in.K), 0.0);
  std::vector<int> count(static_cast<size_t>(in.K));
  for (int i = 0; i < in.N; ++i) {
    double* lp = in.lp.data() + size_t(i) * size_t(in.K);
    double m = -std::numeric_limits<double>::infinity();
    for (int k = 0; k < in.K; ++k) {
      lp[k] = P(i, k) > 0 ? std::log(P(i, k)) : -std::numeric_limits<double>::infinity();
      m = std::max(m, lp[k]);
    }
    for (int k = 0; k < in.K; ++k) lp[k] -= m;
    std::fill(count.begin(), count.end(), 0);
    for (int e : x.by_item[size_t(i)]) ++count[size_t(L.label[size_t(e)])];
    double* v = in.v.data() + size_t(i) * size_t(in.K);
    int slot = 0;
    for (int k = 0; k < in.K; ++k)
      if (count[size_t(k)] > 0) v[slot++] = double(count[size_t(k)]) / double(x.n[size_t(i)]);
  }
  return in;
}
// loss(T) = mean over all items of −Σ_k v_i[k] · log max(softmax(log P_i / T)[k], kSmall) / log K.
double loss_at(const LossInputs& in, double T) {
  double total = 0;
  std::vector<double> q(static_cast<size_t>(in.K));
  for (int i = 0; i < in.N; ++i) {
    const double* lp = in.lp.data() + size_t(i) * size_t(in.K);
    const double* v = in.v.data() + size_t(i) * size_t(in.K);
    double z = 0;
    for (int k = 0; k < in.K; ++k) z += q[size_t(k)] = std::exp(lp[k] / T);
    double ce = 0;
    for (int k = 0; k < in.K; ++k)
      if (v[k] > 0) ce -= v[k] * std::log(std::max(q[size_t(k)] / z, kSmall));
    total += ce / std::log(double(in.K));
  }
  return total / in.N;
}
}  // namespace

double temperature_loss(const Annotations& L, const MatrixXdR& P, double T) { return loss_at(loss_inputs(L, P), T); }

double fit_temperature(const Annotations& L, const MatrixXdR& P) {
  validate(L, &P);
  const LossInputs in = loss_inputs(L, P);  // the logs once, not once per candidate T
  const std::vector<double> grid = {0.1, 0.2, 0.5, 0.8, 1, 2, 3, 5, 8};
  auto best_of = [&](const std::vector<double>& g) {
    size_t b = 0;
    double bl = std::numeric_limits<double>::infinity();
    for (size_t t = 0; t < g.size(); ++t) {
      const double l = loss_at(in, g[t]);
      if (l < bl) {
        bl = l;
        b = t;
      }
    }
    return b;
  };
  const size_t b = best_of(grid);  // the first minimum, as np.argmin
  // Fine grid as np.linspace builds it (start + t · step): 4 points from grid[b − 1] up to,
  // not including, grid[b]; 5 from grid[b] to grid[b + 1] inclusive. At b = 0 only the right
  // part, at the last index only the left part (8 itself is then not a candidate).
  std::vector<double> fine;
  if (b > 0)
    for (int t = 0; t < 4; ++t) fine.push_back(grid[b - 1] + t * ((grid[b] - grid[b - 1]) / 4));
  if (b + 1 < grid.size()) {
    for (int t = 0; t < 4; ++t) fine.push_back(grid[b] + t * ((grid[b + 1] - grid[b]) / 4));
    fine.push_back(grid[b + 1]);
  }
  return fine[best_of(fine)];
}

MatrixXdR temperature_scale(const MatrixXdR& P, double T) {
  MatrixXdR S(P.rows(), P.cols());
  for (Eigen::Index i = 0; i < P.rows(); ++i) {
    double z = 0;
    for (Eigen::Index k = 0; k < P.cols(); ++k) z += S(i, k) = std::max(P(i, k), kSmall);
    double m = -std::numeric_limits<double>::infinity();
    for (Eigen::Index k = 0; k < P.cols(); ++k) m = std::max(m, S(i, k) = std::log(S(i, k) / z) / T);
    double z2 = 0;
    for (Eigen::Index k = 0; k < P.cols(); ++k) z2 += S(i, k) = std::exp(S(i, k) - m);
    for (Eigen::Index k = 0; k < P.cols(); ++k) S(i, k) /= z2;
  }
  return S;
}

Crowdlab crowdlab(const Annotations& L, const MatrixXdR& P, const std::vector<uint64_t>& uids, uint64_t seed) {
  validate(L, &P);
  const int N = L.num_items, M = L.num_annotators, K = L.num_classes;
  const Index x = make_index(L);
  if (std::none_of(x.n.begin(), x.n.end(), [](int v) { return v > 1; }))
    throw InputError("CROWDLAB: every item has a single label; it needs some items with two or more labels");
  Crowdlab r;
  {
    auto mv = majority_vote(L, &P, uids, seed);
    r.majority_label = mv.label;
    r.random_ties = int(std::count(mv.decided_by.begin(), mv.decided_by.end(), 4));
  }
  const std::vector<double> A = agreement_with_annotators(L, x);
  Stats s = step2(L, x, P, r.majority_label, A);
  // best_quality: argmax of the posterior, the majority vote on ties; then everything again.
  std::vector<int> y(static_cast<size_t>(N));
  for (int i = 0; i < N; ++i) {
    const double m = s.post.row(i).maxCoeff();
    int at = -1, cnt = 0;
    for (int k = 0; k < K; ++k)
      if (s.post(i, k) == m) {
        if (at < 0) at = k;
        ++cnt;
      }
    y[size_t(i)] = cnt == 1 ? at : r.majority_label[size_t(i)];
  }
  s = step2(L, x, P, y, A);

  r.consensus_label = y;
  r.consensus_quality = s.q;
  r.annotator_agreement = s.a;
  r.num_annotations = x.n;
  r.post = s.post;
  r.model_weight = s.w_m;
  r.annotator_weight = s.w;
  r.p_agree = s.p_agree;
  r.mlc_error = s.mlc;
  r.model_error = s.model_error;
  r.detailed_quality.resize(L.size());
  for (size_t e = 0; e < L.size(); ++e) r.detailed_quality[e] = s.post(L.item[e], L.label[e]);

  // Annotator statistics.
  double mean_n = 0, sum_w = 0;
  for (int v : x.n) mean_n += v;
  mean_n /= N;
  for (double v : s.w) sum_w += v;
  const double w = s.w_m / (s.w_m + sum_w * (mean_n / M));
  r.annotator_quality.resize(size_t(M));
  r.agreement_with_consensus.resize(size_t(M));
  r.worst_class.resize(size_t(M));
  r.num_examples_labeled.resize(size_t(M));
  for (int j = 0; j < M; ++j) {
    const auto& es = x.by_annotator[size_t(j)];
    double lqs = 0;
    int agree_all = 0, agree_multi = 0, n_multi = 0;
    std::vector<int> chose(static_cast<size_t>(K), 0), right(static_cast<size_t>(K), 0);
    std::vector<double> qsum(static_cast<size_t>(K), 0.0);
    for (int e : es) {
      const int i = L.item[size_t(e)], k = L.label[size_t(e)];
      lqs += r.detailed_quality[size_t(e)];
      const bool ok = k == y[size_t(i)];
      agree_all += ok;
      if (x.n[size_t(i)] > 1) {
        ++n_multi;
        agree_multi += ok;
      }
      ++chose[size_t(k)];
      right[size_t(k)] += ok;
      qsum[size_t(k)] += s.q[size_t(i)];
    }
    lqs /= double(es.size());
    const double am = n_multi ? double(agree_multi) / n_multi : kNaN;
    r.annotator_quality[size_t(j)] = w * lqs + (1 - w) * am;
    r.agreement_with_consensus[size_t(j)] = double(agree_all) / double(es.size());
    r.num_examples_labeled[size_t(j)] = int(es.size());
    // Worst class: lowest per-class agreement; ties: chosen more often, then higher mean quality.
    std::vector<int> cand;
    double best = std::numeric_limits<double>::infinity();
    for (int k = 0; k < K; ++k) {
      if (!chose[size_t(k)]) continue;
      const double acc = double(right[size_t(k)]) / chose[size_t(k)];
      if (acc < best) {
        best = acc;
        cand.assign(1, k);
      } else if (acc == best) {
        cand.push_back(k);
      }
    }
    if (cand.size() > 1) {
      int mc = 0;
      for (int k : cand) mc = std::max(mc, chose[size_t(k)]);
      std::vector<int> c2;
      for (int k : cand)
        if (chose[size_t(k)] == mc) c2.push_back(k);
      cand = c2;
    }
    if (cand.size() > 1) {
      double mq = -std::numeric_limits<double>::infinity();
      int bk = cand[0];
      for (int k : cand) {
        const double v = qsum[size_t(k)] / chose[size_t(k)];
        if (v > mq) {
          mq = v;
          bk = k;
        }
      }
      cand.assign(1, bk);
    }
    r.worst_class[size_t(j)] = cand[0];
  }
  r.annotator_order.resize(size_t(M));
  std::iota(r.annotator_order.begin(), r.annotator_order.end(), 0);
  auto less_nan_last = [](double a, double b) {  // strict weak order, NaN after every number
    if (std::isnan(a)) return false;
    if (std::isnan(b)) return true;
    return a < b;
  };
  std::stable_sort(r.annotator_order.begin(), r.annotator_order.end(), [&](int a, int b) {
    const double qa = r.annotator_quality[size_t(a)], qb = r.annotator_quality[size_t(b)];
    if (less_nan_last(qa, qb)) return true;
    if (less_nan_last(qb, qa)) return false;
    return r.agreement_with_consensus[size_t(a)] < r.agreement_with_consensus[size_t(b)];
  });
  return r;
}

namespace {
std::vector<double> unlabelled_scores_checked(const MatrixXdR& P_u, const Scores& fitted);
}  // namespace

Scores activelab_scores(const Annotations* L, const MatrixXdR* P, const MatrixXdR* P_u, const std::vector<uint64_t>& uids,
                        uint64_t seed) {
  if (bool(L) != bool(P)) throw InputError("ActiveLab: the annotations and their probabilities go together");
  if (!L && !P_u) throw InputError("ActiveLab: nothing to score (no labelled and no unlabelled items)");
  const int K = int(P ? P->cols() : P_u->cols());
  if (P && P_u && P_u->cols() != K)
    throw InputError(cat("ActiveLab: ", K, " classes for the labelled items but ", P_u->cols(), " for the unlabelled"));
  if (K < 2) throw InputError(cat("ActiveLab: ", K, " classes, expected at least 2"));
  if (P_u) check_probs(*P_u, "unlabelled probabilities");
  Scores s;
  bool scaled = false;
  if (L) {
    validate(*L, P);
    const Index x = make_index(*L);
    const int N = L->num_items;
    s.labelled.resize(size_t(N));
    if (std::all_of(x.n.begin(), x.n.end(), [](int v) { return v == 1; })) {
      s.single_label = true;
      for (int i = 0; i < N; ++i) {
        const int e = x.by_item[size_t(i)][0];
        const double q = (*P)(i, L->label[size_t(e)]);
        s.labelled[size_t(i)] = ((1.0 + 1.0) * q + 1.0 * (1.0 / K)) / (1.0 + 1.0 + 1.0);
      }
    } else {
      s.temperature = fit_temperature(*L, *P);
      scaled = true;
      const MatrixXdR Ps = temperature_scale(*P, s.temperature);
      const Crowdlab c = crowdlab(*L, Ps, uids, seed);
      s.model_weight = c.model_weight;
      s.random_ties = c.random_ties;
      s.mean_annotator_weight =
          std::accumulate(c.annotator_weight.begin(), c.annotator_weight.end(), 0.0) / double(c.annotator_weight.size());
      for (int i = 0; i < N; ++i) {
        double sw = 0;
        for (int e : x.by_item[size_t(i)]) sw += c.annotator_weight[size_t(L->annotator[size_t(e)])];
        const double wq = sw + c.model_weight;
        s.labelled[size_t(i)] =
            (wq * c.consensus_quality[size_t(i)] + s.mean_annotator_weight * (1.0 / K)) / (wq + s.mean_annotator_weight);
      }
    }
  }
  s.scaled = scaled;
  if (P_u) s.unlabelled = unlabelled_scores_checked(*P_u, s);  // P_u was checked above
  return s;
}

namespace {
// s_u of §3.2 for every row, P_u already checked. With scaling, the row's largest scaled
// probability is computed without materialising the scaled matrix: after clipping at kSmall,
// softmax(log p / T) has its maximum at the largest p, equal to 1 / Σ_k (p_k / p_max)^(1/T)
// (the row normalisation cancels in the ratios).
std::vector<double> unlabelled_scores_checked(const MatrixXdR& P_u, const Scores& fitted) {
  const int K = int(P_u.cols());
  const double inv_t = 1.0 / fitted.temperature;
  const double wm = fitted.model_weight, wa = fitted.mean_annotator_weight;
  std::vector<double> out(static_cast<size_t>(P_u.rows()));
  for (Eigen::Index u = 0; u < P_u.rows(); ++u) {
    const double* p = P_u.data() + u * K;
    double top;
    if (fitted.scaled) {
      double pm = kSmall;
      for (int k = 0; k < K; ++k) pm = std::max(pm, p[k]);
      double z = 0;
      for (int k = 0; k < K; ++k) {
        const double r = std::max(p[k], kSmall) / pm;
        z += inv_t == 1.0 ? r : std::pow(r, inv_t);
      }
      top = 1.0 / z;
    } else {
      top = p[0];
      for (int k = 1; k < K; ++k) top = std::max(top, p[k]);
    }
    out[size_t(u)] = (wm * top + wa * (1.0 / K)) / (wm + wa);
  }
  return out;
}
}  // namespace

std::vector<double> unlabelled_scores(const MatrixXdR& P_u, const Scores& fitted) {
  check_probs(P_u, "unlabelled probabilities");
  return unlabelled_scores_checked(P_u, fitted);
}

}  // namespace trawl::strategy::activelab
