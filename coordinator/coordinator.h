// The coordinator's core: turns worker messages and user requests into durable store writes,
// scheduling decisions and messages to workers. It owns the in-memory view of every unfinished
// trial and recovers it from the store when created, so a restarted daemon carries on where the
// last one stopped. Store writes made while handling a batch of messages are committed together
// (one fsync) by Flush(). Transport-, socket- and HTTP-free: the daemon feeds it messages and
// requests, unit tests feed it directly with a fake clock. Not thread-safe: one event loop owns it.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <limits>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "common/clock.h"
#include "common/ids.h"
#include "common/json_reader.h"
#include "common/status.h"
#include "coordinator/metrics/prometheus.h"
#include "coordinator/scheduler/scheduler.h"
#include "coordinator/store/experiment_store.h"
#include "jobs/asha.h"
#include "jobs/job_spec.h"
#include "jobs/pbt.h"
#include "jobs/protocol.h"
#include "jobs/sweep_spec.h"

namespace lf::coordinator {

// Where messages to workers go: the ZeroMQ router in the daemon, a recorder in tests.
class WorkerSink {
 public:
  virtual ~WorkerSink() = default;
  virtual void Send(const std::string& worker_id, const protocol::Message& message) = 0;
};

// A GPU worker's pack limit unless --max-pack says otherwise: 8 small adapters keep one GPU busy
// where one alone leaves most of it idle.
inline constexpr int32_t kDefaultGpuPack = 8;

// How often Tick asks a store that stopped taking writes (a full disk) to resume.
inline constexpr int64_t kStoreResumeIntervalMs = 2000;

struct CoordinatorOptions {
  std::string runs_dir;                  // trial outputs: <runs_dir>/<sweep id>/<trial id>
  int64_t heartbeat_interval_ms = 1000;  // told to workers in WELCOME
  int64_t heartbeat_timeout_ms = 10000;  // a worker silent this long is lost
  int64_t retry_backoff_ms = 2000;       // delay before the first retry; doubles per failure
  int64_t retry_backoff_max_ms = 60000;
  // The most plain-LoRA trials of one base model and sequence length a worker trains at once as a
  // pack (its memory may allow fewer). 0: kDefaultGpuPack on a GPU and 1 (no packing) on a CPU,
  // where a pack is no faster than its trials one after another (docs/benchmarks.md).
  int32_t max_pack = 0;
  bool check_paths = true;               // Submit checks that model and data files exist
  // What a submission may add to. A sweep beyond one is refused whole (429) naming the limit;
  // 0: no limit.
  struct Quotas {
    int64_t trials_per_sweep = 100000;        // trials one sweep expands to
    int64_t sweep_bytes = int64_t{256} << 20;  // their stored configs, estimated before expanding
    int64_t unfinished_per_owner = 100000;    // queued, assigned or running trials of one owner
    int64_t unfinished_total = 1000000;
    int64_t adapter_bytes_per_owner = 0;      // adapters stored for one owner's sweeps
    int64_t adapter_bytes_total = 0;
  } quotas;
};

// A trial's stored config: the resolved job it trains and the swept values that made it.
struct TrialConfig {
  jobs::JobSpec job;
  Json params = Json::object();  // {"lora.r": 8, ...}
  // How an adaptive search made it, when it did: {"suggested_by": "tpe"}, or pbt's exploit
  // {"exploit": {"source", "source_step", "replaces", "at_step"}}; null for a grid or random trial.
  Json origin;
};
Result<TrialConfig> ParseTrialConfig(const store::TrialRecord& trial);
std::string TrialConfigJson(const TrialConfig& config);

struct SubmitRequest {
  std::string spec;      // the sweep YAML (or JSON) text
  std::string base_dir;  // relative paths in the sweep resolve against it
  std::string source;    // the file name, for messages
  std::string owner;     // whose sweep it is: quotas count per owner
  std::string actor;     // who submits, for the audit log ("user:NAME"); empty: "user:<owner>"
};

class Coordinator {
 public:
  static Result<std::unique_ptr<Coordinator>> Create(store::ExperimentStore& store,
                                                     WorkerSink& sink, const Clock& clock,
                                                     CoordinatorOptions options);
  ~Coordinator();

  // --- workers -----------------------------------------------------------------------------
  // Handles one message from `peer` (the transport's identity of the worker). Store writes are
  // queued; call Flush() after a batch of messages.
  void OnMessage(const std::string& peer, protocol::Message message);
  // Commits queued writes, hands queued trials to idle workers and finishes sweeps with nothing
  // left to run.
  void Flush();
  // Periodic work: declares silent workers lost (their trials go back to the queue), gives up
  // leases no worker reclaimed after a restart, and flushes.
  void Tick();
  // When Tick next has something to do (a retry back-off ending), or nullopt.
  std::optional<int64_t> NextDeadlineMs() const;

  // --- user requests (the HTTP API) ---------------------------------------------------------
  // Each validates before writing anything: a refused request stores nothing.
  // A refused submission's Status names the document field it is about (field()).
  Result<Json> Submit(const SubmitRequest& request);
  Result<Json> CancelSweep(const std::string& sweep_id, const std::string& actor);
  Result<Json> PauseSweep(const std::string& sweep_id, const std::string& actor);
  Result<Json> ResumeSweep(const std::string& sweep_id, const std::string& actor);
  Result<Json> SetSweepPriority(const std::string& sweep_id, int32_t priority,
                                const std::string& actor);
  Result<Json> CancelTrial(const std::string& trial_id, const std::string& actor);
  // Names a completed or early-stopped trial's adapter (a name names one adapter; naming another
  // moves it).
  // Names are 1-64 characters of letters, digits, '.', '_' and '-', starting with a letter or
  // digit.
  Result<Json> TagTrial(const std::string& trial_id, const std::string& name,
                        const std::string& actor);

  // --- views (JSON documented in docs/api.md) -----------------------------------------------
  Result<Json> ListSweepsView() const;
  Result<Json> SweepView(const std::string& sweep_id) const;
  // Each sweep once, however often it is named; at most kMaxComparedSweeps.
  static constexpr size_t kMaxComparedSweeps = 64;
  Result<Json> CompareView(const std::vector<std::string>& sweep_ids) const;
  // The first `limit` trials; "truncated" says whether there were more.
  Result<Json> TrialsView(const std::optional<std::string>& sweep_id,
                          const std::vector<jobs::TrialState>& states,
                          size_t limit = SIZE_MAX) const;
  Result<Json> TrialView(const std::string& trial_id) const;
  // Every stored adapter (completed and early-stopped trials, all sweeps), newest first; with
  // `tag`, the one it names.
  Result<Json> AdaptersView(const std::optional<std::string>& tag) const;
  Json QueueView(size_t limit) const;
  Json WorkersView() const;
  Json HealthView() const;
  // GET /metrics: the Prometheus text exposition (families listed in docs/api.md).
  std::string PrometheusMetrics() const;

  const Scheduler& scheduler() const { return scheduler_; }
  store::ExperimentStore& store() const { return store_; }

 private:
  // What the coordinator keeps about a trial that has not finished.
  struct LiveTrial {
    std::string sweep_id;
    uint32_t index = 0;   // in its sweep
    size_t bracket = 0;   // its Hyperband bracket (search: bohb); 0 otherwise
    jobs::TrialState state = jobs::TrialState::kQueued;
    uint32_t attempt = 0;
    uint32_t failures = 0;
    std::string worker;
    std::string pack_key;      // jobs::PackKey of its job; empty: trains alone
    int64_t shared_bytes = 0;  // its base model's weights, when its sweep states a memory need
    int64_t step = 0;
    int64_t steps = 0;
    std::optional<double> loss;  // the latest train loss reported
    int64_t started_ms = 0;      // when this attempt was assigned
    std::string checkpoint;
    int64_t timed_step = -1;  // the last step whose report time fed the step-time histogram
    int64_t timed_ms = 0;
    // Why early stopping stopped it (empty: it did not). Kept across attempts: a trial requeued
    // after the decision is told to finish again by its next attempt's first report.
    std::string early_stop;
    bool early_stop_sent = false;  // to the current attempt
    // search: pbt: its swept values, its latest value of the objective and the last step an
    // exploit was decided at (a resumed attempt replaying that step decides nothing again).
    Json params;
    double objective = std::numeric_limits<double>::quiet_NaN();
    int64_t decided_step = 0;
  };
  // Totals since this coordinator started, for /metrics (Prometheus counters restart with it).
  struct Counters {
    uint64_t dispatches = 0;
    uint64_t completions = 0;
    uint64_t retries = 0;
    uint64_t failed_for_good = 0;
    uint64_t lost_workers = 0;
    uint64_t early_stops = 0;
  };
  struct LiveSweep {
    store::SweepRecord record;
    std::array<int64_t, 7> counts{};  // trials per jobs::TrialState
    int32_t max_retries = 0;
    int64_t memory_bytes = 0;
    int32_t ranks = 1;     // resources.gpus: more than one, a gang
    uint64_t ordinal = 0;  // creation order, for dispatch order across sweeps
    int64_t adapter_bytes = 0;  // of its completed and stopped trials, for the quotas
    // tpe, bohb and pbt: the resolved spec (paths absolute) new trials are made from, what they
    // optimise and, for tpe and bohb, how many trials the sweep runs (trial_count grows to it).
    std::shared_ptr<const jobs::SweepSpec> search;
    std::vector<jobs::Objective> objectives;
    int64_t planned = 0;
    int64_t asha_steps = 0;  // bohb: the train.steps its brackets' rungs were placed below
    int64_t unfinished() const;
    // A model-based sweep that has trials still to suggest.
    bool suggesting() const;
  };
  // A store write waiting for Flush, and what to do once it is committed (or refused).
  struct Pending {
    store::TransitionRequest request;
    std::function<void(const Result<store::TrialRecord>&)> then;
    std::shared_ptr<const protocol::Done> keep_alive;  // owns the adapter bytes in request.files
  };
  // A lease the last coordinator granted, waiting for its worker to say it still holds it.
  struct OrphanLease {
    std::string worker;
    uint32_t attempt = 0;
    int64_t deadline_ms = 0;
  };

  Coordinator(store::ExperimentStore& store, WorkerSink& sink, const Clock& clock,
              CoordinatorOptions options);
  Status Recover();
  Status CheckQuotas(const std::string& owner, int64_t new_trials) const;

  void OnHello(const std::string& peer, const protocol::Hello& hello, bool first);
  void OnProgress(const std::string& peer, const protocol::Progress& m);
  void OnCheckpoint(const std::string& peer, const protocol::Checkpoint& m);
  void OnDone(const std::string& peer, std::shared_ptr<const protocol::Done> m);
  void OnFailed(const std::string& peer, const protocol::Failed& m);
  // Early stopping (coordinator_early_stopping.cpp). A sweep with an early_stopping block gets an
  // AshaState when submitted or, after a restart, rebuilt from its trials' stored metrics.
  // search: bohb gets one rule per Hyperband bracket (jobs/asha.h).
  void AddEarlyStopping(const std::string& sweep_id, const jobs::SweepSpec& spec,
                        int64_t train_steps);
  // Which trials were already told to end early (early stopping, a pbt replacement), from the
  // audit log.
  Status RecoverStopMarks(const std::string& sweep_id,
                          const std::vector<store::TrialRecord>& trials, size_t* marked);
  Status RecoverEarlyStopping(const std::string& sweep_id, const jobs::SweepSpec& spec,
                              const std::vector<store::TrialRecord>& trials);
  // Feeds a running trial's reports of the sweep's metric to its rule; on a stop, records the
  // decision and tells the worker to finish the trial early.
  void ApplyEarlyStopping(const std::string& peer, const std::string& trial_id, LiveTrial& t,
                          const std::vector<protocol::MetricValue>& metrics);
  // Adaptive search (coordinator_search.cpp). Makes the next trial of every model-based sweep that
  // has none queued (one suggestion waits ahead, so a freed worker never waits for the sampler);
  // true when it added one.
  bool SuggestTrials();
  Status SuggestTrial(LiveSweep& sweep);
  // Stores a trial made while the sweep runs and queues it.
  Result<std::string> AddTrial(LiveSweep& sweep, jobs::TrialSpec trial, Json origin);
  // search: pbt: on a report of the objective at an interval, exploit and explore.
  void ApplyPbt(const std::string& peer, const std::string& trial_id, LiveTrial& t,
                const std::vector<protocol::MetricValue>& metrics);
  void Exploit(LiveSweep& sweep, const std::string& trial_id, LiveTrial& t,
               const jobs::PbtExploit& exploit, int64_t step);
  // Sets what an adaptive sweep needs in memory (Submit and Recover).
  void SetSearch(LiveSweep& sweep, const jobs::SweepSpec& spec, const jobs::JobSpec& first_job,
                 int64_t asha_steps);

  // Marks a running trial to end early (early stopping, a pbt replacement): the reason, the
  // counter, and an audit event of `event_kind` written after the batch's changes.
  void MarkToFinish(const std::string& trial_id, LiveTrial& t, const char* event_kind,
                    std::string reason);
  // The audit event of a trial pbt replaced; recovered after a restart like early stopping's.
  static constexpr const char* kPbtReplacedEvent = "trial.replaced";
  // Sends the STOP finish of a trial marked to end early (t.early_stop), once per attempt.
  void TellToFinish(const std::string& peer, const std::string& trial_id, LiveTrial& t);

  // The live trial when `peer` holds it at `attempt`; otherwise tells the peer to stop it.
  LiveTrial* HeldBy(const std::string& peer, const std::string& trial_id, uint32_t attempt);

  // Queues from -> to for a live trial, keeping the in-memory state in step.
  void Move(const std::string& trial_id, jobs::TrialState to, std::string actor,
            std::string reason, std::function<void(const Result<store::TrialRecord>&)> then = {},
            std::shared_ptr<const protocol::Done> done = nullptr);
  // Ends the attempt a worker holds and puts the trial back in the queue (lost, paused, SIGTERM).
  void Requeue(const std::string& trial_id, std::string actor, std::string reason,
               int64_t not_before_ms = 0);
  // Cancels a live trial (CancelTrial, CancelSweep): see coordinator_requests.cpp.
  void CancelLive(const std::string& trial_id, const std::string& actor,
                  const std::string& reason, std::shared_ptr<Status> refused);
  void Enqueue(const std::string& trial_id, int64_t not_before_ms);
  // What the scheduler needs to know about a trial: its queue entry (not_before_ms and queued_ms
  // left for Enqueue to set).
  QueuedTrial QueueEntry(const std::string& trial_id) const;
  // A live trial of `sweep` with `job`: its pack key and the base weights a pack holds once.
  LiveTrial NewLiveTrial(const std::string& sweep_id, uint32_t index, const jobs::JobSpec& job);
  // How many trials a worker with `device` trains at once as a pack (CoordinatorOptions).
  int32_t PackLimit(const std::string& device) const;
  void Commit();
  // After the store refused a write for a live trial: makes the trial in memory what the store
  // says it is (state, attempt, lease, queue entry). A lease the store still records but memory
  // had already released waits for its worker like one recovered after a restart (orphans_).
  void Reconcile(const std::string& trial_id);
  // While the store takes no writes (a full disk), asks it every kStoreResumeIntervalMs to resume.
  void ResumeStore();
  void Dispatch();
  // Sends the ASSIGNs of what the scheduler placed, once each assignment is stored.
  void Assign(const std::vector<Placement>& placements);
  void FinishSweeps();
  void CountMove(const std::string& sweep_id, jobs::TrialState from, jobs::TrialState to);
  void WorkerLost(const std::string& worker_id, const std::string& why);
  // Tells every worker holding the trial (a gang's members too) but `except` to stop it.
  void StopOnWorker(const std::string& trial_id, const std::string& reason,
                    const std::string& except = "");
  Result<LiveSweep*> FindSweep(const std::string& sweep_id);
  Json SweepJson(const LiveSweep& sweep) const;
  Json TrialJson(const store::TrialRecord& trial) const;

  store::ExperimentStore& store_;
  WorkerSink& sink_;
  const Clock& clock_;
  CoordinatorOptions options_;
  IdGenerator ids_;
  Scheduler scheduler_;
  std::unordered_map<std::string, LiveSweep> sweeps_;
  std::vector<std::string> sweep_order_;  // ids, oldest first
  std::unordered_map<std::string, LiveTrial> trials_;  // unfinished trials only
  std::unordered_map<std::string, OrphanLease> orphans_;
  // Open sweeps with early stopping: a rule per bracket (one unless search: bohb; nullopt: a
  // bracket that stops nothing).
  std::unordered_map<std::string, std::vector<std::optional<jobs::AshaState>>> asha_;
  std::unordered_map<std::string, int64_t> base_weight_bytes_;  // by base model folder
  int32_t next_gang_tag_ = 0;  // tells gangs forming at the same time apart (GangSpec::tag)
  std::vector<Pending> pending_;
  // Audit events about the changes in pending_ (early stops), written after them so the log
  // keeps their order.
  std::vector<store::EventRecord> pending_events_;
  std::vector<std::string> touched_sweeps_;
  int64_t started_ms_ = 0;
  int64_t next_store_resume_ms_ = 0;
  Counters counters_;
  // Queued (or back-off end) to assigned, and wall time per optimizer step as workers report it.
  metrics::Histogram dispatch_latency_s_{
      {0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 30, 60, 300, 1800, 7200}};
  metrics::Histogram step_time_s_{{0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60}};
};

}  // namespace lf::coordinator
