// A small strict JSON (RFC 8259) reader for JSONL rows: extracts a few named top-level
// values of one object and validates and skips everything else. Private to the text module.
#pragma once
#include <cstddef>
#include <string>
#include <string_view>

namespace trawl::text::json {

struct Field {
  enum class Kind { kMissing, kNull, kString, kNumber, kBool, kObject, kArray };
  Kind kind = Kind::kMissing;
  std::string value;  // decoded string; a number's literal text; "true"/"false"
};

const char* kind_name(Field::Kind k);  // "a string", "an object", ...

/// Maximum nesting depth of arrays and objects.
constexpr int kMaxDepth = 512;

/// Parses `text` as one JSON object surrounded by optional whitespace. For each of the nkeys
/// wanted keys, out[k] receives the value of the last member with that key (kind kMissing if
/// absent); object and array values are validated and skipped (their value stays empty).
/// Strings are fully decoded (\uXXXX escapes, surrogate pairs; raw bytes are copied as they
/// are, so the caller validates UTF-8). Returns false on malformed input, with a message and
/// the 0-based byte offset of the problem.
bool parse_object(std::string_view text, const std::string* keys, size_t nkeys, Field* out,
                  std::string& error, size_t& error_pos);

}  // namespace trawl::text::json
