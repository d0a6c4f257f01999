// Reading configuration documents (JSON, or YAML converted to JSON by common/yaml.h) with errors
// that name the exact field: "sweep.search.space.lora.r[2]: expected a positive integer, got -1".
// A JsonField is a read-only view of one node plus its path; it borrows the document, which must
// outlive it. Values, no shared state: thread-safe as long as the document is not modified.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <limits>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/status.h"

namespace lf {

using Json = nlohmann::json;

// Where a value sits in a document, printed as users write it: "train.lr", "lora.r[2]".
class FieldPath {
 public:
  FieldPath() = default;
  explicit FieldPath(std::string root) : path_(std::move(root)) {}
  FieldPath Key(std::string_view key) const;
  FieldPath Index(size_t index) const;
  const std::string& str() const { return path_; }
  bool empty() const { return path_.empty(); }

 private:
  std::string path_;
};

// "-1", "\"abc\"", "a list", "an object", "null": how a value is shown in an error message.
std::string DescribeJsonValue(const Json& value);

// Objects and arrays nested deeper than this are refused: everything lorafleet reads is a few
// levels deep, and a document nested a million levels (a few MB of "[") would otherwise exhaust
// the stack when the parsed value is destroyed.
inline constexpr int kMaxJsonDepth = 128;

// Parses JSON text. Never throws: a syntax error names the source (a file name) and the byte
// offset; a number outside double's range and nesting deeper than kMaxJsonDepth are errors too.
Result<Json> ParseJson(std::string_view text, std::string_view source);

// A value that may be missing, as JSON: the number, or null.
inline Json OrNull(const std::optional<double>& v) { return v ? Json(*v) : Json(nullptr); }

// An InvalidArgument about the input field `field` ("sweep.space.lora.r[2]"): the message
// "<field>: <what>" for people, the field as data (Status::field()) for programs.
Status FieldError(std::string_view field, std::string_view what);

struct IntBounds {
  int64_t min = std::numeric_limits<int64_t>::min();
  int64_t max = std::numeric_limits<int64_t>::max();
};
struct NumberBounds {
  double min = -std::numeric_limits<double>::infinity();
  double max = std::numeric_limits<double>::infinity();
  bool exclusive_min = false;  // true: value must be > min
};

class JsonField {
 public:
  JsonField(const Json& node, FieldPath path) : node_(&node), path_(std::move(path)) {}

  const Json& json() const { return *node_; }
  const FieldPath& path() const { return path_; }

  // An InvalidArgument whose message starts with this field's path, which it also carries as
  // its field().
  Status Error(std::string_view what) const;

  bool IsObject() const { return node_->is_object(); }
  bool Has(std::string_view key) const;
  Result<JsonField> Required(std::string_view key) const;
  std::optional<JsonField> Optional(std::string_view key) const;  // absent or null: nullopt
  Result<std::vector<JsonField>> Elements() const;                // requires a list
  Result<std::vector<std::pair<std::string, JsonField>>> Members() const;  // requires an object

  // Every key of this object must be one of `known`; an unknown key is reported with the
  // known ones and the closest match ("did you mean 'r'?").
  Status CheckKeys(std::initializer_list<std::string_view> known) const;
  Status CheckKeys(const std::vector<std::string>& known) const;

  Result<std::string> String() const;
  Result<std::string> NonEmptyString() const;
  Result<int64_t> Int(IntBounds bounds = {}) const;
  Result<int64_t> PositiveInt() const { return Int({.min = 1}); }
  Result<double> Number(NumberBounds bounds = {}) const;
  Result<double> PositiveNumber() const { return Number({.min = 0, .exclusive_min = true}); }
  Result<bool> Bool() const;
  Result<std::vector<std::string>> StringList() const;

  // Required field of this object: e.g. IntAt("n_head", {.min = 1}).
  Result<int64_t> IntAt(std::string_view key, IntBounds bounds = {}) const;
  Result<std::string> StringAt(std::string_view key) const;

  // Field of this object with a default when absent: e.g. IntOr("r", 8, {.min = 1}).
  Result<int64_t> IntOr(std::string_view key, int64_t fallback, IntBounds bounds = {}) const;
  Result<double> NumberOr(std::string_view key, double fallback, NumberBounds bounds = {}) const;
  Result<bool> BoolOr(std::string_view key, bool fallback) const;
  Result<std::string> StringOr(std::string_view key, std::string fallback) const;

 private:
  const Json* node_;
  FieldPath path_;
};

}  // namespace lf
