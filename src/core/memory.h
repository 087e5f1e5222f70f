// Memory on this machine: what a process may use (MemAvailable, the cgroup limit), byte counts
// as users write them (--max-memory 8G) and as logs print them. One home for the stages that
// check a memory estimate before the work (trawl-index, trawl-fit).
#pragma once
#include <cstdint>
#include <string>

namespace trawl {

/// Parses a byte count: "123", "64K", "1.5G", "2T" (powers of 1024; a trailing B/b is
/// allowed). Throws UsageError naming `option` and the value.
uint64_t parse_bytes(const std::string& s, const std::string& option = "--max-memory");
/// MemAvailable of /proc/meminfo in bytes (0 when unknown).
uint64_t mem_available();
/// Memory left under this process's cgroup limit (v2 or v1), 0 when there is no limit.
uint64_t cgroup_headroom();
/// min(MemAvailable, cgroup headroom) shared by `ranks_on_node` processes; 0 when nothing can
/// be read.
uint64_t available_memory(int ranks_on_node = 1);
/// "512 B", "1.5 KiB", ..., "2.0 TiB".
std::string human_bytes(double bytes);

}  // namespace trawl
