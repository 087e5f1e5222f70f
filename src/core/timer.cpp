#include "core/timer.h"

#include <mutex>

namespace trawl {
namespace {
std::mutex g_mu;
}
Timers& Timers::global() {
  static Timers t;
  return t;
}
void Timers::add(const std::string& name, double s) {
  std::lock_guard<std::mutex> l(g_mu);
  t_[name] += s;
}
std::map<std::string, double> Timers::snapshot() const {
  std::lock_guard<std::mutex> l(g_mu);
  return t_;
}
void Timers::clear() {
  std::lock_guard<std::mutex> l(g_mu);
  t_.clear();
}
}  // namespace trawl
