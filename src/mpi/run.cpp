#include "mpi/run.h"

#include <cstdio>
#include <cstdlib>
#include <new>
#include <string>

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

void sync_errors(const Comm& comm, std::exception_ptr ep) {
  if (!comm.any(ep != nullptr)) return;
  int code = kExitInternal;
  std::string msg;
  if (ep) {
    try {
      std::rethrow_exception(ep);
    } catch (const Error& e) {
      code = e.exit_code();
      msg = e.what();
    } catch (const std::bad_alloc&) {
      msg = "out of memory";
    } catch (const std::exception& e) {
      msg = e.what();
    }
  }
  auto all = comm.allgather_strings(ep ? cat(code, "\t", msg) : std::string());
  if (ep) std::rethrow_exception(ep);
  for (int r = 0; r < static_cast<int>(all.size()); ++r) {
    if (all[size_t(r)].empty()) continue;
    auto tab = all[size_t(r)].find('\t');
    int c = std::atoi(all[size_t(r)].substr(0, tab).c_str());
    std::string m = cat("rank ", r, ": ", all[size_t(r)].substr(tab + 1));
    if (c == kExitUsage) throw UsageError(m);
    if (c == kExitInput) throw InputError(m);
    if (c == kExitIo) throw IoError(m);
    throw Error(m);
  }
  TRAWL_ASSERT_MSG(false, "sync_errors: a rank failed without a message");
}

}  // namespace trawl::mpi
