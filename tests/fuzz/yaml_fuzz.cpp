// Fuzz target: common/yaml (ParseYaml: sweeps arrive over HTTP as YAML). Invariants: it never
// throws; the tree it returns can be written as JSON (valid UTF-8) and, JSON being YAML, that JSON
// reads back as the same tree.
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "common/yaml.h"

namespace {

// Nesting of the tree and whether every number is finite: the JSON of a deeper tree would be
// refused by the flow-depth limit, and JSON has no spelling for .inf or .nan.
void Inspect(const lf::Json& node, int depth, int& deepest, bool& finite) {
  deepest = std::max(deepest, depth);
  if (node.is_number_float() && !std::isfinite(node.get<double>())) finite = false;
  if (node.is_structured()) {
    for (const auto& child : node) Inspect(child, depth + 1, deepest, finite);
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
    json = parsed->dump(-1, ' ', /*ensure_ascii=*/true);
  } catch (const lf::Json::exception& e) {
    LF_CHECK_MSG(false, std::string("ParseYaml returned a tree that is not valid JSON: ") + e.what());
  }
  int deepest = 0;
  bool finite = true;
  Inspect(*parsed, 0, deepest, finite);
  if (!finite || deepest >= lf::kMaxYamlDepth - 1) return 0;
  lf::Result<lf::Json> again = lf::ParseYaml(json, "dumped");
  LF_CHECK_MSG(again.ok(), "ParseYaml's tree, as JSON, is not read back: " +
                               again.status().ToString() + "\n" + json);
  LF_CHECK_MSG(*again == *parsed, "ParseYaml's tree, as JSON, reads back different: " + json +
                                      "\nvs " + again->dump(-1, ' ', true));
  return 0;
}
