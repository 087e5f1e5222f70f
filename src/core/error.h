// Two error families (see docs/CONVENTIONS.md):
//  * internal invariants: TRAWL_ASSERT aborts with file and line — a bug in trawl;
//  * bad input, bad data, bad options, failed I/O: a thrown trawl::Error subclass whose
//    message names the file, line or dataset, the value and what was expected.
#pragma once
#include <sstream>
#include <stdexcept>
#include <string>

namespace trawl {

/// Exit codes shared by every binary.
enum ExitCode : int {
  kExitOk = 0,
  kExitInternal = 1,  // a bug or an unexpected exception
  kExitUsage = 2,     // bad command line or config file
  kExitInput = 3,     // bad input data (a file's content)
  kExitIo = 4,        // a file could not be opened, read or written
};

class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& what) : std::runtime_error(what) {}
  virtual int exit_code() const { return kExitInternal; }
};

/// Bad options: unknown key, wrong type, out-of-range value, missing required option.
class UsageError : public Error {
 public:
  using Error::Error;
  int exit_code() const override { return kExitUsage; }
};

/// Bad data in an input file: malformed row, wrong dataset shape, foreign format.
class InputError : public Error {
 public:
  using Error::Error;
  int exit_code() const override { return kExitInput; }
};

/// A file that cannot be opened, read or written (permissions, missing, disk full).
class IoError : public Error {
 public:
  using Error::Error;
  int exit_code() const override { return kExitIo; }
};

namespace detail {
inline void cat_into(std::ostringstream&) {}
template <class T, class... Rest>
void cat_into(std::ostringstream& os, const T& v, const Rest&... rest) {
  os << v;
  cat_into(os, rest...);
}
}  // namespace detail

/// Concatenates anything streamable into a string: cat("row ", 3, ": bad").
template <class... Args>
std::string cat(const Args&... args) {
  std::ostringstream os;
  detail::cat_into(os, args...);
  return os.str();
}

/// "file:line: message" (line 0 means no line).
std::string at(const std::string& file, long long line, const std::string& msg);

[[noreturn]] void assert_fail(const char* expr, const char* file, int line, const std::string& msg);

}  // namespace trawl

#define TRAWL_ASSERT(cond)                                                  \
  do {                                                                      \
    if (!(cond)) ::trawl::assert_fail(#cond, __FILE__, __LINE__, std::string()); \
  } while (0)
#define TRAWL_ASSERT_MSG(cond, ...)                                                     \
  do {                                                                                  \
    if (!(cond)) ::trawl::assert_fail(#cond, __FILE__, __LINE__, ::trawl::cat(__VA_ARGS__)); \
  } while (0)
