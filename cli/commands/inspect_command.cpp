// `lorafleet inspect FILE.safetensors [--json]`: what a safetensors file holds (tensors, dtypes,
// shapes, sizes, metadata), after checking it the way every lorafleet reader does.
#include <algorithm>
#include <cstdio>
#include <iostream>

#include "cli/commands/command_flags.h"
#include "cli/commands/commands.h"
#include "common/json_reader.h"
#include "common/safetensors.h"

namespace lf::cli {
namespace {

std::string ShapeString(const std::vector<int64_t>& shape) {
  std::string out = "[";
  for (size_t i = 0; i < shape.size(); ++i) out += (i ? ", " : "") + std::to_string(shape[i]);
  return out + "]";
}

}  // namespace

int RunInspect(const std::vector<std::string>& args) {
  InspectFlags flags;
  AppPtr app = InspectApp(flags);
  if (std::optional<int> rc = flags::Parse(*app, args)) return *rc;
  const std::string& path = flags.file;
  const bool json = flags.json;
  Result<safetensors::File> file = safetensors::File::Open(path);
  if (!file.ok()) {
    std::cerr << "lorafleet inspect: " << file.status().message() << "\n";
    return 1;
  }
  int64_t total_params = 0;
  for (const auto& t : file->tensors()) total_params += t.numel();
  if (json) {
    Json out = {{"file", path},
                {"size_bytes", file->file_size()},
                {"parameters", total_params},
                {"metadata", file->metadata()},
                {"tensors", Json::array()}};
    for (const auto& t : file->tensors()) {
      out["tensors"].push_back({{"name", t.name},
                                {"dtype", safetensors::DTypeName(t.dtype)},
                                {"shape", t.shape},
                                {"bytes", t.data.size()}});
    }
    std::cout << out.dump(2) << "\n";
    return 0;
  }
  std::printf("%s: %zu tensors, %lld parameters, %zu bytes\n", path.c_str(),
              file->tensors().size(), static_cast<long long>(total_params), file->file_size());
  for (const auto& [k, v] : file->metadata()) std::printf("  metadata %s = %s\n", k.c_str(), v.c_str());
  int name_width = 4;
  for (const auto& t : file->tensors()) name_width = std::max(name_width, static_cast<int>(t.name.size()));
  for (const auto& t : file->tensors()) {
    std::printf("  %-*s  %-5s %-16s %zu bytes\n", name_width, t.name.c_str(),
                std::string(safetensors::DTypeName(t.dtype)).c_str(), ShapeString(t.shape).c_str(),
                t.data.size());
  }
  return 0;
}

}  // namespace lf::cli
