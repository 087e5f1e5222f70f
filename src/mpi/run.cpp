#include "mpi/run.h"

#include <cstdio>
#include <cstdlib>
#include <new>

#include "core/log.h"
#include "mpi/report.h"

namespace trawl::mpi {

int run_main(int argc, char** argv, const char* program, const std::function<int(Comm&)>& body) {
  log::set_program(program);
  Environment env(&argc, &argv);
  int code = kExitOk;
  std::string what;
  {
    Comm comm = Comm::world();
    try {
      code = body(comm);
    } catch (const Error& e) {
      code = e.exit_code();
      what = e.what();
    } catch (const std::bad_alloc&) {
      code = kExitInternal;
      what = "out of memory";
    } catch (const std::exception& e) {
      code = kExitInternal;
      what = cat("unexpected error: ", e.what());
    }
    if (!what.empty()) {
      std::fprintf(stderr, "rank %d: error: %s\n", comm.rank(), what.c_str());
      std::fflush(stderr);
      if (comm.size() > 1) comm.abort(code);
      // One rank: leave without MPI_Finalize on the error path.
      std::_Exit(code);
    }
  }
  return code;
}

}  // namespace trawl::mpi
