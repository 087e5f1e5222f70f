// UTF-8 helpers private to the text module: strict validation, decoding, encoding.
#pragma once
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

namespace trawl::text::utf8 {

constexpr size_t kValid = static_cast<size_t>(-1);

/// True when every byte is < 0x80.
inline bool is_ascii(const char* s, size_t n) {
  size_t i = 0;
  uint64_t acc = 0;
  for (; i + 8 <= n; i += 8) {
    uint64_t w;
    std::memcpy(&w, s + i, 8);
    acc |= w;
  }
  for (; i < n; ++i) acc |= static_cast<unsigned char>(s[i]);
  return (acc & 0x8080808080808080ULL) == 0;
}

/// Offset of the first byte of the first invalid sequence (overlong forms, surrogates,
/// code points above U+10FFFF, truncated sequences and stray continuation bytes are invalid),
/// or kValid.
size_t find_invalid(const char* s, size_t n);

/// Offset of the first NUL byte, or kValid.
inline size_t find_nul(const char* s, size_t n) {
  const void* p = std::memchr(s, 0, n);
  return p ? static_cast<size_t>(static_cast<const char*>(p) - s) : kValid;
}

/// Decodes the code point at s[i] of VALID UTF-8 and advances i.
inline uint32_t decode(const char* s, size_t& i) {
  const auto* u = reinterpret_cast<const unsigned char*>(s);
  uint32_t c = u[i];
  if (c < 0x80) {
    i += 1;
    return c;
  }
  if (c < 0xE0) {
    uint32_t r = ((c & 0x1F) << 6) | (u[i + 1] & 0x3F);
    i += 2;
    return r;
  }
  if (c < 0xF0) {
    uint32_t r = ((c & 0x0F) << 12) | ((u[i + 1] & 0x3F) << 6) | (u[i + 2] & 0x3F);
    i += 3;
    return r;
  }
  uint32_t r = ((c & 0x07) << 18) | ((u[i + 1] & 0x3F) << 12) | ((u[i + 2] & 0x3F) << 6) |
               (u[i + 3] & 0x3F);
  i += 4;
  return r;
}

/// Appends the UTF-8 encoding of cp (which must be a scalar value).
inline void append(std::string& out, uint32_t cp) {
  if (cp < 0x80) {
    out.push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out.push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out.push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out.push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

/// Copy of s with every invalid sequence replaced by U+FFFD.
std::string sanitize(std::string_view s);

/// Length of the longest prefix of s of at most max_bytes bytes that does not end inside a
/// multi-byte sequence (for truncating raw records in messages).
inline size_t safe_prefix(std::string_view s, size_t max_bytes) {
  if (s.size() <= max_bytes) return s.size();
  size_t n = max_bytes;
  int back = 0;
  while (n > 0 && back < 3 && (static_cast<unsigned char>(s[n]) & 0xC0) == 0x80) {
    --n;
    ++back;
  }
  if ((static_cast<unsigned char>(s[n]) & 0xC0) == 0x80) return max_bytes;  // not UTF-8 anyway
  return n;
}

}  // namespace trawl::text::utf8
