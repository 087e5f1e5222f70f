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
#include <csignal>
#include <ctime>
#include <mutex>
#include <random>
#include <set>
#include <sstream>

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
namespace {

// This machine's name as temporary names carry it (no '/' or '.').
std::string this_host() {
  char h[256] = {0};
  if (::gethostname(h, sizeof h - 1) != 0 || !h[0]) return "localhost";
  std::string s(h);
  for (char& c : s)
    if (c == '/' || c == '.') c = '_';  // the name is parsed by '.' below
  return s;
}

}  // namespace

void check_writable_dir(const std::string& dir) {
  make_dirs(dir);
  // Named like a temporary (".tmp.<host>.<pid>."), so a probe a killed process left behind is
  // swept like its other temporaries — here, on the rerun's own check.
  remove_stale_temporaries(dir);
  std::string probe = join_path(dir, cat(".trawl-write-probe.tmp.", this_host(), ".", ::getpid(), ".0"));
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
    if (n == "." || n == "..") continue;  // not files
    if (n.size() >= prefix.size() + suffix.size() && n.compare(0, prefix.size(), prefix) == 0 &&
        n.compare(n.size() - suffix.size(), suffix.size(), suffix) == 0)
      out.push_back(join_path(dir, n));
  }
  ::closedir(d);
  std::sort(out.begin(), out.end());
  return out;
}
namespace {


// "<final>.tmp.<host>.<pid>.<random>" -> host and pid (false for other names, e.g. the older
// "<final>.tmp.<pid>.<random>" without a host).
bool parse_temp_owner(const std::string& name, std::string& host, long& pid) {
  const size_t t = name.rfind(".tmp.");
  if (t == std::string::npos) return false;
  const std::string rest = name.substr(t + 5);
  const size_t d2 = rest.rfind('.');
  if (d2 == std::string::npos) return false;
  const size_t d1 = rest.rfind('.', d2 - 1);
  if (d1 == std::string::npos || d2 == 0) return false;
  host = rest.substr(0, d1);
  const std::string p = rest.substr(d1 + 1, d2 - d1 - 1);
  if (host.empty() || p.empty() || p.find_first_not_of("0123456789") != std::string::npos) return false;
  pid = std::strtol(p.c_str(), nullptr, 10);
  return pid > 0;
}

// Seconds since the epoch at which process pid started, from /proc (Linux); < 0 if unknown.
double process_start_time(long pid) {
  std::ifstream st("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  if (!std::getline(st, line)) return -1;
  auto close = line.rfind(')');  // the command name may hold spaces and parentheses
  if (close == std::string::npos) return -1;
  std::istringstream rest(line.substr(close + 1));
  std::string field;
  unsigned long long start_ticks = 0;
  for (int i = 3; i <= 22 && rest >> field; ++i)
    if (i == 22) start_ticks = std::strtoull(field.c_str(), nullptr, 10);
  std::ifstream ps("/proc/stat");
  double btime = -1;
  for (std::string l; std::getline(ps, l);)
    if (l.rfind("btime ", 0) == 0) btime = std::strtod(l.c_str() + 6, nullptr);
  long hz = ::sysconf(_SC_CLK_TCK);
  if (btime < 0 || hz <= 0) return -1;
  return btime + double(start_ticks) / double(hz);
}

// Process state letter from /proc/<pid>/stat ('R', 'S', 'Z'...), or 0 when unknown.
char process_state(long pid) {
  std::ifstream st("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  if (!std::getline(st, line)) return 0;
  auto close = line.rfind(')');
  return close != std::string::npos && close + 2 < line.size() ? line[close + 2] : 0;
}

// Whether the process that wrote a temporary file last modified at mtime may still write it:
// it exists, is not a zombie (killed, not yet reaped: a parent that never reaps, as some
// container init processes, keeps it forever), and started before the file was last written
// (otherwise its pid was reused by another program).
bool writer_alive(long pid, double mtime) {
  if (::kill(pid_t(pid), 0) != 0 && errno != EPERM) return false;
  char state = process_state(pid);
  if (state == 'Z' || state == 'X') return false;
  double started = process_start_time(pid);
  if (started >= 0 && mtime >= 0 && started > mtime + 2.0) return false;
  return true;
}

}  // namespace

int remove_stale_temporaries(const std::string& dir, double max_age_hours) {
  if (!is_directory(dir)) return 0;
  DIR* d = ::opendir(dir.c_str());
  if (!d) return 0;
  std::vector<std::string> names;
  while (dirent* e = ::readdir(d)) {
    std::string name = e->d_name;
    if (name.find(".tmp.") != std::string::npos) names.push_back(name);
  }
  ::closedir(d);
  const std::string me = this_host();
  const double now = double(::time(nullptr));
  int n = 0;
  for (auto& name : names) {
    const std::string path = join_path(dir, name);
    std::string host;
    long pid = 0;
    bool stale;
    struct stat st;
    if (::stat(path.c_str(), &st) != 0) continue;
    if (parse_temp_owner(name, host, pid) && host == me) {
      stale = !writer_alive(pid, double(st.st_mtime));  // this machine's writer is gone
    } else {
      stale = now - double(st.st_mtime) >= max_age_hours * 3600.0;  // another machine's: by age
    }
    if (stale && ::unlink(path.c_str()) == 0) ++n;
  }
  return n;
}

std::string parent_dir(const std::string& p) {
  auto s = p.find_last_of('/');
  if (s == std::string::npos) return ".";
  return s == 0 ? "/" : p.substr(0, s);
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
  static const std::string host = this_host();
  std::random_device rd;
  temp_ = cat(final_, ".tmp.", host, ".", ::getpid(), ".", rd() % 100000);
  // Once per directory and process: temporaries that killed writers left behind.
  static std::mutex mu;
  static std::set<std::string> swept;
  const std::string dir = parent_dir(final_);
  std::lock_guard<std::mutex> g(mu);
  if (swept.insert(dir).second) remove_stale_temporaries(dir);
}
AtomicOutput::~AtomicOutput() {
  if (!done_) ::unlink(temp_.c_str());
}

namespace {
void fsync_path(const std::string& path, bool directory) {
  int fd = ::open(path.c_str(), O_RDONLY | (directory ? O_DIRECTORY : 0));
  if (fd < 0) throw IoError(cat(path, ": cannot open to sync: ", std::strerror(errno)));
  if (::fsync(fd) != 0 && errno != EINVAL && errno != EROFS) {  // EINVAL: a file system without fsync
    int e = errno;
    ::close(fd);
    throw IoError(cat(path, ": fsync failed: ", std::strerror(e)));
  }
  ::close(fd);
}
}  // namespace

void AtomicOutput::commit() {
  if (done_) return;
  // Durable: the data reaches the disk before the name does, and the new name survives a crash.
  fsync_path(temp_, false);
  if (::rename(temp_.c_str(), final_.c_str()) != 0)
    throw IoError(cat(final_, ": cannot rename temporary ", temp_, " into place: ", std::strerror(errno)));
  done_ = true;
  fsync_path(parent_dir(final_), true);
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
