// trawl-libs: trawl_retrieve
// Exact streaming search throughput: GFLOP/s of the anchor × item scan and the item bandwidth
// it implies, next to this machine's measured peaks (a large Eigen GEMM, STREAM-like copy and
// read-sum), so the fraction of peak is visible.
//
//   bench_exact [--items 1000000] [--dim 256] [--k 50] [--nq 20,100,1000] [--reps 2]
//               [--threads T] [--block-rows R] [--query-tile Q] [--sweep]
//
// --sweep also times block_rows ∈ {64 … 4096} for each nq (to choose the default).
#include <omp.h>

#include <Eigen/Core>
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <sstream>
#include <string>
#include <vector>

#include "core/rng.h"
#include "retrieve/exact.h"

using namespace trawl;
using namespace trawl::retrieve;
using RowMatrixXf = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

namespace {

double now() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

template <class F> double best_of(int reps, F&& f) {
  double best = 1e300;
  for (int r = 0; r < reps; ++r) {
    double t0 = now();
    f();
    best = std::min(best, now() - t0);
  }
  return best;
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

double gemm_peak_gflops(int reps) {
  const int n = 2048;
  RowMatrixXf A = RowMatrixXf::Random(n, n), B = RowMatrixXf::Random(n, n), C(n, n);
  C.noalias() = A * B;  // warm-up
  double t = best_of(reps, [&] { C.noalias() = A * B; });
  volatile float sink = C(1, 1);
  (void)sink;
  return 2.0 * n * double(n) * n / t / 1e9;
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
  });
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
  });
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
  size_t items = 1000000;
  int dim = 256, K = 50, reps = 2, threads = 0, block_rows = 0, query_tile = 0;
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

  const double peak = gemm_peak_gflops(reps + 1);
  const Bandwidth bw = stream_bandwidth(reps + 1);
  std::printf("machine peak: Eigen GEMM 2048^3 %.1f GFLOP/s; STREAM-like copy %.1f GB/s, read-sum %.1f GB/s\n", peak,
              bw.copy, bw.sum);

  std::vector<float> X(items * size_t(dim));
  std::vector<uint64_t> uid(items);
  random_unit_rows(X.data(), items, dim, 1);
  for (size_t i = 0; i < items; ++i) uid[i] = i;

  std::printf("\n%6s %10s %9s %9s %9s %9s %9s %12s %11s\n", "nq", "block_rows", "time_s", "GFLOP/s", "%GEMM",
              "GB/s", "%read", "cand/pair", "gemm-only");
  for (int nq : nqs) {
    std::vector<float> Q(size_t(nq) * dim);
    random_unit_rows(Q.data(), size_t(nq), dim, 2);
    std::vector<int> rows_list = {block_rows};
    if (sweep) rows_list = {64, 128, 256, 512, 1024, 2048, 4096};
    for (int rows : rows_list) {
      ExactOptions opt{rows, query_tile, T};
      uint64_t cands = 0;
      int used_rows = 0;
      double t = best_of(reps, [&] {
        ExactScanner s(Q.data(), nq, dim, K, nullptr, opt);
        s.scan(X.data(), uid.data(), items);
        cands = s.candidates();
        used_rows = s.block_rows();
      });
      // The same sub-block GEMMs with no selection at all: the ceiling of this design.
      const int B = used_rows, QT = query_tile > 0 ? query_tile : 256;
      std::vector<RowMatrixXf> S(size_t(T), RowMatrixXf(std::min(QT, nq), B));
      Eigen::Map<const RowMatrixXf> Qm(Q.data(), nq, dim);
      double tg = best_of(reps, [&] {
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
      const double flops = 2.0 * nq * double(items) * dim;
      const double bytes = double(items) * dim * sizeof(float);
      std::printf("%6d %10d %9.3f %9.1f %8.0f%% %9.1f %8.0f%% %12.2e %7.1f GF/s\n", nq, used_rows, t,
                  flops / t / 1e9, 100 * flops / t / 1e9 / peak, bytes / t / 1e9, 100 * bytes / t / 1e9 / bw.sum,
                  double(cands) / (double(nq) * items), flops / tg / 1e9);
      std::fflush(stdout);
    }
  }
  return 0;
}
