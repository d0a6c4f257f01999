// One trial attempt trained on its own thread: parses the ASSIGN's job, runs it, and reports
// through the Outbox (PROGRESS metrics, CHECKPOINT, then DONE or FAILED); it never touches the
// socket. The agent's main loop calls Start, the Stop and Finish calls, finished and Join; the
// getters for heartbeats (running, tokens_per_s) are thread-safe.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <thread>

#include "common/protocol.h"
#include "common/status.h"
#include "jobs/job_spec.h"
#include "worker/agent/outbox.h"
#include "worker/agent/worker_identity.h"
#include "worker/worker_api.h"

namespace lf::worker {

// RunTrainJob in production; tests substitute a fake to exercise the agent without training.
using TrainFunction =
    std::function<Result<TrainJobResult>(const jobs::JobSpec&, const TrainJobOptions&)>;

// Whether a failed attempt may succeed when retried: bad input (kInvalidArgument, kNotFound,
// kFailedPrecondition) will fail again; anything else (kUnavailable, kInternal,
// kResourceExhausted, kDataLoss, ...) might not.
bool IsRetryableFailure(StatusCode code);

class TrialRunner {
 public:
  // `generation` tags this run's messages in `outbox`; both must outlive the runner.
  TrialRunner(uint64_t generation, protocol::Assign assign, const WorkerIdentity& identity,
              Outbox& outbox, TrainFunction train);
  ~TrialRunner();  // joins the thread
  TrialRunner(const TrialRunner&) = delete;
  TrialRunner& operator=(const TrialRunner&) = delete;

  void Start();
  // STOP from the coordinator: the trainer checkpoints and returns; nothing more is reported
  // (the caller silences the generation in the outbox).
  void StopForCoordinator();
  // The worker is shutting down (`why`: "SIGTERM"): the trainer checkpoints and the run reports
  // FAILED interrupted=true, retryable=true with the checkpoint's step.
  void StopForShutdown(const std::string& why);
  // STOP with finish from the coordinator (early stopping): the trainer ends at the next step as
  // if it were the last, and the run reports DONE with the adapter (result early_stopped).
  // Repeating it changes nothing.
  void FinishEarly();

  bool finished() const { return finished_.load(); }
  void Join();

  uint64_t generation() const { return generation_; }
  const std::string& trial_id() const { return assign_.trial_id; }
  uint32_t attempt() const { return assign_.attempt; }
  bool stopped_by_coordinator() const { return stopped_by_coordinator_.load(); }
  bool finishing_early() const { return finish_.load(); }
  protocol::RunningTrial running() const;
  double tokens_per_s() const { return tokens_per_s_.load(); }

 private:
  void Run();
  // RunTrainJob's outcome as the message the coordinator gets (none when stopped by it).
  void Report(const jobs::JobSpec& job, const Result<TrainJobResult>& result);
  void Fail(std::string reason, bool retryable);
  double WallSeconds() const;

  const uint64_t generation_;
  const protocol::Assign assign_;
  const WorkerIdentity& identity_;
  Outbox& outbox_;
  TrainFunction train_;
  std::thread thread_;
  std::chrono::steady_clock::time_point started_;

  std::atomic<bool> stop_{false};
  std::atomic<bool> stopped_by_coordinator_{false};
  std::atomic<bool> finish_{false};
  std::mutex why_mu_;
  std::string shutdown_why_;  // guarded by why_mu_
  std::atomic<bool> finished_{false};
  std::atomic<int64_t> step_{0};
  std::atomic<int64_t> checkpoint_step_{-1};
  std::atomic<double> tokens_per_s_{0};
};

}  // namespace lf::worker
