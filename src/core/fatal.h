// What an internal error (a failed TRAWL_ASSERT, an uncaught exception that reaches
// std::terminate) does before the process aborts. src/mpi installs a hook that aborts the whole
// MPI job (MPI_Abort), so the other ranks never wait in a collective until the time limit.
#pragma once

namespace trawl {

using FatalHook = void (*)(int exit_code);
/// Installs the hook (nullptr: none). Called once, with exit code kExitInternal, right before
/// std::abort(); it must not return if it ends the job.
void set_fatal_hook(FatalHook hook);
/// Runs the hook if one is installed (then returns).
void run_fatal_hook(int exit_code);

}  // namespace trawl
