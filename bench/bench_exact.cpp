// trawl-libs: trawl_retrieve
// Exact streaming search throughput: GFLOP/s of the anchor × item scan (ExactScanner, K = 50,
// random unit vectors) and the item bandwidth it implies, next to this machine's measured
// peaks (a large Eigen GEMM, STREAM-like copy and read-sum), so the fraction is visible.
//
//   bench_exact [--items 1000000] [--dim 256] [--k 50] [--nq 20,100,1000] [--reps 3]
//               [--threads T] [--block-rows R] [--query-tile Q] [--sweep]
//
// Columns: GFLOP/s = 2·nq·items·dim / wall time; %GEMM against the GEMM peak; %roof against
// min(GEMM peak, read bandwidth × nq/2 flop/byte); GB/s = item bytes streamed per second;
// cand/pair = fraction of (query, item) pairs that needed the canonical distance;
// gemm-only = the same sub-block GEMMs without the norm pass and the selection (at small nq
// it can be slower than the scan: the scan's norm pass streams each sub-block into cache
// before Eigen's packing reads it 48 rows at a time); *cpu = by CPU time per thread.
// --sweep also times block_rows ∈ {64 … 4096} for each nq (to choose the default).
// Compile flags matter: the default build has no -march, so Eigen uses SSE2 only.
#include <omp.h>

#include <Eigen/Core>
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <sstream>
#include <string>
#include <vector>

#include "core/rng.h"
#include "retrieve/exact.h"
#include "bench_util.h"

using namespace trawl;
using trawl::bench::now;
using namespace trawl::retrieve;
using RowMatrixXf = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

namespace {

double cpu_now() {  // CPU seconds of all threads of this process
  timespec ts;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return double(ts.tv_sec) + 1e-9 * double(ts.tv_nsec);
}

// Best wall time of reps runs, and the best CPU time divided by the thread count: on cores
// shared with other jobs the wall time includes time the threads were not running, while the
// CPU time mostly does not (idle OpenMP threads spin, so it is not a perfect measure either).
struct Timing {
  double wall = 1e300, cpu = 1e300;
};
template <class F> Timing best_of(int reps, F&& f) {
  Timing b;
  const int T = omp_get_max_threads();
  for (int r = 0; r < reps; ++r) {
    double t0 = now(), c0 = cpu_now();
    f();
    b.wall = std::min(b.wall, now() - t0);
    b.cpu = std::min(b.cpu, (cpu_now() - c0) / T);
  }
  return b;
}

// Random unit vectors, one keyed stream per row (parallel and reproducible).
void random_unit_rows(float* x, size_t n, int dim, uint64_t seed) {
#pragma omp parallel for schedule(static)
  for (long long i = 0; i < static_cast<long long>(n); ++i) {
    Rng r(key(seed, static_cast<uint64_t>(i)));
    float* v = x + static_cast<size_t>(i) * dim;
    double s = 0;
    for (int k = 0; k < dim; ++k) {
      v[k] = static_cast<float>(r.normal());
      s += double(v[k]) * v[k];
    }
    const float inv = static_cast<float>(1.0 / std::sqrt(s));
    for (int k = 0; k < dim; ++k) v[k] *= inv;
  }
}

// GEMM peak two ways; the larger is reported: one 2048³ product parallelised by Eigen, and
// one 1024³ product per thread run side by side (how the scan itself uses the cores).
struct GemmPeak {
  double eigen_parallel, per_thread, per_thread_cpu;  // GFLOP/s (the last by CPU time)
  double best() const { return std::max(eigen_parallel, per_thread); }
};
GemmPeak gemm_peak_gflops(int reps) {
  GemmPeak p{};
  {
    const int n = 2048;
    RowMatrixXf A = RowMatrixXf::Random(n, n), B = RowMatrixXf::Random(n, n), C(n, n);
    C.noalias() = A * B;  // warm-up
    double t = best_of(reps, [&] { C.noalias() = A * B; }).wall;
    volatile float sink = C(1, 1);
    (void)sink;
    p.eigen_parallel = 2.0 * n * double(n) * n / t / 1e9;
  }
  {
    const int n = 1024, T = omp_get_max_threads();
    std::vector<RowMatrixXf> A(size_t(T), RowMatrixXf::Random(n, n)), B(size_t(T), RowMatrixXf::Random(n, n)),
        C(size_t(T), RowMatrixXf(n, n));
    auto run = [&] {
#pragma omp parallel
      {
        const size_t t = size_t(omp_get_thread_num());
        C[t].noalias() = A[t] * B[t];  // inside a parallel region Eigen runs sequentially
      }
    };
    run();
    Timing t = best_of(reps, run);
    p.per_thread = 2.0 * n * double(n) * n * T / t.wall / 1e9;
    p.per_thread_cpu = 2.0 * n * double(n) * n * T / t.cpu / 1e9;
  }
  return p;
}

struct Bandwidth {
  double copy, sum;  // GB/s: copy counts bytes read + written, sum counts bytes read
};
Bandwidth stream_bandwidth(int reps) {
  const size_t n = size_t(64) << 20;  // 64 Mi floats = 256 MiB per array
  std::vector<float> a(n), b(n);
#pragma omp parallel for schedule(static)
  for (long long i = 0; i < static_cast<long long>(n); ++i) {
    a[size_t(i)] = float(i & 1023);
    b[size_t(i)] = 0;
  }
  double tc = best_of(reps, [&] {
#pragma omp parallel for schedule(static)
    for (long long i = 0; i < static_cast<long long>(n); ++i) b[size_t(i)] = a[size_t(i)];
  }).wall;
  // Read bandwidth: each thread sums its contiguous part with Eigen's vectorised reduction
  // (several independent accumulators, so the loop is limited by memory, not by add latency).
  double total = 0;
  double ts = best_of(reps, [&] {
    double s = 0;
#pragma omp parallel reduction(+ : s)
    {
      const size_t nt = size_t(omp_get_num_threads()), t = size_t(omp_get_thread_num());
      const size_t lo = n * t / nt, hi = n * (t + 1) / nt;
      s += Eigen::Map<const Eigen::VectorXf>(a.data() + lo, Eigen::Index(hi - lo)).sum();
    }
    total += s;
  }).wall;
  volatile double sink = total + b[n / 2];
  (void)sink;
  return {2.0 * n * sizeof(float) / tc / 1e9, n * sizeof(float) / ts / 1e9};
}

std::vector<int> parse_list(const std::string& s) {
  std::vector<int> v;
  std::stringstream ss(s);
  std::string tok;
  while (std::getline(ss, tok, ',')) v.push_back(std::atoi(tok.c_str()));
  return v;
}

}  // namespace

int main(int argc, char** argv) {
  if (trawl::bench::help(argc, argv,
      "usage: bench_exact [--items 1000000] [--dim 256] [--k 50] [--nq 20,100,1000] [--reps 3]\n"
      "                   [--threads T] [--block-rows R] [--query-tile Q] [--sweep]\n"
      "Exact streaming search throughput (GFLOP/s of the anchor x item scan) against this machine's\n"
      "GEMM peak and read bandwidth measured in the same run.\n"))
    return 0;
  size_t items = 1000000;
  int dim = 256, K = 50, reps = 3, threads = 0, block_rows = 0, query_tile = 0;
  bool sweep = false;
  std::vector<int> nqs = {20, 100, 1000};
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto next = [&]() -> std::string {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "bench_exact: %s needs a value\n", a.c_str());
        std::exit(2);
      }
      return argv[++i];
    };
    if (a == "--items") items = std::strtoull(next().c_str(), nullptr, 10);
    else if (a == "--dim") dim = std::atoi(next().c_str());
    else if (a == "--k") K = std::atoi(next().c_str());
    else if (a == "--nq") nqs = parse_list(next());
    else if (a == "--reps") reps = std::atoi(next().c_str());
    else if (a == "--threads") threads = std::atoi(next().c_str());
    else if (a == "--block-rows") block_rows = std::atoi(next().c_str());
    else if (a == "--query-tile") query_tile = std::atoi(next().c_str());
    else if (a == "--sweep") sweep = true;
    else {
      std::fprintf(stderr, "bench_exact: unknown option %s (see the comment at the top of bench/bench_exact.cpp)\n",
                   a.c_str());
      return 2;
    }
  }
  if (threads > 0) omp_set_num_threads(threads);
  const int T = omp_get_max_threads();
  std::printf("bench_exact: %zu items x %d dims (%.2f GB f32), K = %d, %d threads, Eigen SIMD: %s\n", items, dim,
              items * double(dim) * 4 / 1e9, K, T, Eigen::SimdInstructionSetsInUse());

  // Peaks are measured before and after the scans and the larger kept: on shared cores a
  // single measurement can land in someone else's busy spell.
  GemmPeak gp = gemm_peak_gflops(reps + 1);
  Bandwidth bw = stream_bandwidth(reps + 1);

  std::vector<float> X(items * size_t(dim));
  std::vector<uint64_t> uid(items);
  random_unit_rows(X.data(), items, dim, 1);
  for (size_t i = 0; i < items; ++i) uid[i] = i;

  struct Row {
    int nq, rows;
    Timing t, tg;
    uint64_t cands;
  };
  std::vector<Row> table;
  for (int nq : nqs) {
    std::vector<float> Q(size_t(nq) * dim);
    random_unit_rows(Q.data(), size_t(nq), dim, 2);
    std::vector<int> rows_list = {block_rows};
    if (sweep) rows_list = {64, 128, 256, 512, 1024, 2048, 4096};
    for (int rows : rows_list) {
      ExactOptions opt{rows, query_tile, T};
      uint64_t cands = 0;
      int used_rows = 0;
      Timing t = best_of(reps, [&] {
        ExactScanner s(Q.data(), nq, dim, K, nullptr, opt);
        s.scan(X.data(), uid.data(), items);
        cands = s.candidates();
        used_rows = s.block_rows();
      });
      // The same sub-block GEMMs with no selection at all: the ceiling of this design.
      const int B = used_rows, QT = query_tile > 0 ? query_tile : 256;
      std::vector<RowMatrixXf> S(size_t(T), RowMatrixXf(std::min(QT, nq), B));
      Eigen::Map<const RowMatrixXf> Qm(Q.data(), nq, dim);
      Timing tg = best_of(reps, [&] {
        const long long nsub = static_cast<long long>((items + B - 1) / B);
#pragma omp parallel
        {
          auto& Sb = S[size_t(omp_get_thread_num())];
#pragma omp for schedule(dynamic, 1)
          for (long long s = 0; s < nsub; ++s) {
            size_t r0 = size_t(s) * B, n = std::min(size_t(B), items - r0);
            Eigen::Map<const RowMatrixXf> Xs(X.data() + r0 * dim, Eigen::Index(n), dim);
            for (int q0 = 0; q0 < nq; q0 += QT) {
              int nqt = std::min(QT, nq - q0);
              Sb.topLeftCorner(nqt, Eigen::Index(n)).noalias() = Qm.middleRows(q0, nqt) * Xs.transpose();
            }
          }
        }
      });
      table.push_back({nq, used_rows, t, tg, cands});
      std::fprintf(stderr, "  nq %d rows %d: %.3f s\n", nq, used_rows, t.wall);
    }
  }
  std::vector<float>().swap(X);
  const GemmPeak gp2 = gemm_peak_gflops(reps + 1);
  const Bandwidth bw2 = stream_bandwidth(reps + 1);
  gp.eigen_parallel = std::max(gp.eigen_parallel, gp2.eigen_parallel);
  gp.per_thread = std::max(gp.per_thread, gp2.per_thread);
  gp.per_thread_cpu = std::max(gp.per_thread_cpu, gp2.per_thread_cpu);
  bw.copy = std::max(bw.copy, bw2.copy);
  bw.sum = std::max(bw.sum, bw2.sum);
  const double peak = gp.best();
  std::printf(
      "machine peak: Eigen GEMM %.1f GFLOP/s (2048^3 Eigen-parallel %.1f, 1024^3 per thread x %d %.1f; by CPU time "
      "%.1f); STREAM-like copy %.1f GB/s, read-sum %.1f GB/s\n",
      peak, gp.eigen_parallel, T, gp.per_thread, gp.per_thread_cpu, bw.copy, bw.sum);
  std::printf("roofline for the scan: min(GEMM peak, read-sum x nq/2 flop/byte); best of %d runs each\n", reps);
  std::printf("columns *cpu: the same by CPU time per thread (robust to other jobs on shared cores)\n");
  std::printf("\n%6s %10s %9s %9s %9s %9s %9s %9s %12s %11s %11s %8s\n", "nq", "block_rows", "time_s", "GFLOP/s",
              "%GEMM", "%roof", "GB/s", "%read", "cand/pair", "gemm-only", "GFLOP/s*cpu", "%GEMM*cpu");
  for (const auto& r : table) {
    const double flops = 2.0 * r.nq * double(items) * dim;
    const double bytes = double(items) * dim * sizeof(float);
    const double roof = std::min(peak, bw.sum * r.nq / 2.0);  // 2·nq flops per 4-byte float
    const double gf = flops / r.t.wall / 1e9, gfc = flops / r.t.cpu / 1e9;
    std::printf("%6d %10d %9.3f %9.1f %8.0f%% %8.0f%% %9.1f %8.0f%% %12.2e %6.1f GF/s %11.1f %8.0f%%\n", r.nq, r.rows,
                r.t.wall, gf, 100 * gf / peak, 100 * gf / roof, bytes / r.t.wall / 1e9,
                100 * bytes / r.t.wall / 1e9 / bw.sum, double(r.cands) / (double(r.nq) * items),
                flops / r.tg.wall / 1e9, gfc, 100 * gfc / gp.per_thread_cpu);
  }
  return 0;
}
