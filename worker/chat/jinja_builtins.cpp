// Tests, str/dict methods, globals and item access, with Python's and jinja2's semantics.
#include "worker/chat/jinja_builtins.h"

#include <algorithm>
#include <chrono>
#include <ctime>

#include "common/utf8.h"
#include "worker/chat/jinja_ast.h"

namespace lf::worker::jinja {

const Value& CallArgs::Get(size_t index, std::string_view name, const Value& fallback) const {
  if (index < args.size()) return args[index];
  for (const auto& [key, value] : kwargs) {
    if (key == name) return value;
  }
  return fallback;
}

Status CallArgs::Check(std::string_view what, size_t max_positional,
                       std::initializer_list<std::string_view> names) const {
  if (args.size() > max_positional) {
    return InvalidArgument(std::string(what) + " takes at most " + std::to_string(max_positional) +
                           " positional arguments, got " + std::to_string(args.size()));
  }
  for (const auto& [key, value] : kwargs) {
    if (std::find(names.begin(), names.end(), key) == names.end()) {
      return InvalidArgument(std::string(what) + ": keyword argument \"" + key +
                             "\" is not supported");
    }
  }
  return Status::Ok();
}

std::vector<std::string> Utf8Chars(std::string_view s) {
  std::vector<std::string> chars;
  size_t pos = 0;
  while (pos < s.size()) {
    size_t start = pos;
    utf8::Next(s, pos);
    if (pos <= start) pos = start + 1;
    chars.emplace_back(s.substr(start, pos - start));
  }
  return chars;
}

namespace {

bool IsPySpace(char32_t cp) { return utf8::IsWhitespace(cp) || (cp >= 0x1C && cp <= 0x1F); }

Result<int64_t> ToIndex(const Value& v, const char* what) {
  if (v.is_int() || v.is_bool()) return v.as_int();
  return InvalidArgument(std::string(what) + " must be an integer, got " + v.TypeName());
}

bool IsLowerText(const std::string& s, bool want_lower) {
  bool cased = false;
  for (char c : s) {
    if (want_lower && c >= 'A' && c <= 'Z') return false;
    if (!want_lower && c >= 'a' && c <= 'z') return false;
    cased = cased || std::isalpha(static_cast<unsigned char>(c));
  }
  return cased;
}

}  // namespace

std::string PyStrip(std::string_view s, const Value& chars, bool left, bool right) {
  std::vector<std::string> set;
  bool whitespace = chars.is_none() || chars.is_undefined();
  if (!whitespace) set = Utf8Chars(chars.Str());
  auto strip_here = [&](std::string_view ch) {
    if (whitespace) {
      size_t pos = 0;
      return IsPySpace(utf8::Next(ch, pos));
    }
    return std::find(set.begin(), set.end(), ch) != set.end();
  };
  std::vector<std::string> text = Utf8Chars(s);
  size_t begin = 0, end = text.size();
  while (left && begin < end && strip_here(text[begin])) ++begin;
  while (right && end > begin && strip_here(text[end - 1])) --end;
  std::string out;
  for (size_t i = begin; i < end; ++i) out += text[i];
  return out;
}

Result<ValueList> Iterate(const Value& value) {
  if (value.is_undefined()) return ValueList{};
  if (value.is_list()) return value.as_list();
  if (value.is_dict()) {
    ValueList keys;
    for (const auto& item : value.as_dict()) keys.emplace_back(item.first);
    return keys;
  }
  if (value.is_string()) {
    ValueList chars;
    for (auto& ch : Utf8Chars(value.as_string())) chars.emplace_back(std::move(ch));
    return chars;
  }
  return InvalidArgument(value.TypeName() + " is not iterable");
}

bool IsKnownTest(std::string_view name) {
  static const char* const kTests[] = {
      "defined",  "undefined", "none",        "string",      "number",  "integer",
      "float",    "boolean",   "true",        "false",       "mapping", "iterable",
      "sequence", "callable",  "equalto",     "eq",          "==",      "ne",
      "!=",       "gt",        ">",           "greaterthan", "ge",      ">=",
      "lt",       "<",         "lessthan",    "le",          "<=",      "in",
      "odd",      "even",      "divisibleby", "lower",       "upper",   "sameas"};
  return std::find(std::begin(kTests), std::end(kTests), name) != std::end(kTests);
}

Result<bool> ApplyTest(const std::string& name, const Value& v, const CallArgs& args) {
  static const Value kNone = NoneValue{};
  const Value& other = args.Get(0, "value", kNone);
  if (name == "defined") return !v.is_undefined();
  if (name == "undefined") return v.is_undefined();
  if (name == "none") return v.is_none();
  if (name == "string") return v.is_string();
  if (name == "number") return v.is_number();
  if (name == "integer") return v.is_int();
  if (name == "float") return v.is_float();
  if (name == "boolean") return v.is_bool();
  if (name == "true") return v.is_bool() && v.as_bool();
  if (name == "false") return v.is_bool() && !v.as_bool();
  if (name == "mapping") return v.is_dict();
  if (name == "iterable") return v.is_undefined() || v.is_string() || v.is_list() || v.is_dict();
  if (name == "sequence") return v.is_undefined() || v.is_string() || v.is_list() || v.is_dict();
  if (name == "callable") return v.is_builtin();
  if (name == "equalto" || name == "eq" || name == "==") return v.Equals(other);
  if (name == "ne" || name == "!=") return !v.Equals(other);
  if (name == "sameas") {
    if (v.is_none() || v.is_bool() || v.is_undefined())
      return v.Equals(other) && v.is_bool() == other.is_bool();
    return v.Equals(other);
  }
  if (name == "lt" || name == "<" || name == "lessthan") return LessThan(v, other);
  if (name == "gt" || name == ">" || name == "greaterthan") return LessThan(other, v);
  if (name == "le" || name == "<=") {
    LF_ASSIGN_OR_RETURN(bool greater, LessThan(other, v));
    return !greater;
  }
  if (name == "ge" || name == ">=") {
    LF_ASSIGN_OR_RETURN(bool less, LessThan(v, other));
    return !less;
  }
  if (name == "in") {
    if (other.is_string() && v.is_string())
      return other.as_string().find(v.as_string()) != std::string::npos;
    LF_ASSIGN_OR_RETURN(ValueList items, Iterate(other));
    for (const auto& item : items) {
      if (item.Equals(v)) return true;
    }
    return false;
  }
  if (name == "odd" || name == "even" || name == "divisibleby") {
    LF_ASSIGN_OR_RETURN(int64_t n, ToIndex(v, ("the value of test " + name).c_str()));
    if (name == "odd") return n % 2 != 0;
    if (name == "even") return n % 2 == 0;
    LF_ASSIGN_OR_RETURN(int64_t d, ToIndex(other, "divisibleby's argument"));
    if (d == 0) return InvalidArgument("divisibleby(0)");
    return n % d == 0;
  }
  if (name == "lower" || name == "upper") return IsLowerText(v.Str(), name == "lower");
  return InvalidArgument("test \"" + name + "\" is not supported");
}

Value GetAttribute(const Value& object, const std::string& name) {
  if (const Value* found = object.Find(name)) return *found;
  return Value::MakeUndefined("'" + object.TypeName() + "' has no attribute '" + name + "'");
}

Result<Value> GetItem(const Value& object, const Value& key) {
  if (object.is_dict() || object.is_namespace()) {
    if (key.is_string()) return GetAttribute(object, key.as_string());
    return Value::MakeUndefined("no key " + key.Repr());
  }
  if (object.is_list() || object.is_string()) {
    if (!key.is_int() && !key.is_bool()) {
      if (key.is_string()) return GetAttribute(object, key.as_string());
      return InvalidArgument("indices must be integers, got " + key.TypeName());
    }
    int64_t i = key.as_int();
    if (object.is_list()) {
      int64_t n = int64_t(object.as_list().size());
      if (i < 0) i += n;
      if (i < 0 || i >= n) return Value::MakeUndefined("list index out of range");
      return object.as_list()[size_t(i)];
    }
    std::vector<std::string> chars = Utf8Chars(object.as_string());
    int64_t n = int64_t(chars.size());
    if (i < 0) i += n;
    if (i < 0 || i >= n) return Value::MakeUndefined("string index out of range");
    return Value(chars[size_t(i)]);
  }
  return InvalidArgument("cannot index " + object.TypeName());
}

Result<Value> Slice(const Value& object, const Value& start_v, const Value& stop_v,
                    const Value& step_v) {
  int64_t step = 1;
  if (!step_v.is_none() && !step_v.is_undefined()) {
    LF_ASSIGN_OR_RETURN(step, ToIndex(step_v, "slice step"));
  }
  if (step == 0) return InvalidArgument("slice step cannot be zero");
  std::vector<Value> items;
  std::vector<std::string> chars;
  int64_t n = 0;
  if (object.is_list()) {
    n = int64_t(object.as_list().size());
  } else if (object.is_string()) {
    chars = Utf8Chars(object.as_string());
    n = int64_t(chars.size());
  } else {
    return InvalidArgument("cannot slice " + object.TypeName());
  }
  auto bound = [&](const Value& v, int64_t fallback) -> Result<int64_t> {
    if (v.is_none() || v.is_undefined()) return fallback;
    LF_ASSIGN_OR_RETURN(int64_t i, ToIndex(v, "slice index"));
    if (i < 0) i += n;
    if (step > 0) return std::clamp<int64_t>(i, 0, n);
    return std::clamp<int64_t>(i, -1, n - 1);
  };
  LF_ASSIGN_OR_RETURN(int64_t start, bound(start_v, step > 0 ? 0 : n - 1));
  LF_ASSIGN_OR_RETURN(int64_t stop, bound(stop_v, step > 0 ? n : -1));
  ValueList list;
  std::string text;
  for (int64_t i = start; step > 0 ? i < stop : i > stop; i += step) {
    if (object.is_list()) {
      list.push_back(object.as_list()[size_t(i)]);
    } else {
      text += chars[size_t(i)];
    }
  }
  if (object.is_list()) return Value(std::move(list));
  return Value(std::move(text));
}

bool IsGlobal(std::string_view name) {
  return name == "range" || name == "namespace" || name == "dict" || name == "raise_exception" ||
         name == "strftime_now" || name == "lipsum" || name == "cycler" || name == "joiner";
}

Result<Value> CallGlobal(const std::string& name, const CallArgs& args) {
  if (name == "raise_exception") {
    static const Value kEmpty = "";
    return InvalidArgument("the template raised an error: " + args.Get(0, "message", kEmpty).Str());
  }
  if (name == "range") {
    LF_RETURN_IF_ERROR(args.Check("range", 3, {}));
    if (args.args.empty()) return InvalidArgument("range expects at least 1 argument");
    int64_t start = 0, stop = 0, step = 1;
    if (args.args.size() == 1) {
      LF_ASSIGN_OR_RETURN(stop, ToIndex(args.args[0], "range's argument"));
    } else {
      LF_ASSIGN_OR_RETURN(start, ToIndex(args.args[0], "range's start"));
      LF_ASSIGN_OR_RETURN(stop, ToIndex(args.args[1], "range's stop"));
      if (args.args.size() == 3) {
        LF_ASSIGN_OR_RETURN(step, ToIndex(args.args[2], "range's step"));
      }
    }
    if (step == 0) return InvalidArgument("range() step must not be zero");
    ValueList list;
    for (int64_t i = start; step > 0 ? i < stop : i > stop; i += step) {
      if (list.size() >= kMaxListItems) {
        return ResourceExhausted("range() of more than " + std::to_string(kMaxListItems) +
                                 " items");
      }
      list.emplace_back(i);
    }
    return Value(std::move(list));
  }
  if (name == "namespace" || name == "dict") {
    ValueDict attrs;
    if (args.args.size() > 1)
      return InvalidArgument(name + "() takes at most one positional argument");
    if (!args.args.empty()) {
      if (!args.args[0].is_dict()) return InvalidArgument(name + "() expects a dict argument");
      attrs = args.args[0].as_dict();
    }
    for (const auto& [key, value] : args.kwargs) {
      auto it =
          std::find_if(attrs.begin(), attrs.end(), [&](const auto& a) { return a.first == key; });
      if (it != attrs.end()) {
        it->second = value;
      } else {
        attrs.emplace_back(key, value);
      }
    }
    if (name == "dict") return Value(std::move(attrs));
    for (const auto& [key, value] : attrs) {
      if (!key.empty() && key[0] == '_') {
        return InvalidArgument("namespace attributes cannot start with '_': " + key);
      }
    }
    auto ns = std::make_shared<Namespace>();
    ns->attrs = std::move(attrs);
    return Value(std::move(ns));
  }
  if (name == "strftime_now") {
    static const Value kEmpty = "";
    std::string format = args.Get(0, "format", kEmpty).Str();
    std::time_t now = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
    std::tm local{};
    localtime_r(&now, &local);
    char buf[512];
    size_t n = std::strftime(buf, sizeof(buf), format.c_str(), &local);
    return Value(std::string(buf, n));
  }
  return InvalidArgument("function \"" + name + "\" is not supported");
}

}  // namespace lf::worker::jinja
