// Value: Python semantics for printing, truthiness, equality and ordering; json.dumps for tojson.
#include "worker/chat/jinja_value.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>

namespace lf::worker::jinja {

Value Value::FromJson(const Json& json) {
  switch (json.type()) {
    case Json::value_t::null:
      return NoneValue{};
    case Json::value_t::boolean:
      return json.get<bool>();
    case Json::value_t::number_integer:
      return json.get<int64_t>();
    case Json::value_t::number_unsigned:
      return static_cast<int64_t>(json.get<uint64_t>());
    case Json::value_t::number_float:
      return json.get<double>();
    case Json::value_t::string:
      return json.get<std::string>();
    case Json::value_t::array: {
      ValueList list;
      list.reserve(json.size());
      for (const auto& item : json) list.push_back(FromJson(item));
      return list;
    }
    case Json::value_t::object: {
      ValueDict dict;
      dict.reserve(json.size());
      for (auto it = json.begin(); it != json.end(); ++it)
        dict.emplace_back(it.key(), FromJson(*it));
      return dict;
    }
    default:
      return MakeUndefined("a binary JSON value");
  }
}

bool Value::Truthy() const {
  if (is_undefined() || is_none()) return false;
  if (is_bool()) return as_bool();
  if (is_int()) return as_int() != 0;
  if (is_float()) return as_float() != 0.0;
  if (is_string()) return !as_string().empty();
  if (is_list()) return !as_list().empty();
  if (is_dict()) return !as_dict().empty();
  return true;
}

std::string FormatFloat(double d) {
  if (std::isnan(d)) return "nan";
  if (std::isinf(d)) return d > 0 ? "inf" : "-inf";
  if (d == 0) return std::signbit(d) ? "-0.0" : "0.0";
  char buf[64];
  auto res = std::to_chars(buf, buf + sizeof(buf), d, std::chars_format::scientific);
  std::string sci(buf, res.ptr);  // "-1.2345e+05"
  bool negative = sci[0] == '-';
  if (negative) sci.erase(0, 1);
  size_t e = sci.find('e');
  int exponent = std::stoi(sci.substr(e + 1));
  std::string digits;
  for (size_t i = 0; i < e; ++i) {
    if (sci[i] != '.') digits += sci[i];
  }
  std::string out = negative ? "-" : "";
  if (exponent >= -4 && exponent < 16) {
    if (exponent < 0) {
      out += "0." + std::string(size_t(-exponent - 1), '0') + digits;
    } else if (size_t(exponent) + 1 >= digits.size()) {
      out += digits + std::string(size_t(exponent) + 1 - digits.size(), '0') + ".0";
    } else {
      out += digits.substr(0, size_t(exponent) + 1) + "." + digits.substr(size_t(exponent) + 1);
    }
    return out;
  }
  out += digits.substr(0, 1);
  if (digits.size() > 1) out += "." + digits.substr(1);
  char exp_buf[16];
  std::snprintf(exp_buf, sizeof(exp_buf), "e%c%02d", exponent < 0 ? '-' : '+', std::abs(exponent));
  return out + exp_buf;
}

namespace {

std::string ReprString(const std::string& s) {
  bool has_single = s.find('\'') != std::string::npos;
  bool has_double = s.find('"') != std::string::npos;
  char quote = has_single && !has_double ? '"' : '\'';
  std::string out(1, quote);
  for (unsigned char c : s) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == quote) {
      out += '\\';
      out += char(c);
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '\r') {
      out += "\\r";
    } else if (c == '\t') {
      out += "\\t";
    } else if (c < 0x20 || c == 0x7f) {
      char buf[8];
      std::snprintf(buf, sizeof(buf), "\\x%02x", c);
      out += buf;
    } else {
      out += char(c);
    }
  }
  return out + quote;
}

void AppendJsonString(const std::string& s, std::string& out) {
  out += '"';
  for (unsigned char c : s) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      case '\b':
        out += "\\b";
        break;
      case '\f':
        out += "\\f";
        break;
      default:
        if (c < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof(buf), "\\u%04x", c);
          out += buf;
        } else {
          out += char(c);
        }
    }
  }
  out += '"';
}

Status DumpJsonTo(const Value& v, const JsonDumpOptions& opt, int level, std::string& out) {
  if (level > 200) return InvalidArgument("tojson: value nested deeper than 200 levels");
  auto newline = [&](int lvl) {
    if (opt.indent >= 0) out += "\n" + std::string(size_t(opt.indent) * size_t(lvl), ' ');
  };
  const std::string item_sep =
      !opt.item_separator.empty() ? opt.item_separator : (opt.indent >= 0 ? "," : ", ");
  if (v.is_none()) {
    out += "null";
  } else if (v.is_bool()) {
    out += v.as_bool() ? "true" : "false";
  } else if (v.is_int()) {
    out += std::to_string(v.as_int());
  } else if (v.is_float()) {
    double d = v.as_float();
    out += std::isnan(d)   ? "NaN"
           : std::isinf(d) ? (d > 0 ? "Infinity" : "-Infinity")
                           : FormatFloat(d);
  } else if (v.is_string()) {
    AppendJsonString(v.as_string(), out);
  } else if (v.is_list()) {
    const ValueList& list = v.as_list();
    if (list.empty()) {
      out += "[]";
      return Status::Ok();
    }
    out += '[';
    for (size_t i = 0; i < list.size(); ++i) {
      if (i > 0) out += item_sep;
      newline(level + 1);
      LF_RETURN_IF_ERROR(DumpJsonTo(list[i], opt, level + 1, out));
    }
    newline(level);
    out += ']';
  } else if (v.is_dict()) {
    std::vector<const std::pair<std::string, Value>*> items;
    for (const auto& item : v.as_dict()) items.push_back(&item);
    if (items.empty()) {
      out += "{}";
      return Status::Ok();
    }
    if (opt.sort_keys) {
      std::stable_sort(items.begin(), items.end(),
                       [](const auto* a, const auto* b) { return a->first < b->first; });
    }
    out += '{';
    for (size_t i = 0; i < items.size(); ++i) {
      if (i > 0) out += item_sep;
      newline(level + 1);
      AppendJsonString(items[i]->first, out);
      out += opt.key_separator;
      LF_RETURN_IF_ERROR(DumpJsonTo(items[i]->second, opt, level + 1, out));
    }
    newline(level);
    out += '}';
  } else {
    return InvalidArgument("tojson: " + v.TypeName() + " is not JSON serializable");
  }
  return Status::Ok();
}

}  // namespace

std::string Value::ReprAt(int depth) const {
  if (is_string()) return ReprString(as_string());
  if (is_undefined()) return "Undefined";
  return StrAt(depth);
}

std::string Value::StrAt(int depth) const {
  if (depth > 100 && (is_list() || is_dict() || is_namespace())) return "[...]";
  if (is_undefined()) return "";
  if (is_none()) return "None";
  if (is_bool()) return as_bool() ? "True" : "False";
  if (is_int()) return std::to_string(as_int());
  if (is_float()) return FormatFloat(as_float());
  if (is_string()) return as_string();
  if (is_list()) {
    std::string out = is_tuple() ? "(" : "[";
    for (size_t i = 0; i < as_list().size(); ++i) {
      if (i > 0) out += ", ";
      out += as_list()[i].ReprAt(depth + 1);
    }
    if (is_tuple()) return out + (as_list().size() == 1 ? ",)" : ")");
    return out + "]";
  }
  if (is_dict() || is_namespace()) {
    const ValueDict& dict = is_dict() ? as_dict() : as_namespace()->attrs;
    std::string out = is_dict() ? "{" : "<Namespace {";
    for (size_t i = 0; i < dict.size(); ++i) {
      if (i > 0) out += ", ";
      out += ReprString(dict[i].first) + ": " + dict[i].second.ReprAt(depth + 1);
    }
    return out + (is_dict() ? "}" : "}>");
  }
  return "<built-in function " + as_builtin().name + ">";
}

std::string Value::TypeName() const {
  if (is_undefined()) return "undefined";
  if (is_none()) return "none";
  if (is_bool()) return "a boolean";
  if (is_int()) return "an integer";
  if (is_float()) return "a float";
  if (is_string()) return "a string";
  if (is_list()) return "a list";
  if (is_dict()) return "a dict";
  if (is_namespace()) return "a namespace";
  return "a function";
}

bool Value::Equals(const Value& other) const {
  if (is_number() && other.is_number()) {
    if (is_float() || other.is_float()) return as_float() == other.as_float();
    return as_int() == other.as_int();
  }
  if (v_.index() != other.v_.index()) return false;
  if (is_undefined() || is_none()) return true;
  if (is_string()) return as_string() == other.as_string();
  if (is_list()) {
    if (is_tuple() != other.is_tuple()) return false;
    const ValueList& a = as_list();
    const ValueList& b = other.as_list();
    if (a.size() != b.size()) return false;
    for (size_t i = 0; i < a.size(); ++i) {
      if (!a[i].Equals(b[i])) return false;
    }
    return true;
  }
  if (is_dict()) {
    if (as_dict().size() != other.as_dict().size()) return false;
    for (const auto& [key, value] : as_dict()) {
      const Value* found = other.Find(key);
      if (found == nullptr || !value.Equals(*found)) return false;
    }
    return true;
  }
  if (is_namespace()) return as_namespace() == other.as_namespace();
  return as_builtin().name == other.as_builtin().name;
}

const Value* Value::Find(std::string_view key) const {
  const ValueDict* dict = is_dict()        ? &as_dict()
                          : is_namespace() ? &as_namespace()->attrs
                                           : nullptr;
  if (dict == nullptr) return nullptr;
  for (const auto& [k, v] : *dict) {
    if (k == key) return &v;
  }
  return nullptr;
}

size_t NestingDepth(const Value& value, size_t limit) {
  if (limit == 0) return 1;
  const ValueDict* dict = value.is_dict()        ? &value.as_dict()
                          : value.is_namespace() ? &value.as_namespace()->attrs
                                                 : nullptr;
  size_t deepest = 0;
  if (value.is_list()) {
    for (const Value& item : value.as_list()) {
      deepest = std::max(deepest, NestingDepth(item, limit - 1));
      if (deepest >= limit) break;
    }
  } else if (dict != nullptr) {
    for (const auto& [key, item] : *dict) {
      deepest = std::max(deepest, NestingDepth(item, limit - 1));
      if (deepest >= limit) break;
    }
  } else {
    return 0;
  }
  return deepest + 1;
}

Result<std::string> DumpJson(const Value& value, const JsonDumpOptions& options) {
  std::string out;
  LF_RETURN_IF_ERROR(DumpJsonTo(value, options, 0, out));
  return out;
}

Result<bool> LessThan(const Value& a, const Value& b) {
  if (a.is_number() && b.is_number()) {
    if (a.is_float() || b.is_float()) return a.as_float() < b.as_float();
    return a.as_int() < b.as_int();
  }
  if (a.is_string() && b.is_string()) return a.as_string() < b.as_string();
  if (a.is_list() && b.is_list()) {
    const ValueList& x = a.as_list();
    const ValueList& y = b.as_list();
    for (size_t i = 0; i < x.size() && i < y.size(); ++i) {
      if (x[i].Equals(y[i])) continue;
      return LessThan(x[i], y[i]);
    }
    return x.size() < y.size();
  }
  return InvalidArgument("cannot order " + a.TypeName() + " and " + b.TypeName());
}

}  // namespace lf::worker::jinja
