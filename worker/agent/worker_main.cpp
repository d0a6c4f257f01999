// lorafleet-worker: one worker rank (`mpirun -np N lorafleet-worker --coordinator ENDPOINT`).
// Parses flags only; the agent lives in worker/agent/agent.cpp.
#include <cstdio>
#include <optional>
#include <string>

#include "common/flags.h"
#include "common/logging.h"
#include "worker/agent/agent.h"
#include "worker/collective/mpi_runtime.h"

int main(int argc, char** argv) {
  lf::log::InitFromEnvironment();
  lf::worker::AgentOptions options;
  auto app = lf::flags::MakeApp(
      "lorafleet-worker",
      "One worker rank. Start one per rank: mpirun -np 2 lorafleet-worker --coordinator "
      "tcp://127.0.0.1:7071. SIGTERM/SIGINT checkpoint the current trial, report it and exit 0.");
  app->add_option("--coordinator", options.coordinator,
                  "the coordinator's worker port, e.g. tcp://127.0.0.1:7071")
      ->type_name("ENDPOINT")
      ->envname("LORAFLEET_WORKER_ENDPOINT")
      ->required();
  app->add_option("--keys", options.keys_file,
                  "the fleet's CURVE keys, <home>/keys/worker.key (lorafleetd --worker-keys "
                  "makes them; lorafleet up passes this)")
      ->type_name("FILE")
      ->envname("LORAFLEET_WORKER_KEYS");
  app->add_option("--heartbeat-ms", options.heartbeat_ms,
                  "heartbeat interval until the coordinator sets one")
      ->type_name("N")
      ->check(lf::flags::IntAtLeast(1));
  app->add_option("--device", options.device,
                  "auto: the GPU local_rank % gpus when CUDA has one")
      ->check(CLI::IsMember({"cpu", "auto"}));
  std::string log_level;
  app->add_option("--log-level", log_level,
                  "trace, debug, info, warn or error (default: $LF_LOG_LEVEL, then info)")
      ->type_name("LEVEL")
      ->check(CLI::Validator(
          [](std::string& name) -> std::string {
            lf::Result<lf::log::Level> level = lf::log::ParseLevel(name);
            return level.ok() ? "" : level.status().message();
          },
          ""));
  if (std::optional<int> rc = lf::flags::Parse(*app, argc, argv)) return *rc;
  if (!log_level.empty()) lf::log::SetLevel(*lf::log::ParseLevel(log_level));
  const lf::worker::MpiRuntime mpi;  // for gangs, under mpirun
  const lf::Status status = lf::worker::RunAgent(options);
  if (!status.ok()) {
    std::fprintf(stderr, "lorafleet-worker: %s\n", status.ToString().c_str());
    return status.code() == lf::StatusCode::kInvalidArgument ? 2 : 1;
  }
  return 0;
}
