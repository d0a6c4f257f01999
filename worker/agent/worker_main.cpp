// lorafleet-worker: one worker rank (`mpirun -np N lorafleet-worker --coordinator ENDPOINT`).
// Parses flags only; the agent lives in worker/agent/agent.cpp.
#include <charconv>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "common/logging.h"
#include "worker/agent/agent.h"
#include "worker/collective/mpi_runtime.h"

namespace {

constexpr const char* kUsage =
    "usage: lorafleet-worker --coordinator ENDPOINT [--heartbeat-ms N] [--device cpu|auto]\n"
    "                        [--log-level trace|debug|info|warn|error]\n"
    "\n"
    "  --coordinator ENDPOINT  the coordinator's worker port, e.g. tcp://127.0.0.1:7071\n"
    "                          (default: $LORAFLEET_WORKER_ENDPOINT)\n"
    "  --heartbeat-ms N        heartbeat interval until the coordinator sets one (default 1000)\n"
    "  --device cpu|auto       auto: the GPU local_rank % gpus when CUDA has one (default auto)\n"
    "  --log-level LEVEL       default info (or $LF_LOG_LEVEL)\n"
    "\n"
    "Start one per rank: mpirun -np 2 lorafleet-worker --coordinator tcp://127.0.0.1:7071\n"
    "SIGTERM/SIGINT checkpoint the current trial, report it and exit 0.\n";

int UsageError(const std::string& message) {
  std::fprintf(stderr, "lorafleet-worker: %s\n%s", message.c_str(), kUsage);
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  lf::log::InitFromEnvironment();
  lf::worker::AgentOptions options;
  if (const char* env = std::getenv("LORAFLEET_WORKER_ENDPOINT")) options.coordinator = env;
  const std::vector<std::string> args(argv + 1, argv + argc);
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& flag = args[i];
    if (flag == "--help" || flag == "-h") {
      std::fputs(kUsage, stdout);
      return 0;
    }
    if (flag != "--coordinator" && flag != "--heartbeat-ms" && flag != "--device" &&
        flag != "--log-level") {
      return UsageError("unknown argument '" + flag + "'");
    }
    if (i + 1 >= args.size()) return UsageError(flag + " needs a value");
    const std::string& value = args[++i];
    if (flag == "--coordinator") {
      options.coordinator = value;
    } else if (flag == "--heartbeat-ms") {
      auto [end, ec] =
          std::from_chars(value.data(), value.data() + value.size(), options.heartbeat_ms);
      if (ec != std::errc() || end != value.data() + value.size() || options.heartbeat_ms < 1) {
        return UsageError("--heartbeat-ms '" + value + "': expected a positive integer");
      }
    } else if (flag == "--device") {
      if (value != "cpu" && value != "auto") {
        return UsageError("--device '" + value + "': expected cpu or auto");
      }
      options.device = value;
    } else {
      lf::Result<lf::log::Level> level = lf::log::ParseLevel(value);
      if (!level.ok()) return UsageError("--log-level: " + level.status().message());
      lf::log::SetLevel(*level);
    }
  }
  if (options.coordinator.empty()) {
    return UsageError("--coordinator is required (or set LORAFLEET_WORKER_ENDPOINT)");
  }
  const lf::worker::MpiRuntime mpi;  // for gangs, under mpirun
  const lf::Status status = lf::worker::RunAgent(options);
  if (!status.ok()) {
    std::fprintf(stderr, "lorafleet-worker: %s\n", status.ToString().c_str());
    return status.code() == lf::StatusCode::kInvalidArgument ? 2 : 1;
  }
  return 0;
}
