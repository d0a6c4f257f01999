#include "common/yaml.h"

#include <yaml-cpp/yaml.h>

#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <regex>
#include <set>

#include "common/file_util.h"

namespace lf {
namespace {

std::string Where(std::string_view source, const YAML::Mark& mark) {
  std::string out(source);
  if (mark.line >= 0) {
    out += ":" + std::to_string(mark.line + 1) + ":" + std::to_string(mark.column + 1);
  }
  return out;
}

// Resolves a plain (unquoted) scalar by YAML 1.2's core schema.
Json ResolvePlainScalar(const std::string& s) {
  static const std::set<std::string> kNull = {"", "~", "null", "Null", "NULL"};
  static const std::set<std::string> kTrue = {"true", "True", "TRUE"};
  static const std::set<std::string> kFalse = {"false", "False", "FALSE"};
  static const std::regex kDecimal("[-+]?[0-9]+");
  static const std::regex kOctal("0o[0-7]+");
  static const std::regex kHex("0x[0-9a-fA-F]+");
  static const std::regex kFloat("[-+]?(\\.[0-9]+|[0-9]+(\\.[0-9]*)?)([eE][-+]?[0-9]+)?");
  if (kNull.count(s)) return nullptr;
  if (kTrue.count(s)) return true;
  if (kFalse.count(s)) return false;
  errno = 0;
  if (std::regex_match(s, kDecimal)) {
    char* end = nullptr;
    long long v = std::strtoll(s.c_str(), &end, 10);
    if (errno != ERANGE) return static_cast<int64_t>(v);
    return std::strtod(s.c_str(), nullptr);  // too large for int64: keep it as a number
  }
  if (std::regex_match(s, kOctal)) return static_cast<int64_t>(std::strtoll(s.c_str() + 2, nullptr, 8));
  if (std::regex_match(s, kHex)) return static_cast<int64_t>(std::strtoll(s.c_str() + 2, nullptr, 16));
  if (std::regex_match(s, kFloat)) return std::strtod(s.c_str(), nullptr);
  if (s == ".inf" || s == ".Inf" || s == ".INF" || s == "+.inf") return HUGE_VAL;
  if (s == "-.inf" || s == "-.Inf" || s == "-.INF") return -HUGE_VAL;
  if (s == ".nan" || s == ".NaN" || s == ".NAN") return std::nan("");
  return s;
}

Result<Json> Convert(const YAML::Node& node, std::string_view source) {
  switch (node.Type()) {
    case YAML::NodeType::Undefined:
    case YAML::NodeType::Null:
      return Json(nullptr);
    case YAML::NodeType::Scalar:
      // yaml-cpp tags quoted scalars "!" and explicit strings "!!str"/"tag:yaml.org,2002:str".
      if (node.Tag() == "!" || node.Tag() == "tag:yaml.org,2002:str") return Json(node.Scalar());
      return ResolvePlainScalar(node.Scalar());
    case YAML::NodeType::Sequence: {
      Json out = Json::array();
      for (const YAML::Node& child : node) {
        LF_ASSIGN_OR_RETURN(Json value, Convert(child, source));
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
        const std::string& key = kv.first.Scalar();
        if (out.contains(key)) {
          return InvalidArgument(Where(source, kv.first.Mark()) + ": duplicate key '" + key +
                                 "'; each key may appear once in a mapping");
        }
        LF_ASSIGN_OR_RETURN(Json value, Convert(kv.second, source));
        out[key] = std::move(value);
      }
      return out;
    }
  }
  return Internal("unknown YAML node type");
}

}  // namespace

Result<Json> ParseYaml(std::string_view text, std::string_view source) {
  try {
    std::vector<YAML::Node> docs = YAML::LoadAll(std::string(text));
    if (docs.size() > 1) {
      return InvalidArgument(std::string(source) +
                             ": holds several YAML documents ('---'); put one document per file");
    }
    if (docs.empty()) return Json(nullptr);
    return Convert(docs[0], source);
  } catch (const YAML::Exception& e) {
    return InvalidArgument(Where(source, e.mark) + ": invalid YAML: " + e.msg);
  }
}

Result<Json> ReadYamlFile(const std::string& path) {
  LF_ASSIGN_OR_RETURN(std::string text, ReadFileToString(path));
  return ParseYaml(text, path);
}

}  // namespace lf
