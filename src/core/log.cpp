#include "core/log.h"

#include <chrono>
#include <cstdio>
#include <mutex>

namespace trawl::log {
namespace {
Level g_level = Level::kInfo;
int g_rank = 0, g_size = 1;
std::string g_program = "trawl";
std::mutex g_mu;
const auto g_start = std::chrono::steady_clock::now();
const char* name(Level l) {
  switch (l) {
    case Level::kError: return "ERROR";
    case Level::kWarn: return "WARN ";
    case Level::kInfo: return "INFO ";
    case Level::kDebug: return "DEBUG";
    default: return "TRACE";
  }
}
}  // namespace

Level parse_level(const std::string& s) {
  if (s == "error") return Level::kError;
  if (s == "warn" || s == "warning") return Level::kWarn;
  if (s == "info") return Level::kInfo;
  if (s == "debug") return Level::kDebug;
  if (s == "trace") return Level::kTrace;
  throw UsageError(cat("--log-level: '", s, "' is not one of error, warn, info, debug, trace"));
}
void set_level(Level l) { g_level = l; }
Level level() { return g_level; }
void set_rank(int r, int s) { g_rank = r; g_size = s; }
int rank() { return g_rank; }
int size() { return g_size; }
void set_program(const std::string& n) { g_program = n; }
const std::string& program() { return g_program; }
double uptime() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - g_start).count();
}

void write(Level l, bool all_ranks, const std::string& msg) {
  if (!all_ranks && g_rank != 0) return;
  std::lock_guard<std::mutex> lock(g_mu);
  if (g_size > 1)
    std::fprintf(stderr, "[%s r%d %8.2fs] %s %s\n", g_program.c_str(), g_rank, uptime(), name(l), msg.c_str());
  else
    std::fprintf(stderr, "[%s %8.2fs] %s %s\n", g_program.c_str(), uptime(), name(l), msg.c_str());
  std::fflush(stderr);
}

}  // namespace trawl::log
