#include "core/error.h"

#include <cstdio>
#include <cstdlib>

#include "core/fatal.h"
#include "core/log.h"

namespace trawl {

std::string at(const std::string& file, long long line, const std::string& msg) {
  if (line > 0) return cat(file, ":", line, ": ", msg);
  return cat(file, ": ", msg);
}

namespace {
FatalHook g_fatal_hook = nullptr;
}
void set_fatal_hook(FatalHook hook) { g_fatal_hook = hook; }
void run_fatal_hook(int exit_code) {
  if (g_fatal_hook) g_fatal_hook(exit_code);
}

void assert_fail(const char* expr, const char* file, int line, const std::string& msg) {
  std::fprintf(stderr, "rank %d: internal error: %s:%d: assertion '%s' failed%s%s\n",
               log::rank(), file, line, expr, msg.empty() ? "" : ": ", msg.c_str());
  std::fflush(stderr);
  run_fatal_hook(kExitInternal);
  std::abort();
}

}  // namespace trawl
