// YAML documents (job and sweep files) read into the same Json tree as JSON, so one JsonField
// reader validates both and reports field paths. Scalars follow YAML 1.2's core schema: unquoted
// 1e-5 is a number, yes/no are strings, quoted values are always strings. Thread-safe.
#pragma once

#include <string>
#include <string_view>

#include "common/json_reader.h"
#include "common/status.h"

namespace lf {

// `source` names the file in errors: "sweep.yaml:4:7: duplicate key 'r'".
Result<Json> ParseYaml(std::string_view text, std::string_view source);
Result<Json> ReadYamlFile(const std::string& path);

}  // namespace lf
