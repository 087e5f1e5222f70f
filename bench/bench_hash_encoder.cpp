// trawl-libs: trawl_embed
// Throughput of the hash encoder (rows/s) on synthetic token ids: per core (1 thread) and
// with all threads, unweighted and idf-weighted, at a few dims and feature counts.
//   bench_hash_encoder [rows=200000] [threads=omp max]
#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <utility>
#include <memory>
#include <random>
#include <vector>

#include "embed/encoder.h"
#include "embed/vocab.h"
#include "bench_util.h"

using namespace trawl;

namespace {

struct Block {
  std::vector<std::string> texts;
  std::vector<uint64_t> offs{0};
  std::vector<uint32_t> ids;
};

/// Rows of u Zipf-ish unigrams (from a 200k-word vocabulary) and their u-1 bigrams.
Block make_block(size_t n, int unigrams, uint64_t seed) {
  std::mt19937_64 g(seed);
  Block b;
  b.texts.assign(n, std::string());
  std::vector<uint32_t> words(200000);
  for (auto& w : words) w = uint32_t(g() & 0x7fffffffu);
  for (size_t i = 0; i < n; ++i) {
    size_t start = b.ids.size();
    for (int k = 0; k < unigrams; ++k) {
      double u = std::uniform_real_distribution<double>(0, 1)(g);
      size_t r = size_t(std::pow(double(words.size()), u)) - 1;  // log-uniform rank
      b.ids.push_back(words[r]);
    }
    for (int k = 0; k + 1 < unigrams; ++k)
      b.ids.push_back(0x80000000u | uint32_t((b.ids[start + k] * 31u + b.ids[start + k + 1]) & 0x7fffffffu));
    b.offs.push_back(b.ids.size());
  }
  return b;
}

double cpu_seconds() {
  timespec t;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
  return double(t.tv_sec) + 1e-9 * double(t.tv_nsec);
}

/// Best of reps: rows per wall second, and rows per CPU second (all threads' CPU time; on a
/// shared machine this is the per-core figure the wall clock cannot give).
std::pair<double, double> run(embed::Encoder& e, const Block& b, int threads, int reps) {
  omp_set_num_threads(threads);
  std::vector<float> out(b.texts.size() * e.dim());
  e.encode(b.texts, b.offs, b.ids, out.data());  // warm up
  double best = 1e30, best_cpu = 1e30;
  for (int r = 0; r < reps; ++r) {
    auto t0 = std::chrono::steady_clock::now();
    double c0 = cpu_seconds();
    e.encode(b.texts, b.offs, b.ids, out.data());
    double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    best = std::min(best, s);
    best_cpu = std::min(best_cpu, cpu_seconds() - c0);
  }
  return {double(b.texts.size()) / best, double(b.texts.size()) / best_cpu};
}

}  // namespace

int main(int argc, char** argv) {
  if (trawl::bench::help(argc, argv,
      "usage: bench_hash_encoder [ROWS=200000] [THREADS=omp max]\n"
      "Hash encoder throughput (rows/s) on synthetic token ids, per core and with all threads,\n"
      "unweighted and idf-weighted, at a few dims and feature counts.\n"))
    return 0;
  size_t n = argc > 1 ? std::strtoull(argv[1], nullptr, 10) : 200000;
  int maxt = argc > 2 ? std::atoi(argv[2]) : omp_get_max_threads();
  std::printf("# hash encoder throughput, %zu rows, best of 3; features = unigrams + bigrams per row\n", n);
  std::printf("%-6s %-9s %-5s %-8s %14s %16s\n", "dim", "features", "idf", "threads", "rows/s", "rows/cpu-s");
  for (int dim : {256, 128, 768}) {
    for (int uni : {11, 20}) {
      Block b = make_block(n, uni, 42);
      for (bool idf : {false, true}) {
        if (idf && dim != 256) continue;
        std::shared_ptr<embed::Vocab> v;
        if (idf) {
          // A 2M-id vocabulary holding half of the block's ids.
          v = std::make_shared<embed::Vocab>();
          std::mt19937_64 g(7);
          std::vector<uint32_t> ids(b.ids.begin(), b.ids.end());
          for (size_t i = 0; i < 2000000; ++i) ids.push_back(uint32_t(g()));
          std::sort(ids.begin(), ids.end());
          ids.erase(std::unique(ids.begin(), ids.end()), ids.end());
          v->n_docs = 100000000;
          for (size_t i = 0; i < ids.size(); i += 2) {
            v->id.push_back(ids[i]);
            v->df.push_back(1 + g() % 100000);
          }
          v->tf = v->df;
        }
        embed::HashEncoderOptions o;
        o.dim = dim;
        auto e = embed::make_hash_encoder(o, v);
        int feats = 2 * uni - 1;
        for (int t : {1, maxt}) {
          auto [wall, cpu] = run(*e, b, t, 3);
          std::printf("%-6d %-9d %-5s %-8d %14.0f %16.0f\n", dim, feats, idf ? "yes" : "no", t, wall, cpu);
          if (maxt == 1) break;
        }
        std::fflush(stdout);
      }
    }
  }
  return 0;
}
