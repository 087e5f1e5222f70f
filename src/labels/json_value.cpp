#include "labels/json_value.h"

#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>

#include "core/error.h"

namespace trawl::json {

bool Value::is_integer() const {
  return type == Type::kNumber && str.find_first_of(".eE") == std::string::npos;
}

const Value* Value::get(const std::string& key) const {
  if (type != Type::kObject) return nullptr;
  for (auto& m : members)
    if (m.first == key) return &m.second;
  return nullptr;
}

bool Value::as_u64(uint64_t* out) const {
  if (!is_integer() || str.empty() || str[0] == '-') return false;
  errno = 0;
  char* end = nullptr;
  unsigned long long v = std::strtoull(str.c_str(), &end, 10);
  if (errno == ERANGE || *end != '\0') return false;
  *out = v;
  return true;
}

double Value::as_double() const { return std::strtod(str.c_str(), nullptr); }

const char* Value::type_name() const {
  switch (type) {
    case Type::kNull: return "null";
    case Type::kBool: return "a boolean";
    case Type::kNumber: return "a number";
    case Type::kString: return "a string";
    case Type::kArray: return "an array";
    case Type::kObject: return "an object";
  }
  return "?";
}

std::string Value::brief() const {
  std::string s;
  switch (type) {
    case Type::kNull: s = "null"; break;
    case Type::kBool: s = b ? "true" : "false"; break;
    case Type::kNumber: s = str; break;
    case Type::kString: s = quote(str); break;
    case Type::kArray: s = cat("[array of ", items.size(), "]"); break;
    case Type::kObject: s = cat("{object of ", members.size(), " keys}"); break;
  }
  if (s.size() > 60) s = s.substr(0, 57) + "...";
  return s;
}

namespace {

class Parser {
 public:
  Parser(const std::string& t, const std::string& where, uint64_t line0) : t_(t), where_(where), line_(line0) {}

  Value document() {
    ws();
    Value v = value(0);
    ws();
    if (p_ != t_.size()) fail(cat("unexpected '", t_[p_], "' after the JSON value"));
    return v;
  }

 private:
  [[noreturn]] void fail(const std::string& msg) const {
    throw InputError(cat(where_, ":", line_, ":", p_ - line_start_ + 1, ": invalid JSON: ", msg));
  }
  void ws() {
    while (p_ < t_.size()) {
      char c = t_[p_];
      if (c == '\n') {
        ++line_;
        line_start_ = p_ + 1;
      } else if (c != ' ' && c != '\t' && c != '\r') {
        break;
      }
      ++p_;
    }
  }
  void expect_word(const char* w) {
    for (const char* q = w; *q; ++q, ++p_)
      if (p_ >= t_.size() || t_[p_] != *q) fail(cat("expected '", w, "'"));
  }
  Value value(int depth) {
    if (depth > 512) fail("nested too deeply");
    if (p_ >= t_.size()) fail("unexpected end of input");
    Value v;
    char c = t_[p_];
    if (c == '{') {
      v.type = Value::Type::kObject;
      ++p_;
      ws();
      if (p_ < t_.size() && t_[p_] == '}') { ++p_; return v; }
      for (;;) {
        ws();
        if (p_ >= t_.size() || t_[p_] != '"') fail("expected a string key");
        std::string k = string();
        for (auto& m : v.members)
          if (m.first == k) fail(cat("duplicate key ", quote(k)));
        ws();
        if (p_ >= t_.size() || t_[p_] != ':') fail(cat("expected ':' after key ", quote(k)));
        ++p_;
        ws();
        v.members.emplace_back(std::move(k), value(depth + 1));
        ws();
        if (p_ < t_.size() && t_[p_] == ',') { ++p_; continue; }
        if (p_ < t_.size() && t_[p_] == '}') { ++p_; return v; }
        fail("expected ',' or '}' in an object");
      }
    }
    if (c == '[') {
      v.type = Value::Type::kArray;
      ++p_;
      ws();
      if (p_ < t_.size() && t_[p_] == ']') { ++p_; return v; }
      for (;;) {
        ws();
        v.items.push_back(value(depth + 1));
        ws();
        if (p_ < t_.size() && t_[p_] == ',') { ++p_; continue; }
        if (p_ < t_.size() && t_[p_] == ']') { ++p_; return v; }
        fail("expected ',' or ']' in an array");
      }
    }
    if (c == '"') {
      v.type = Value::Type::kString;
      v.str = string();
      return v;
    }
    if (c == 't') { expect_word("true"); v.type = Value::Type::kBool; v.b = true; return v; }
    if (c == 'f') { expect_word("false"); v.type = Value::Type::kBool; return v; }
    if (c == 'n') { expect_word("null"); return v; }
    if (c == '-' || (c >= '0' && c <= '9')) {
      size_t s = p_;
      if (t_[p_] == '-') ++p_;
      auto digits = [&]() {
        size_t d = p_;
        while (p_ < t_.size() && t_[p_] >= '0' && t_[p_] <= '9') ++p_;
        if (p_ == d) fail("expected a digit in a number");
        return p_ - d;
      };
      size_t int_start = p_;
      size_t nd = digits();
      if (nd > 1 && t_[int_start] == '0') fail("a number has a leading zero");
      if (p_ < t_.size() && t_[p_] == '.') { ++p_; digits(); }
      if (p_ < t_.size() && (t_[p_] == 'e' || t_[p_] == 'E')) {
        ++p_;
        if (p_ < t_.size() && (t_[p_] == '+' || t_[p_] == '-')) ++p_;
        digits();
      }
      v.type = Value::Type::kNumber;
      v.str = t_.substr(s, p_ - s);
      return v;
    }
    fail(cat("unexpected '", c, "'"));
  }
  unsigned hex4() {
    if (p_ + 4 > t_.size()) fail("truncated \\u escape");
    unsigned u = 0;
    for (int i = 0; i < 4; ++i) {
      char h = t_[p_++];
      u <<= 4;
      if (h >= '0' && h <= '9') u |= unsigned(h - '0');
      else if (h >= 'a' && h <= 'f') u |= unsigned(h - 'a' + 10);
      else if (h >= 'A' && h <= 'F') u |= unsigned(h - 'A' + 10);
      else fail("bad hex digit in a \\u escape");
    }
    return u;
  }
  static void utf8(std::string& o, unsigned cp) {
    if (cp < 0x80) {
      o += char(cp);
    } else if (cp < 0x800) {
      o += char(0xC0 | (cp >> 6));
      o += char(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
      o += char(0xE0 | (cp >> 12));
      o += char(0x80 | ((cp >> 6) & 0x3F));
      o += char(0x80 | (cp & 0x3F));
    } else {
      o += char(0xF0 | (cp >> 18));
      o += char(0x80 | ((cp >> 12) & 0x3F));
      o += char(0x80 | ((cp >> 6) & 0x3F));
      o += char(0x80 | (cp & 0x3F));
    }
  }
  std::string string() {
    ++p_;  // opening quote
    std::string o;
    for (;;) {
      if (p_ >= t_.size()) fail("unterminated string");
      unsigned char c = static_cast<unsigned char>(t_[p_]);
      if (c == '"') { ++p_; return o; }
      if (c < 0x20) fail("a control character inside a string (escape it)");
      if (c != '\\') { o += char(c); ++p_; continue; }
      ++p_;
      if (p_ >= t_.size()) fail("unterminated string");
      char e = t_[p_++];
      switch (e) {
        case '"': o += '"'; break;
        case '\\': o += '\\'; break;
        case '/': o += '/'; break;
        case 'b': o += '\b'; break;
        case 'f': o += '\f'; break;
        case 'n': o += '\n'; break;
        case 'r': o += '\r'; break;
        case 't': o += '\t'; break;
        case 'u': {
          unsigned cp = hex4();
          if (cp >= 0xD800 && cp < 0xDC00) {
            if (p_ + 2 > t_.size() || t_[p_] != '\\' || t_[p_ + 1] != 'u') fail("a lone high surrogate in a \\u escape");
            p_ += 2;
            unsigned lo = hex4();
            if (lo < 0xDC00 || lo >= 0xE000) fail("a high surrogate without its low surrogate");
            cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
          } else if (cp >= 0xDC00 && cp < 0xE000) {
            fail("a lone low surrogate in a \\u escape");
          }
          utf8(o, cp);
          break;
        }
        default: fail(cat("bad escape '\\", e, "'"));
      }
    }
  }

  const std::string& t_;
  const std::string& where_;
  size_t p_ = 0;
  uint64_t line_;
  size_t line_start_ = 0;
};

}  // namespace

Value parse(const std::string& text, const std::string& where, uint64_t line0) {
  return Parser(text, where, line0).document();
}

std::string quote(const std::string& s) {
  std::string o = "\"";
  for (unsigned char c : s) {
    switch (c) {
      case '"': o += "\\\""; break;
      case '\\': o += "\\\\"; break;
      case '\n': o += "\\n"; break;
      case '\r': o += "\\r"; break;
      case '\t': o += "\\t"; break;
      case '\b': o += "\\b"; break;
      case '\f': o += "\\f"; break;
      default:
        if (c < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", c);
          o += buf;
        } else {
          o += char(c);
        }
    }
  }
  return o + "\"";
}

std::string number(double v) {
  if (!std::isfinite(v)) return "null";
  char buf[40];
  for (int prec = 1; prec <= 17; ++prec) {
    std::snprintf(buf, sizeof buf, "%.*g", prec, v);
    if (std::strtod(buf, nullptr) == v) break;
  }
  return buf;
}

}  // namespace trawl::json
