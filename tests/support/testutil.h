// Helpers shared by tests: scratch directories, running binaries, reading files.
#pragma once
#include <string>

#include "core/error.h"

namespace trawl::test {

/// A fresh directory under $TMPDIR (or /tmp), removed at destruction unless
/// TRAWL_KEEP_TEST_DIRS is set. With MPI, rank 0 creates it and all ranks share the name.
class TempDir {
 public:
  explicit TempDir(const std::string& tag = "t");
  ~TempDir();
  const std::string& path() const { return path_; }
  std::string operator/(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

/// Writes text to a file (throws on failure).
void write_file(const std::string& path, const std::string& content);
std::string read_file(const std::string& path);
/// Runs a shell command, returns its exit status; stdout+stderr captured into *output.
int run(const std::string& cmd, std::string* output = nullptr);
/// Directory of the built binaries ($TRAWL_BIN, or ./bin).
std::string bin_dir();
std::string source_dir();

/// The message of the trawl::Error f throws, or "" when it throws none.
template <class F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const trawl::Error& e) {
    return e.what();
  }
  return "";
}

}  // namespace trawl::test
