// The commands of the `lorafleet` client. Each takes the arguments after its name and returns
// the process exit code; errors are printed to stderr as "lorafleet <command>: <message>".
#pragma once

#include <string>
#include <vector>

namespace lf::cli {

int RunInspect(const std::vector<std::string>& args);
int RunTrain(const std::vector<std::string>& args);
int RunPretrain(const std::vector<std::string>& args);
int RunEval(const std::vector<std::string>& args);
int RunTokenize(const std::vector<std::string>& args);
int RunGenerate(const std::vector<std::string>& args);
int RunMerge(const std::vector<std::string>& args);

}  // namespace lf::cli
