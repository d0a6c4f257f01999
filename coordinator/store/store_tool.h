// `lorafleet-store`: offline inspection and backup of an experiment store. Reads open the store
// read-only, so they work while the coordinator runs; `backup` needs the store to itself.
#pragma once

#include <string>
#include <vector>

namespace lf::store {

// Returns the process exit code: 0 ok, 1 error, 2 usage error.
int RunStoreTool(const std::vector<std::string>& args);

}  // namespace lf::store
