// The commands of the `lorafleet` client. Each takes the arguments after its name and returns
// the process exit code; errors are printed to stderr as "lorafleet <command>: <message>".
#pragma once

#include <string>
#include <vector>

namespace lf::cli {

int RunInspect(const std::vector<std::string>& args);

}  // namespace lf::cli
