// Collectives past the 2^31-byte limit of MPI's int counts (run at 2 ranks by the fault tier):
// the last rank contributes 2^31 + 4,099 bytes to a gatherv and an allgatherv, the others a few
// bytes; every byte must arrive in place (a rank- and position-dependent pattern, checked in
// full). Exit 0 when all match, 1 otherwise.
#include <cstdint>
#include <cstdio>
#include <vector>

#include "mpi/comm.h"

namespace {
unsigned char pattern(int rank, uint64_t i) { return static_cast<unsigned char>((i * 2654435761ULL >> 7) + 31 * rank); }
uint64_t size_of(int rank, int size) { return rank == size - 1 ? (1ULL << 31) + 4099 : 1000 + uint64_t(rank); }
}  // namespace

int main(int argc, char** argv) {
  trawl::mpi::Environment env(&argc, &argv);
  int bad = 0;
  {
    auto comm = trawl::mpi::Comm::world();
    const int R = comm.rank(), P = comm.size();
    std::vector<unsigned char> mine(size_of(R, P));
    for (uint64_t i = 0; i < mine.size(); ++i) mine[i] = pattern(R, i);
    auto check = [&](const char* what, int r, const unsigned char* v, uint64_t n) {
      if (n != size_of(r, P)) {
        std::fprintf(stderr, "rank %d: %s: rank %d's part has %llu bytes, expected %llu\n", R, what, r,
                     (unsigned long long)n, (unsigned long long)size_of(r, P));
        return 1;
      }
      for (uint64_t i = 0; i < n; ++i)
        if (v[i] != pattern(r, i)) {
          std::fprintf(stderr, "rank %d: %s: rank %d's byte %llu differs\n", R, what, r, (unsigned long long)i);
          return 1;
        }
      return 0;
    };
    {
      auto parts = comm.gatherv(mine, 0);
      if (R == 0)
        for (int r = 0; r < P; ++r) bad |= check("gatherv", r, parts[r].data(), parts[r].size());
    }
    {
      auto all = comm.allgatherv(mine);
      uint64_t off = 0;
      for (int r = 0; r < P; ++r) {
        bad |= check("allgatherv", r, all.data() + off, size_of(r, P));
        off += size_of(r, P);
      }
      if (off != all.size()) bad = 1;
    }
    bad = comm.max(bad);
    if (R == 0) std::fprintf(stderr, "big_gather at %d ranks: %s\n", P, bad ? "FAILED" : "ok (2 GiB + 4,099 bytes per part)");
  }
  return bad;
}
