// The error path shared by every binary's main: run the stage, map errors to exit codes.
// When one rank fails it prints "rank r: <error>" and aborts the whole job (no hang, no
// MPI_Finalize on the error path).
#pragma once
#include <exception>
#include <functional>

#include "mpi/comm.h"

namespace trawl::mpi {

/// Initialises MPI, runs body(comm) and returns its exit code. Exceptions become
/// "rank r: error: ..." on stderr and exit code by family; with more than one rank the job
/// is aborted with MPI_Abort so the other ranks do not wait forever.
int run_main(int argc, char** argv, const char* program, const std::function<int(Comm&)>& body);

/// Collective. Every rank learns whether any rank failed (ep non-null); then all throw the same
/// family: the failing rank rethrows its own error, the others an error of that family naming
/// the first failing rank and its message.
void sync_errors(const Comm& comm, std::exception_ptr ep);

/// Collective. Runs f on every rank, then sync_errors: a step that may fail on some ranks only
/// (reading their own inputs) without leaving the others waiting in the next collective.
template <class F>
void collective(const Comm& comm, F&& f) {
  std::exception_ptr ep;
  try {
    f();
  } catch (...) {
    ep = std::current_exception();
  }
  sync_errors(comm, ep);
}

/// Collective. Runs f on rank 0 only; every rank learns the outcome (an error there is thrown on
/// every rank, in its family) — "root does it, everyone learns".
template <class F>
void on_root(const Comm& comm, F&& f) {
  collective(comm, [&] {
    if (comm.root()) f();
  });
}

}  // namespace trawl::mpi
