// The scheduler's in-memory view: queued trials in dispatch order, the worker ranks and which
// trial each holds. It decides; it never writes the store or sends a message: the coordinator
// persists each decision and tells the workers. Pure and deterministic (time is passed in), so it
// is unit-tested without sockets. Not thread-safe: the coordinator's event loop owns it.
//
// Dispatch order: higher sweep priority first, then submission order (sweep creation, then trial
// index). A trial goes to an idle worker whose device memory is at least what the trial needs.
// A sweep that is paused, or at its concurrency limit, has its queued trials parked outside the
// ready set, so neither costs anything per dispatch however many trials it has.
//
// Gangs: a trial that needs g > 1 ranks is placed on g idle workers at once or not at all, so no
// partial gang ever holds ranks. Members come from one host when one has enough (the host with
// the fewest such workers that suffices, leaving larger hosts for larger gangs), else from as few
// hosts as possible; they are ordered by MPI rank, the first being the gang's rank 0. While the
// first waiting gang in dispatch order cannot start, the idle workers it could use are kept for
// it and later trials get only the others: it gathers ranks as they free up, so a stream of
// smaller trials never starves it, and since only one gang gathers at a time, two large trials
// never each hold part of what they need. A gang larger than the workers that could ever run it
// keeps nothing and waits.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <tuple>
#include <unordered_map>
#include <vector>

namespace lf::coordinator {

struct QueuedTrial {
  std::string trial_id;
  std::string sweep_id;
  uint64_t order = 0;          // submission order within the whole store
  int64_t memory_bytes = 0;    // device memory the trial needs; 0: any
  int64_t not_before_ms = 0;   // retry back-off: not dispatched before this time
  int64_t queued_ms = 0;       // when it (last) entered the queue, for waiting times
  int32_t ranks = 1;           // workers it runs on at once: a gang when more than one
};

struct WorkerState {
  std::string id;  // "<host>/<rank>/<pid>"
  int32_t rank = 0;
  std::string host;
  std::string device;
  int64_t memory_bytes = 0;
  int64_t connected_ms = 0;
  int64_t last_seen_ms = 0;
  double tokens_per_s = 0;
  // The trial this worker holds (assigned or running); empty when idle.
  std::string trial_id;
  uint32_t attempt = 0;
  int64_t step = 0;
};

struct Placement {
  QueuedTrial trial;
  std::string worker_id;            // the worker, or a gang's rank 0
  std::vector<std::string> gang;    // a gang's members by rank (worker_id first); empty for one
};

class Scheduler {
 public:
  // --- sweeps -----------------------------------------------------------------------------
  void AddSweep(const std::string& sweep_id, int32_t priority, int32_t max_concurrent,
                bool paused);
  void SetPriority(const std::string& sweep_id, int32_t priority);
  void SetPaused(const std::string& sweep_id, bool paused);
  // Forgets a sweep that will never dispatch again; its queued trials must have been removed.
  void RemoveSweep(const std::string& sweep_id);
  bool HasSweep(const std::string& sweep_id) const { return sweeps_.count(sweep_id) > 0; }

  // --- the queue --------------------------------------------------------------------------
  void Enqueue(QueuedTrial trial);  // the sweep must have been added
  // Removes a queued trial (cancelled); false when it is not queued.
  bool Dequeue(const std::string& trial_id);
  bool IsQueued(const std::string& trial_id) const { return queued_.count(trial_id) > 0; }
  size_t queued_count() const { return queued_.size(); }
  // Every queued trial in dispatch order (parked and backing-off ones after the ready ones).
  std::vector<QueuedTrial> QueueSnapshot() const;

  // --- workers and leases -----------------------------------------------------------------
  // Registers a worker or refreshes one (last_seen_ms, tokens_per_s); keeps its lease.
  WorkerState& UpsertWorker(const WorkerState& info);
  WorkerState* FindWorker(const std::string& worker_id);
  const std::map<std::string, WorkerState>& workers() const { return workers_; }
  // Removes a worker; returns the trial it held (empty when idle), released (a gang's on every
  // member: the attempt fails as a whole).
  std::string RemoveWorker(const std::string& worker_id);
  // Records that `worker_id` holds `trial_id` (used by Place and when recovering leases).
  void Lease(const std::string& trial_id, const std::string& sweep_id,
             const std::string& worker_id, uint32_t attempt);
  // The same for a gang: every member holds the trial.
  void LeaseGang(const std::string& trial_id, const std::string& sweep_id,
                 const std::vector<std::string>& worker_ids, uint32_t attempt);
  // Ends a lease (finished, failed, stopped, requeued); its workers become idle.
  void Release(const std::string& trial_id);
  // The worker holding a trial (a gang's rank 0), or nullptr.
  const WorkerState* Holder(const std::string& trial_id) const;
  // Every worker holding a trial, by rank; empty when none does.
  std::vector<std::string> Holders(const std::string& trial_id) const;
  int32_t RunningInSweep(const std::string& sweep_id) const;

  // Workers not heard from since `deadline_ms` (last_seen_ms < deadline_ms).
  std::vector<std::string> SilentWorkers(int64_t deadline_ms) const;

  // Pairs idle workers with queued trials, at most one trial per idle worker (g workers for a
  // gang of g), and leases them.
  std::vector<Placement> Place(int64_t now_ms);
  // The earliest time a backing-off trial becomes ready (nullopt: none waiting).
  std::optional<int64_t> NextRetryMs() const;

 private:
  // Dispatch key: priority descending, then submission order.
  using Key = std::tuple<int64_t, uint64_t, std::string>;  // (-priority, order, trial id)
  struct Sweep {
    int32_t priority = 0;
    int32_t max_concurrent = 0;  // 0: unlimited
    bool paused = false;
    int32_t running = 0;
    std::set<std::string> queued;  // its queued trial ids (ready, parked or backing off)
  };
  bool Eligible(const Sweep& s) const {
    return !s.paused && (s.max_concurrent == 0 || s.running < s.max_concurrent);
  }
  Key KeyOf(const QueuedTrial& t) const;
  // Moves a sweep's trials into or out of the ready set after its eligibility changed.
  void Refresh(const std::string& sweep_id, bool was_eligible);
  void MakeReady(const QueuedTrial& t);
  void Unready(const QueuedTrial& t);
  void PromoteDueRetries(int64_t now_ms);
  // `need` of the `fitting` idle workers for one gang, by the host rule above, ordered by rank.
  std::vector<std::string> PickMembers(const std::vector<std::string>& fitting, size_t need) const;
  static bool Fits(const QueuedTrial& t, const WorkerState& w) {
    return t.memory_bytes == 0 || t.memory_bytes <= w.memory_bytes;
  }

  std::unordered_map<std::string, Sweep> sweeps_;
  std::unordered_map<std::string, QueuedTrial> queued_;      // every queued trial
  std::set<Key> ready_;                                      // eligible and due
  std::multimap<int64_t, std::string> backoff_;              // not_before_ms -> trial id
  std::map<std::string, WorkerState> workers_;               // by id (ordered: stable output)
  std::set<std::string> idle_;                               // idle worker ids
  struct LeaseInfo {
    std::string sweep_id;
    std::vector<std::string> worker_ids;  // one, or a gang's members by rank
  };
  std::unordered_map<std::string, LeaseInfo> leases_;        // trial id -> holder
};

}  // namespace lf::coordinator
