// trawl-libs: trawl_cli
#include <gtest/gtest.h>

#include "mpi/comm.h"

using namespace trawl;

TEST(Comm, CollectivesAgreeWithClosedForms) {
  auto c = mpi::Comm::world();
  int p = c.size(), r = c.rank();
  EXPECT_EQ(c.sum<long long>(r + 1), 1LL * p * (p + 1) / 2);
  EXPECT_EQ(c.min(r), 0);
  EXPECT_EQ(c.max(r), p - 1);
  std::vector<int> mine(r + 1, r);
  auto all = c.allgatherv(mine);
  ASSERT_EQ(all.size(), size_t(p * (p + 1) / 2));
  size_t k = 0;
  for (int q = 0; q < p; ++q)
    for (int j = 0; j <= q; ++j) EXPECT_EQ(all[k++], q);
  auto strs = c.allgather_strings(std::string(r, 'x'));
  ASSERT_EQ(int(strs.size()), p);
  for (int q = 0; q < p; ++q) EXPECT_EQ(strs[q], std::string(q, 'x'));
  std::string s = r == 0 ? "from root" : "";
  c.bcast(s);
  EXPECT_EQ(s, "from root");
}

TEST(WorkSplit, EveryItemExactlyOnceOverRanksAndArrayTasks) {
  auto c = mpi::Comm::world();
  for (int tasks : {1, 3}) {
    std::vector<int> seen(17, 0);
    for (int t = 0; t < tasks; ++t) {
      auto w = mpi::work_split(c, t, tasks);
      for (auto i : w.items(17)) seen[i]++;
    }
    c.allreduce_inplace(seen, MPI_SUM);
    for (int s : seen) EXPECT_EQ(s, 1);
  }
  EXPECT_THROW(mpi::work_split(c, 3, 3), UsageError);
}
