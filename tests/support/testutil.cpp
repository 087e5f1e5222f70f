#include "support/testutil.h"

#include <mpi.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <vector>

namespace trawl::test {

TempDir::TempDir(const std::string& tag) {
  int rank = 0, inited = 0;
  MPI_Initialized(&inited);
  if (inited) MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  std::vector<char> buf(4096, 0);
  if (rank == 0) {
    const char* t = std::getenv("TMPDIR");
    std::string tmpl = std::string(t && *t ? t : "/tmp") + "/trawl-" + tag + "-XXXXXX";
    std::snprintf(buf.data(), buf.size(), "%s", tmpl.c_str());
    if (!mkdtemp(buf.data())) throw std::runtime_error("mkdtemp failed");
  }
  if (inited) MPI_Bcast(buf.data(), static_cast<int>(buf.size()), MPI_CHAR, 0, MPI_COMM_WORLD);
  path_ = buf.data();
}

TempDir::~TempDir() {
  int rank = 0, inited = 0, fin = 0;
  MPI_Initialized(&inited);
  MPI_Finalized(&fin);
  if (inited && !fin) {
    MPI_Barrier(MPI_COMM_WORLD);
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  }
  if (rank == 0 && !std::getenv("TRAWL_KEEP_TEST_DIRS")) {
    std::string cmd = "rm -rf '" + path_ + "'";
    if (std::system(cmd.c_str()) != 0) std::fprintf(stderr, "could not remove %s\n", path_.c_str());
  }
}

void write_file(const std::string& path, const std::string& content) {
  std::ofstream o(path, std::ios::binary);
  if (!o) throw std::runtime_error("cannot write " + path);
  o << content;
}
std::string read_file(const std::string& path) {
  std::ifstream i(path, std::ios::binary);
  if (!i) throw std::runtime_error("cannot read " + path);
  std::stringstream s;
  s << i.rdbuf();
  return s.str();
}
int run(const std::string& cmd, std::string* output) {
  std::string full = cmd + " 2>&1";
  FILE* p = popen(full.c_str(), "r");
  if (!p) return -1;
  std::array<char, 4096> b;
  std::string out;
  size_t n;
  while ((n = fread(b.data(), 1, b.size(), p)) > 0) out.append(b.data(), n);
  int st = pclose(p);
  if (output) *output = out;
  return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}
std::string bin_dir() {
  const char* b = std::getenv("TRAWL_BIN");
  return b ? b : "./bin";
}
std::string source_dir() {
  const char* s = std::getenv("TRAWL_SOURCE");
  return s ? s : ".";
}

}  // namespace trawl::test
