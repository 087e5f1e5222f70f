// trawl-libs: trawl_evaluate
// bench_evaluate: the two costs of trawl-evaluate (twitter-labor §8).
//   * calibration: B bootstrap logistic fits on a labelled rank-bucket sample of n rows
//     (the reference: 170–340 rows, B = 10,000);
//   * the expansion numerator's pass over the pool: count_above for B + 1 sorted thresholds
//     over N float scores (a binary search per score into the thresholds, then a histogram
//     reduced across ranks), next to a STREAM-like read-sum of the same scores (the bound when
//     the thresholds fit in cache).
//
//   mpirun -n P bench_evaluate [--n 340] [--bootstrap 10000] [--items 10000000] [--reps 3]
// Under mpirun each rank holds items / P scores; times are the max over ranks.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "core/rng.h"
#include "mpi/comm.h"
#include "score/evaluate.h"
#include "bench_util.h"

using namespace trawl;
using trawl::bench::now;

namespace {
}  // namespace

int main(int argc, char** argv) {
  mpi::Environment env(&argc, &argv);
  auto comm = mpi::Comm::world();
  uint64_t n = 340, B = 10000, items = 10000000;
  int reps = 3;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto next = [&]() -> const char* {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "bench_evaluate: %s needs a value\n", a.c_str());
        std::exit(2);
      }
      return argv[++i];
    };
    if (a == "--n") n = std::strtoull(next(), nullptr, 10);
    else if (a == "--bootstrap") B = std::strtoull(next(), nullptr, 10);
    else if (a == "--items") items = std::strtoull(next(), nullptr, 10);
    else if (a == "--reps") reps = std::atoi(next());
    else {
      std::fprintf(stderr, "usage: bench_evaluate [--n ROWS] [--bootstrap B] [--items N] [--reps R]\n");
      return 2;
    }
  }
  // A rank-bucket-like sample: scores falling with rank, positives likelier at high scores.
  Rng r(11);
  std::vector<double> s(n);
  std::vector<int> y(n);
  for (uint64_t i = 0; i < n; ++i) {
    s[i] = 1.0 - double(i) / double(n);
    y[i] = r.uniform() < s[i] * s[i] ? 1 : 0;
  }
  double best_cal = 1e30;
  score::Calibration cal;
  for (int k = 0; k < reps; ++k) {
    double t0 = now();
    cal = score::calibrate(s, y, B, 42);
    best_cal = std::min(best_cal, now() - t0);
  }
  // Pool scores of this rank.
  const uint64_t mine = items / uint64_t(comm.size()) + (uint64_t(comm.rank()) < items % uint64_t(comm.size()) ? 1 : 0);
  std::vector<float> v(mine);
  Rng rr(key(7, uint64_t(comm.rank())));
  for (auto& x : v) x = float(rr.uniform());
  std::vector<double> roots;
  roots.push_back(cal.root(0.5));
  for (size_t b = 0; b < cal.a.size(); ++b) roots.push_back(cal.a[b] > 0 ? -cal.c[b] / cal.a[b] : 1e300);
  std::sort(roots.begin(), roots.end());
  if (comm.root())
    std::printf("# bench_evaluate: sample n=%llu, B=%llu; pool %llu scores over %d rank(s); best of %d\n",
                (unsigned long long)n, (unsigned long long)B, (unsigned long long)items, comm.size(), reps);
  if (comm.root())
    std::printf("calibration (%llu fits of %llu rows)      %9.3f s   %9.0f fits/s\n", (unsigned long long)B,
                (unsigned long long)n, best_cal, double(B) / best_cal);
  volatile double sink = 0;
  for (size_t nt : {size_t(1), size_t(101), roots.size()}) {
    std::vector<double> t(roots.begin(), roots.begin() + long(std::min(nt, roots.size())));
    double best = 1e30;
    for (int k = 0; k < reps; ++k) {
      comm.barrier();
      double t0 = now();
      auto c = score::count_above(comm, t, v);
      double el = comm.max(now() - t0);
      sink = sink + double(c[0]);
      best = std::min(best, el);
    }
    if (comm.root())
      std::printf("count_above, %6zu thresholds             %9.3f s   %9.1f M scores/s   %6.2f GB/s of scores\n",
                  t.size(), best, double(items) / best / 1e6, double(items) * 4 / best / 1e9);
  }
  // The read-sum of the same scores (4 accumulators).
  double best = 1e30;
  for (int k = 0; k < reps; ++k) {
    comm.barrier();
    double t0 = now();
    float a0 = 0, a1 = 0, a2 = 0, a3 = 0;
    size_t i = 0;
    for (; i + 4 <= v.size(); i += 4) a0 += v[i], a1 += v[i + 1], a2 += v[i + 2], a3 += v[i + 3];
    for (; i < v.size(); ++i) a0 += v[i];
    sink = sink + double(a0 + a1 + a2 + a3);
    best = std::min(best, comm.max(now() - t0));
  }
  if (comm.root())
    std::printf("read-sum of the same scores                %9.3f s   %9.1f M scores/s   %6.2f GB/s\n", best,
                double(items) / best / 1e6, double(items) * 4 / best / 1e9);
  return sink == 12345.678 ? 1 : 0;
}
