// A deliberately failing MPI program for the failure-policy tests (tests/fault/failure_policy.sh):
// the last rank fails while every other rank waits in a collective. Modes:
//   assert    - TRAWL_ASSERT fails (internal error)
//   thread    - an exception escapes a std::thread (std::terminate)
//   input     - an InputError is thrown (the stage error path of run_main)
// The job must end within seconds with a non-zero exit code, never hang.
#include <chrono>
#include <cstring>
#include <stdexcept>
#include <thread>

#include "core/error.h"
#include "mpi/run.h"

int main(int argc, char** argv) {
  const std::string mode = argc > 1 ? argv[1] : "assert";
  return trawl::mpi::run_main(argc, argv, "fault-rank", [&](trawl::mpi::Comm& comm) {
    if (comm.rank() == comm.size() - 1) {
      std::this_thread::sleep_for(std::chrono::milliseconds(200));  // the others are in the barrier by now
      if (mode == "assert") TRAWL_ASSERT_MSG(false, "injected failure on rank ", comm.rank());
      if (mode == "thread") {
        std::thread t([] { throw std::runtime_error("injected failure in a helper thread"); });
        t.join();
      }
      if (mode == "input") throw trawl::InputError("injected bad input on the last rank");
    }
    comm.barrier();
    comm.barrier();
    return 0;
  });
}
