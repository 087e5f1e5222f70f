// End-of-stage summaries across ranks: timers as min/mean/max, totals of counters.
#pragma once
#include <string>

#include "mpi/comm.h"

namespace trawl::mpi {

/// Collective. Rank 0 logs one line per timer name: "time parse: min 1.2s mean 1.3s max 1.5s".
void report_timers(const Comm& comm);

/// Collective. Rank 0 logs "<what>: <total> <unit> in <s> (<rate>/s; per rank min/max)".
void report_total(const Comm& comm, const std::string& what, double mine, const std::string& unit,
                  double seconds);

}  // namespace trawl::mpi
