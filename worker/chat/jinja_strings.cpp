// Python's str operations on UTF-8 text (case mapping, split, replace) and the str, dict and
// list methods templates call.
#include <algorithm>
#include <cctype>

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
}  // namespace

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

Status CheckStringSize(size_t size) {
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
    LF_RETURN_IF_ERROR(CheckStringSize(out.size()));
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
