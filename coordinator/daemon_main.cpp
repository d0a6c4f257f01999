// lorafleetd: parses flags and runs the coordinator daemon (coordinator/daemon.h).
#include <cstdlib>
#include <iostream>
#include <string>

#include "common/logging.h"
#include "common/version.h"
#include "coordinator/daemon.h"

namespace {

constexpr const char* kUsage = R"(usage: lorafleetd [options]
  --store DIR              experiment store (RocksDB)          [.lorafleet/store]
  --runs DIR               trial outputs and checkpoints,
                           on a filesystem the workers share   [.lorafleet/runs]
  --http HOST:PORT         HTTP API and dashboard; port 0: any [127.0.0.1:7070]
  --workers tcp://HOST:PORT  worker endpoint; port 0: any      [tcp://127.0.0.1:7071]
  --endpoint-file FILE     write the bound addresses and pid here (JSON) once listening
  --heartbeat-interval S   how often workers report            [1]
  --heartbeat-timeout S    a worker silent this long is lost   [10]
  --retry-backoff S        delay before a failed trial's first retry; doubles [2]
  --max-pack N             LoRA trials one worker trains at once as a pack, within its
                           memory; 0: 8 on a GPU, 1 (no packing) on a CPU   [0]
  --token-file FILE        requests that change something need 'Authorization: Bearer' with
                           the token in FILE; reads from other hosts too (lorafleet up makes it)
  --open-reads             GET requests from any host need no token (dashboards, Prometheus)
Usually started by `lorafleet up`. Stops cleanly on SIGTERM or SIGINT.
)";

bool ParseCount(const std::string& flag, const std::string& text, int32_t* out) {
  try {
    size_t used = 0;
    const long n = std::stol(text, &used);
    if (used != text.size() || n < 0 || n > 1024) throw std::invalid_argument(text);
    *out = static_cast<int32_t>(n);
    return true;
  } catch (const std::exception&) {
    std::cerr << "lorafleetd: " << flag << ": expected a whole number from 0 to 1024, got '" << text
              << "'\n";
    return false;
  }
}

bool ParseSeconds(const std::string& flag, const std::string& text, int64_t* ms) {
  try {
    size_t used = 0;
    const double seconds = std::stod(text, &used);
    if (used != text.size() || !(seconds > 0)) throw std::invalid_argument(text);
    *ms = static_cast<int64_t>(seconds * 1000);
    return true;
  } catch (const std::exception&) {
    std::cerr << "lorafleetd: " << flag << ": expected a positive number of seconds, got '"
              << text << "'\n";
    return false;
  }
}

}  // namespace

int main(int argc, char** argv) {
  lf::log::InitFromEnvironment();
  lf::coordinator::DaemonOptions options;
  for (int i = 1; i < argc; ++i) {
    const std::string flag = argv[i];
    if (flag == "--help" || flag == "-h") {
      std::cout << kUsage;
      return 0;
    }
    if (flag == "--version") {
      std::cout << "lorafleetd " << lf::kVersion << "\n";
      return 0;
    }
    if (flag == "--open-reads") {
      options.open_reads = true;
      continue;
    }
    if (i + 1 >= argc) {
      std::cerr << "lorafleetd: " << flag << " needs a value (or is unknown)\n" << kUsage;
      return 2;
    }
    const std::string value = argv[++i];
    bool ok = true;
    if (flag == "--store") {
      options.store_dir = value;
    } else if (flag == "--runs") {
      options.runs_dir = value;
    } else if (flag == "--http") {
      options.http = value;
    } else if (flag == "--workers") {
      options.workers = value;
    } else if (flag == "--endpoint-file") {
      options.endpoint_file = value;
    } else if (flag == "--token-file") {
      options.token_file = value;
    } else if (flag == "--heartbeat-interval") {
      ok = ParseSeconds(flag, value, &options.heartbeat_interval_ms);
    } else if (flag == "--heartbeat-timeout") {
      ok = ParseSeconds(flag, value, &options.heartbeat_timeout_ms);
    } else if (flag == "--retry-backoff") {
      ok = ParseSeconds(flag, value, &options.retry_backoff_ms);
    } else if (flag == "--max-pack") {
      ok = ParseCount(flag, value, &options.max_pack);
    } else {
      std::cerr << "lorafleetd: unknown flag " << flag << "\n" << kUsage;
      return 2;
    }
    if (!ok) return 2;
  }
  lf::Status status = lf::coordinator::RunDaemon(options);
  if (!status.ok()) {
    std::cerr << "lorafleetd: " << status.ToString() << "\n";
    return 1;
  }
  return 0;
}
