#include "core/fs.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <fstream>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <random>

#include "core/error.h"

namespace trawl {

bool path_exists(const std::string& p) {
  struct stat st;
  return ::stat(p.c_str(), &st) == 0;
}
bool is_directory(const std::string& p) {
  struct stat st;
  return ::stat(p.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}
uint64_t file_size(const std::string& p) {
  struct stat st;
  if (::stat(p.c_str(), &st) != 0) throw IoError(cat(p, ": cannot stat: ", std::strerror(errno)));
  return static_cast<uint64_t>(st.st_size);
}
std::string basename(const std::string& p) {
  auto s = p.find_last_of('/');
  return s == std::string::npos ? p : p.substr(s + 1);
}
std::string join_path(const std::string& a, const std::string& b) {
  if (a.empty()) return b;
  if (!b.empty() && b[0] == '/') return b;
  return a.back() == '/' ? a + b : a + "/" + b;
}
void make_dirs(const std::string& dir) {
  if (dir.empty()) return;
  std::string cur;
  size_t i = 0;
  while (i <= dir.size()) {
    size_t j = dir.find('/', i);
    if (j == std::string::npos) j = dir.size();
    cur = dir.substr(0, j);
    if (!cur.empty() && !is_directory(cur)) {
      if (::mkdir(cur.c_str(), 0775) != 0 && errno != EEXIST)
        throw IoError(cat(cur, ": cannot create directory: ", std::strerror(errno)));
    }
    i = j + 1;
  }
}
void check_writable_dir(const std::string& dir) {
  make_dirs(dir);
  std::string probe = join_path(dir, cat(".trawl-write-probe.", ::getpid()));
  int fd = ::open(probe.c_str(), O_CREAT | O_WRONLY | O_TRUNC, 0644);
  if (fd < 0) throw IoError(cat(dir, ": output directory is not writable: ", std::strerror(errno)));
  ::close(fd);
  ::unlink(probe.c_str());
}
std::vector<std::string> list_files(const std::string& dir, const std::string& prefix,
                                    const std::string& suffix) {
  std::vector<std::string> out;
  DIR* d = ::opendir(dir.c_str());
  if (!d) throw IoError(cat(dir, ": cannot list directory: ", std::strerror(errno)));
  while (dirent* e = ::readdir(d)) {
    std::string n = e->d_name;
    if (n.size() >= prefix.size() + suffix.size() && n.compare(0, prefix.size(), prefix) == 0 &&
        n.compare(n.size() - suffix.size(), suffix.size(), suffix) == 0)
      out.push_back(join_path(dir, n));
  }
  ::closedir(d);
  std::sort(out.begin(), out.end());
  return out;
}
int remove_stale_temporaries(const std::string& dir) {
  if (!is_directory(dir)) return 0;
  int n = 0;
  DIR* d = ::opendir(dir.c_str());
  if (!d) return 0;
  std::vector<std::string> victims;
  while (dirent* e = ::readdir(d)) {
    std::string name = e->d_name;
    if (name.find(".tmp.") != std::string::npos) victims.push_back(join_path(dir, name));
  }
  ::closedir(d);
  for (auto& v : victims) n += ::unlink(v.c_str()) == 0;
  return n;
}
void remove_file(const std::string& p) { ::unlink(p.c_str()); }

std::string FileChecksum::str() const {
  char buf[64];
  std::snprintf(buf, sizeof buf, "crc32:%08x/size:%llu", crc32, static_cast<unsigned long long>(size));
  return buf;
}

FileChecksum checksum_file(const std::string& path) {
  FILE* f = std::fopen(path.c_str(), "rb");
  if (!f) throw IoError(cat(path, ": cannot open: ", std::strerror(errno)));
  std::vector<unsigned char> buf(1 << 20);
  FileChecksum c;
  uLong crc = ::crc32(0L, Z_NULL, 0);
  size_t n;
  while ((n = std::fread(buf.data(), 1, buf.size(), f)) > 0) {
    crc = ::crc32(crc, buf.data(), static_cast<uInt>(n));
    c.size += n;
  }
  bool err = std::ferror(f);
  std::fclose(f);
  if (err) throw IoError(cat(path, ": read error while computing checksum"));
  c.crc32 = static_cast<uint32_t>(crc);
  return c;
}

AtomicOutput::AtomicOutput(std::string final_path) : final_(std::move(final_path)) {
  std::random_device rd;
  temp_ = cat(final_, ".tmp.", ::getpid(), ".", rd() % 100000);
}
AtomicOutput::~AtomicOutput() {
  if (!done_) ::unlink(temp_.c_str());
}
void AtomicOutput::commit() {
  if (done_) return;
  if (::rename(temp_.c_str(), final_.c_str()) != 0)
    throw IoError(cat(final_, ": cannot rename temporary ", temp_, " into place: ", std::strerror(errno)));
  done_ = true;
}
void AtomicOutput::abandon() {
  if (!done_) ::unlink(temp_.c_str());
  done_ = true;
}

void write_text_atomic(const std::string& path, const std::string& text) {
  AtomicOutput out(path);
  {
    std::ofstream f(out.temp_path(), std::ios::binary);
    f << text;
    f.flush();
    if (!f) throw IoError(cat(out.temp_path(), ": write error (", std::strerror(errno), ")"));
  }
  out.commit();
}

}  // namespace trawl
