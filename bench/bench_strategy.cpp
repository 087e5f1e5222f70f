// trawl-libs: trawl_strategy
// bench_strategy: time of one query of every strategy on a 10k subpool and a 1M pool (64
// float32 features, C = 2 and 10, b = 25), and, for scale, least confidence in hand-written
// float32 numpy (1 - p.max(1), then argpartition for the top b) on the same data, measured by
// running Debian's /usr/bin/python3 on this machine.
//   bench_strategy [--sizes 10000,1000000] [--classes 2,10] [--threads N] [--reps 3] [--no-numpy]
//                  [--skip badge,kmeans]
// Prints one line per (n, C, strategy): best-of-reps seconds. Figures go to docs/BENCHMARKS.md.
#include <omp.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <sstream>
#include <string>
#include <vector>

#include "core/rng.h"
#include "strategy/strategy.h"
#include "bench_util.h"

using namespace trawl;
using trawl::bench::parse_list;
using trawl::bench::best_of;
using namespace trawl::strategy;

namespace {

double numpy_least_confidence(const RowMatrixXf& P, int reps, size_t b) {
  char tmpl[] = "/tmp/bench-strategy-XXXXXX";
  int fd = mkstemp(tmpl);
  if (fd < 0) return -1;
  close(fd);
  {
    std::ofstream o(tmpl, std::ios::binary);
    o.write(reinterpret_cast<const char*>(P.data()), std::streamsize(P.size() * 4));
  }
  std::ostringstream py;
  py << "import numpy as np, time\n"
     << "p = np.fromfile('" << tmpl << "', dtype=np.float32).reshape(" << P.rows() << ", " << P.cols() << ")\n"
     << "best = 1e300\n"
     << "for _ in range(" << reps << "):\n"
     << "    t = time.perf_counter()\n"
     << "    s = 1 - p.max(axis=1)\n"
     << "    top = np.argpartition(-s, " << b << ")[:" << b << "]\n"
     << "    top = top[np.argsort(-s[top], kind='stable')]\n"
     << "    best = min(best, time.perf_counter() - t)\n"
     << "print(best)\n";
  std::string cmd = "/usr/bin/python3 -c \"" + py.str() + "\" 2>/dev/null";
  FILE* p = popen(cmd.c_str(), "r");
  double v = -1;
  if (p) {
    if (std::fscanf(p, "%lf", &v) != 1) v = -1;
    pclose(p);
  }
  std::remove(tmpl);
  return v;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<long> sizes = {10000, 1000000}, classes = {2, 10};
  int reps = 3, threads = omp_get_max_threads();
  bool numpy = true;
  std::string skip;
  const int F = 64;
  const size_t b = 25;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto next = [&]() -> std::string { return i + 1 < argc ? argv[++i] : ""; };
    if (a == "--sizes") sizes = parse_list(next());
    else if (a == "--classes") classes = parse_list(next());
    else if (a == "--reps") reps = std::stoi(next());
    else if (a == "--threads") threads = std::stoi(next());
    else if (a == "--no-numpy") numpy = false;
    else if (a == "--skip") skip = "," + next() + ",";
    else {
      std::fprintf(stderr, "usage: %s [--sizes N,N] [--classes C,C] [--threads T] [--reps R] [--no-numpy] [--skip badge,kmeans]\n", argv[0]);
      return 2;
    }
  }
  omp_set_num_threads(threads);
  std::printf("# bench_strategy: b=%zu, F=%d features, threads=%d, best of %d\n", b, F, threads, reps);
  std::printf("%-9s %-3s %-18s %10s\n", "n", "C", "strategy", "seconds");
  for (long n : sizes) {
    for (long C : classes) {
      Rng r(key(1, uint64_t(n), uint64_t(C)));
      RowMatrixXf P(n, C), H(n, F);
      std::vector<uint64_t> u(static_cast<size_t>(n));
      for (long i = 0; i < n; ++i) {
        double s = 0;
        for (long k = 0; k < C; ++k) s += P(i, k) = float(std::exp(2.0 * r.normal()));
        for (long k = 0; k < C; ++k) P(i, k) = float(P(i, k) / s);
        for (int f = 0; f < F; ++f) H(i, f) = float(r.normal());
        u[size_t(i)] = uint64_t(i);
      }
      Context ctx{42, 1};
      auto line = [&](const char* name, double s) { std::printf("%-9ld %-3ld %-18s %10.6f\n", n, C, name, s); std::fflush(stdout); };
      line("least-confidence", best_of(reps, [&] { top_uncertain(P, u, Uncertainty::kLeastConfidence, b); }));
      line("margin", best_of(reps, [&] { top_uncertain(P, u, Uncertainty::kMargin, b); }));
      line("entropy", best_of(reps, [&] { top_uncertain(P, u, Uncertainty::kEntropy, b); }));
      line("threshold", best_of(reps, [&] { top_around_threshold(P, u, 1, 0.5, b); }));
      line("random", best_of(reps, [&] { random(u, b, ctx); }));
      if (skip.find(",badge,") == std::string::npos)
        line("badge", best_of(n > 100000 ? 1 : reps, [&] { badge(P, H, u, b, ctx); }));
      if (skip.find(",kmeans,") == std::string::npos)
        line("kmeans(20 it)", best_of(n > 100000 ? 1 : reps, [&] { kmeans_diversity(H, u, b, ctx, 20); }));
      if (numpy) {
        double s = numpy_least_confidence(P, std::max(reps, 5), b);
        if (s >= 0) line("numpy-lc(float32)", s);
        else std::printf("# numpy not available under /usr/bin/python3\n");
      }
    }
  }
  return 0;
}
