// Logistic regression by L-BFGS and the bucketed TF-IDF featuriser (see linear.h).
//
// Solver layout. The columns of X that occur in it ("active" columns, A of them) are renumbered
// 0..A-1; a column that never occurs has gradient W_j, so its weights stay 0 and are not stored.
// Parameters are one flat vector x: x[a·K + k] is the weight of active column a for logit k, and
// x[A·K + k] the intercept k, where K = 1 for the binary sigmoid and K = K' (present classes) for
// the softmax. Per L-BFGS iteration the direction's margins dz = X·D are computed once
// (O(nnz·K)); every line-search trial then costs O(n·K) only, and the gradient at the accepted
// point is one Xᵀ·R (O(nnz·K)).
//
// The line search works on φ(α) − φ(0), summed row by row from stable per-row differences
// (log1p/expm1 forms) instead of subtracting two large objective values, so the Armijo test stays
// meaningful near the optimum even when F ≈ C·n is large and its decrease is ~1e-15 of it.
#include "train/linear.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "core/error.h"

namespace trawl::train::linear {
namespace {

constexpr double kEps = std::numeric_limits<double>::epsilon();
constexpr double kInf = std::numeric_limits<double>::infinity();

// log(1 + e^t), stable for any t.
inline double softplus(double t) { return std::max(t, 0.0) + std::log1p(std::exp(-std::abs(t))); }
// 1 / (1 + e^-t), stable for any t.
inline double sigmoid(double t) {
  if (t >= 0) return 1.0 / (1.0 + std::exp(-t));
  const double e = std::exp(t);
  return e / (1.0 + e);
}

void check_csr(const Csr& X, const char* what) {
  if (X.cols < 0 || X.cols > int64_t(std::numeric_limits<uint32_t>::max()) + 1)
    throw InputError(cat(what, ": cols = ", X.cols, " (expected 0 <= cols <= 2^32)"));
  if (X.offsets.empty()) throw InputError(cat(what, ": offsets is empty (expected rows + 1 entries starting at 0)"));
  if (X.offsets[0] != 0) throw InputError(cat(what, ": offsets[0] = ", X.offsets[0], " (expected 0)"));
  if (X.offsets.back() != X.index.size())
    throw InputError(cat(what, ": offsets end at ", X.offsets.back(), " but index has ", X.index.size(), " entries"));
  if (X.value.size() != X.index.size())
    throw InputError(cat(what, ": ", X.value.size(), " values for ", X.index.size(), " column ids"));
  const size_t n = X.rows();
  for (size_t i = 0; i < n; ++i) {
    const uint64_t s = X.offsets[i], e = X.offsets[i + 1];
    if (e < s) throw InputError(cat(what, ": row ", i, ": offsets decrease from ", s, " to ", e));
    for (uint64_t j = s; j < e; ++j) {
      const uint32_t c = X.index[j];
      if (int64_t(c) >= X.cols)
        throw InputError(cat(what, ": row ", i, ": column id ", c, " is out of range (cols = ", X.cols, ")"));
      if (j > s && c <= X.index[j - 1])
        throw InputError(cat(what, ": row ", i, ": column ids not strictly increasing (", X.index[j - 1], " then ", c,
                             ")"));
      if (!std::isfinite(X.value[j]))
        throw InputError(cat(what, ": row ", i, ": value ", X.value[j], " in column ", c, " (expected finite)"));
    }
  }
}

// Dot product with four interleaved partial sums (a fixed order: deterministic).
double dot(const double* a, const double* b, size_t m) {
  double s0 = 0, s1 = 0, s2 = 0, s3 = 0;
  size_t i = 0;
  for (; i + 4 <= m; i += 4) {
    s0 += a[i] * b[i], s1 += a[i + 1] * b[i + 1];
    s2 += a[i + 2] * b[i + 2], s3 += a[i + 3] * b[i + 3];
  }
  for (; i < m; ++i) s0 += a[i] * b[i];
  return (s0 + s1) + (s2 + s3);
}

// d += c·u, then returns next·d (same summation order as dot), or 0 when next is null: one pass
// over d for an axpy of the two-loop recursion and the dot product that follows it.
double axpy_dot(double* __restrict d, double c, const double* __restrict u, const double* __restrict next, size_t m) {
  if (!next) {
    for (size_t i = 0; i < m; ++i) d[i] += c * u[i];
    return 0;
  }
  double s0 = 0, s1 = 0, s2 = 0, s3 = 0;
  size_t i = 0;
  for (; i + 4 <= m; i += 4) {
    d[i] += c * u[i], d[i + 1] += c * u[i + 1], d[i + 2] += c * u[i + 2], d[i + 3] += c * u[i + 3];
    s0 += next[i] * d[i], s1 += next[i + 1] * d[i + 1];
    s2 += next[i + 2] * d[i + 2], s3 += next[i + 3] * d[i + 3];
  }
  for (; i < m; ++i) d[i] += c * u[i], s0 += next[i] * d[i];
  return (s0 + s1) + (s2 + s3);
}

// The smooth convex problem F(x) = Σ_i sw_i·ℓ_i(z_i) + ½‖W‖², z = X·W + b, over compact columns.
class Problem {
 public:
  int K = 1;  // logit columns: 1 = sigmoid (labels 0/1), >= 2 = softmax (labels 0..K-1)
  size_t n = 0, A = 0;
  std::vector<uint64_t> off;
  std::vector<uint32_t> col;  // compact column ids
  std::vector<float> val;
  std::vector<int> yc;        // compact labels
  std::vector<double> sw;     // C · s_i
  std::vector<double> x;      // parameters, size P()
  std::vector<double> z, p;   // logits n×K; probabilities (softmax) or q_i = σ(−m_i) (sigmoid)
  std::vector<double> lse;    // softmax: log-sum-exp of z per row
  std::vector<double> dz;     // margins of the current direction, n×K
  double loss = 0;            // Σ sw_i ℓ_i at x
  double wd = 0, dd = 0;      // W·D and ‖D‖² (penalised part) of the current direction

  size_t P() const { return A * size_t(K) + size_t(K); }
  size_t NW() const { return A * size_t(K); }

  // z = X·W + b from x.
  void logits() {
    const size_t k = size_t(K);
    z.assign(n * k, 0.0);
    const double* b = x.data() + NW();
    for (size_t i = 0; i < n; ++i) {
      double* zi = z.data() + i * k;
      for (size_t c = 0; c < k; ++c) zi[c] = b[c];
      for (uint64_t j = off[i]; j < off[i + 1]; ++j) {
        const double v = val[j];
        const double* w = x.data() + size_t(col[j]) * k;
        for (size_t c = 0; c < k; ++c) zi[c] += v * w[c];
      }
    }
  }

  // p, lse and loss from z.
  void probs() {
    const size_t k = size_t(K);
    p.resize(n * k);
    loss = 0;
    if (K == 1) {
      for (size_t i = 0; i < n; ++i) {
        const double m = yc[i] ? z[i] : -z[i];
        p[i] = sigmoid(-m);
        loss += sw[i] * softplus(-m);
      }
      return;
    }
    lse.resize(n);
    for (size_t i = 0; i < n; ++i) {
      const double* zi = z.data() + i * k;
      double* pi = p.data() + i * k;
      double mx = zi[0];
      for (size_t c = 1; c < k; ++c) mx = std::max(mx, zi[c]);
      double s = 0;
      for (size_t c = 0; c < k; ++c) s += pi[c] = std::exp(zi[c] - mx);
      for (size_t c = 0; c < k; ++c) pi[c] /= s;
      lse[i] = mx + std::log(s);
      loss += sw[i] * (lse[i] - zi[size_t(yc[i])]);
    }
  }

  double objective() const { return loss + 0.5 * dot(x.data(), x.data(), NW()); }

  // g = ∇F at x (needs probs()).
  void gradient(std::vector<double>* gout) const {
    const size_t k = size_t(K);
    std::vector<double>& g = *gout;
    g.assign(P(), 0.0);
    double* gb = g.data() + NW();
    std::vector<double> r(k);
    for (size_t i = 0; i < n; ++i) {
      if (K == 1) {
        r[0] = sw[i] * (yc[i] ? -p[i] : p[i]);  // sw·(σ(z) − y)
      } else {
        const double* pi = p.data() + i * k;
        for (size_t c = 0; c < k; ++c) r[c] = sw[i] * (pi[c] - (int(c) == yc[i] ? 1.0 : 0.0));
      }
      for (size_t c = 0; c < k; ++c) gb[c] += r[c];
      for (uint64_t j = off[i]; j < off[i + 1]; ++j) {
        const double v = val[j];
        double* gw = g.data() + size_t(col[j]) * k;
        for (size_t c = 0; c < k; ++c) gw[c] += v * r[c];
      }
    }
    for (size_t a = 0; a < NW(); ++a) g[a] += x[a];
  }

  // Margins and penalty terms of direction d.
  void direction(const std::vector<double>& d) {
    const size_t k = size_t(K);
    dz.assign(n * k, 0.0);
    const double* db = d.data() + NW();
    for (size_t i = 0; i < n; ++i) {
      double* di = dz.data() + i * k;
      for (size_t c = 0; c < k; ++c) di[c] = db[c];
      for (uint64_t j = off[i]; j < off[i + 1]; ++j) {
        const double v = val[j];
        const double* w = d.data() + size_t(col[j]) * k;
        for (size_t c = 0; c < k; ++c) di[c] += v * w[c];
      }
    }
    wd = dot(x.data(), d.data(), NW());
    dd = dot(d.data(), d.data(), NW());
  }

  // φ(α) − φ(0) along the current direction, and φ'(α).
  double phi(double a, double* dphi) const {
    const size_t k = size_t(K);
    double f = 0, df = 0;
    if (K == 1) {
      for (size_t i = 0; i < n; ++i) {
        const double ys = yc[i] ? 1.0 : -1.0;
        const double m = ys * z[i], dl = ys * dz[i], delta = a * dl;
        const double t = std::abs(delta) <= 1.0 ? std::log1p(p[i] * std::expm1(-delta))
                                                : softplus(-(m + delta)) - softplus(-m);
        f += sw[i] * t;
        df -= sw[i] * sigmoid(-(m + delta)) * dl;
      }
    } else {
      std::vector<double> e(k);
      for (size_t i = 0; i < n; ++i) {
        const double* zi = z.data() + i * k;
        const double* pi = p.data() + i * k;
        const double* di = dz.data() + i * k;
        const size_t y = size_t(yc[i]);
        double tmax = 0;
        for (size_t c = 0; c < k; ++c) tmax = std::max(tmax, std::abs(a * di[c]));
        double t, pd = 0;
        if (tmax <= 1.0) {
          double s = 0;
          for (size_t c = 0; c < k; ++c) s += pi[c] * (e[c] = std::expm1(a * di[c]));
          t = std::log1p(s) - a * di[y];
          for (size_t c = 0; c < k; ++c) pd += pi[c] * (1.0 + e[c]) * di[c];
          pd /= 1.0 + s;
        } else {
          double mx = -kInf;
          for (size_t c = 0; c < k; ++c) mx = std::max(mx, e[c] = zi[c] + a * di[c]);
          double s = 0;
          for (size_t c = 0; c < k; ++c) s += e[c] = std::exp(e[c] - mx);
          t = (mx + std::log(s) - (zi[y] + a * di[y])) - (lse[i] - zi[y]);
          for (size_t c = 0; c < k; ++c) pd += e[c] * di[c];
          pd /= s;
        }
        f += sw[i] * t;
        df += sw[i] * (pd - di[y]);
      }
    }
    f += a * wd + 0.5 * a * a * dd;
    df += wd + a * dd;
    *dphi = df;
    return f;
  }

  void step(double a, const std::vector<double>& d) {
    for (size_t j = 0; j < x.size(); ++j) x[j] += a * d[j];
    for (size_t j = 0; j < z.size(); ++j) z[j] += a * dz[j];
  }
};

// ---- strong-Wolfe line search (bracketing phase, then zoom with safeguarded cubic steps) -------

struct LineSearch {
  const Problem& pr;
  double dphi0;
  static constexpr double c1 = 1e-4, c2 = 0.9;
  int evals = 0;

  double eval(double a, double* d) {
    ++evals;
    return pr.phi(a, d);
  }
  bool armijo(double a, double f) const { return f <= c1 * a * dphi0; }
  bool curvature(double d) const { return std::abs(d) <= -c2 * dphi0; }

  // Minimiser of the cubic through (a, fa, da), (b, fb, db), or NaN when it has none.
  static double cubic(double a, double fa, double da, double b, double fb, double db) {
    const double d1 = da + db - 3.0 * (fa - fb) / (a - b);
    const double disc = d1 * d1 - da * db;
    if (!(disc >= 0)) return std::nan("");
    const double d2 = (b > a ? 1.0 : -1.0) * std::sqrt(disc);
    const double den = db - da + 2.0 * d2;
    if (den == 0) return std::nan("");
    return b - (b - a) * (db + d2 - d1) / den;
  }

  // Returns the accepted step, or 0 when no decreasing step was found.
  double zoom(double lo, double flo, double dlo, double hi, double fhi, double dhi) {
    for (int it = 0; it < 60; ++it) {
      const double w = hi - lo;
      if (std::abs(w) <= 4 * kEps * std::max(std::abs(lo), std::abs(hi))) break;
      double a = std::isfinite(fhi) && std::isfinite(dhi) ? cubic(lo, flo, dlo, hi, fhi, dhi) : std::nan("");
      const double lo_b = std::min(lo, hi) + 0.1 * std::abs(w), hi_b = std::max(lo, hi) - 0.1 * std::abs(w);
      if (!(a >= lo_b && a <= hi_b)) a = lo + 0.5 * w;
      double d;
      const double f = eval(a, &d);
      if (!std::isfinite(f) || !std::isfinite(d) || !armijo(a, f) || f >= flo) {
        hi = a, fhi = f, dhi = d;
      } else {
        if (curvature(d)) return a;
        if (d * (hi - lo) >= 0) hi = lo, fhi = flo, dhi = dlo;
        lo = a, flo = f, dlo = d;
      }
    }
    return lo;  // satisfies Armijo with a decrease when > 0
  }

  double search(double a) {
    double ap = 0, fp = 0, dp = dphi0;
    for (int it = 0; it < 60; ++it) {
      double d;
      const double f = eval(a, &d);
      if (!std::isfinite(f) || !std::isfinite(d) || !armijo(a, f) || (it > 0 && f >= fp))
        return zoom(ap, fp, dp, a, f, d);
      if (curvature(d)) return a;
      if (d >= 0) return zoom(a, f, d, ap, fp, dp);
      ap = a, fp = f, dp = d;
      a *= 2.5;
    }
    return ap;
  }
};

struct SolveResult {
  int iterations = 0;
  bool converged = false;
  double objective = 0, grad_norm = 0;
};

SolveResult lbfgs(Problem& pr, double tol_eff, int max_iter) {
  constexpr int kMemory = 10;
  constexpr int kRefresh = 100;  // recompute z from x every so many steps (no drift build-up)
  const size_t P = pr.P();
  pr.x.assign(P, 0.0);
  pr.logits();
  pr.probs();
  std::vector<double> g, gnew, d(P), snew(P), ynew(P);
  pr.gradient(&g);
  std::vector<std::vector<double>> S, Y;
  std::vector<double> rho, yy_of;
  size_t head = 0;  // next slot of the ring
  SolveResult res;
  double gn = std::sqrt(dot(g.data(), g.data(), P));
  std::vector<double> alpha(kMemory);
  while (true) {
    if (gn <= tol_eff) {
      res.converged = true;
      break;
    }
    if (res.iterations >= max_iter) break;
    // d = −H·g (two-loop recursion over the stored pairs, newest first; each axpy is fused with
    // the next dot product so that d is streamed once per pair and loop).
    const size_t m = S.size();
    for (size_t j = 0; j < P; ++j) d[j] = -g[j];
    if (m > 0) {
      auto slot = [&](size_t t) { return (head + kMemory - 1 - t) % kMemory; };  // t-th newest
      double sd = dot(S[slot(0)].data(), d.data(), P);
      for (size_t t = 0; t < m; ++t) {
        const size_t s = slot(t);
        alpha[t] = rho[s] * sd;
        sd = axpy_dot(d.data(), -alpha[t], Y[s].data(), t + 1 < m ? S[slot(t + 1)].data() : nullptr, P);
      }
      const double gamma = 1.0 / (rho[slot(0)] * yy_of[slot(0)]);
      for (size_t j = 0; j < P; ++j) d[j] *= gamma;
      double yd = dot(Y[slot(m - 1)].data(), d.data(), P);
      for (size_t t = m; t-- > 0;) {
        const size_t s = slot(t);
        const double beta = rho[s] * yd;
        yd = axpy_dot(d.data(), alpha[t] - beta, S[s].data(), t > 0 ? Y[slot(t - 1)].data() : nullptr, P);
      }
    }
    double gd = dot(g.data(), d.data(), P);
    if (!(gd < 0)) {  // not a descent direction (cannot happen with positive pairs): restart
      S.clear(), Y.clear(), rho.clear(), yy_of.clear(), head = 0;
      for (size_t j = 0; j < P; ++j) d[j] = -g[j];
      gd = -gn * gn;
    }
    const bool steepest = S.empty();
    pr.direction(d);
    LineSearch ls{pr, gd};
    const double a = ls.search(steepest ? 1.0 / std::max(1.0, gn) : 1.0);
    if (!(a > 0)) {
      if (steepest) break;  // no decrease along −g: at the rounding floor
      S.clear(), Y.clear(), rho.clear(), yy_of.clear(), head = 0;
      continue;
    }
    pr.step(a, d);
    ++res.iterations;
    if (res.iterations % kRefresh == 0) pr.logits();
    pr.probs();
    pr.gradient(&gnew);
    // Curvature pair s = a·d, y = g_new − g (kept only when sᵀy is clearly positive).
    for (size_t j = 0; j < P; ++j) snew[j] = a * d[j], ynew[j] = gnew[j] - g[j];
    const double sy = dot(snew.data(), ynew.data(), P), yy = dot(ynew.data(), ynew.data(), P);
    if (yy > 0 && sy > 1e-12 * std::sqrt(dot(snew.data(), snew.data(), P) * yy)) {
      if (S.size() < size_t(kMemory)) {
        S.emplace_back(P), Y.emplace_back(P), rho.push_back(0), yy_of.push_back(0);
        head = S.size() - 1;
      }
      S[head].swap(snew), Y[head].swap(ynew), rho[head] = 1.0 / sy, yy_of[head] = yy;
      head = (head + 1) % kMemory;
    }
    g.swap(gnew);
    gn = std::sqrt(dot(g.data(), g.data(), P));
  }
  // The reported state from scratch.
  pr.logits();
  pr.probs();
  pr.gradient(&g);
  res.objective = pr.objective();
  res.grad_norm = std::sqrt(dot(g.data(), g.data(), P));
  return res;
}

}  // namespace

LogregFit fit_logreg(const Csr& X, const std::vector<int>& y, int num_classes, const LogregOptions& o) {
  if (num_classes < 2) throw UsageError(cat("logreg: num_classes = ", num_classes, " (expected >= 2)"));
  if (!(std::isfinite(o.C) && o.C > 0)) throw UsageError(cat("logreg: C = ", o.C, " (expected a finite value > 0)"));
  if (!(std::isfinite(o.tol) && o.tol >= 0))
    throw UsageError(cat("logreg: tol = ", o.tol, " (expected a finite value >= 0)"));
  if (o.max_iter < 0) throw UsageError(cat("logreg: max_iter = ", o.max_iter, " (expected >= 0)"));
  check_csr(X, "logreg: X");
  const size_t n = X.rows();
  if (y.size() != n) throw UsageError(cat("logreg: y has ", y.size(), " labels for ", n, " rows of X"));
  std::vector<uint64_t> count(size_t(num_classes), 0);
  for (size_t i = 0; i < n; ++i) {
    if (y[i] < 0 || y[i] >= num_classes)
      throw UsageError(cat("logreg: y[", i, "] = ", y[i], " is outside [0, ", num_classes, ")"));
    ++count[size_t(y[i])];
  }
  std::vector<int> present, rank(size_t(num_classes), -1);
  for (int c = 0; c < num_classes; ++c)
    if (count[size_t(c)] > 0) rank[size_t(c)] = int(present.size()), present.push_back(c);
  const int Kp = int(present.size());

  LogregFit fit;
  fit.num_classes = num_classes;
  const size_t cols = size_t(X.cols);
  fit.W.assign(size_t(num_classes) * cols, 0.0);
  fit.b.assign(size_t(num_classes), 0.0);
  if (Kp < 2) {  // nothing to fit: the limit model (see linear.h)
    fit.converged = true;
    if (Kp == 1) {
      if (num_classes == 2)
        fit.b[1] = present[0] == 1 ? kAbsentClassGap : -kAbsentClassGap;
      else
        for (int c = 0; c < num_classes; ++c) fit.b[size_t(c)] = c == present[0] ? 0.0 : -kAbsentClassGap;
    }
    return fit;
  }

  Problem pr;
  pr.K = num_classes == 2 ? 1 : Kp;
  pr.n = n;
  // Active columns, in increasing column order.
  std::vector<uint32_t> cmap(cols, std::numeric_limits<uint32_t>::max());
  for (uint32_t c : X.index) cmap[c] = 0;
  std::vector<uint32_t> colid;
  for (size_t c = 0; c < cols; ++c)
    if (cmap[c] == 0) cmap[c] = uint32_t(colid.size()), colid.push_back(uint32_t(c));
  pr.A = colid.size();
  pr.off = X.offsets;
  pr.col.resize(X.index.size());
  for (size_t j = 0; j < X.index.size(); ++j) pr.col[j] = cmap[X.index[j]];
  pr.val = X.value;
  pr.yc.resize(n);
  pr.sw.resize(n);
  double S = 0, noise = 0;
  for (size_t i = 0; i < n; ++i) {
    const int c = y[i];
    pr.yc[i] = pr.K == 1 ? c : rank[size_t(c)];
    const double s = o.class_weight_balanced ? double(n) / (double(Kp) * double(count[size_t(c)])) : 1.0;
    pr.sw[i] = o.C * s;
    S += s;
    double nx = 0;
    for (uint64_t j = X.offsets[i]; j < X.offsets[i + 1]; ++j) nx += double(X.value[j]) * X.value[j];
    noise += pr.sw[i] * (1.0 + std::sqrt(nx));
  }
  noise *= 4 * kEps * std::sqrt(double(pr.K));
  const double tol_eff = std::max(o.tol * std::min(1.0, o.C * S), noise);

  const SolveResult r = lbfgs(pr, tol_eff, o.max_iter);
  fit.iterations = r.iterations;
  fit.converged = r.converged;
  fit.objective = r.objective;
  fit.grad_norm = r.grad_norm;

  const size_t k = size_t(pr.K);
  if (pr.K == 1) {
    for (size_t a = 0; a < pr.A; ++a) fit.W[cols + colid[a]] = pr.x[a];
    fit.b[1] = pr.x[pr.A];
    return fit;
  }
  double mean_b = 0;
  for (size_t c = 0; c < k; ++c) mean_b += pr.x[pr.NW() + c];
  mean_b /= double(k);
  for (size_t c = 0; c < k; ++c) {
    const size_t row = size_t(present[c]);
    for (size_t a = 0; a < pr.A; ++a) fit.W[row * cols + colid[a]] = pr.x[a * k + c];
    fit.b[row] = pr.x[pr.NW() + c] - mean_b;
  }
  if (Kp < num_classes) {
    // pr.z holds the final logits (uncentred): the lowest row maximum, centred, minus the gap.
    double lo = kInf;
    for (size_t i = 0; i < n; ++i) {
      double mx = -kInf;
      for (size_t c = 0; c < k; ++c) mx = std::max(mx, pr.z[i * k + c]);
      lo = std::min(lo, mx);
    }
    for (int c = 0; c < num_classes; ++c)
      if (rank[size_t(c)] < 0) fit.b[size_t(c)] = lo - mean_b - kAbsentClassGap;
  }
  return fit;
}

std::vector<double> predict_proba(const LogregFit& f, const Csr& X) {
  check_csr(X, "predict_proba: X");
  const size_t K = size_t(std::max(f.num_classes, 0));
  if (f.num_classes < 1 || f.b.size() != K || f.W.size() != K * size_t(X.cols))
    throw UsageError(cat("predict_proba: the model has ", f.num_classes, " classes, ", f.b.size(), " intercepts and ",
                         f.W.size(), " weights, X has cols = ", X.cols, " (expected W of num_classes × cols)"));
  const size_t n = X.rows(), cols = size_t(X.cols);
  std::vector<double> P(n * K);
  for (size_t i = 0; i < n; ++i) {
    double* pi = P.data() + i * K;
    for (size_t c = 0; c < K; ++c) {
      double s = f.b[c];
      const double* w = f.W.data() + c * cols;
      for (uint64_t j = X.offsets[i]; j < X.offsets[i + 1]; ++j) s += double(X.value[j]) * w[X.index[j]];
      pi[c] = s;
    }
    double mx = pi[0];
    for (size_t c = 1; c < K; ++c) mx = std::max(mx, pi[c]);
    double s = 0;
    for (size_t c = 0; c < K; ++c) s += pi[c] = std::exp(pi[c] - mx);
    for (size_t c = 0; c < K; ++c) pi[c] /= s;
  }
  return P;
}

void tfidf_rows(const uint64_t* offsets, const uint32_t* ids, size_t n, uint32_t buckets, const float* idf, Csr* out) {
  if (buckets == 0) throw UsageError("tfidf_rows: buckets = 0 (expected > 0)");
  if (!out) throw UsageError("tfidf_rows: out is null");
  if (n > 0 && !offsets) throw UsageError(cat("tfidf_rows: offsets is null for n = ", n, " rows"));
  if (n > 0 && offsets[n] != offsets[0] && !ids)
    throw UsageError(cat("tfidf_rows: ids is null for ", offsets[n] - offsets[0], " tokens"));
  for (size_t i = 0; i < n; ++i)
    if (offsets[i + 1] < offsets[i])
      throw InputError(cat("tfidf_rows: row ", i, ": offsets decrease from ", offsets[i], " to ", offsets[i + 1]));
  out->cols = int64_t(buckets);
  out->offsets.assign(1, 0);
  out->offsets.reserve(n + 1);
  out->index.clear();
  out->value.clear();
  if (n > 0) {
    out->index.reserve(offsets[n] - offsets[0]);
    out->value.reserve(offsets[n] - offsets[0]);
  }
  std::vector<uint32_t> bk;
  std::vector<double> v;
  for (size_t i = 0; i < n; ++i) {
    bk.clear();
    for (uint64_t j = offsets[i]; j < offsets[i + 1]; ++j) bk.push_back(ids[j] < buckets ? ids[j] : ids[j] % buckets);
    std::sort(bk.begin(), bk.end());
    const size_t start = out->index.size();
    v.clear();
    double norm2 = 0;
    for (size_t j = 0; j < bk.size();) {
      size_t e = j + 1;
      while (e < bk.size() && bk[e] == bk[j]) ++e;
      // 1 + log 1 is exactly 1: most tokens occur once in a row, and log is not free.
      const double tf = e - j == 1 ? 1.0 : 1.0 + std::log(double(e - j));
      const double val = tf * (idf ? double(idf[bk[j]]) : 1.0);
      out->index.push_back(bk[j]);
      v.push_back(val);
      norm2 += val * val;
      j = e;
    }
    const double norm = std::sqrt(norm2);
    for (size_t j = 0; j < v.size(); ++j) out->value.push_back(float(norm > 0 ? v[j] / norm : v[j]));
    TRAWL_ASSERT(out->value.size() == out->index.size() && out->index.size() - start == v.size());
    out->offsets.push_back(out->index.size());
  }
}

std::vector<float> bucket_idf(const std::vector<uint32_t>& id, const std::vector<uint64_t>& df, uint64_t n_docs,
                              uint32_t buckets) {
  if (buckets == 0) throw UsageError("bucket_idf: buckets = 0 (expected > 0)");
  if (id.size() != df.size())
    throw UsageError(cat("bucket_idf: ", id.size(), " ids but ", df.size(), " document frequencies"));
  std::vector<uint64_t> sum(buckets, 0);
  for (size_t j = 0; j < id.size(); ++j) {
    uint64_t& s = sum[id[j] % buckets];
    s = df[j] > n_docs - std::min(s, n_docs) ? n_docs : s + df[j];  // saturating at n_docs
  }
  std::vector<float> idf(buckets);
  const double nd = double(n_docs);
  for (uint32_t b = 0; b < buckets; ++b)
    idf[b] = float(std::log((1.0 + nd) / (1.0 + double(std::min(sum[b], n_docs)))) + 1.0);
  return idf;
}

}  // namespace trawl::train::linear
