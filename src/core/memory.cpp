#include "core/memory.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <utility>
#include <vector>

#include "core/error.h"
#include "core/fs.h"

namespace trawl {

uint64_t parse_bytes(const std::string& s, const std::string& option) {
  size_t used = 0;
  double v = 0;
  try {
    v = std::stod(s, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  std::string unit = s.substr(used);
  if (!unit.empty() && (unit.back() == 'B' || unit.back() == 'b')) unit.pop_back();
  double mult = 0;
  if (unit.empty()) mult = 1;
  else if (unit == "K" || unit == "k") mult = 1024.0;
  else if (unit == "M" || unit == "m") mult = 1024.0 * 1024;
  else if (unit == "G" || unit == "g") mult = 1024.0 * 1024 * 1024;
  else if (unit == "T" || unit == "t") mult = 1024.0 * 1024 * 1024 * 1024;
  if (used == 0 || mult == 0 || !(v >= 0) || !std::isfinite(v) || v * mult > 1.8e19)
    throw UsageError(cat(option, " '", s, "': expected a byte count such as 8G, 512M or 1000000"));
  return static_cast<uint64_t>(v * mult);
}

namespace {

/// The first number in a file ("max" or a missing file: 0).
uint64_t read_number(const std::string& path) {
  std::ifstream in(path);
  std::string s;
  if (!(in >> s) || s.empty() || s.find_first_not_of("0123456789") != std::string::npos) return 0;
  try {
    return std::stoull(s);
  } catch (const std::exception&) {
    return 0;
  }
}

}  // namespace

/// Memory left under this process's cgroup limit (v2 or v1), or 0 when there is no limit.
uint64_t cgroup_headroom() {
  std::ifstream in("/proc/self/cgroup");
  std::string line;
  while (std::getline(in, line)) {
    // "0::/path" (v2) or "4:memory:/path" (v1).
    auto a = line.find(':'), b = line.find(':', a + 1);
    if (a == std::string::npos || b == std::string::npos) continue;
    std::string ctrl = line.substr(a + 1, b - a - 1), path = line.substr(b + 1);
    std::vector<std::pair<std::string, std::string>> files;  // (limit, usage)
    if (ctrl.empty()) {
      for (const char* root : {"/sys/fs/cgroup", "/sys/fs/cgroup/unified"})
        for (const std::string& dir : {join_path(root, path.substr(path.empty() ? 0 : 1)), std::string(root)})
          files.emplace_back(join_path(dir, "memory.max"), join_path(dir, "memory.current"));
    } else if (ctrl.find("memory") != std::string::npos) {
      const char* root = "/sys/fs/cgroup/memory";
      for (const std::string& dir : {join_path(root, path.substr(path.empty() ? 0 : 1)), std::string(root)})
        files.emplace_back(join_path(dir, "memory.limit_in_bytes"), join_path(dir, "memory.usage_in_bytes"));
    }
    for (auto& [lim_file, use_file] : files) {
      uint64_t lim = read_number(lim_file);
      if (lim == 0 || lim >= (1ull << 62)) continue;  // no limit here
      uint64_t use = read_number(use_file);
      return lim > use ? lim - use : 1;
    }
  }
  return 0;
}

uint64_t mem_available() {
  std::ifstream in("/proc/meminfo");
  std::string key;
  uint64_t kb;
  std::string unit;
  while (in >> key >> kb) {
    std::getline(in, unit);
    if (key == "MemAvailable:") return kb * 1024;
  }
  return 0;
}

uint64_t available_memory(int ranks_on_node) {
  uint64_t avail = mem_available(), cg = cgroup_headroom();
  uint64_t m = avail && cg ? std::min(avail, cg) : std::max(avail, cg);
  return m / uint64_t(std::max(1, ranks_on_node));
}

std::string human_bytes(double b) {
  char buf[32];
  const char* u[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  int i = 0;
  while (b >= 1024 && i < 4) {
    b /= 1024;
    ++i;
  }
  std::snprintf(buf, sizeof buf, i ? "%.1f %s" : "%.0f %s", b, u[i]);
  return buf;
}

}  // namespace trawl
