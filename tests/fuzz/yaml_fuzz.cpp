// Fuzz target: common/yaml (ParseYaml: sweeps arrive over HTTP as YAML). Invariants: it never
// throws; the tree it returns can be written as JSON (valid UTF-8) and, JSON being YAML, that JSON
// reads back as the same tree (where YAML can spell it: see Inspect).
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "common/yaml.h"

namespace {

// Whether the tree's JSON is also YAML that reads back the same: not when it nests deeper than
// the flow-depth limit, holds .inf or .nan (JSON has no spelling for them), or has a key longer
// than the 1024 characters YAML allows an implicit key in a flow mapping.
void Inspect(const lf::Json& node, int depth, int& deepest, bool& representable) {
  deepest = std::max(deepest, depth);
  if (node.is_number_float() && !std::isfinite(node.get<double>())) representable = false;
  if (node.is_object()) {
    for (const auto& [key, value] : node.items()) {
      if (lf::Json(key).dump().size() > 1000) representable = false;  // as written, escaped
      Inspect(value, depth + 1, deepest, representable);
    }
  } else if (node.is_array()) {
    for (const auto& child : node) Inspect(child, depth + 1, deepest, representable);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  lf::Result<lf::Json> parsed = lf::ParseYaml(text, "fuzz.yaml");
  if (!parsed.ok()) {
    LF_CHECK_MSG(parsed.status().message().starts_with("fuzz.yaml"), parsed.status().ToString());
    return 0;
  }
  std::string json;
  try {
    // Characters as they are: yaml-cpp reads no surrogate-pair escapes ("\ud83d\ude00").
    json = parsed->dump();
  } catch (const lf::Json::exception& e) {
    LF_CHECK_MSG(false, std::string("ParseYaml returned a tree that is not JSON: ") + e.what());
  }
  int deepest = 0;
  bool representable = true;
  Inspect(*parsed, 0, deepest, representable);
  if (!representable || deepest >= lf::kMaxYamlDepth - 1) return 0;
  lf::Result<lf::Json> again = lf::ParseYaml(json, "dumped");
  LF_CHECK_MSG(again.ok(), "ParseYaml's tree, as JSON, is not read back: " +
                               again.status().ToString() + "\n" + json);
  LF_CHECK_MSG(*again == *parsed, "ParseYaml's tree, as JSON, reads back different: " + json +
                                      "\nvs " + again->dump());
  return 0;
}
