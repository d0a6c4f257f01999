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

// Talking to the coordinator (cluster_commands.cpp, remote_commands.cpp, sweep_commands.cpp,
// logs_command.cpp). Exit codes: 0 ok, 1 a failure the coordinator reported or an unreachable
// coordinator, 2 a usage error.
int RunUp(const std::vector<std::string>& args);
int RunDown(const std::vector<std::string>& args);
int RunSubmit(const std::vector<std::string>& args);
int RunSweeps(const std::vector<std::string>& args);
int RunQueue(const std::vector<std::string>& args);
int RunWorkers(const std::vector<std::string>& args);
int RunStatus(const std::vector<std::string>& args);
int RunLogs(const std::vector<std::string>& args);
int RunCancel(const std::vector<std::string>& args);
int RunPause(const std::vector<std::string>& args);
int RunResume(const std::vector<std::string>& args);
int RunPriority(const std::vector<std::string>& args);
int RunAdapters(const std::vector<std::string>& args);
int RunTag(const std::vector<std::string>& args);
int RunCompare(const std::vector<std::string>& args);
int RunExport(const std::vector<std::string>& args);

}  // namespace lf::cli
