// trawl-libs: trawl_stage_score trawl_pool trawl_io
// Scoring throughput of trawl-score with a logistic-regression model over real shards: rows/s
// and GB/s of embeddings read, as a fraction of this machine's memory read bandwidth (a
// STREAM-like multi-accumulator sum over a large array, measured in the same run). Shards are
// written first (so they are in the page cache: this measures the pipeline, not the disk).
// A second limit, measured in the same run, is what reading page-cache rows costs at all: the
// shard files summed through a read-only mapping by two threads per rank, each 4 MiB mapped
// in one call (MADV_POPULATE_READ) and released after (MADV_DONTNEED), as trawl-score reads
// them — the page-table work is part of that read, and anonymous memory never pays it.
//
//   bench_score [--rows 2000000] [--dim 256] [--shards 4] [--classes 5] [--threads 1]
//               [--block-rows 16384] [--reps 3] [--dir DIR] [--stream-mb 1024] [--select]
//
// Reported per run: the best of --reps runs of
//   * read only: uid + embedding blocks through io::ShardReader (the I/O floor of scoring);
//   * score: run_score over the pool, scores files written (--top-n 0, no cut-offs);
//   * with --select also score + selection (top 10000 + the 17 rank points, TSVs without text).
// Under mpirun the ranks split the shards as trawl-score does; figures are totals.
#include <fcntl.h>
#include <omp.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "core/fs.h"
#include "core/log.h"
#include "core/rng.h"
#include "io/shard.h"
#include "mpi/comm.h"
#include "stages/score_stage.h"
#include "train/model.h"
#include "bench_util.h"

using namespace trawl;
using trawl::bench::now;
using trawl::bench::arg;
using trawl::bench::flag;

namespace {

// STREAM-like read bandwidth: sum of a large float array with 8 accumulators per thread.
double stream_read_gbs(size_t mb, int threads, int reps) {
  const size_t n = mb * (size_t(1) << 20) / sizeof(float);
  std::vector<float> a(n);
#pragma omp parallel for num_threads(threads) schedule(static)
  for (long long i = 0; i < (long long)n; ++i) a[size_t(i)] = float(i & 1023) * 1e-3f;
  double best = 1e300, sink = 0;
  for (int r = 0; r < reps + 1; ++r) {
    double t0 = now(), total = 0;
#pragma omp parallel num_threads(threads) reduction(+ : total)
    {
      float s[8] = {0, 0, 0, 0, 0, 0, 0, 0};
#pragma omp for schedule(static) nowait
      for (long long b = 0; b < (long long)(n / 8); ++b) {
        const float* p = a.data() + size_t(b) * 8;
        for (int k = 0; k < 8; ++k) s[k] += p[k];
      }
      for (float v : s) total += double(v);
    }
    double t = now() - t0;
    sink += total;
    if (r > 0) best = std::min(best, t);  // the first pass warms up
  }
  if (sink == 42.0) std::printf(" ");
  return double(n * sizeof(float)) / best / 1e9;
}

// The files summed through read-only mappings by `threads` threads taking 4 MiB pieces in turn,
// each piece populated before and released after; GB/s over all files, best of reps.
double mapped_read_gbs(const std::vector<std::string>& files, int threads, int reps) {
  constexpr size_t kPiece = size_t(4) << 20;
  struct Map {
    const char* p;
    size_t n;
  };
  std::vector<Map> maps;
  for (const auto& f : files) {
    const int fd = ::open(f.c_str(), O_RDONLY);
    if (fd < 0) continue;
    const size_t n = size_t(::lseek(fd, 0, SEEK_END)) / 4096 * 4096;
    void* p = n ? ::mmap(nullptr, n, PROT_READ, MAP_SHARED, fd, 0) : MAP_FAILED;
    ::close(fd);
    if (p == MAP_FAILED) continue;
    maps.push_back({static_cast<const char*>(p), n});
  }
  std::vector<std::pair<size_t, size_t>> pieces;  // (map, offset)
  for (size_t m = 0; m < maps.size(); ++m)
    for (size_t o = 0; o + kPiece <= maps[m].n; o += kPiece) pieces.push_back({m, o});
  double best = 1e300, sink = 0;
  for (int r = 0; r < reps; ++r) {
    std::vector<double> sums(size_t(threads), 0.0);
    const double t0 = now();
    std::vector<std::thread> th;
    for (int t = 0; t < threads; ++t)
      th.emplace_back([&, t] {
        float acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
        for (size_t k = size_t(t); k < pieces.size(); k += size_t(threads)) {
          char* p = const_cast<char*>(maps[pieces[k].first].p + pieces[k].second);
          ::madvise(p, kPiece, MADV_POPULATE_READ);
          const float* x = reinterpret_cast<const float*>(p);
          for (size_t i = 0; i < kPiece / sizeof(float); i += 8)
            for (int l = 0; l < 8; ++l) acc[l] += x[i + size_t(l)];
          ::madvise(p, kPiece, MADV_DONTNEED);
        }
        for (float v : acc) sums[size_t(t)] += double(v);
      });
    for (auto& x : th) x.join();
    best = std::min(best, now() - t0);
    for (double v : sums) sink += v;
  }
  for (auto& m : maps) ::munmap(const_cast<char*>(m.p), m.n);
  if (sink == 42.0) std::printf(" ");
  return double(pieces.size() * kPiece) / best / 1e9;
}

}  // namespace

int main(int argc, char** argv) {
  if (trawl::bench::help(argc, argv,
                         "usage: bench_score [--rows 2000000] [--dim 256] [--shards 4] [--classes 5] [--threads 1]\n"
                         "                   [--block-rows 16384] [--reps 3] [--dir DIR] [--stream-mb 1024] [--select]\n"
                         "trawl-score's throughput over a pool of f32 shards in the page cache, against the memory read\n"
                         "bandwidth and the rate of reading those files through mappings; run under mpirun for ranks.\n"))
    return 0;
  mpi::Environment menv(&argc, &argv);
  auto comm = mpi::Comm::world();
  log::set_rank(comm.rank(), comm.size());
  log::set_level(log::Level::kWarn);
  const uint64_t rows = std::stoull(arg(argc, argv, "--rows", "2000000"));
  const int dim = std::stoi(arg(argc, argv, "--dim", "256"));
  const int nshards = std::stoi(arg(argc, argv, "--shards", "4"));
  const int classes = std::stoi(arg(argc, argv, "--classes", "5"));
  const int threads = std::stoi(arg(argc, argv, "--threads", "1"));
  const uint64_t block = std::stoull(arg(argc, argv, "--block-rows", "16384"));
  const int reps = std::stoi(arg(argc, argv, "--reps", "3"));
  const size_t stream_mb = std::stoull(arg(argc, argv, "--stream-mb", "1024"));
  const bool with_select = flag(argc, argv, "--select");
  std::string dir = arg(argc, argv, "--dir", "");
  if (dir.empty()) {
    std::string d = cat(std::getenv("TMPDIR") ? std::getenv("TMPDIR") : "/tmp", "/trawl-bench-score-", rows, "-", dim);
    dir = d;
  }
  const std::string pool = join_path(dir, "pool"), out = join_path(dir, "out");
  omp_set_num_threads(threads);

  // ---- data: shards and a model (rank 0 writes; kept between runs) -------------------------------
  if (comm.root()) {
    make_dirs(pool);
    for (int s = 0; s < nshards; ++s) {
      std::string path = join_path(pool, io::shard_file_name(uint64_t(s)));
      uint64_t n = rows / uint64_t(nshards) + (uint64_t(s) < rows % uint64_t(nshards) ? 1 : 0);
      if (io::shard_is_complete(path)) {
        io::ShardReader r(path);
        if (r.rows() == n && r.meta().dim == dim) continue;
      }
      std::fprintf(stderr, "writing %s (%llu rows, dim %d)\n", path.c_str(), (unsigned long long)n, dim);
      io::ShardMeta m;
      m.encoder = "bench";
      m.encoder_params = cat("dim=", dim);
      m.dim = dim;
      m.chunk_index = uint64_t(s);
      m.source_checksum = cat("bench-", s);
      AtomicOutput ao(path);
      {
        io::ShardWriter w(ao.temp_path(), m, 4096);
        io::ShardBlock b;
        Rng r(key(7, uint64_t(s)));
        for (uint64_t i = 0; i < n; i += 65536) {
          uint64_t e = std::min(n, i + 65536);
          b.clear();
          for (uint64_t k = i; k < e; ++k) {
            b.uid.push_back(io::make_uid(uint64_t(s), k));
            b.id.emplace_back();
            b.text.emplace_back();
            b.token_offsets.push_back(0);
          }
          b.embedding.resize((e - i) * size_t(dim));
          for (auto& v : b.embedding) v = float(r.normal()) * 0.06f;
          w.append(b);
        }
        w.close(0);
      }
      io::commit_shard(ao);  // as trawl-embed and trawl-gen-vectors do
    }
    train::ModelHeader h;
    h.kind = "logreg";
    h.input = "embedding";
    for (int c = 0; c < classes; ++c) h.classes.push_back(cat("class", c));
    h.input_dim = dim;
    h.encoder = "bench";
    h.encoder_params = cat("dim=", dim);
    auto params = train::param_layout(h);
    Rng r(3);
    for (auto& p : params) {
      uint64_t n = 1;
      for (auto x : p.shape) n *= x;
      p.values.resize(n);
      for (auto& v : p.values) v = float(r.normal());
    }
    train::write_model(join_path(dir, "model.h5"), h, params);
  }
  comm.barrier();

  const double stream = stream_read_gbs(stream_mb, threads, reps);
  const double stream_min = comm.min(stream);
  const double emb_bytes = double(rows) * dim * 4;
  auto shards = io::list_shards(pool);
  auto split = mpi::work_split(comm, 0, 0);
  std::vector<std::string> mine;
  for (auto i : split.items(shards.size())) mine.push_back(shards[i]);
  comm.barrier();
  const double mapped = comm.sum(mapped_read_gbs(mine, 2, reps));  // the ranks read at once

  // ---- read only ---------------------------------------------------------------------------------
  double best_read = 1e300;
  for (int rep = 0; rep < reps; ++rep) {
    comm.barrier();
    double t0 = now();
    std::vector<float> emb;
    io::ShardBlock b;
    double sink = 0;
    for (auto i : split.items(shards.size())) {
      io::ShardReader r(shards[i]);
      for (uint64_t lo = 0; lo < r.rows(); lo += block) {
        uint64_t hi = std::min(r.rows(), lo + block);
        r.read(lo, hi, b, io::ShardReader::kUid);
        emb.resize((hi - lo) * size_t(dim));
        r.read_embeddings(lo, hi, emb.data());
        sink += emb[0];
      }
    }
    comm.barrier();
    best_read = std::min(best_read, comm.max(now() - t0));
    if (sink == 42.0) std::printf(" ");
  }

  // ---- score ---------------------------------------------------------------------------------------
  auto run = [&](bool select) {
    double best = 1e300;
    for (int rep = 0; rep < reps; ++rep) {
      if (comm.root() && is_directory(out))
        for (auto& f : list_files(out, "shard-", ".scores.h5")) remove_file(f);
      comm.barrier();
      stages::ScoreOptions o;
      o.model = join_path(dir, "model.h5");
      o.pool = pool;
      o.output = out;
      o.top_n = select ? 10000 : 0;
      o.cutoffs = select;
      o.text = false;
      o.block_rows = block;
      o.threads = threads;
      double t0 = now();
      stages::run_score(comm, o);
      comm.barrier();
      best = std::min(best, comm.max(now() - t0));
    }
    return best;
  };
  const double t_score = run(false);
  const double t_select = with_select ? run(true) : 0;

  if (comm.root()) {
    std::printf("bench_score: %llu rows x dim %d (f32, %.2f GB of embeddings) in %d shards, %d classes, logreg, "
                "%d rank(s) x %d thread(s), block %llu rows, best of %d\n",
                (unsigned long long)rows, dim, emb_bytes / 1e9, nshards, classes, comm.size(), threads,
                (unsigned long long)block, reps);
    std::printf("  memory read bandwidth (STREAM-like sum, %zu MB, per rank, min over ranks): %.2f GB/s"
                " (x %d ranks = %.2f GB/s)\n",
                stream_mb, stream_min, comm.size(), stream_min * comm.size());
    std::printf("  page-cache rows through mappings (populate + release per 4 MiB, 2 threads per rank, all ranks):"
                " %.2f GB/s\n", mapped);
    const double peak = stream_min * comm.size();
    auto line = [&](const char* what, double t) {
      std::printf("  %-30s %7.3f s  %8.2f M rows/s  %6.2f GB/s  = %5.1f%% of read bandwidth, %5.1f%% of mapped reads\n",
                  what, t, double(rows) / t / 1e6, emb_bytes / t / 1e9, 100.0 * emb_bytes / t / 1e9 / peak,
                  100.0 * emb_bytes / t / 1e9 / mapped);
    };
    line("read uid+embedding only", best_read);
    line("score (scores files written)", t_score);
    if (with_select) line("score + top-N + 17 cut-offs", t_select);
  }
  return 0;
}
