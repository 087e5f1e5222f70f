#include "text/json.h"

#include <cstring>

#include "text/utf8.h"

namespace trawl::text::json {

const char* kind_name(Field::Kind k) {
  switch (k) {
    case Field::Kind::kMissing: return "missing";
    case Field::Kind::kNull: return "null";
    case Field::Kind::kString: return "a string";
    case Field::Kind::kNumber: return "a number";
    case Field::Kind::kBool: return "a boolean";
    case Field::Kind::kObject: return "an object";
    case Field::Kind::kArray: return "an array";
  }
  return "?";
}

namespace {

class Parser {
 public:
  Parser(std::string_view t) : b_(t.data()), p_(t.data()), e_(t.data() + t.size()) {}

  bool fail(const char* msg) {
    if (!failed_) {
      failed_ = true;
      msg_ = msg;
      pos_ = static_cast<size_t>(p_ - b_);
    }
    return false;
  }
  bool failed() const { return failed_; }
  const char* msg() const { return msg_; }
  size_t pos() const { return pos_; }

  void ws() {
    while (p_ < e_ && (*p_ == ' ' || *p_ == '\t' || *p_ == '\n' || *p_ == '\r')) ++p_;
  }
  bool at_end() const { return p_ >= e_; }
  char peek() const { return p_ < e_ ? *p_ : '\0'; }

  /// Parses a string at p_ (which must be '"'). With out == nullptr it is only validated.
  bool string(std::string* out) {
    ++p_;  // opening quote
    const char* start = p_;
    // Fast scan to the first quote, backslash or control character.
    while (p_ < e_) {
      unsigned char c = static_cast<unsigned char>(*p_);
      if (c == '"' || c == '\\' || c < 0x20) break;
      ++p_;
    }
    if (p_ < e_ && *p_ == '"') {
      if (out) out->assign(start, p_);
      ++p_;
      return true;
    }
    if (out) out->assign(start, p_);
    while (p_ < e_) {
      unsigned char c = static_cast<unsigned char>(*p_);
      if (c == '"') {
        ++p_;
        return true;
      }
      if (c < 0x20) return fail("control character inside a string (must be escaped)");
      if (c != '\\') {
        const char* run = p_;
        while (p_ < e_) {
          unsigned char d = static_cast<unsigned char>(*p_);
          if (d == '"' || d == '\\' || d < 0x20) break;
          ++p_;
        }
        if (out) out->append(run, p_);
        continue;
      }
      // Escape.
      ++p_;
      if (p_ >= e_) break;
      char esc = *p_;
      char rep = 0;
      switch (esc) {
        case '"': rep = '"'; break;
        case '\\': rep = '\\'; break;
        case '/': rep = '/'; break;
        case 'b': rep = '\b'; break;
        case 'f': rep = '\f'; break;
        case 'n': rep = '\n'; break;
        case 'r': rep = '\r'; break;
        case 't': rep = '\t'; break;
        case 'u': {
          --p_;  // point at the backslash for messages
          uint32_t cp;
          if (!unicode_escape(cp)) return false;
          if (out) utf8::append(*out, cp);
          continue;
        }
        default: --p_; return fail("invalid escape sequence in a string");
      }
      if (out) out->push_back(rep);
      ++p_;
    }
    return fail("unterminated string");
  }

  /// p_ at the backslash of "\uXXXX"; decodes it (and a following low surrogate escape).
  bool unicode_escape(uint32_t& cp) {
    const char* start = p_;  // errors point at the escape
    uint32_t hi;
    if (!hex4(hi)) return false;
    if (hi >= 0xDC00 && hi <= 0xDFFF) {
      p_ = start;
      return fail("invalid \\u escape: lone low surrogate");
    }
    if (hi >= 0xD800 && hi <= 0xDBFF) {
      bool pair = e_ - p_ >= 6 && p_[0] == '\\' && p_[1] == 'u';
      uint32_t lo = 0;
      if (pair && !hex4(lo)) return false;
      if (!pair || lo < 0xDC00 || lo > 0xDFFF) {
        p_ = start;
        return fail("invalid \\u escape: lone high surrogate (not followed by a low surrogate)");
      }
      cp = 0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00);
      return true;
    }
    cp = hi;
    return true;
  }

  /// p_ at "\uXXXX": parses the four hex digits and moves past them.
  bool hex4(uint32_t& v) {
    if (e_ - p_ < 6) return fail("truncated \\u escape");
    v = 0;
    for (int k = 2; k < 6; ++k) {
      char c = p_[k];
      uint32_t d;
      if (c >= '0' && c <= '9') d = c - '0';
      else if (c >= 'a' && c <= 'f') d = c - 'a' + 10;
      else if (c >= 'A' && c <= 'F') d = c - 'A' + 10;
      else return fail("invalid \\u escape: expected four hex digits");
      v = v * 16 + d;
    }
    p_ += 6;
    return true;
  }

  bool number() {
    if (p_ < e_ && *p_ == '-') ++p_;
    if (p_ >= e_) return fail("invalid number");
    if (*p_ == '0') {
      ++p_;
    } else if (*p_ >= '1' && *p_ <= '9') {
      while (p_ < e_ && *p_ >= '0' && *p_ <= '9') ++p_;
    } else {
      return fail("invalid number");
    }
    if (p_ < e_ && *p_ == '.') {
      ++p_;
      if (p_ >= e_ || *p_ < '0' || *p_ > '9') return fail("invalid number: digits expected after '.'");
      while (p_ < e_ && *p_ >= '0' && *p_ <= '9') ++p_;
    }
    if (p_ < e_ && (*p_ == 'e' || *p_ == 'E')) {
      ++p_;
      if (p_ < e_ && (*p_ == '+' || *p_ == '-')) ++p_;
      if (p_ >= e_ || *p_ < '0' || *p_ > '9') return fail("invalid number: digits expected in the exponent");
      while (p_ < e_ && *p_ >= '0' && *p_ <= '9') ++p_;
    }
    return true;
  }

  bool literal(const char* word) {
    size_t n = std::strlen(word);
    if (static_cast<size_t>(e_ - p_) < n || std::memcmp(p_, word, n) != 0)
      return fail("invalid literal (expected true, false or null)");
    p_ += n;
    return true;
  }

  /// Parses any value at p_ (after whitespace); fills f if given.
  bool value(Field* f, int depth) {
    ws();
    if (p_ >= e_) return fail("unexpected end of line: a value was expected");
    char c = *p_;
    switch (c) {
      case '"':
        if (f) f->kind = Field::Kind::kString;
        return string(f ? &f->value : nullptr);
      case '{':
        if (f) {
          f->kind = Field::Kind::kObject;
          f->value.clear();
        }
        return object(nullptr, 0, nullptr, depth + 1);
      case '[':
        if (f) {
          f->kind = Field::Kind::kArray;
          f->value.clear();
        }
        return array(depth + 1);
      case 't':
        if (f) {
          f->kind = Field::Kind::kBool;
          f->value = "true";
        }
        return literal("true");
      case 'f':
        if (f) {
          f->kind = Field::Kind::kBool;
          f->value = "false";
        }
        return literal("false");
      case 'n':
        if (f) {
          f->kind = Field::Kind::kNull;
          f->value.clear();
        }
        return literal("null");
      default:
        if (c == '-' || (c >= '0' && c <= '9')) {
          const char* s = p_;
          if (!number()) return false;
          if (f) {
            f->kind = Field::Kind::kNumber;
            f->value.assign(s, p_);
          }
          return true;
        }
        return fail("unexpected character: a value was expected");
    }
  }

  bool array(int depth) {
    if (depth > kMaxDepth) return fail("nesting too deep");
    ++p_;  // '['
    ws();
    if (p_ < e_ && *p_ == ']') {
      ++p_;
      return true;
    }
    for (;;) {
      if (!value(nullptr, depth)) return false;
      ws();
      if (p_ >= e_) return fail("unexpected end of line inside an array");
      if (*p_ == ',') {
        ++p_;
        continue;
      }
      if (*p_ == ']') {
        ++p_;
        return true;
      }
      return fail("expected ',' or ']' in an array");
    }
  }

  /// p_ at '{'. Wanted keys are matched only when keys != nullptr (the top level).
  bool object(const std::string* keys, size_t nkeys, Field* out, int depth) {
    if (depth > kMaxDepth) return fail("nesting too deep");
    ++p_;  // '{'
    ws();
    if (p_ < e_ && *p_ == '}') {
      ++p_;
      return true;
    }
    for (;;) {
      ws();
      if (p_ >= e_) return fail("unexpected end of line inside an object");
      if (*p_ != '"') return fail("expected a string key in an object");
      Field* target = nullptr;
      if (keys) {
        if (!string(&key_)) return false;
        for (size_t k = 0; k < nkeys; ++k)
          if (key_ == keys[k]) {
            target = &out[k];
            break;
          }
      } else {
        if (!string(nullptr)) return false;
      }
      ws();
      if (p_ >= e_ || *p_ != ':') return fail("expected ':' after a key");
      ++p_;
      if (!value(target, depth)) return false;
      // Another wanted key with the same name (the caller may pass one name twice).
      if (target && keys) {
        for (size_t k = static_cast<size_t>(target - out) + 1; k < nkeys; ++k)
          if (keys[k] == key_) out[k] = *target;
      }
      ws();
      if (p_ >= e_) return fail("unexpected end of line inside an object");
      if (*p_ == ',') {
        ++p_;
        continue;
      }
      if (*p_ == '}') {
        ++p_;
        return true;
      }
      return fail("expected ',' or '}' in an object");
    }
  }

 private:
  const char* b_;
  const char* p_;
  const char* e_;
  bool failed_ = false;
  const char* msg_ = "";
  size_t pos_ = 0;
  std::string key_;
};

}  // namespace

bool parse_object(std::string_view text, const std::string* keys, size_t nkeys, Field* out,
                  std::string& error, size_t& error_pos) {
  for (size_t k = 0; k < nkeys; ++k) {
    out[k].kind = Field::Kind::kMissing;
    out[k].value.clear();
  }
  Parser p(text);
  p.ws();
  if (p.at_end()) {
    p.fail("empty line: a JSON object was expected");
  } else if (p.peek() != '{') {
    p.fail("not a JSON object (a JSONL row must start with '{')");
  } else if (p.object(keys, nkeys, out, 1)) {
    p.ws();
    if (!p.at_end()) p.fail("unexpected data after the end of the object");
  }
  if (p.failed()) {
    error = p.msg();
    error_pos = p.pos();
    return false;
  }
  return true;
}

}  // namespace trawl::text::json
