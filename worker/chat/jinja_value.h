// The values a Jinja template computes with, shaped like the Python objects jinja2 sees:
// Undefined, None, bool, int, float, str, list, dict (insertion-ordered, string keys), namespace
// and built-in callables. Printing (Str), repr, truthiness, equality and ordering follow Python.
// Lists and dicts are shared and immutable once built; a namespace is shared and mutable.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "common/json_reader.h"
#include "common/status.h"

namespace lf::worker::jinja {

class Value;
using ValueList = std::vector<Value>;
using ValueDict = std::vector<std::pair<std::string, Value>>;  // insertion order, unique keys

struct Undefined {
  std::string hint;  // what was missing: "'foo' is undefined", "'dict object' has no attribute 'x'"
};
struct NoneValue {};
struct Builtin {
  std::string name;  // a global function: range, namespace, dict, raise_exception, strftime_now
};
struct Namespace {
  ValueDict attrs;
};

class Value {
 public:
  using List = std::shared_ptr<const ValueList>;
  using Dict = std::shared_ptr<const ValueDict>;
  using Ns = std::shared_ptr<Namespace>;
  using Variant = std::variant<Undefined, NoneValue, bool, int64_t, double, std::string, List, Dict,
                               Ns, Builtin>;

  Value() : v_(Undefined{}) {}
  Value(NoneValue n) : v_(n) {}                 // NOLINT: implicit by design
  Value(bool b) : v_(b) {}                      // NOLINT
  Value(int64_t i) : v_(i) {}                   // NOLINT
  Value(int i) : v_(int64_t{i}) {}              // NOLINT
  Value(double d) : v_(d) {}                    // NOLINT
  Value(std::string s) : v_(std::move(s)) {}    // NOLINT
  Value(const char* s) : v_(std::string(s)) {}  // NOLINT
  Value(ValueList l) : v_(std::make_shared<const ValueList>(std::move(l))) {}  // NOLINT
  Value(ValueDict d) : v_(std::make_shared<const ValueDict>(std::move(d))) {}  // NOLINT
  Value(Ns ns) : v_(std::move(ns)) {}                                          // NOLINT
  Value(Builtin b) : v_(std::move(b)) {}                                       // NOLINT
  static Value MakeUndefined(std::string hint) {
    return Value(Variant(Undefined{std::move(hint)}));
  }
  // A Python tuple: a list that prints as "(1, 2)" and is not equal to a list.
  static Value MakeTuple(ValueList items) {
    Value v(std::move(items));
    v.tuple_ = true;
    return v;
  }
  static Value FromJson(const Json& json);

  bool is_undefined() const { return std::holds_alternative<Undefined>(v_); }
  bool is_none() const { return std::holds_alternative<NoneValue>(v_); }
  bool is_bool() const { return std::holds_alternative<bool>(v_); }
  bool is_int() const { return std::holds_alternative<int64_t>(v_); }
  bool is_float() const { return std::holds_alternative<double>(v_); }
  bool is_number() const { return is_int() || is_float() || is_bool(); }
  bool is_string() const { return std::holds_alternative<std::string>(v_); }
  bool is_list() const { return std::holds_alternative<List>(v_); }  // lists and tuples
  bool is_tuple() const { return tuple_; }
  bool is_dict() const { return std::holds_alternative<Dict>(v_); }
  bool is_namespace() const { return std::holds_alternative<Ns>(v_); }
  bool is_builtin() const { return std::holds_alternative<Builtin>(v_); }

  bool as_bool() const { return std::get<bool>(v_); }
  int64_t as_int() const { return is_bool() ? int64_t{as_bool()} : std::get<int64_t>(v_); }
  double as_float() const { return is_float() ? std::get<double>(v_) : double(as_int()); }
  const std::string& as_string() const { return std::get<std::string>(v_); }
  const ValueList& as_list() const { return *std::get<List>(v_); }
  const ValueDict& as_dict() const { return *std::get<Dict>(v_); }
  const Ns& as_namespace() const { return std::get<Ns>(v_); }
  const Builtin& as_builtin() const { return std::get<Builtin>(v_); }
  const Undefined& as_undefined() const { return std::get<Undefined>(v_); }

  // Python's truth value; Undefined is false.
  bool Truthy() const;
  // Python str(): what {{ value }} prints. Undefined prints as "".
  std::string Str() const { return StrAt(0); }
  // Python repr(), as str() shows list and dict items.
  std::string Repr() const { return ReprAt(0); }
  // "a string", "a list", "undefined": for error messages.
  std::string TypeName() const;
  // Python ==, with Undefined equal only to Undefined.
  bool Equals(const Value& other) const;
  // The dict entry or nullptr.
  const Value* Find(std::string_view key) const;

 private:
  explicit Value(Variant v) : v_(std::move(v)) {}
  // `depth` counts the containers around this value; past 100 they print as "[...]", as Python
  // prints a list that holds itself, so a namespace that holds itself cannot recurse forever.
  std::string StrAt(int depth) const;
  std::string ReprAt(int depth) const;
  Variant v_;
  bool tuple_ = false;
};

// How deeply lists, dicts and namespaces nest in `value` (a string is 0, [1] is 1), counting at
// most to `limit` + 1: a namespace that holds itself is deeper than any limit.
size_t NestingDepth(const Value& value, size_t limit);

// Python's float repr: "1.0", "0.1", "1e+16", "inf".
std::string FormatFloat(double d);
// Python's json.dumps(value, ensure_ascii=False, indent=indent, separators=..., sort_keys=...),
// as transformers' tojson filter calls it. indent < 0 means None.
struct JsonDumpOptions {
  int indent = -1;
  std::string item_separator;  // empty: the default for the indent (", " or ",")
  std::string key_separator = ": ";
  bool sort_keys = false;
};
Result<std::string> DumpJson(const Value& value, const JsonDumpOptions& options);
// Python's < on two values: numbers with numbers, strings with strings, lists item by item.
Result<bool> LessThan(const Value& a, const Value& b);

}  // namespace lf::worker::jinja
