#include "core/tsv.h"

#include <cerrno>
#include <cstdlib>
#include <fstream>
#include <sstream>

#include "core/error.h"

namespace trawl::tsv {

std::string escape(const std::string& s) {
  std::string o;
  o.reserve(s.size());
  for (char c : s) {
    switch (c) {
      case '\\': o += "\\\\"; break;
      case '\t': o += "\\t"; break;
      case '\n': o += "\\n"; break;
      case '\r': o += "\\r"; break;
      default: o += c;
    }
  }
  return o;
}

std::string unescape(const std::string& s) {
  std::string o;
  o.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\\' && i + 1 < s.size()) {
      const char c = s[++i];
      o += c == 't' ? '\t' : c == 'n' ? '\n' : c == 'r' ? '\r' : c;
    } else {
      o += s[i];
    }
  }
  return o;
}

std::vector<std::string> split(const std::string& line) {
  std::vector<std::string> out;
  size_t a = 0;
  for (;;) {
    size_t b = line.find('\t', a);
    out.push_back(line.substr(a, b == std::string::npos ? std::string::npos : b - a));
    if (b == std::string::npos) break;
    a = b + 1;
  }
  return out;
}

bool parse_u64(const std::string& s, uint64_t* out) {
  if (s.empty() || s.size() > 20) return false;
  for (char c : s)
    if (c < '0' || c > '9') return false;
  errno = 0;
  char* end = nullptr;
  unsigned long long v = std::strtoull(s.c_str(), &end, 10);
  if (errno == ERANGE || *end != '\0') return false;
  *out = v;
  return true;
}

std::vector<std::pair<uint64_t, std::string>> numbered_lines(const std::string& data) {
  std::vector<std::pair<uint64_t, std::string>> out;
  size_t a = 0;
  uint64_t n = 0;
  while (a < data.size()) {
    size_t b = data.find('\n', a);
    if (b == std::string::npos) b = data.size();
    std::string l = data.substr(a, b - a);
    if (!l.empty() && l.back() == '\r') l.pop_back();
    out.emplace_back(++n, std::move(l));
    a = b + 1;
  }
  return out;
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw IoError(cat(path, ": cannot open"));
  std::ostringstream ss;
  ss << in.rdbuf();
  if (in.bad()) throw IoError(cat(path, ": read error"));
  return ss.str();
}

}  // namespace trawl::tsv
