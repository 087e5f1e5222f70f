// Scoped timers accumulated per name in a process-wide registry; mpi/report.h prints
// min/mean/max over ranks at the end of a stage.
#pragma once
#include <chrono>
#include <map>
#include <string>

namespace trawl {

class Timers {
 public:
  static Timers& global();
  void add(const std::string& name, double seconds);
  std::map<std::string, double> snapshot() const;
  void clear();

 private:
  std::map<std::string, double> t_;
};

class ScopedTimer {
 public:
  explicit ScopedTimer(std::string name)
      : name_(std::move(name)), start_(std::chrono::steady_clock::now()) {}
  ~ScopedTimer() { stop(); }
  double stop() {
    if (stopped_) return 0;
    stopped_ = true;
    double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
    Timers::global().add(name_, s);
    return s;
  }

 private:
  std::string name_;
  std::chrono::steady_clock::time_point start_;
  bool stopped_ = false;
};

}  // namespace trawl
