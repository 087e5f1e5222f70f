// Small helpers shared by the benchmarks (bench/*.cpp): wall clock, command-line lookups,
// comma lists and best-of-N timing. Header-only; benchmarks are not part of the library.
#pragma once
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <functional>
#include <sstream>
#include <string>
#include <vector>

namespace trawl::bench {

/// Wall-clock seconds (steady clock).
inline double now() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

/// The value after `name` on the command line, or def.
inline std::string arg(int argc, char** argv, const char* name, const char* def) {
  for (int i = 1; i + 1 < argc; ++i)
    if (std::strcmp(argv[i], name) == 0) return argv[i + 1];
  return def;
}

/// Whether `name` is on the command line.
inline bool flag(int argc, char** argv, const char* name) {
  for (int i = 1; i < argc; ++i)
    if (std::strcmp(argv[i], name) == 0) return true;
  return false;
}

/// True, after printing `usage` to stdout, when the command line asks for --help or -h (the
/// caller returns 0). Every benchmark answers --help instead of running.
inline bool help(int argc, char** argv, const char* usage) {
  if (!flag(argc, argv, "--help") && !flag(argc, argv, "-h")) return false;
  std::fputs(usage, stdout);
  return true;
}

/// "1,10,100" -> {1, 10, 100} (empty items skipped).
inline std::vector<long> parse_list(const std::string& s) {
  std::vector<long> v;
  std::stringstream ss(s);
  for (std::string x; std::getline(ss, x, ',');)
    if (!x.empty()) v.push_back(std::stol(x));
  return v;
}

/// The fastest of reps runs of f, in seconds.
inline double best_of(int reps, const std::function<void()>& f) {
  double best = 1e300;
  for (int r = 0; r < reps; ++r) {
    const double t0 = now();
    f();
    best = std::min(best, now() - t0);
  }
  return best;
}

}  // namespace trawl::bench
