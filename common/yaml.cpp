#include "common/yaml.h"

#include <yaml-cpp/eventhandler.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <set>
#include <sstream>

#include "common/file_util.h"
#include "common/utf8.h"

namespace lf {
namespace {

std::string Where(std::string_view source, const YAML::Mark& mark) {
  std::string out(source);
  if (mark.line >= 0) {
    out += ":" + std::to_string(mark.line + 1) + ":" + std::to_string(mark.column + 1);
  }
  return out;
}

// "sweep.yaml:3:7" for the byte at `offset` of `text`.
std::string WhereOffset(std::string_view source, std::string_view text, size_t offset) {
  const std::string_view before = text.substr(0, offset);
  const size_t line = static_cast<size_t>(std::count(before.begin(), before.end(), '\n')) + 1;
  const size_t line_start = before.rfind('\n');
  const size_t column = offset - (line_start == std::string_view::npos ? 0 : line_start + 1) + 1;
  return std::string(source) + ":" + std::to_string(line) + ":" + std::to_string(column);
}

bool AllOf(std::string_view s, bool (*pred)(char)) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [&](char c) { return pred(c); });
}
bool IsDigit(char c) { return c >= '0' && c <= '9'; }
bool IsOctalDigit(char c) { return c >= '0' && c <= '7'; }
bool IsHexDigit(char c) { return std::isxdigit(static_cast<unsigned char>(c)) != 0; }
std::string_view WithoutSign(std::string_view s) {
  return !s.empty() && (s[0] == '-' || s[0] == '+') ? s.substr(1) : s;
}

// [-+]?[0-9]+
bool IsDecimal(std::string_view s) { return AllOf(WithoutSign(s), IsDigit); }

// [-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?, checked by hand: std::regex recurses per
// character and a long enough scalar would overflow the stack.
bool IsFloat(std::string_view s) {
  s = WithoutSign(s);
  const size_t e = s.find_first_of("eE");
  std::string_view mantissa = s.substr(0, e);
  if (e != std::string_view::npos && !IsDecimal(s.substr(e + 1))) return false;
  const size_t dot = mantissa.find('.');
  if (dot == std::string_view::npos) return AllOf(mantissa, IsDigit);
  std::string_view whole = mantissa.substr(0, dot), fraction = mantissa.substr(dot + 1);
  if (whole.empty()) return AllOf(fraction, IsDigit);
  return AllOf(whole, IsDigit) && (fraction.empty() || AllOf(fraction, IsDigit));
}

// Resolves a plain (unquoted) scalar by YAML 1.2's core schema.
Json ResolvePlainScalar(const std::string& s) {
  static const std::set<std::string> kNull = {"", "~", "null", "Null", "NULL"};
  static const std::set<std::string> kTrue = {"true", "True", "TRUE"};
  static const std::set<std::string> kFalse = {"false", "False", "FALSE"};
  if (kNull.count(s)) return nullptr;
  if (kTrue.count(s)) return true;
  if (kFalse.count(s)) return false;
  errno = 0;
  if (IsDecimal(s)) {
    char* end = nullptr;
    long long v = std::strtoll(s.c_str(), &end, 10);
    if (errno != ERANGE) return static_cast<int64_t>(v);
    return std::strtod(s.c_str(), nullptr);  // too large for int64: keep it as a number
  }
  const std::string_view view(s);
  if (view.starts_with("0o") && AllOf(view.substr(2), IsOctalDigit)) {
    return static_cast<int64_t>(std::strtoll(s.c_str() + 2, nullptr, 8));
  }
  if (view.starts_with("0x") && AllOf(view.substr(2), IsHexDigit)) {
    return static_cast<int64_t>(std::strtoll(s.c_str() + 2, nullptr, 16));
  }
  if (IsFloat(s)) return std::strtod(s.c_str(), nullptr);
  if (s == ".inf" || s == ".Inf" || s == ".INF" || s == "+.inf") return HUGE_VAL;
  if (s == "-.inf" || s == "-.Inf" || s == "-.INF") return -HUGE_VAL;
  if (s == ".nan" || s == ".NaN" || s == ".NAN") return std::nan("");
  return s;
}

// yaml-cpp 0.7 writes the escapes "\N" (U+0085) and "\_" (U+00A0) as the single bytes 0x85 and
// 0xA0, not as UTF-8. The text was checked to be UTF-8 before parsing, so such a byte can only come
// from those escapes; it is encoded as the character it stands for.
std::string ScalarText(const YAML::Node& node) {
  const std::string& raw = node.Scalar();
  if (utf8::IsValid(raw)) return raw;
  std::string out;
  std::string_view rest = raw;
  while (!rest.empty()) {
    const size_t bad = std::min(utf8::FindInvalid(rest), rest.size());
    out.append(rest.substr(0, bad));
    if (bad == rest.size()) break;
    const auto byte = static_cast<unsigned char>(rest[bad]);
    utf8::Append(out, byte == 0x85 || byte == 0xA0 ? char32_t{byte} : utf8::kReplacementChar);
    rest.remove_prefix(bad + 1);
  }
  return out;
}

// Bounds on what one document may expand to. Aliases share nodes in yaml-cpp but are copied into
// the Json tree, so a few lines of nested aliases ("billion laughs") would otherwise expand to
// gigabytes; an anchor that refers to itself would recurse forever.
struct Budget {
  std::string_view source;
  int64_t values_left = kMaxYamlValues;
};

// The deepest nesting of flow collections ([ and {) outside quotes and comments: yaml-cpp parses
// them recursively, so a file of a million '[' must be refused before it reaches the parser.
int FlowDepth(std::string_view text) {
  int depth = 0, deepest = 0;
  char quote = 0;
  bool comment = false, escaped = false;
  char previous = '\n';
  // A quote opens a quoted scalar, and '#' a comment, only where a token starts; elsewhere
  // ('it"s', 'a#b') they are part of a plain scalar.
  auto starts_token = [&] {
    return std::string_view(" \t\r\n[{,:").find(previous) != std::string_view::npos;
  };
  for (char c : text) {
    if (comment) {
      comment = c != '\n';
    } else if (quote != 0) {
      // In double quotes a backslash escapes the next character (JSON's "a\"b" is one string).
      if (escaped) {
        escaped = false;
      } else if (quote == '"' && c == '\\') {
        escaped = true;
      } else if (c == quote) {
        quote = 0;
      }
    } else if ((c == '"' || c == '\'') && starts_token()) {
      quote = c;
    } else if (c == '#' && starts_token()) {
      comment = true;
    } else if (c == '[' || c == '{') {
      deepest = std::max(deepest, ++depth);
    } else if ((c == ']' || c == '}') && depth > 0) {
      --depth;
    }
    previous = c;
  }
  return deepest;
}

// Where each document of a stream starts, from yaml-cpp's events. yaml-cpp 0.7's LoadAll never
// returns on a ',' outside [ ] or { } ("," or "- a\n,"): its parser reports a null document without
// consuming the token, again and again, allocating until memory runs out (yaml-cpp issue 1040).
// A document that starts where the previous one did is that token, and is refused instead.
class DocumentStarts : public YAML::EventHandler {
 public:
  void OnDocumentStart(const YAML::Mark&) override { first_ = true; }
  void OnDocumentEnd() override {}
  void OnNull(const YAML::Mark& mark, YAML::anchor_t) override { Saw(mark); }
  void OnAlias(const YAML::Mark& mark, YAML::anchor_t) override { Saw(mark); }
  void OnScalar(const YAML::Mark& mark, const std::string&, YAML::anchor_t,
                const std::string&) override {
    Saw(mark);
  }
  void OnSequenceStart(const YAML::Mark& mark, const std::string&, YAML::anchor_t,
                       YAML::EmitterStyle::value) override {
    Saw(mark);
  }
  void OnSequenceEnd() override {}
  void OnMapStart(const YAML::Mark& mark, const std::string&, YAML::anchor_t,
                  YAML::EmitterStyle::value) override {
    Saw(mark);
  }
  void OnMapEnd() override {}

  const std::vector<int>& starts() const { return starts_; }  // byte offsets, one per document

 private:
  void Saw(const YAML::Mark& mark) {
    if (first_) starts_.push_back(mark.pos);
    first_ = false;
  }
  bool first_ = false;
  std::vector<int> starts_;
};

// OK when `text` holds at most one document; reads no more than three.
Status CheckSingleDocument(const std::string& text, std::string_view source) {
  std::istringstream stream(text);
  YAML::Parser parser(stream);
  DocumentStarts documents;
  for (int read = 0; read < 3 && parser.HandleNextDocument(documents); ++read) {
    const std::vector<int>& starts = documents.starts();
    const size_t n = starts.size();
    if (n >= 2 && starts[n - 1] == starts[n - 2]) {
      const size_t at = std::min(static_cast<size_t>(std::max(starts[n - 1], 0)), text.size());
      const std::string what = at < text.size() ? "'" + text.substr(at, 1) + "'" : "end";
      return InvalidArgument(WhereOffset(source, text, at) + ": invalid YAML: unexpected " + what +
                             " (a ',' belongs inside [ ] or { }; quote a value that starts "
                             "with one)");
    }
  }
  if (documents.starts().size() > 1) {
    return InvalidArgument(std::string(source) +
                           ": holds several YAML documents ('---'); put one document per file");
  }
  return Status::Ok();
}

Result<Json> Convert(const YAML::Node& node, Budget& budget, int depth) {
  const std::string_view source = budget.source;
  if (depth > kMaxYamlDepth) {
    return InvalidArgument(Where(source, node.Mark()) + ": nested deeper than " +
                           std::to_string(kMaxYamlDepth) +
                           " levels (or an alias that refers to its own anchor)");
  }
  if (--budget.values_left < 0) {
    return InvalidArgument(std::string(source) + ": expands to more than " +
                           std::to_string(kMaxYamlValues) +
                           " values (aliases are copied where they are used)");
  }
  switch (node.Type()) {
    case YAML::NodeType::Undefined:
    case YAML::NodeType::Null:
      return Json(nullptr);
    case YAML::NodeType::Scalar:
      if (node.Scalar().size() > kMaxYamlScalarBytes) {
        return InvalidArgument(Where(source, node.Mark()) + ": a value of " +
                               std::to_string(node.Scalar().size()) + " bytes; the limit is " +
                               std::to_string(kMaxYamlScalarBytes));
      }
      // yaml-cpp tags quoted scalars "!" and explicit strings "!!str"/"tag:yaml.org,2002:str".
      if (node.Tag() == "!" || node.Tag() == "tag:yaml.org,2002:str") return Json(ScalarText(node));
      return ResolvePlainScalar(ScalarText(node));
    case YAML::NodeType::Sequence: {
      Json out = Json::array();
      for (const YAML::Node& child : node) {
        LF_ASSIGN_OR_RETURN(Json value, Convert(child, budget, depth + 1));
        out.push_back(std::move(value));
      }
      return out;
    }
    case YAML::NodeType::Map: {
      Json out = Json::object();
      for (const auto& kv : node) {
        if (!kv.first.IsScalar()) {
          return InvalidArgument(Where(source, kv.first.Mark()) +
                                 ": a mapping key must be a plain value, not a list or mapping");
        }
        const std::string key = ScalarText(kv.first);
        if (out.contains(key)) {
          return InvalidArgument(Where(source, kv.first.Mark()) + ": duplicate key '" + key +
                                 "'; each key may appear once in a mapping");
        }
        LF_ASSIGN_OR_RETURN(Json value, Convert(kv.second, budget, depth + 1));
        out[key] = std::move(value);
      }
      return out;
    }
  }
  return Internal("unknown YAML node type");
}

}  // namespace

Result<Json> ParseYaml(std::string_view text, std::string_view source) {
  if (text.size() > kMaxYamlBytes) {
    return InvalidArgument(std::string(source) + ": " + std::to_string(text.size()) +
                           " bytes; a YAML document may have at most " +
                           std::to_string(kMaxYamlBytes));
  }
  // YAML text is UTF-8 here; yaml-cpp passes invalid bytes through into values (and mangles them
  // next to multi-byte characters), and such a value later throws wherever it is written as JSON.
  if (size_t bad = utf8::FindInvalid(text); bad != std::string_view::npos) {
    return InvalidArgument(WhereOffset(source, text, bad) + ": not valid UTF-8 (byte " +
                           std::to_string(bad) + "); save the file as UTF-8");
  }
  // YAML allows no NUL, and yaml-cpp takes NULs for UTF-16/32 and garbles the text after them.
  if (size_t nul = text.find('\0'); nul != std::string_view::npos) {
    return InvalidArgument(WhereOffset(source, text, nul) + ": a NUL byte (byte " +
                           std::to_string(nul) + "); YAML text cannot contain one");
  }
  if (FlowDepth(text) > kMaxYamlDepth) {
    return InvalidArgument(std::string(source) + ": [ ] or { } nested deeper than " +
                           std::to_string(kMaxYamlDepth) + " levels");
  }
  try {
    const std::string copy(text);
    LF_RETURN_IF_ERROR(CheckSingleDocument(copy, source));
    // Load reads the first document only, so it cannot loop on what CheckSingleDocument refused.
    const YAML::Node doc = YAML::Load(copy);
    Budget budget{.source = source};
    return Convert(doc, budget, 0);
  } catch (const YAML::Exception& e) {
    return InvalidArgument(Where(source, e.mark) + ": invalid YAML: " + e.msg);
  }
}

Result<Json> ReadYamlFile(const std::string& path) {
  LF_ASSIGN_OR_RETURN(std::string text, ReadFileToString(path));
  return ParseYaml(text, path);
}

}  // namespace lf
