#include "text/utf8.h"

namespace trawl::text::utf8 {

namespace {

inline bool cont(unsigned char c) { return (c & 0xC0) == 0x80; }

/// Length of the valid sequence starting at u[i] (1..4), or 0 if it is invalid.
inline size_t seq_len(const unsigned char* u, size_t i, size_t n) {
  unsigned char c = u[i];
  if (c < 0x80) return 1;
  if (c < 0xC2) return 0;  // continuation byte or overlong 2-byte lead
  if (c < 0xE0) return (i + 1 < n && cont(u[i + 1])) ? 2 : 0;
  if (c < 0xF0) {
    if (i + 2 >= n) return 0;
    unsigned char c1 = u[i + 1];
    if (c == 0xE0 && (c1 < 0xA0 || c1 > 0xBF)) return 0;  // overlong
    if (c == 0xED && (c1 < 0x80 || c1 > 0x9F)) return 0;  // surrogates
    if (!cont(c1) || !cont(u[i + 2])) return 0;
    return 3;
  }
  if (c < 0xF5) {
    if (i + 3 >= n) return 0;
    unsigned char c1 = u[i + 1];
    if (c == 0xF0 && (c1 < 0x90 || c1 > 0xBF)) return 0;  // overlong
    if (c == 0xF4 && (c1 < 0x80 || c1 > 0x8F)) return 0;  // above U+10FFFF
    if (!cont(c1) || !cont(u[i + 2]) || !cont(u[i + 3])) return 0;
    return 4;
  }
  return 0;
}

}  // namespace

size_t find_invalid(const char* s, size_t n) {
  const auto* u = reinterpret_cast<const unsigned char*>(s);
  size_t i = 0;
  while (i < n) {
    // Skip ASCII eight bytes at a time.
    while (i + 8 <= n) {
      uint64_t w;
      std::memcpy(&w, u + i, 8);
      if (w & 0x8080808080808080ULL) break;
      i += 8;
    }
    if (i >= n) break;
    if (u[i] < 0x80) {
      ++i;
      continue;
    }
    size_t l = seq_len(u, i, n);
    if (l == 0) return i;
    i += l;
  }
  return kValid;
}

std::string sanitize(std::string_view s) {
  const auto* u = reinterpret_cast<const unsigned char*>(s.data());
  std::string out;
  out.reserve(s.size() + 8);
  size_t i = 0, n = s.size();
  while (i < n) {
    size_t l = seq_len(u, i, n);
    if (l == 0) {
      append(out, 0xFFFD);
      ++i;
    } else {
      out.append(s.data() + i, l);
      i += l;
    }
  }
  return out;
}

}  // namespace trawl::text::utf8
