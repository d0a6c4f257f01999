// lorafleetd: parses flags and runs the coordinator daemon (coordinator/daemon.h).
#include <iostream>
#include <optional>
#include <string>

#include "common/flags.h"
#include "common/logging.h"
#include "common/version.h"
#include "coordinator/daemon.h"

int main(int argc, char** argv) {
  lf::log::InitFromEnvironment();
  lf::coordinator::DaemonOptions options;
  double heartbeat_interval_s = static_cast<double>(options.heartbeat_interval_ms) / 1000;
  double heartbeat_timeout_s = static_cast<double>(options.heartbeat_timeout_ms) / 1000;
  double retry_backoff_s = static_cast<double>(options.retry_backoff_ms) / 1000;
  auto app = lf::flags::MakeApp(
      "lorafleetd",
      "The lorafleet coordinator: experiment store, scheduler, HTTP API and dashboard. Usually "
      "started by `lorafleet up`. Stops cleanly on SIGTERM or SIGINT.");
  app->set_version_flag("--version", std::string("lorafleetd ") + lf::kVersion);
  app->add_option("--store", options.store_dir, "experiment store (RocksDB)")->type_name("DIR");
  app->add_option("--runs", options.runs_dir,
                  "trial outputs and checkpoints, on a filesystem the workers share")
      ->type_name("DIR");
  app->add_option("--http", options.http, "HTTP API and dashboard; port 0: any")
      ->type_name("HOST:PORT");
  app->add_option("--workers", options.workers, "worker endpoint; port 0: any")
      ->type_name("tcp://HOST:PORT");
  app->add_option("--endpoint-file", options.endpoint_file,
                  "write the bound addresses and pid here (JSON) once listening")
      ->type_name("FILE");
  app->add_option("--heartbeat-interval", heartbeat_interval_s, "how often workers report")
      ->type_name("SECONDS")
      ->check(lf::flags::PositiveNumber());
  app->add_option("--heartbeat-timeout", heartbeat_timeout_s, "a worker silent this long is lost")
      ->type_name("SECONDS")
      ->check(lf::flags::PositiveNumber());
  app->add_option("--retry-backoff", retry_backoff_s,
                  "delay before a failed trial's first retry; doubles")
      ->type_name("SECONDS")
      ->check(lf::flags::PositiveNumber());
  app->add_option("--max-pack", options.max_pack,
                  "LoRA trials one worker trains at once as a pack, within its memory; 0: 8 on "
                  "a GPU, 1 (no packing) on a CPU")
      ->type_name("N")
      ->check(CLI::Range(0, 1024));
  app->add_option("--token-file", options.token_file,
                  "requests that change something need 'Authorization: Bearer' with the token "
                  "in FILE; reads from other hosts too (lorafleet up makes it)")
      ->type_name("FILE");
  app->add_option("--worker-keys", options.worker_keys_dir,
                  "admit only workers holding the fleet's CURVE key: DIR/coordinator.key and "
                  "DIR/worker.key, made the first time (lorafleet up passes <home>/keys)")
      ->type_name("DIR");
  app->add_flag("--open-reads", options.open_reads,
                "GET requests from any host need no token (dashboards, Prometheus)");
  app->add_option("--allowed-host", options.allowed_hosts,
                  "a host name the API answers to (Host header) besides IP addresses, localhost "
                  "and this machine's name; repeat for more")
      ->type_name("NAME");
  lf::coordinator::CoordinatorOptions::Quotas& q = options.quotas;
  int64_t sweep_mib = q.sweep_bytes >> 20, adapter_mib_per_owner = 0, adapter_mib = 0;
  app->add_option("--quota-trials-per-sweep", q.trials_per_sweep, "trials one sweep may expand to")
      ->type_name("N")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  app->add_option("--quota-sweep-mib", sweep_mib, "one sweep's trial configs, estimated before "
                                                  "expanding it")
      ->type_name("MIB")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  app->add_option("--quota-trials-per-owner", q.unfinished_per_owner,
                  "unfinished (queued or running) trials one owner may have; 0: no limit")
      ->type_name("N")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  app->add_option("--quota-trials", q.unfinished_total,
                  "unfinished trials in the whole fleet; 0: no limit")
      ->type_name("N")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  app->add_option("--quota-adapter-mib-per-owner", adapter_mib_per_owner,
                  "stored adapters past which an owner's new sweeps are refused; 0: no limit")
      ->type_name("MIB")
      ->check(CLI::NonNegativeNumber);
  app->add_option("--quota-adapter-mib", adapter_mib,
                  "stored adapters past which every new sweep is refused; 0: no limit")
      ->type_name("MIB")
      ->check(CLI::NonNegativeNumber);
  if (std::optional<int> rc = lf::flags::Parse(*app, argc, argv)) return *rc;
  q.sweep_bytes = sweep_mib << 20;
  q.adapter_bytes_per_owner = adapter_mib_per_owner << 20;
  q.adapter_bytes_total = adapter_mib << 20;
  options.heartbeat_interval_ms = static_cast<int64_t>(heartbeat_interval_s * 1000);
  options.heartbeat_timeout_ms = static_cast<int64_t>(heartbeat_timeout_s * 1000);
  options.retry_backoff_ms = static_cast<int64_t>(retry_backoff_s * 1000);
  lf::Status status = lf::coordinator::RunDaemon(options);
  if (!status.ok()) {
    std::cerr << "lorafleetd: " << status.ToString() << "\n";
    return 1;
  }
  return 0;
}
