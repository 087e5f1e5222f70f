// GoogleTest main for every test binary: initialises MPI (a plain run is a 1-rank job) so the
// same binary serves the unit tier and, under mpirun -n 1..4, the mpi tier. Only rank 0 prints
// the result listing; a failure on any rank makes the job fail.
#include <gtest/gtest.h>

#include "core/log.h"
#include "mpi/comm.h"

int main(int argc, char** argv) {
  trawl::mpi::Environment env(&argc, &argv);
  ::testing::InitGoogleTest(&argc, argv);
  auto comm = trawl::mpi::Comm::world();  // 1 rank without a launcher (MPI not started)
  const int rank = comm.rank();
  trawl::log::set_level(trawl::log::Level::kWarn);
  if (rank != 0) {
    auto& listeners = ::testing::UnitTest::GetInstance()->listeners();
    delete listeners.Release(listeners.default_result_printer());
  }
  int rc = RUN_ALL_TESTS();
  const int worst = comm.max(rc);
  if (rank == 0 && worst != 0 && rc == 0) std::fprintf(stderr, "a test failed on another rank\n");
  return worst;
}
