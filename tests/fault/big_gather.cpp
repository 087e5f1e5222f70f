// Collectives past the 2^31-byte limit of MPI's int counts (run at 2 ranks by the fault tier):
// the last rank contributes 2^31 + 4,099 bytes to a gatherv and an allgatherv, the others a few
// bytes; every byte must arrive in place (a rank- and position-dependent pattern, checked in
// full); then reduce_topk over anchor lists of 1.1 GB per rank (17,000 anchors x K = 4,096),
// more than one 1 GiB reduction, checked against the known top K of the union. Exit 0 when all
// match, 1 otherwise.
#include <cstdint>
#include <cstdio>
#include <vector>

#include "mpi/comm.h"
#include "retrieve/topk.h"

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
    std::vector<unsigned char>().swap(mine);
    {
      // Rank r's list for anchor a: uids base + j P + r at distance j P + r (j < K), sorted; the
      // top K of the union is uid base + i at distance i, i < K.
      const int K = 4096;
      const size_t na = 17000;  // 17,000 x 4,096 x 16 bytes = 1.11 GB > 1 GiB: two reductions
      trawl::retrieve::AnchorLists l(K, na);
      for (size_t a = 0; a < na; ++a) {
        auto& v = l.lists[a];
        v.reserve(K);
        const uint64_t base = a * 1000003ULL;
        for (int j = 0; j < K; ++j) {
          const uint64_t x = uint64_t(j) * uint64_t(P) + uint64_t(R);
          v.push_back({static_cast<float>(x), base + x});
        }
      }
      trawl::retrieve::reduce_topk(comm, l);
      int wrong = 0;
      for (size_t a = 0; a < na && !wrong; ++a) {
        const auto& v = l.lists[a];
        if (v.size() != size_t(K)) wrong = 1;
        for (int i = 0; i < K && !wrong; ++i)
          if (v[i].uid != a * 1000003ULL + uint64_t(i) || v[i].dist != static_cast<float>(i)) {
            std::fprintf(stderr, "rank %d: reduce_topk: anchor %zu entry %d is uid %llu\n", R, a, i,
                         (unsigned long long)v[i].uid);
            wrong = 1;
          }
      }
      bad |= wrong;
    }
    bad = comm.max(bad);
    if (R == 0)
      std::fprintf(stderr, "big_gather at %d ranks: %s\n", P,
                   bad ? "FAILED" : "ok (2 GiB + 4,099 bytes per part; reduce_topk over 1.1 GB of anchor lists)");
  }
  return bad;
}
