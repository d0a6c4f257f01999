// The scheduler's in-memory view: queued trials in dispatch order, the worker ranks and which
// trials each holds. It decides; it never writes the store or sends a message: the coordinator
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
//
// Packs: a worker whose pack_limit is above 1 trains up to that many trials at once over one
// frozen base model. Trials with the same non-empty pack_key may share a worker; one without a key,
// and any gang, trains alone. Idle workers are filled first, since a trial alone trains fastest;
// a trial no idle worker fits joins the pack of its key with the fewest trials (then the lowest
// worker id) whose worker's memory holds the pack: the base weights once (the largest
// shared_bytes) plus each trial's own part (memory_bytes - shared_bytes). A trial of unknown
// memory (0) adds nothing, so only pack_limit bounds it. Each packed trial counts once toward its
// sweep's max_concurrent. While a gang gathers, the busy workers it could use take no new pack
// members either, so their packs drain to it instead of being kept full by a stream of trials.
#pragma once

#include <algorithm>
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
  int64_t shared_bytes = 0;    // the part of memory_bytes a pack holds once for all its trials
  int64_t not_before_ms = 0;   // retry back-off: not dispatched before this time
  int64_t queued_ms = 0;       // when it (last) entered the queue, for waiting times
  int32_t ranks = 1;           // workers it runs on at once: a gang when more than one
  // Non-empty: may train in one pack with other trials of the same key (same base model and
  // sequence length, plain LoRA); empty: trains alone. A gang never packs, whatever its key.
  std::string pack_key;
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
  int32_t pack_limit = 1;  // the most trials it trains at once as a pack (1: no packing)
  // The trials it holds (assigned or running), in lease order; empty when idle.
  std::vector<std::string> trials;
  // The key of the pack it holds; empty when idle or when it holds a trial that trains alone.
  std::string pack_key;
};

struct Placement {
  QueuedTrial trial;
  std::string worker_id;            // the worker, or a gang's rank 0
  std::vector<std::string> gang;    // a gang's members by rank (worker_id first); empty for one
                                    // worker, whether alone or joining its pack
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
  // Registers a worker or refreshes one (last_seen_ms, tokens_per_s, memory_bytes, pack_limit);
  // keeps its leases.
  WorkerState& UpsertWorker(const WorkerState& info);
  WorkerState* FindWorker(const std::string& worker_id);
  const std::map<std::string, WorkerState>& workers() const { return workers_; }
  // Removes a worker; returns every trial it held (empty when idle), each released (a gang's on
  // every member: the attempt fails as a whole).
  std::vector<std::string> RemoveWorker(const std::string& worker_id);
  // Records that `worker_id` holds `trial` (used by Place and when recovering leases). A worker
  // that already holds trials takes it into its pack: the trial must have the pack's key, and the
  // caller has checked the rest (a recovered pack is what the worker reports, whatever its limit).
  void Lease(const QueuedTrial& trial, const std::string& worker_id);
  // The same for a gang: every member, idle until now, holds the trial.
  void LeaseGang(const QueuedTrial& trial, const std::vector<std::string>& worker_ids);
  // Ends a lease (finished, failed, stopped, requeued); a worker left with no trial becomes idle.
  void Release(const std::string& trial_id);
  // The worker holding a trial (a gang's rank 0), or nullptr.
  const WorkerState* Holder(const std::string& trial_id) const;
  // Every worker holding a trial, by rank; empty when none does.
  std::vector<std::string> Holders(const std::string& trial_id) const;
  int32_t RunningInSweep(const std::string& sweep_id) const;

  // Workers not heard from since `deadline_ms` (last_seen_ms < deadline_ms).
  std::vector<std::string> SilentWorkers(int64_t deadline_ms) const;

  // Pairs idle workers with queued trials, at most one trial per idle worker (g workers for a
  // gang of g), then adds trials to packs with room, and leases them.
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
  // The worker among `candidates` (busy, with pack room) whose pack `t` joins by the rule above;
  // empty when none can hold it.
  std::string PickPack(const QueuedTrial& t, const std::set<std::string>& candidates) const;
  // Whether `w`'s memory holds its pack with `t` added.
  bool PackFits(const QueuedTrial& t, const WorkerState& w) const;
  // Records the lease once the caller has checked that the workers may take it.
  void Hold(const QueuedTrial& trial, const std::vector<std::string>& worker_ids);
  static bool Fits(const QueuedTrial& t, const WorkerState& w) {
    return t.memory_bytes == 0 || t.memory_bytes <= w.memory_bytes;
  }
  static bool Packs(const QueuedTrial& t) { return t.ranks <= 1 && !t.pack_key.empty(); }
  static bool HasPackRoom(const WorkerState& w) {
    return !w.pack_key.empty() &&
           w.trials.size() < static_cast<size_t>(std::max<int32_t>(1, w.pack_limit));
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
    int64_t memory_bytes = 0;             // the trial's, for its pack's memory
    int64_t shared_bytes = 0;
  };
  std::unordered_map<std::string, LeaseInfo> leases_;        // trial id -> holder
};

}  // namespace lf::coordinator
