#include "io/mapped.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>

namespace trawl::io {

std::shared_ptr<const MappedFile> MappedFile::open(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return nullptr;
  struct stat st;
  void* p = MAP_FAILED;
  if (::fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_size > 0)
    p = ::mmap(nullptr, size_t(st.st_size), PROT_READ, MAP_SHARED, fd, 0);
  ::close(fd);  // the mapping keeps the file
  if (p == MAP_FAILED) return nullptr;
  // Pages read into the cache through this mapping may come in 2 MiB (recache_in_large_pages).
  ::madvise(p, size_t(st.st_size), MADV_HUGEPAGE);  // a hint: errors are harmless
  return std::shared_ptr<const MappedFile>(new MappedFile(static_cast<const char*>(p), size_t(st.st_size)));
}

namespace {
// kB of this process's mapping starting at `at` that are mapped with 2 MiB entries
// (/proc/self/smaps: FilePmdMapped); -1 when unknown.
long pmd_mapped_kb(const void* at) {
  std::ifstream f("/proc/self/smaps");
  char want[32];
  std::snprintf(want, sizeof want, "%lx-", reinterpret_cast<unsigned long>(at));
  std::string line;
  bool in = false;
  while (std::getline(f, line)) {
    const std::string first = line.substr(0, line.find(' '));
    if (first.find('-') != std::string::npos && first.find_first_not_of("0123456789abcdef-") == std::string::npos) {
      in = line.compare(0, std::strlen(want), want) == 0;
      continue;
    }
    if (in && line.compare(0, 14, "FilePmdMapped:") == 0) return std::strtol(line.c_str() + 14, nullptr, 10);
  }
  return -1;
}
}  // namespace

bool recache_in_large_pages(const std::string& path) {
  static std::atomic<bool> useless{false};
  static const bool off = [] {
    const char* e = std::getenv("TRAWL_RECACHE");
    return e && std::strcmp(e, "0") == 0;
  }();
  if (off || useless.load()) return false;
  constexpr size_t kHuge = size_t(2) << 20;
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  struct stat st;
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || size_t(st.st_size) < 2 * kHuge) {
    ::close(fd);
    return false;
  }
  const size_t size = size_t(st.st_size);
  void* p = ::mmap(nullptr, size, PROT_READ, MAP_SHARED, fd, 0);
  if (p == MAP_FAILED) {
    ::close(fd);
    return false;
  }
  // Before dropping anything: can this kernel populate a mapping (Linux 5.14 and later)? If
  // not, the file stays cached as it is, and this process stops trying.
  if (::madvise(p, size_t(::sysconf(_SC_PAGESIZE)), MADV_POPULATE_READ) != 0) {
    useless.store(true);
    ::munmap(p, size);
    ::close(fd);
    return false;
  }
  ::madvise(p, size, MADV_DONTNEED);
  ::posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);  // clean pages only: the writer synced them
  ::close(fd);
  ::madvise(p, size, MADV_HUGEPAGE);
  // In pieces, each released from this mapping after it is read (the page cache keeps it).
  constexpr size_t kPiece = size_t(16) << 20;  // resident while it is read: keep it small
  bool large = true;
  for (size_t off = 0; off < size; off += kPiece) {
    char* a = static_cast<char*>(p) + off;
    const size_t n = std::min(kPiece, size - off);
    if (::madvise(a, n, MADV_POPULATE_READ) != 0) {  // e.g. out of memory: the rest is read when used
      large = false;
      break;
    }
    if (off == 0) {
      // Whether the file system gave 2 MiB pages: if not, this process stops trying.
      const long kb = pmd_mapped_kb(p);
      if (kb <= 0) {
        large = false;
        useless.store(true);
        break;
      }
    }
    ::madvise(a, n, MADV_DONTNEED);
  }
  ::munmap(p, size);
  return large;
}

MappedFile::~MappedFile() { ::munmap(const_cast<char*>(data_), size_); }

}  // namespace trawl::io
