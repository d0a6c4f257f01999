// Training on the worker, off the agent's main loop. A TrialAttempt is one trial attempt: the
// controls the loop sets (STOP, finish early, shutdown) and what it reports through the Outbox
// (PROGRESS metrics, CHECKPOINT, then DONE or FAILED); it never touches the socket. A TrialRunner
// is the training thread: one trial alone, or a pack of trials on one base model that compatible
// ASSIGNs join between steps. The agent's loop calls Start, TryAdd, the attempts' controls,
// finished and Join; the controls and getters are thread-safe.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "common/status.h"
#include "jobs/job_spec.h"
#include "jobs/protocol.h"
#include "worker/agent/outbox.h"
#include "worker/agent/worker_identity.h"
#include "worker/worker_api.h"

namespace lf::worker {

// RunTrainJob and OpenTrainPack in production; tests substitute fakes to exercise the agent
// without training.
using TrainFunction =
    std::function<Result<TrainJobResult>(const jobs::JobSpec&, const TrainJobOptions&)>;
using PackFunction = std::function<Result<std::unique_ptr<TrainPack>>(const jobs::JobSpec&,
                                                                      const std::string& device)>;

// Whether a failed attempt may succeed when retried: bad input (kInvalidArgument, kNotFound,
// kFailedPrecondition) will fail again; anything else (kUnavailable, kInternal,
// kResourceExhausted, kDataLoss, ...) might not.
bool IsRetryableFailure(StatusCode code);

class TrialAttempt {
 public:
  // `generation` tags this attempt's messages in `outbox`; both must outlive it.
  TrialAttempt(uint64_t generation, protocol::Assign assign, const WorkerIdentity& identity,
               Outbox& outbox);

  // --- the agent's loop -------------------------------------------------------------------
  // STOP from the coordinator: the trainer checkpoints and returns; nothing more is reported
  // (the caller silences the generation in the outbox).
  void StopForCoordinator();
  // The worker is shutting down (`why`: "SIGTERM"): the trainer checkpoints and the attempt
  // reports FAILED interrupted=true, retryable=true with the checkpoint's step.
  void StopForShutdown(const std::string& why);
  // STOP with finish (early stopping): the trainer ends at the next step as if it were the last,
  // and the attempt reports DONE with the adapter (result early_stopped). Repeating it changes
  // nothing.
  void FinishEarly();

  uint64_t generation() const { return generation_; }
  const std::string& trial_id() const { return assign_.trial_id; }
  uint32_t attempt() const { return assign_.attempt; }
  const std::string& pack_key() const { return assign_.pack_key; }
  bool stopped_by_coordinator() const { return stopped_by_coordinator_.load(); }
  bool finishing_early() const { return finish_.load(); }
  // Reported its end (or ended silently after a STOP).
  bool ended() const { return ended_.load(); }
  protocol::RunningTrial running() const;
  double tokens_per_s() const { return tokens_per_s_.load(); }

  // --- the training thread ----------------------------------------------------------------
  // The ASSIGN's job (checked when the message was decoded), once this rank is found to be a
  // member of the gang it names; otherwise the attempt is reported failed (not retryable).
  Result<jobs::JobSpec> MemberJob();
  // The callbacks RunTrainJob and TrainPack take: metrics and checkpoints into the outbox, the
  // stop and finish controls.
  TrainJobOptions Options();
  bool stop_requested() const { return stop_.load(); }
  // The training's outcome as the message the coordinator gets (none when stopped by it; from a
  // gang member other than rank 0, failures only: rank 0 reports progress and the result). A file
  // of the job that is not found fails retryably, naming this host: the coordinator found it at
  // submission, so it is this host that does not see it (a filesystem not shared), and another
  // worker may.
  void Report(const jobs::JobSpec& job, const Result<TrainJobResult>& result);
  // Ends an attempt stopped before it started training: nothing to report after a STOP, FAILED
  // interrupted after a shutdown.
  void EndUnstarted();
  void Fail(std::string reason, bool retryable);

 private:
  double WallSeconds() const;
  std::string ShutdownWhy() const;  // what stopped the worker ("SIGTERM"), for reasons

  const uint64_t generation_;
  const protocol::Assign assign_;
  const WorkerIdentity& identity_;
  Outbox& outbox_;
  const std::chrono::steady_clock::time_point started_;

  std::atomic<bool> stop_{false};
  std::atomic<bool> stopped_by_coordinator_{false};
  std::atomic<bool> finish_{false};
  std::atomic<bool> ended_{false};
  bool reporter_ = true;  // sends PROGRESS, CHECKPOINT and DONE: false for a gang's other members
  mutable std::mutex why_mu_;
  std::string shutdown_why_;  // guarded by why_mu_
  std::atomic<int64_t> step_{0};
  std::atomic<int64_t> checkpoint_step_{-1};
  std::atomic<double> tokens_per_s_{0};
};

class TrialRunner {
 public:
  // Trains the assigned trial alone with `train`. `generation` and `outbox` as TrialAttempt's.
  TrialRunner(uint64_t generation, protocol::Assign assign, const WorkerIdentity& identity,
              Outbox& outbox, TrainFunction train);
  // Trains the assigned trial (assign.pack_key set) in a pack opened with `open_pack`, which
  // later ASSIGNs of the same key join (TryAdd) while it trains.
  TrialRunner(uint64_t generation, protocol::Assign assign, const WorkerIdentity& identity,
              Outbox& outbox, PackFunction open_pack);
  ~TrialRunner();  // joins the thread
  TrialRunner(const TrialRunner&) = delete;
  TrialRunner& operator=(const TrialRunner&) = delete;

  void Start();
  // The trial joins this pack at its next step: true. False when this runner trains alone, packs
  // another key, or is ending; the trial then waits for the next runner.
  bool TryAdd(uint64_t generation, protocol::Assign assign);
  // The attempt of `trial_id` at `attempt` that has not ended, or null.
  TrialAttempt* Find(const std::string& trial_id, uint32_t attempt);
  // Every attempt held and not ended, except those the coordinator stopped (for heartbeats).
  std::vector<const TrialAttempt*> Holding() const;
  // Every attempt not ended stops for the worker's shutdown.
  void StopForShutdown(const std::string& why);

  const std::string& pack_key() const { return pack_key_; }  // empty: alone
  bool finished() const { return finished_.load(); }
  void Join();

 private:
  TrialRunner(uint64_t generation, protocol::Assign assign, const WorkerIdentity& identity,
              Outbox& outbox);
  void RunAlone();
  void RunPack();
  // The attempts that joined since the last call, to be added to the pack; when there are none
  // and `members` is 0 the pack closes (TryAdd refuses from then on).
  std::vector<TrialAttempt*> TakeJoining(size_t members);

  const WorkerIdentity& identity_;
  Outbox& outbox_;
  TrainFunction train_;
  PackFunction open_pack_;
  std::string pack_key_;  // empty: alone
  std::thread thread_;
  std::atomic<bool> finished_{false};

  mutable std::mutex mu_;
  std::vector<std::unique_ptr<TrialAttempt>> attempts_;  // every attempt; guarded by mu_
  std::vector<TrialAttempt*> joining_;                   // guarded by mu_
  bool closed_ = false;                                  // guarded by mu_
};

}  // namespace lf::worker
