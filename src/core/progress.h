// Progress of long work on stderr: items done, rate and ETA, at most once per interval.
// Each rank reports its own share; mpi/report.h summarises totals across ranks at the end.
#pragma once
#include <chrono>
#include <cstdint>
#include <string>

namespace trawl {

class Progress {
 public:
  /// total = 0 means unknown (no percentage or ETA). unit e.g. "docs", "bytes".
  Progress(std::string what, uint64_t total, std::string unit, double interval_s = 2.0);
  void add(uint64_t n) { set(done_ + n); }
  void set(uint64_t done);
  void set_total(uint64_t total) { total_ = total; }
  /// Prints the final line (count, time, rate). Idempotent.
  void finish();
  uint64_t done() const { return done_; }
  double elapsed() const;
  double rate() const;  // items per second so far
  static std::string human(double v);  // 1234567 -> "1.23M"
  static std::string human_time(double s);  // 3725 -> "1h02m"

 private:
  void print(bool final);
  std::string what_, unit_;
  uint64_t total_, done_ = 0;
  double interval_;
  std::chrono::steady_clock::time_point start_, last_;
  bool finished_ = false;
};

}  // namespace trawl
