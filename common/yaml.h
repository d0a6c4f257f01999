// YAML documents (job and sweep files) read into the same Json tree as JSON, so one JsonField
// reader validates both and reports field paths. Scalars follow YAML 1.2's core schema: unquoted
// 1e-5 is a number, yes/no are strings, quoted values are always strings. Thread-safe.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "common/json_reader.h"
#include "common/status.h"

namespace lf {

// Limits on untrusted YAML (sweeps arrive over HTTP), checked before the parser sees the text or
// while the tree is copied out: document size, nesting (flow brackets and the copied tree; an
// anchor that contains its own alias is caught here), values after aliases are expanded, and the
// length of one scalar.
inline constexpr size_t kMaxYamlBytes = size_t{4} << 20;
inline constexpr int kMaxYamlDepth = 64;
inline constexpr int64_t kMaxYamlValues = 1'000'000;
inline constexpr size_t kMaxYamlScalarBytes = size_t{1} << 20;

// `source` names the file in errors: "sweep.yaml:4:7: duplicate key 'r'".
Result<Json> ParseYaml(std::string_view text, std::string_view source);
Result<Json> ReadYamlFile(const std::string& path);

}  // namespace lf
