// Filters (jinja2's, with transformers' tojson) and Python's str/dict methods.
#include <algorithm>
#include <cctype>
#include <cmath>

#include "common/utf8.h"
#include "worker/chat/jinja_ast.h"
#include "worker/chat/jinja_builtins.h"

namespace lf::worker::jinja {
namespace {

const Value kNone = NoneValue{};
const Value kUndefined;

// Simple case mapping for ASCII, Latin-1, Latin Extended-A, Greek and Cyrillic, as Python's
// str.upper()/lower() do; other scripts, and expansions such as "ß" -> "SS", stay unchanged.
char32_t UpperOf(char32_t c) {
  if (c >= 'a' && c <= 'z') return c - 32;
  if ((c >= 0xE0 && c <= 0xFE && c != 0xF7)) return c - 32;
  if (c == 0xFF) return 0x178;
  if (c >= 0x100 && c <= 0x137 && c % 2 == 1) return c - 1;
  if (c >= 0x139 && c <= 0x148 && c % 2 == 0) return c - 1;
  if (c >= 0x14A && c <= 0x177 && c % 2 == 1) return c - 1;
  if ((c == 0x17A || c == 0x17C || c == 0x17E)) return c - 1;
  if (c >= 0x3B1 && c <= 0x3C9 && c != 0x3C2) return c - 32;
  if (c == 0x3C2) return 0x3A3;
  if (c >= 0x430 && c <= 0x44F) return c - 32;
  if (c >= 0x450 && c <= 0x45F) return c - 80;
  return c;
}
char32_t LowerOf(char32_t c) {
  if (c >= 'A' && c <= 'Z') return c + 32;
  if ((c >= 0xC0 && c <= 0xDE && c != 0xD7)) return c + 32;
  if (c == 0x178) return 0xFF;
  if (c >= 0x100 && c <= 0x137 && c % 2 == 0) return c + 1;
  if (c >= 0x139 && c <= 0x148 && c % 2 == 1) return c + 1;
  if (c >= 0x14A && c <= 0x177 && c % 2 == 0) return c + 1;
  if ((c == 0x179 || c == 0x17B || c == 0x17D)) return c + 1;
  if (c >= 0x391 && c <= 0x3A9 && c != 0x3A2) return c + 32;
  if (c >= 0x410 && c <= 0x42F) return c + 32;
  if (c >= 0x400 && c <= 0x40F) return c + 80;
  return c;
}
bool IsCased(char32_t c) { return UpperOf(c) != c || LowerOf(c) != c; }

// Maps each code point with `upper` (true), `lower` (false), or, for title case, upper at the
// start of a word as `word_start` decides and lower elsewhere.
template <typename WordStart>
std::string MapCase(std::string_view s, WordStart word_start) {
  std::string out;
  size_t pos = 0;
  char32_t previous = 0;
  bool first = true;
  while (pos < s.size()) {
    size_t start = pos;
    char32_t c = utf8::Next(s, pos);
    if (pos <= start) {
      out += s[start];
      pos = start + 1;
      continue;
    }
    utf8::Append(out, word_start(first, previous) ? UpperOf(c) : LowerOf(c));
    previous = c;
    first = false;
  }
  return out;
}
std::string PyUpper(std::string_view s) {
  return MapCase(s, [](bool, char32_t) { return true; });
}
std::string PyLower(std::string_view s) {
  return MapCase(s, [](bool, char32_t) { return false; });
}
std::string Capitalize(std::string_view s) {
  return MapCase(s, [](bool first, char32_t) { return first; });
}
// Python's str.title(): a cased letter after an uncased character starts a word.
std::string PyTitle(std::string_view s) {
  return MapCase(s, [](bool first, char32_t previous) { return first || !IsCased(previous); });
}
// jinja2's title filter: words begin after '-', whitespace, '(', '{', '[' or '<'.
std::string JinjaTitle(std::string_view s) {
  return MapCase(s, [](bool first, char32_t p) {
    return first || p == '-' || p == '(' || p == '{' || p == '[' || p == '<' ||
           utf8::IsWhitespace(p);
  });
}

Status CheckSize(size_t size) {
  if (size > kMaxOutputBytes) {
    return ResourceExhausted("a string of more than " + std::to_string(kMaxOutputBytes) + " bytes");
  }
  return Status::Ok();
}

Result<std::string> PyReplace(const std::string& s, const std::string& old, const std::string& with,
                              int64_t count) {
  std::string out;
  if (old.empty()) return InvalidArgument("replace() with an empty search string is not supported");
  size_t pos = 0;
  int64_t done = 0;
  while (count < 0 || done < count) {
    size_t found = s.find(old, pos);
    if (found == std::string::npos) break;
    out.append(s, pos, found - pos);
    out += with;
    LF_RETURN_IF_ERROR(CheckSize(out.size()));
    pos = found + old.size();
    ++done;
  }
  out.append(s, pos);
  return out;
}

Result<ValueList> PySplit(const std::string& s, const Value& sep_v, int64_t maxsplit) {
  ValueList parts;
  if (sep_v.is_none() || sep_v.is_undefined()) {
    size_t i = 0;
    auto space = [&](size_t k) { return std::isspace(static_cast<unsigned char>(s[k])) != 0; };
    while (true) {
      while (i < s.size() && space(i)) ++i;
      if (i >= s.size()) break;
      if (maxsplit >= 0 && int64_t(parts.size()) == maxsplit) {
        size_t end = s.size();
        while (end > i && space(end - 1)) --end;
        parts.emplace_back(s.substr(i, end - i));
        break;
      }
      size_t j = i;
      while (j < s.size() && !space(j)) ++j;
      parts.emplace_back(s.substr(i, j - i));
      i = j;
    }
    return parts;
  }
  std::string sep = sep_v.Str();
  if (sep.empty()) return InvalidArgument("split() with an empty separator");
  size_t pos = 0;
  while (maxsplit < 0 || int64_t(parts.size()) < maxsplit) {
    size_t found = s.find(sep, pos);
    if (found == std::string::npos) break;
    parts.emplace_back(s.substr(pos, found - pos));
    pos = found + sep.size();
  }
  parts.emplace_back(s.substr(pos));
  return parts;
}

Result<int64_t> IntArg(const Value& v, const char* what) {
  if (v.is_int() || v.is_bool()) return v.as_int();
  return InvalidArgument(std::string(what) + " must be an integer, got " + v.TypeName());
}

// "a.b.c" looked up item by item, as jinja2's make_attrgetter does.
Value AttributePath(const Value& item, const std::string& path) {
  Value current = item;
  size_t pos = 0;
  while (pos <= path.size()) {
    size_t dot = path.find('.', pos);
    std::string part = path.substr(pos, dot == std::string::npos ? std::string::npos : dot - pos);
    bool digits = !part.empty() && std::all_of(part.begin(), part.end(), ::isdigit);
    if (digits && current.is_list()) {
      auto got = GetItem(current, Value(int64_t(std::stoll(part))));
      current = got.ok() ? *got : Value();
    } else {
      current = GetAttribute(current, part);
    }
    if (dot == std::string::npos) break;
    pos = dot + 1;
  }
  return current;
}

Result<Value> SelectOrReject(const std::string& name, const Value& value, const CallArgs& args) {
  bool by_attribute = name == "selectattr" || name == "rejectattr";
  bool select = name == "select" || name == "selectattr";
  LF_ASSIGN_OR_RETURN(ValueList items, Iterate(value));
  size_t first_test_arg = by_attribute ? 1 : 0;
  std::string attribute = by_attribute ? args.Get(0, "", kUndefined).Str() : "";
  std::string test;
  CallArgs test_args;
  if (args.args.size() > first_test_arg) {
    test = args.args[first_test_arg].Str();
    if (!IsKnownTest(test)) return InvalidArgument("test \"" + test + "\" is not supported");
    test_args.args.assign(args.args.begin() + long(first_test_arg) + 1, args.args.end());
  }
  ValueList out;
  for (const auto& item : items) {
    Value subject = by_attribute ? AttributePath(item, attribute) : item;
    bool passed = false;
    if (test.empty()) {
      passed = subject.Truthy();
    } else {
      LF_ASSIGN_OR_RETURN(passed, ApplyTest(test, subject, test_args));
    }
    if (passed == select) out.push_back(item);
  }
  return Value(std::move(out));
}

Result<Value> Join(const Value& value, const CallArgs& args) {
  static const Value kEmpty = "";
  std::string sep = args.Get(0, "d", kEmpty).Str();
  const Value& attribute = args.Get(1, "attribute", kNone);
  LF_ASSIGN_OR_RETURN(ValueList items, Iterate(value));
  std::string out;
  for (size_t i = 0; i < items.size(); ++i) {
    if (i > 0) out += sep;
    out += attribute.is_none() ? items[i].Str() : AttributePath(items[i], attribute.Str()).Str();
    LF_RETURN_IF_ERROR(CheckSize(out.size()));
  }
  return Value(std::move(out));
}

Result<Value> ToJson(const Value& value, const CallArgs& args) {
  LF_RETURN_IF_ERROR(
      args.Check("tojson", 5, {"ensure_ascii", "indent", "separators", "sort_keys"}));
  if (args.Get(0, "ensure_ascii", Value(false)).Truthy()) {
    return InvalidArgument("tojson(ensure_ascii=true) is not supported");
  }
  JsonDumpOptions options;
  const Value& indent = args.Get(1, "indent", kNone);
  if (!indent.is_none()) {
    LF_ASSIGN_OR_RETURN(int64_t n, IntArg(indent, "tojson's indent"));
    options.indent = int(std::clamp<int64_t>(n, 0, 64));
  }
  const Value& separators = args.Get(2, "separators", kNone);
  if (!separators.is_none()) {
    if (!separators.is_list() || separators.as_list().size() != 2) {
      return InvalidArgument("tojson's separators must be a pair of strings");
    }
    options.item_separator = separators.as_list()[0].Str();
    options.key_separator = separators.as_list()[1].Str();
    if (options.item_separator.empty())
      return InvalidArgument("tojson: empty item separator is not supported");
  }
  options.sort_keys = args.Get(3, "sort_keys", Value(false)).Truthy();
  LF_ASSIGN_OR_RETURN(std::string text, DumpJson(value, options));
  return Value(std::move(text));
}

Result<Value> Round(const Value& value, const CallArgs& args) {
  LF_ASSIGN_OR_RETURN(int64_t precision,
                      IntArg(args.Get(0, "precision", Value(0)), "round's precision"));
  std::string method = args.Get(1, "method", Value("common")).Str();
  if (value.is_int() && method == "common") return value;  // Python's round(int, n) is an int
  double scale = std::pow(10.0, double(precision));
  double x = value.as_float() * scale;
  double r = method == "ceil"    ? std::ceil(x)
             : method == "floor" ? std::floor(x)
                                 : std::nearbyint(x);  // Python rounds half to even
  if (method != "common" && method != "ceil" && method != "floor") {
    return InvalidArgument("round's method must be common, ceil or floor");
  }
  return Value(r / scale);
}

}  // namespace

bool IsKnownFilter(std::string_view name) {
  static const char* const kFilters[] = {
      "trim",       "length", "count", "tojson", "upper",   "lower",      "title",
      "capitalize", "first",  "last",  "join",   "default", "d",          "items",
      "list",       "string", "int",   "float",  "replace", "selectattr", "rejectattr",
      "select",     "reject", "map",   "unique", "reverse", "safe",       "abs",
      "round",      "min",    "max",   "sum",    "attr"};
  return std::find(std::begin(kFilters), std::end(kFilters), name) != std::end(kFilters);
}

Result<Value> ApplyFilter(const std::string& name, const Value& v, const CallArgs& args) {
  if (name == "safe") return v;
  if (name == "trim") return Value(PyStrip(v.Str(), args.Get(0, "chars", kNone), true, true));
  if (name == "length" || name == "count") {
    if (v.is_string()) return Value(int64_t(Utf8Chars(v.as_string()).size()));
    if (v.is_list()) return Value(int64_t(v.as_list().size()));
    if (v.is_dict()) return Value(int64_t(v.as_dict().size()));
    if (v.is_undefined()) return Value(int64_t{0});
    return InvalidArgument(v.TypeName() + " has no length");
  }
  if (name == "tojson") return ToJson(v, args);
  if (name == "upper") return Value(PyUpper(v.Str()));
  if (name == "lower") return Value(PyLower(v.Str()));
  if (name == "title") return Value(JinjaTitle(v.Str()));
  if (name == "capitalize") return Value(Capitalize(v.Str()));
  if (name == "first" || name == "last") {
    LF_ASSIGN_OR_RETURN(ValueList items, Iterate(v));
    if (items.empty()) return Value::MakeUndefined("no " + name + " item of an empty sequence");
    return name == "first" ? items.front() : items.back();
  }
  if (name == "join") return Join(v, args);
  if (name == "default" || name == "d") {
    static const Value kEmpty = "";
    bool boolean = args.Get(1, "boolean", Value(false)).Truthy();
    if (v.is_undefined() || (boolean && !v.Truthy())) return args.Get(0, "default_value", kEmpty);
    return v;
  }
  if (name == "items") {
    if (v.is_undefined()) return Value(ValueList{});
    if (!v.is_dict()) return InvalidArgument("items expects a dict, got " + v.TypeName());
    ValueList pairs;
    for (const auto& [key, value] : v.as_dict())
      pairs.push_back(Value::MakeTuple(ValueList{Value(key), value}));
    return Value(std::move(pairs));
  }
  if (name == "list") {
    LF_ASSIGN_OR_RETURN(ValueList items, Iterate(v));
    return Value(std::move(items));
  }
  if (name == "string") return Value(v.Str());
  if (name == "int" || name == "float") {
    const Value fallback = args.Get(0, "default", name == "int" ? Value(0) : Value(0.0));
    double d = 0;
    if (v.is_number()) {
      d = v.as_float();
      if (name == "int" && v.is_int()) return v;
    } else if (v.is_string()) {
      try {
        size_t used = 0;
        std::string text = PyStrip(v.as_string(), kNone, true, true);
        d = std::stod(text, &used);
        if (used != text.size()) return fallback;
      } catch (const std::exception&) {
        return fallback;
      }
    } else {
      return fallback;
    }
    if (name == "float") return Value(d);
    if (!std::isfinite(d) || std::fabs(d) > 9.2e18) return fallback;
    return Value(int64_t(std::trunc(d)));
  }
  if (name == "replace") {
    LF_ASSIGN_OR_RETURN(int64_t count, IntArg(args.Get(2, "count", Value(-1)), "replace's count"));
    LF_ASSIGN_OR_RETURN(std::string out, PyReplace(v.Str(), args.Get(0, "old", kUndefined).Str(),
                                                   args.Get(1, "new", kUndefined).Str(), count));
    return Value(std::move(out));
  }
  if (name == "selectattr" || name == "rejectattr" || name == "select" || name == "reject") {
    return SelectOrReject(name, v, args);
  }
  if (name == "map") {
    LF_ASSIGN_OR_RETURN(ValueList items, Iterate(v));
    ValueList out;
    const Value& attribute = args.Get(99, "attribute", kNone);
    if (!attribute.is_none()) {
      const Value& fallback = args.Get(99, "default", kUndefined);
      for (const auto& item : items) {
        Value got = AttributePath(item, attribute.Str());
        out.push_back(got.is_undefined() ? fallback : got);
      }
      return Value(std::move(out));
    }
    if (args.args.empty()) return InvalidArgument("map expects a filter name or attribute=");
    std::string filter = args.args[0].Str();
    if (!IsKnownFilter(filter) || filter == "map") {
      return InvalidArgument("filter \"" + filter + "\" is not supported");
    }
    CallArgs rest;
    rest.args.assign(args.args.begin() + 1, args.args.end());
    rest.kwargs = args.kwargs;
    for (const auto& item : items) {
      LF_ASSIGN_OR_RETURN(Value mapped, ApplyFilter(filter, item, rest));
      out.push_back(std::move(mapped));
    }
    return Value(std::move(out));
  }
  if (name == "unique") {
    LF_ASSIGN_OR_RETURN(ValueList items, Iterate(v));
    bool case_sensitive = args.Get(0, "case_sensitive", Value(false)).Truthy();
    const Value& attribute = args.Get(1, "attribute", kNone);
    ValueList out, seen;
    for (const auto& item : items) {
      Value key = attribute.is_none() ? item : AttributePath(item, attribute.Str());
      if (!case_sensitive && key.is_string()) key = Value(PyLower(key.as_string()));
      if (std::none_of(seen.begin(), seen.end(), [&](const Value& s) { return s.Equals(key); })) {
        seen.push_back(key);
        out.push_back(item);
      }
    }
    return Value(std::move(out));
  }
  if (name == "reverse") {
    if (v.is_string()) {
      std::vector<std::string> chars = Utf8Chars(v.as_string());
      std::string out;
      for (auto it = chars.rbegin(); it != chars.rend(); ++it) out += *it;
      return Value(std::move(out));
    }
    LF_ASSIGN_OR_RETURN(ValueList items, Iterate(v));
    std::reverse(items.begin(), items.end());
    return Value(std::move(items));
  }
  if (name == "abs") {
    if (v.is_int()) return Value(v.as_int() < 0 ? -v.as_int() : v.as_int());
    if (v.is_float()) return Value(std::fabs(v.as_float()));
    return InvalidArgument("abs expects a number, got " + v.TypeName());
  }
  if (name == "round") {
    if (!v.is_number()) return InvalidArgument("round expects a number, got " + v.TypeName());
    return Round(v, args);
  }
  if (name == "min" || name == "max" || name == "sum") {
    LF_ASSIGN_OR_RETURN(ValueList items, Iterate(v));
    if (name == "sum") {
      Value total = args.Get(1, "start", Value(0));
      for (const auto& item : items) {
        if (!item.is_number() || !total.is_number()) return InvalidArgument("sum expects numbers");
        total = item.is_float() || total.is_float() ? Value(total.as_float() + item.as_float())
                                                    : Value(total.as_int() + item.as_int());
      }
      return total;
    }
    if (items.empty()) return Value::MakeUndefined("no " + name + " of an empty sequence");
    Value best = items[0];
    for (size_t i = 1; i < items.size(); ++i) {
      LF_ASSIGN_OR_RETURN(bool less, LessThan(items[i], best));
      LF_ASSIGN_OR_RETURN(bool more, LessThan(best, items[i]));
      if (name == "min" ? less : more) best = items[i];
    }
    return best;
  }
  if (name == "attr") {  // getattr(): a namespace's attributes; a dict's keys are items, not these
    if (!v.is_namespace()) return Value::MakeUndefined(v.TypeName() + " has no such attribute");
    return GetAttribute(v, args.Get(0, "name", kUndefined).Str());
  }
  return InvalidArgument("filter \"" + name + "\" is not supported");
}

Result<Value> CallMethod(const Value& object, const std::string& method, const CallArgs& args) {
  if (object.is_string()) {
    const std::string& s = object.as_string();
    if (method == "strip") return Value(PyStrip(s, args.Get(0, "chars", kNone), true, true));
    if (method == "lstrip") return Value(PyStrip(s, args.Get(0, "chars", kNone), true, false));
    if (method == "rstrip") return Value(PyStrip(s, args.Get(0, "chars", kNone), false, true));
    if (method == "upper") return Value(PyUpper(s));
    if (method == "lower") return Value(PyLower(s));
    if (method == "title") return Value(PyTitle(s));
    if (method == "capitalize") return Value(Capitalize(s));
    if (method == "split") {
      LF_ASSIGN_OR_RETURN(int64_t maxsplit, IntArg(args.Get(1, "maxsplit", Value(-1)), "maxsplit"));
      LF_ASSIGN_OR_RETURN(ValueList parts, PySplit(s, args.Get(0, "sep", kNone), maxsplit));
      return Value(std::move(parts));
    }
    if (method == "startswith" || method == "endswith") {
      const Value& arg = args.Get(0, "prefix", kUndefined);
      ValueList candidates = arg.is_list() ? arg.as_list() : ValueList{arg};
      for (const auto& c : candidates) {
        if (!c.is_string())
          return InvalidArgument(method + " expects a string, got " + c.TypeName());
        const std::string& t = c.as_string();
        bool hit = t.size() <= s.size() &&
                   (method == "startswith" ? s.compare(0, t.size(), t) == 0
                                           : s.compare(s.size() - t.size(), t.size(), t) == 0);
        if (hit) return Value(true);
      }
      return Value(false);
    }
    if (method == "replace") {
      LF_ASSIGN_OR_RETURN(int64_t count,
                          IntArg(args.Get(2, "count", Value(-1)), "replace's count"));
      LF_ASSIGN_OR_RETURN(std::string out, PyReplace(s, args.Get(0, "old", kUndefined).Str(),
                                                     args.Get(1, "new", kUndefined).Str(), count));
      return Value(std::move(out));
    }
    if (method == "find" || method == "rfind" || method == "count") {
      std::string needle = args.Get(0, "sub", kUndefined).Str();
      if (method == "count") {
        if (needle.empty()) return Value(int64_t(Utf8Chars(s).size()) + 1);
        int64_t n = 0;
        for (size_t p = s.find(needle); p != std::string::npos;
             p = s.find(needle, p + needle.size()))
          ++n;
        return Value(n);
      }
      size_t p = method == "find" ? s.find(needle) : s.rfind(needle);
      if (p == std::string::npos) return Value(int64_t{-1});
      return Value(int64_t(Utf8Chars(s.substr(0, p)).size()));
    }
    if (method == "join") {
      CallArgs join_args;
      join_args.args.push_back(object);
      return ApplyFilter("join", args.Get(0, "iterable", kUndefined), join_args);
    }
  } else if (object.is_dict()) {
    const ValueDict& dict = object.as_dict();
    if (method == "items") return ApplyFilter("items", object, CallArgs{});
    if (method == "keys" || method == "values") {
      ValueList out;
      for (const auto& [key, value] : dict) out.push_back(method == "keys" ? Value(key) : value);
      return Value(std::move(out));
    }
    if (method == "get") {
      const Value* found = object.Find(args.Get(0, "key", kUndefined).Str());
      return found != nullptr ? *found : args.Get(1, "default", kNone);
    }
  } else if (object.is_list() && (method == "append" || method == "pop" || method == "extend" ||
                                  method == "insert" || method == "remove")) {
    return InvalidArgument("lists cannot be modified (list." + method + ")");
  }
  return NotFound(object.TypeName() + " has no method \"" + method + "\"");
}

}  // namespace lf::worker::jinja
