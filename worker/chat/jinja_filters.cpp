// Filters: jinja2's, with transformers' tojson.
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
    LF_RETURN_IF_ERROR(CheckStringSize(out.size()));
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
      "round",      "min",    "max",   "sum",    "attr",    "sort"};
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
  if (name == "sort") {
    LF_ASSIGN_OR_RETURN(ValueList items, Iterate(v));
    bool reverse = args.Get(0, "reverse", Value(false)).Truthy();
    bool case_sensitive = args.Get(1, "case_sensitive", Value(false)).Truthy();
    const Value& attribute = args.Get(2, "attribute", kNone);
    std::vector<std::pair<Value, Value>> keyed;  // (key, item)
    for (auto& item : items) {
      Value key = attribute.is_none() ? item : AttributePath(item, attribute.Str());
      if (!case_sensitive && key.is_string()) key = Value(PyLower(key.as_string()));
      keyed.emplace_back(std::move(key), std::move(item));
    }
    Status failed;
    std::stable_sort(keyed.begin(), keyed.end(), [&](const auto& a, const auto& b) {
      auto less = reverse ? LessThan(b.first, a.first) : LessThan(a.first, b.first);
      if (!less.ok()) failed = less.status();
      return less.ok() && *less;
    });
    LF_RETURN_IF_ERROR(failed);
    ValueList out;
    for (auto& [key, item] : keyed) out.push_back(std::move(item));
    return Value(std::move(out));
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

}  // namespace lf::worker::jinja
