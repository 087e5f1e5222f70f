// trawl-libs: trawl_index trawl_cli
// bench_index_build: HNSW build throughput of trawl's HnswIndex (hnswlib 0.6.2 underneath) on
// synthetic clustered unit vectors, per configuration (M, ef-construction) and thread count:
// items/s, items/s per core, resident memory growth against estimate_memory(), file size
// against estimate_file_size(), and recall@10 of the result (ef 100) against exact search.
//
// The reference is bench/bench_index_build_hnswlib.py: Debian's python3-hnswlib with the same
// parameters on the same vectors. Write them with --write-npy PREFIX (PREFIX.data.npy and
// PREFIX.queries.npy), then run
//   /usr/bin/python3 bench/bench_index_build_hnswlib.py --data PREFIX.data.npy
//       --queries PREFIX.queries.npy --configs 64:200,16:100 --thread-counts 1,2
//
// Generator (documented so it can be reproduced elsewhere): `clusters` centres with N(0, 1)
// coordinates; item i picks centre Rng::below(clusters) and adds N(0, spread^2 / dim) noise per
// coordinate, then is L2-normalised; centres from Rng(key(seed, 1)), items from
// Rng(key(seed, 2, 0)), queries from Rng(key(seed, 2, 1)) (src/core/rng.h).
#include <malloc.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <set>
#include <sstream>

#include "cli/options.h"
#include "core/error.h"
#include "core/fs.h"
#include "core/rng.h"
#include "index/hnsw_index.h"

using namespace trawl;
namespace po = cli::po;

namespace {

std::vector<float> clustered(size_t n, int dim, int clusters, double spread, uint64_t seed, uint64_t draw) {
  Rng crng(key(seed, 1));
  std::vector<double> c(size_t(clusters) * dim);
  for (auto& x : c) x = crng.normal();
  Rng rng(key(seed, 2, draw));
  std::vector<float> v(n * dim);
  std::vector<double> x(dim);
  for (size_t i = 0; i < n; ++i) {
    const double* ci = &c[rng.below(clusters) * dim];
    double s = 0;
    for (int j = 0; j < dim; ++j) s += std::pow(x[j] = ci[j] + spread * rng.normal() / std::sqrt(double(dim)), 2);
    for (int j = 0; j < dim; ++j) v[i * dim + j] = float(x[j] / std::sqrt(s));
  }
  return v;
}

void write_npy(const std::string& path, const std::vector<float>& v, size_t rows, int dim) {
  std::string header = "{'descr': '<f4', 'fortran_order': False, 'shape': (" + std::to_string(rows) + ", " +
                       std::to_string(dim) + "), }";
  size_t total = 10 + header.size() + 1;
  header.append((64 - total % 64) % 64, ' ');
  header += '\n';
  std::ofstream o(path, std::ios::binary);
  if (!o) throw IoError(cat(path, ": cannot write"));
  o.write("\x93NUMPY\x01\x00", 8);
  uint16_t hl = static_cast<uint16_t>(header.size());
  o.write(reinterpret_cast<const char*>(&hl), 2);
  o << header;
  o.write(reinterpret_cast<const char*>(v.data()), std::streamsize(v.size() * sizeof(float)));
  if (!o) throw IoError(cat(path, ": write failed"));
}

std::vector<int> parse_ints(const std::string& s, const char* what) {
  std::vector<int> out;
  std::stringstream ss(s);
  std::string tok;
  while (std::getline(ss, tok, ',')) {
    try {
      out.push_back(std::stoi(tok));
    } catch (const std::exception&) {
      throw UsageError(cat(what, " '", s, "': expected comma-separated integers"));
    }
  }
  return out;
}

/// CPU seconds (user + system) of this process so far: with shared cores, items per CPU second
/// is the per-core figure that does not depend on what else runs.
double cpu_seconds() {
  rusage u;
  getrusage(RUSAGE_SELF, &u);
  return double(u.ru_utime.tv_sec + u.ru_stime.tv_sec) + 1e-6 * double(u.ru_utime.tv_usec + u.ru_stime.tv_usec);
}

uint64_t rss_bytes() {
  std::ifstream in("/proc/self/status");
  std::string k;
  while (in >> k) {
    if (k == "VmRSS:") {
      uint64_t kb;
      in >> kb;
      return kb * 1024;
    }
    std::getline(in, k);
  }
  return 0;
}

/// Exact top 10 (uids = row numbers) of each query, by inner product of unit vectors.
std::vector<std::set<uint64_t>> exact_top10(const std::vector<float>& x, const std::vector<float>& q, int dim) {
  size_t n = x.size() / dim, nq = q.size() / dim;
  std::vector<std::set<uint64_t>> out(nq);
#pragma omp parallel for schedule(dynamic)
  for (long a = 0; a < long(nq); ++a) {
    std::vector<std::pair<float, uint64_t>> all(n);
    for (size_t i = 0; i < n; ++i) {
      float d = 0;
      for (int j = 0; j < dim; ++j) d += q[a * dim + j] * x[i * dim + j];
      all[i] = {-d, i};
    }
    std::partial_sort(all.begin(), all.begin() + 10, all.end());
    for (int k = 0; k < 10; ++k) out[a].insert(all[k].second);
  }
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    uint64_t n = 100000, seed = 1;
    int dim = 256, clusters = 100, nq = 200;
    double spread = 0.8;
    std::string configs = "64:200,16:100", thread_counts = "1,2", npy, scratch = "/tmp";
    cli::Cli c("bench_index_build", "bench",
               "HNSW build throughput (items/s, per core) of trawl's HnswIndex on synthetic clustered unit vectors");
    c.optional().add_options()
        ("n", po::value<uint64_t>(&n)->default_value(n), "vectors to index")
        ("dim", po::value<int>(&dim)->default_value(dim), "dimension")
        ("clusters", po::value<int>(&clusters)->default_value(clusters), "cluster centres")
        ("spread", po::value<double>(&spread)->default_value(spread), "noise norm relative to the centres")
        ("seed", po::value<uint64_t>(&seed)->default_value(seed), "generator seed")
        ("queries", po::value<int>(&nq)->default_value(nq), "held-out queries for recall@10 (0: skip)")
        ("configs", po::value<std::string>(&configs)->default_value(configs), "M:ef-construction pairs")
        ("thread-counts", po::value<std::string>(&thread_counts)->default_value(thread_counts), "build threads to try")
        ("write-npy", po::value<std::string>(&npy)->default_value(""),
         "write the vectors to PREFIX.data.npy and PREFIX.queries.npy for the Python reference")
        ("scratch", po::value<std::string>(&scratch)->default_value(scratch), "directory for the saved indexes");
    if (!c.parse(argc, argv)) return 0;
    if (n < 10 || dim < 1 || clusters < 1) throw UsageError("--n must be at least 10, --dim and --clusters positive");

    auto t0 = std::chrono::steady_clock::now();
    auto data = clustered(n, dim, clusters, spread, seed, 0);
    auto queries = clustered(size_t(nq), dim, clusters, spread, seed, 1);
    std::vector<uint64_t> uids(n);
    for (uint64_t i = 0; i < n; ++i) uids[i] = i;
    std::printf("# %llu vectors, dim %d, %d clusters, spread %.2f (generated in %.1fs)\n", (unsigned long long)n, dim,
                clusters, spread, std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
    if (!npy.empty()) {
      write_npy(npy + ".data.npy", data, n, dim);
      write_npy(npy + ".queries.npy", queries, size_t(nq), dim);
      std::printf("# wrote %s.data.npy and %s.queries.npy\n", npy.c_str(), npy.c_str());
    }
    std::vector<std::set<uint64_t>> truth;
    if (nq > 0) truth = exact_top10(data, queries, dim);

    std::printf("%-6s %-6s %-8s %8s %9s %10s %12s %12s %9s %9s %10s\n", "impl", "M", "efC", "threads", "seconds",
                "items/s", "items/s/core", "items/cpu_s", "rss_MiB", "est_MiB", "recall@10");
    for (const std::string& cfg : [&] {
           std::vector<std::string> v;
           std::stringstream ss(configs);
           std::string t;
           while (std::getline(ss, t, ',')) v.push_back(t);
           return v;
         }()) {
      auto colon = cfg.find(':');
      if (colon == std::string::npos) throw UsageError(cat("--configs: '", cfg, "' is not M:ef-construction"));
      index::HnswParams p;
      p.M = std::stoi(cfg.substr(0, colon));
      p.ef_construction = std::stoi(cfg.substr(colon + 1));
      p.seed = 42;
      for (int threads : parse_ints(thread_counts, "--thread-counts")) {
        malloc_trim(0);
        uint64_t rss0 = rss_bytes();
        auto a = std::chrono::steady_clock::now();
        double cpu0 = cpu_seconds();
        index::HnswIndex idx = index::HnswIndex::build(data.data(), uids.data(), n, dim, p, threads);
        double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - a).count();
        double cpu = cpu_seconds() - cpu0;
        uint64_t rss = rss_bytes() - rss0;
        double rec = 0;
        if (nq > 0) {
          auto got = idx.search(queries.data(), size_t(nq), 10, 100, index::UidSet(), threads);
          size_t hit = 0;
          for (int q = 0; q < nq; ++q)
            for (auto& h : got[q]) hit += truth[q].count(h.uid);
          rec = double(hit) / (10.0 * nq);
        }
        std::string file = join_path(scratch, cat("bench_index_build.", ::getpid(), ".hnsw"));
        idx.save(file, index::IndexInfo());
        uint64_t fsize = file_size(file);
        remove_file(file);
        double est = double(index::estimate_memory(n, dim, p.M, threads));
        std::printf("%-6s %-6d %-8d %8d %9.2f %10.0f %12.0f %12.0f %9.1f %9.1f %10.4f\n", "trawl", p.M,
                    p.ef_construction, threads, secs, double(n) / secs, double(n) / secs / threads, double(n) / cpu,
                    double(rss) / (1 << 20), est / (1 << 20), rec);
        std::printf("#   file %.1f MiB (estimate %.1f MiB)\n", double(fsize) / (1 << 20),
                    double(index::estimate_file_size(n, dim, p.M)) / (1 << 20));
        std::fflush(stdout);
      }
    }
    return 0;
  } catch (const Error& e) {
    std::fprintf(stderr, "bench_index_build: error: %s\n", e.what());
    return e.exit_code();
  }
}
