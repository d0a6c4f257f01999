// lorafleetd: the coordinator daemon. Opens the experiment store, recovers the queue, serves the
// HTTP API and the worker endpoint on one Boost.Asio event loop (one thread: the Coordinator is
// not thread-safe and needs no locks), and runs until SIGTERM or SIGINT.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/status.h"
#include "coordinator/coordinator.h"

namespace lf::coordinator {

struct DaemonOptions {
  std::string store_dir = ".lorafleet/store";
  std::string runs_dir = ".lorafleet/runs";  // trial outputs and checkpoints, shared with workers
  std::string http = "127.0.0.1:7070";       // HOST:PORT; port 0 picks a free one
  std::string workers = "tcp://127.0.0.1:7071";
  std::string endpoint_file;                 // written once both ports listen (JSON)
  int64_t heartbeat_interval_ms = 1000;
  int64_t heartbeat_timeout_ms = 10000;
  int64_t retry_backoff_ms = 2000;
  int32_t max_pack = 0;  // CoordinatorOptions::max_pack
  // The access token (api/access.h): read from this file; empty: the API is open to anyone who
  // reaches the port. open_reads: GETs from any peer need no token.
  std::string token_file;
  bool open_reads = false;
  // The workers' CURVE keys (common/curve_keys.h), made here the first time; empty: any process
  // that reaches the worker port may act as a worker.
  std::string worker_keys_dir;
  // Host names the HTTP API answers to besides IP addresses, "localhost" and this machine's
  // name (api::CheckHost: no DNS rebinding).
  std::vector<std::string> allowed_hosts;
  CoordinatorOptions::Quotas quotas;
};

// Returns when the daemon stopped: ok after a signal, an error if it could not start.
Status RunDaemon(const DaemonOptions& options);

}  // namespace lf::coordinator
