// trawl-libs: trawl_activelab
// bench_activelab: time of CROWDLAB (crowdlab()) and of the ActiveLab scores
// (activelab_scores()) for N labelled items × M annotators (2–4 labels per item, 3 on average,
// from distinct annotators of accuracy 0.6–0.95) and K classes, plus the unlabelled part
// (unlabelled_scores(), the same code activelab_scores runs on P_u) over N_u unlabelled rows:
// items/s, and for the unlabelled part GB/s of probabilities (N_u × K doubles) read, against a
// STREAM-like read-sum (8 accumulators) of the same array measured in the same run. cleanlab
// (the Python reference) is not installed here, so the only comparison is the machine limit.
//
//   bench_activelab [--sizes 1000,10000,100000] [--annotators 5,50] [--classes 2,10]
//                   [--unlabelled 1000000] [--reps 3]
//
//   --sizes       labelled items N
//   --annotators  annotators M
//   --classes     classes K
//   --unlabelled  unlabelled rows N_u (0: skip that part)
//   --reps        runs per figure; the best is printed (timings are never asserted)
// crowdlab() is timed on P as given; activelab_scores() includes fit_temperature and the
// temperature scaling of P (what trawl-select runs); "+P_u" is the same call with the N_u
// unlabelled rows as well. The unlabelled rows are scored twice: with
// the fitted temperature (scaled: temperature_scale copies P_u, log/exp per entry) and with
// T = 1 (unscaled: max per row only).
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "strategy/activelab.h"
#include "bench_util.h"

using namespace trawl::strategy::activelab;

using trawl::bench::now;
using trawl::bench::arg;
using trawl::bench::parse_list;
using trawl::bench::best_of;

namespace {

// Model probabilities: the true class gets a boost with probability 0.8, then softmax.
MatrixXdR make_probs(size_t n, int K, const std::vector<int>* truth, std::mt19937_64& g) {
  MatrixXdR P(Eigen::Index(n), K);
  std::normal_distribution<double> z(0.0, 1.0);
  std::uniform_int_distribution<int> cls(0, K - 1);
  for (size_t i = 0; i < n; ++i) {
    const int t = truth ? (*truth)[i] : cls(g);
    double s = 0;
    for (int k = 0; k < K; ++k) {
      double l = z(g) + ((k == t && g() % 10 < 8) ? 2.0 : 0.0);
      s += P(Eigen::Index(i), k) = std::exp(l);
    }
    for (int k = 0; k < K; ++k) P(Eigen::Index(i), k) /= s;
  }
  return P;
}

// STREAM-like read-sum of the array (8 accumulators), GB/s; the first pass warms up.
double read_sum_gbs(const double* a, size_t n, int reps) {
  double best = 1e300, sink = 0;
  for (int r = 0; r < reps + 1; ++r) {
    const double t0 = now();
    double s[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    size_t i = 0;
    for (; i + 8 <= n; i += 8)
      for (int k = 0; k < 8; ++k) s[k] += a[i + size_t(k)];
    for (; i < n; ++i) s[0] += a[i];
    const double t = now() - t0;
    for (double v : s) sink += v;
    if (r > 0) best = std::min(best, t);
  }
  if (sink == 42.0) std::printf(" ");
  return double(n * sizeof(double)) / best / 1e9;
}

}  // namespace

int main(int argc, char** argv) {
  for (int i = 1; i < argc; ++i)
    if (!std::strcmp(argv[i], "--help") || !std::strcmp(argv[i], "-h")) {
      std::printf("bench_activelab [--sizes 1000,10000,100000] [--annotators 5,50] [--classes 2,10] "
                  "[--unlabelled 1000000] [--reps 3]\n");
      return 0;
    }
  const auto sizes = parse_list(arg(argc, argv, "--sizes", "1000,10000,100000"));
  const auto annots = parse_list(arg(argc, argv, "--annotators", "5,50"));
  const auto classes = parse_list(arg(argc, argv, "--classes", "2,10"));
  const size_t nu = std::stoull(arg(argc, argv, "--unlabelled", "1000000"));
  const int reps = std::max(1, std::stoi(arg(argc, argv, "--reps", "3")));
  std::printf("bench_activelab: best of %d; ~3 labels per item\n\n", reps);
  std::printf("%8s %4s %3s %8s | %10s %12s | %10s %12s | %12s %12s | %6s %7s\n", "N", "M", "K", "labels",
              "crowdlab s", "items/s", "scores s", "items/s", "+P_u s", "(N+N_u)/s", "T", "w_M");
  std::vector<Scores> fitted_by_k(classes.size());
  std::vector<MatrixXdR> pu_by_k(classes.size());
  for (size_t ki = 0; ki < classes.size(); ++ki) {
    const int K = int(classes[ki]);
    {
      std::mt19937_64 gu(uint64_t(K) * 1000003ull);
      pu_by_k[ki] = make_probs(nu, K, nullptr, gu);
    }
    const MatrixXdR& Pu = pu_by_k[ki];
    for (long Nl : sizes) {
      for (long Ml : annots) {
        const int N = int(Nl), M = int(Ml);
        std::mt19937_64 g(uint64_t(N) * 131 + uint64_t(M) * 7 + uint64_t(K));
        std::vector<int> truth(static_cast<size_t>(N));
        for (auto& t : truth) t = int(g() % uint64_t(K));
        std::vector<double> acc(static_cast<size_t>(M));
        for (auto& a : acc) a = 0.6 + 0.35 * double(g() % 1000) / 1000.0;
        Annotations L;
        L.num_items = N;
        L.num_annotators = M;
        L.num_classes = K;
        std::vector<int> who;
        for (int i = 0; i < N; ++i) {
          const int n = std::min(M, 2 + int(g() % 3));  // 2..4, mean 3
          who.assign(1, i % M);                         // every annotator gets items
          while (int(who.size()) < n) {
            const int j = int(g() % uint64_t(M));
            if (std::find(who.begin(), who.end(), j) == who.end()) who.push_back(j);
          }
          for (int j : who) {
            int k = truth[size_t(i)];
            if (double(g() % 1000) / 1000.0 >= acc[size_t(j)]) k = (k + 1 + int(g() % uint64_t(K - 1))) % K;
            L.add(i, j, k);
          }
        }
        const MatrixXdR P = make_probs(size_t(N), K, &truth, g);
        std::vector<uint64_t> uids(static_cast<size_t>(N));
        for (int i = 0; i < N; ++i) uids[size_t(i)] = 1000003ull * uint64_t(i) + 17;
        Crowdlab c;
        const double tc = best_of(reps, [&] { c = crowdlab(L, P, uids, 42); });
        Scores s;
        const double ts = best_of(reps, [&] { s = activelab_scores(&L, &P, nullptr, uids, 42); });
        double tu = 0;
        if (nu > 0) tu = best_of(reps, [&] { s = activelab_scores(&L, &P, &Pu, uids, 42); });
        std::printf("%8d %4d %3d %8zu | %10.4f %12.0f | %10.4f %12.0f | %12.4f %12.0f | %6.3f %7.4f\n", N, M, K,
                    L.size(), tc, double(N) / tc, ts, double(N) / ts, tu, tu > 0 ? double(size_t(N) + nu) / tu : 0.0,
                    s.temperature, s.model_weight);
        fitted_by_k[ki] = s;
      }
    }
  }
  if (nu == 0) return 0;
  std::printf("\nunlabelled part: unlabelled_scores() over N_u = %zu rows vs a read-sum of the same array\n", nu);
  std::printf("%3s %9s | %-9s %10s %12s %8s | %10s %8s\n", "K", "MB", "path", "seconds", "items/s", "GB/s",
              "read GB/s", "x read");
  for (size_t ki = 0; ki < classes.size(); ++ki) {
    const int K = int(classes[ki]);
    const MatrixXdR& Pu = pu_by_k[ki];
    const double bytes = double(Pu.size()) * sizeof(double);
    const double bw = read_sum_gbs(Pu.data(), size_t(Pu.size()), reps);
    Scores scaled = fitted_by_k[ki];
    Scores unscaled = scaled;
    unscaled.scaled = false;
    unscaled.temperature = 1;
    std::vector<double> out;
    for (int pass = 0; pass < 2; ++pass) {
      const Scores& f = pass == 0 ? scaled : unscaled;
      const double t = best_of(reps, [&] { out = unlabelled_scores(Pu, f); });
      std::printf("%3d %9.1f | %-9s %10.4f %12.0f %8.2f | %10.2f %8.1f\n", K, bytes / 1e6,
                  pass == 0 ? (f.scaled ? "scaled" : "T=1") : "unscaled", t, double(nu) / t, bytes / t / 1e9, bw,
                  (bytes / bw / 1e9) > 0 ? t / (bytes / bw / 1e9) : 0.0);
    }
    // activelab_scores without L: P_u unscaled with w_M = w_j = 1, plus its input check.
    const double t = best_of(reps, [&] { out = activelab_scores(nullptr, nullptr, &Pu, {}, 42).unlabelled; });
    std::printf("%3d %9.1f | %-9s %10.4f %12.0f %8.2f | %10.2f %8.1f\n", K, bytes / 1e6, "no L", t, double(nu) / t,
                bytes / t / 1e9, bw, t / (bytes / bw / 1e9));
  }
  return 0;
}
