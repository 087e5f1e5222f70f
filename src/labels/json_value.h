// A small strict JSON DOM (RFC 8259) for the annotation-tool formats: objects keep their key
// order, duplicate keys are an error, numbers keep their source text so 64-bit ids are read
// exactly (never through a double). Errors are InputError "where:line:col: ..." naming the value.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace trawl::json {

class Value {
 public:
  enum class Type { kNull, kBool, kNumber, kString, kArray, kObject };
  Type type = Type::kNull;
  bool b = false;
  std::string str;  // kString: the decoded UTF-8; kNumber: the number's source text
  std::vector<Value> items;                            // kArray
  std::vector<std::pair<std::string, Value>> members;  // kObject, in source order

  bool is_null() const { return type == Type::kNull; }
  bool is_bool() const { return type == Type::kBool; }
  bool is_number() const { return type == Type::kNumber; }
  bool is_string() const { return type == Type::kString; }
  bool is_array() const { return type == Type::kArray; }
  bool is_object() const { return type == Type::kObject; }
  /// A number written without fraction or exponent.
  bool is_integer() const;
  /// Object member or nullptr (also when this is not an object).
  const Value* get(const std::string& key) const;
  /// kNumber: true and *out when it is an integer in [0, 2^64).
  bool as_u64(uint64_t* out) const;
  double as_double() const;  // kNumber only
  /// A short rendering for error messages (strings quoted, long values cut).
  std::string brief() const;
  const char* type_name() const;
};

/// Parses one complete JSON text (surrounding whitespace allowed, nothing else). `where` is
/// the file name for messages; `line0` the line the text starts on (for JSONL).
Value parse(const std::string& text, const std::string& where, uint64_t line0 = 1);

/// A JSON string literal for s (quotes included; control characters escaped; UTF-8 kept).
std::string quote(const std::string& s);
/// A JSON number for a double: shortest text that reads back to the same value ("null" when
/// not finite).
std::string number(double v);

}  // namespace trawl::json
