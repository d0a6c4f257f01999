// The worker agent: what `lorafleet-worker` runs on each rank. It registers with the
// coordinator (HELLO, then a HEARTBEAT every interval carrying the same fields), trains the
// ASSIGNed trials on a training thread, streams PROGRESS and CHECKPOINT, and ends each attempt
// with DONE (adapter files attached) or FAILED. A trial assigned with a pack key trains in a pack:
// while the pack trains, each ASSIGN of the same key joins it at its next step; any other trial
// waits until what is training has ended. STOP and SIGTERM/SIGINT stop at the next step with a
// checkpoint; a STOP with finish (early stopping) ends the trial there with DONE.
// Agent::Run owns the link and runs on one thread; RequestShutdown may be called from any thread.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <string>

#include "common/status.h"
#include "jobs/protocol.h"
#include "worker/agent/coordinator_link.h"
#include "worker/agent/trial_runner.h"
#include "worker/agent/worker_identity.h"

namespace lf::worker {

struct AgentOptions {
  std::string coordinator;      // the coordinator's worker endpoint: "tcp://127.0.0.1:7071"
  std::string keys_file;        // the fleet's worker.key (common/curve_keys.h); empty: no CURVE
  int64_t heartbeat_ms = 1000;  // until the coordinator's WELCOME names another interval
  std::string device = "auto";  // "cpu", or "auto": a GPU when CUDA has one
  bool handle_signals = true;   // SIGINT/SIGTERM shut the agent down (in-process tests: false)
};

// Runs this process as one worker rank until SIGINT/SIGTERM: identity from the launcher's
// environment, device choice, a ZeroMQ connection, then Agent::Run. Ok after a clean shutdown
// (the current trial checkpointed and reported); InvalidArgument for bad options.
Status RunAgent(const AgentOptions& options);

class Agent {
 public:
  Agent(AgentOptions options, WorkerIdentity identity, std::unique_ptr<CoordinatorLink> link,
        TrainFunction train = RunTrainJob, PackFunction open_pack = OpenTrainPack);
  ~Agent();
  Agent(const Agent&) = delete;
  Agent& operator=(const Agent&) = delete;

  // The main loop, until a shutdown has been requested and everything is reported.
  Status Run();
  // Stops the agent as SIGTERM does; `why` ("SIGTERM", "SIGINT") appears in the FAILED reason.
  void RequestShutdown(const std::string& why);

  const WorkerIdentity& identity() const { return identity_; }

 private:
  using Clock = std::chrono::steady_clock;

  void Handle(protocol::Message message);
  void HandleAssign(protocol::Assign assign);
  void HandleStop(const protocol::Stop& stop);
  void StartNextTrial();
  void ReapFinishedTrial();
  void BeginShutdown();
  void SendReady(bool flush_metrics);
  void SendHeartbeat();
  void Send(protocol::Message message);
  bool HoldsTrial(const std::string& trial_id, uint32_t attempt) const;

  AgentOptions options_;
  WorkerIdentity identity_;
  std::unique_ptr<CoordinatorLink> link_;
  TrainFunction train_;
  PackFunction open_pack_;
  std::unique_ptr<Outbox> outbox_;
  std::unique_ptr<TrialRunner> runner_;   // the trial or pack training now (or checkpointing)
  std::deque<protocol::Assign> queued_;   // assigned while runner_ was busy and not joining it
  std::deque<protocol::Message> unsent_;  // refused by a full link; retried
  uint64_t next_generation_ = 1;
  std::chrono::milliseconds heartbeat_interval_;
  bool welcomed_ = false;

  std::atomic<bool> shutdown_requested_{false};
  std::mutex shutdown_mu_;
  std::string shutdown_why_;    // guarded by shutdown_mu_
  bool shutting_down_ = false;  // BeginShutdown ran (main loop only)
};

}  // namespace lf::worker
