// trawl-libs: trawl_evaluate
// count_above across ranks (the expansion numerator's reduction): each rank holds a different,
// rank-count-dependent slice of one global score list; the counts equal a brute force over the
// whole list at every rank count.
#include <gtest/gtest.h>

#include <algorithm>

#include "core/rng.h"
#include "mpi/comm.h"
#include "score/evaluate.h"

using namespace trawl;

TEST(EvaluateMpi, CountAboveEqualsBruteForceAtAnyRankCount) {
  auto comm = mpi::Comm::world();
  Rng r(17);
  std::vector<float> all(30011);
  for (auto& x : all) x = float(std::floor(r.uniform() * 997) / 997);  // ties
  std::vector<double> t;
  for (int k = 0; k < 2500; ++k) t.push_back(r.uniform());
  t.push_back(-0.5), t.push_back(1.5), t.push_back(double(all[3]));
  std::sort(t.begin(), t.end());
  std::vector<float> mine;  // a round-robin slice: depends on the rank count
  for (size_t i = size_t(comm.rank()); i < all.size(); i += size_t(comm.size())) mine.push_back(all[i]);
  auto got = score::count_above(comm, t, mine);
  ASSERT_EQ(got.size(), t.size());
  for (size_t k = 0; k < t.size(); ++k) {
    uint64_t want = 0;
    for (float x : all) want += double(x) > t[k];
    ASSERT_EQ(got[k], want) << "threshold " << t[k] << " on rank " << comm.rank() << " of " << comm.size();
  }
}
