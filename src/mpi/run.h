// The error path shared by every binary's main: run the stage, map errors to exit codes.
// When one rank fails it prints "rank r: <error>" and aborts the whole job (no hang, no
// MPI_Finalize on the error path).
#pragma once
#include <functional>

#include "mpi/comm.h"

namespace trawl::mpi {

/// Initialises MPI, runs body(comm) and returns its exit code. Exceptions become
/// "rank r: error: ..." on stderr and exit code by family; with more than one rank the job
/// is aborted with MPI_Abort so the other ranks do not wait forever.
int run_main(int argc, char** argv, const char* program, const std::function<int(Comm&)>& body);

}  // namespace trawl::mpi
