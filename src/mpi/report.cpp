#include "mpi/report.h"

#include <algorithm>
#include <cstdio>
#include <map>
#include <sstream>

#include "core/log.h"
#include "core/progress.h"
#include "core/timer.h"

namespace trawl::mpi {

void report_timers(const Comm& comm) {
  std::ostringstream os;
  for (auto& [k, v] : Timers::global().snapshot()) os << k << '\t' << v << '\n';
  auto all = comm.gather_strings(os.str());
  if (!comm.root()) return;
  std::map<std::string, std::vector<double>> per;
  for (size_t r = 0; r < all.size(); ++r) {
    std::istringstream is(all[r]);
    std::string line;
    while (std::getline(is, line)) {
      auto t = line.find('\t');
      if (t == std::string::npos) continue;
      auto& v = per[line.substr(0, t)];
      v.resize(all.size(), 0.0);
      v[r] = std::stod(line.substr(t + 1));
    }
  }
  for (auto& [k, v] : per) {
    double mn = *std::min_element(v.begin(), v.end()), mx = *std::max_element(v.begin(), v.end());
    double mean = 0;
    for (double x : v) mean += x;
    mean /= v.size();
    char buf[160];
    if (v.size() > 1)
      std::snprintf(buf, sizeof buf, "time %-24s min %8.3fs  mean %8.3fs  max %8.3fs", k.c_str(), mn, mean, mx);
    else
      std::snprintf(buf, sizeof buf, "time %-24s %8.3fs", k.c_str(), mx);
    log::info(buf);
  }
}

void report_total(const Comm& comm, const std::string& what, double mine, const std::string& unit,
                  double seconds) {
  double total = comm.sum(mine), mn = comm.min(mine), mx = comm.max(mine);
  double t = comm.max(seconds);
  std::string line = cat(what, ": ", Progress::human(total), " ", unit, " in ", Progress::human_time(t));
  if (t > 0) line += cat(" (", Progress::human(total / t), " ", unit, "/s)");
  if (comm.size() > 1) line += cat(", per rank min ", Progress::human(mn), " max ", Progress::human(mx));
  log::info(line);
}

}  // namespace trawl::mpi
