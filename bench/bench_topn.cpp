// trawl-libs: trawl_topn
// Distributed score selection (score/topn.h): time of the per-class top N plus the items at the
// 17 rank points (1 .. 10^6, 10 each) over n scores split evenly over the ranks, next to a full
// std::sort of the same n items in one process (what the selection avoids).
//
//   mpirun -n P bench_topn [--n 1000000,10000000] [--top-n 10000] [--classes 1] [--reps 3]
//                          [--levels 0] [--no-sort]
//
// Per n: "collect" is streaming each rank's scores through LocalBest (keeps the best
// 1000010 per class); "select" is select() itself (top-N merge, bisection, window gathers);
// times are the max over ranks, best of --reps. --levels L > 0 quantises scores to L values
// (heavy ties).
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <sstream>
#include <string>
#include <vector>

#include "core/rng.h"
#include "mpi/comm.h"
#include "score/topn.h"
#include "bench_util.h"

using namespace trawl;
using trawl::bench::now;
using trawl::bench::arg;
using trawl::bench::flag;
using namespace trawl::score;


int main(int argc, char** argv) {
  if (trawl::bench::help(argc, argv,
      "usage: [mpirun -n P] bench_topn [--n 1000000,10000000] [--top-n 10000] [--classes 1] [--reps 3]\n"
      "                                [--levels 0] [--no-sort]\n"
      "Distributed score selection: the per-class top N plus the 17 rank points over n scores split\n"
      "over the ranks, next to a full sort of the same n items in one process.\n"))
    return 0;
  mpi::Environment menv(&argc, &argv);
  auto comm = mpi::Comm::world();
  std::vector<uint64_t> sizes;
  {
    std::stringstream ss(arg(argc, argv, "--n", "1000000,10000000"));
    for (std::string x; std::getline(ss, x, ',');) sizes.push_back(std::stoull(x));
  }
  const uint64_t top_n = std::stoull(arg(argc, argv, "--top-n", "10000"));
  const int classes = std::stoi(arg(argc, argv, "--classes", "1"));
  const int reps = std::stoi(arg(argc, argv, "--reps", "3"));
  const int levels = std::stoi(arg(argc, argv, "--levels", "0"));
  const bool no_sort = flag(argc, argv, "--no-sort");
  const auto windows = cutoff_windows(rank_points());
  const uint64_t keep = needed_keep(top_n, windows);

  if (comm.root())
    std::printf("bench_topn: %d rank(s), %d class(es), top %llu + %zu rank-point windows, keep %llu per class "
                "and rank, best of %d\n",
                comm.size(), classes, (unsigned long long)top_n, windows.size(), (unsigned long long)keep, reps);
  for (uint64_t n : sizes) {
    // This rank's share: items i with i % P == rank (scores keyed by item, not by rank).
    std::vector<float> score;
    std::vector<uint64_t> uid;
    for (uint64_t i = uint64_t(comm.rank()); i < n; i += uint64_t(comm.size())) {
      Rng r(key(9, i));
      double u = r.uniform();
      score.push_back(levels > 0 ? float(uint64_t(u * levels)) / float(levels) : float(u));
      uid.push_back(mix64(i));
    }
    double best_collect = 1e300, best_select = 1e300;
    size_t windows_found = 0;
    for (int rep = 0; rep < reps; ++rep) {
      comm.barrier();
      double t0 = now();
      std::vector<LocalBest> cols(size_t(classes), LocalBest{keep});
      for (auto& c : cols) c.push_column(score.data(), 1, uid.data(), score.size());
      double t1 = now();
      comm.barrier();
      double t2 = now();
      auto sel = select(comm, cols, top_n, windows);
      double t3 = now();
      best_collect = std::min(best_collect, comm.max(t1 - t0));
      best_select = std::min(best_select, comm.max(t3 - t2));
      windows_found = sel[0].windows.size();
    }
    double t_sort = 0;
    if (comm.root() && !no_sort && comm.size() == 1) {
      std::vector<Scored> all(score.size());
      for (size_t i = 0; i < all.size(); ++i) all[i] = make_scored(score[i], uid[i]);
      double t0 = now();
      std::sort(all.begin(), all.end(), better);
      t_sort = now() - t0;
    }
    if (comm.root()) {
      std::printf("  n = %9llu: collect %7.3f s, select %7.3f s, total %7.3f s per class x %d (%zu windows)",
                  (unsigned long long)n, best_collect / classes, best_select / classes,
                  (best_collect + best_select) / classes, classes, windows_found);
      if (t_sort > 0) std::printf("; full std::sort of all n: %.3f s", t_sort);
      std::printf("\n");
    }
  }
  return 0;
}
