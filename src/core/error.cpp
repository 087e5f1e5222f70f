#include "core/error.h"

#include <cstdio>
#include <cstdlib>

#include "core/log.h"

namespace trawl {

std::string at(const std::string& file, long long line, const std::string& msg) {
  if (line > 0) return cat(file, ":", line, ": ", msg);
  return cat(file, ": ", msg);
}

void assert_fail(const char* expr, const char* file, int line, const std::string& msg) {
  std::fprintf(stderr, "rank %d: internal error: %s:%d: assertion '%s' failed%s%s\n",
               log::rank(), file, line, expr, msg.empty() ? "" : ": ", msg.c_str());
  std::fflush(stderr);
  std::abort();
}

}  // namespace trawl
