#include "core/progress.h"

#include <cstdio>

#include "core/log.h"

namespace trawl {

Progress::Progress(std::string what, uint64_t total, std::string unit, double interval_s)
    : what_(std::move(what)), unit_(std::move(unit)), total_(total), interval_(interval_s) {
  start_ = last_ = std::chrono::steady_clock::now();
}

double Progress::elapsed() const {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
}
double Progress::rate() const {
  double e = elapsed();
  return e > 0 ? done_ / e : 0.0;
}

std::string Progress::human(double v) {
  char buf[32];
  if (v >= 1e9) std::snprintf(buf, sizeof buf, "%.2fG", v / 1e9);
  else if (v >= 1e6) std::snprintf(buf, sizeof buf, "%.2fM", v / 1e6);
  else if (v >= 1e4) std::snprintf(buf, sizeof buf, "%.1fk", v / 1e3);
  else std::snprintf(buf, sizeof buf, "%.0f", v);
  return buf;
}
std::string Progress::human_time(double s) {
  char buf[32];
  if (s < 0 || s > 1e8) return "?";
  long t = static_cast<long>(s + 0.5);
  if (t >= 3600) std::snprintf(buf, sizeof buf, "%ldh%02ldm", t / 3600, (t % 3600) / 60);
  else if (t >= 60) std::snprintf(buf, sizeof buf, "%ldm%02lds", t / 60, t % 60);
  else if (s < 10) std::snprintf(buf, sizeof buf, "%.2fs", s);
  else std::snprintf(buf, sizeof buf, "%lds", t);
  return buf;
}

void Progress::set(uint64_t done) {
  done_ = done;
  if (finished_ || !log::enabled(log::Level::kInfo)) return;
  auto now = std::chrono::steady_clock::now();
  if (std::chrono::duration<double>(now - last_).count() >= interval_) {
    last_ = now;
    print(false);
  }
}

void Progress::finish() {
  if (finished_) return;
  finished_ = true;
  if (log::enabled(log::Level::kInfo)) print(true);
}

void Progress::print(bool final) {
  double e = elapsed(), r = rate();
  std::string line = cat(what_, ": ", human(double(done_)));
  if (total_ > 0) {
    char pct[16];
    std::snprintf(pct, sizeof pct, " (%.1f%%)", 100.0 * double(done_) / double(total_));
    line += cat("/", human(double(total_)), " ", unit_, pct);
  } else {
    line += cat(" ", unit_);
  }
  line += cat(", ", human(r), " ", unit_, "/s");
  if (final) line += cat(", done in ", human_time(e));
  else if (total_ > 0 && r > 0 && done_ <= total_) line += cat(", ETA ", human_time((total_ - done_) / r));
  log::write(log::Level::kInfo, true, line);
}

}  // namespace trawl
