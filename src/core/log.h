// Rank-aware logging with levels, to stderr. Results go to files, never to the log.
#pragma once
#include <string>

#include "core/error.h"

namespace trawl::log {

enum class Level { kError = 0, kWarn = 1, kInfo = 2, kDebug = 3, kTrace = 4 };

Level parse_level(const std::string& s);  // throws UsageError
void set_level(Level l);
Level level();
void set_rank(int rank, int size);
int rank();
int size();
void set_program(const std::string& name);
const std::string& program();
double uptime();  // seconds since the process started logging

void write(Level l, bool all_ranks, const std::string& msg);
inline bool enabled(Level l) { return static_cast<int>(l) <= static_cast<int>(level()); }

/// error/warn are printed by every rank; info/debug by rank 0 only unless *_all is used.
template <class... A> void error(const A&... a) { if (enabled(Level::kError)) write(Level::kError, true, cat(a...)); }
template <class... A> void warn(const A&... a) { if (enabled(Level::kWarn)) write(Level::kWarn, true, cat(a...)); }
template <class... A> void info(const A&... a) { if (enabled(Level::kInfo)) write(Level::kInfo, false, cat(a...)); }
template <class... A> void info_all(const A&... a) { if (enabled(Level::kInfo)) write(Level::kInfo, true, cat(a...)); }
template <class... A> void debug(const A&... a) { if (enabled(Level::kDebug)) write(Level::kDebug, true, cat(a...)); }

}  // namespace trawl::log
