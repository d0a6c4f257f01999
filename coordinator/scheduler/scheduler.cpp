#include "coordinator/scheduler/scheduler.h"

#include <algorithm>
#include <tuple>

#include "common/status.h"

namespace lf::coordinator {
namespace {
// How far past the head of the queue Place looks for a trial that fits a worker's memory. Trials
// rarely differ in memory; the bound keeps one dispatch cheap with 100,000 queued.
constexpr int kMemoryScanLimit = 256;
}  // namespace

void Scheduler::AddSweep(const std::string& sweep_id, int32_t priority, int32_t max_concurrent,
                         bool paused) {
  Sweep& s = sweeps_[sweep_id];
  s.priority = priority;
  s.max_concurrent = max_concurrent;
  s.paused = paused;
}

void Scheduler::SetPriority(const std::string& sweep_id, int32_t priority) {
  auto it = sweeps_.find(sweep_id);
  if (it == sweeps_.end() || it->second.priority == priority) return;
  Sweep& s = it->second;
  const bool eligible = Eligible(s);
  if (eligible) {
    for (const auto& id : s.queued) Unready(queued_.at(id));
  }
  s.priority = priority;
  if (eligible) {
    for (const auto& id : s.queued) MakeReady(queued_.at(id));
  }
}

void Scheduler::SetPaused(const std::string& sweep_id, bool paused) {
  auto it = sweeps_.find(sweep_id);
  if (it == sweeps_.end()) return;
  const bool was = Eligible(it->second);
  it->second.paused = paused;
  Refresh(sweep_id, was);
}

void Scheduler::RemoveSweep(const std::string& sweep_id) {
  auto it = sweeps_.find(sweep_id);
  if (it == sweeps_.end()) return;
  LF_CHECK_MSG(it->second.queued.empty(), "removing sweep " + sweep_id + " with queued trials");
  sweeps_.erase(it);
}

Scheduler::Key Scheduler::KeyOf(const QueuedTrial& t) const {
  return {-static_cast<int64_t>(sweeps_.at(t.sweep_id).priority), t.order, t.trial_id};
}

void Scheduler::MakeReady(const QueuedTrial& t) {
  if (t.not_before_ms == 0) ready_.insert(KeyOf(t));
}

void Scheduler::Unready(const QueuedTrial& t) { ready_.erase(KeyOf(t)); }

void Scheduler::Refresh(const std::string& sweep_id, bool was_eligible) {
  const Sweep& s = sweeps_.at(sweep_id);
  const bool eligible = Eligible(s);
  if (eligible == was_eligible) return;
  for (const auto& id : s.queued) {
    if (eligible) {
      MakeReady(queued_.at(id));
    } else {
      Unready(queued_.at(id));
    }
  }
}

void Scheduler::Enqueue(QueuedTrial trial) {
  auto sit = sweeps_.find(trial.sweep_id);
  LF_CHECK_MSG(sit != sweeps_.end(), "trial " + trial.trial_id + " of unknown sweep " +
                                         trial.sweep_id);
  LF_CHECK_MSG(!queued_.count(trial.trial_id) && !leases_.count(trial.trial_id),
               "trial " + trial.trial_id + " enqueued twice");
  sit->second.queued.insert(trial.trial_id);
  if (trial.not_before_ms > 0) backoff_.emplace(trial.not_before_ms, trial.trial_id);
  auto [it, inserted] = queued_.emplace(trial.trial_id, std::move(trial));
  if (Eligible(sit->second)) MakeReady(it->second);
}

bool Scheduler::Dequeue(const std::string& trial_id) {
  auto it = queued_.find(trial_id);
  if (it == queued_.end()) return false;
  const QueuedTrial& t = it->second;
  Unready(t);
  if (t.not_before_ms > 0) {
    for (auto [b, e] = backoff_.equal_range(t.not_before_ms); b != e; ++b) {
      if (b->second == trial_id) {
        backoff_.erase(b);
        break;
      }
    }
  }
  sweeps_.at(t.sweep_id).queued.erase(trial_id);
  queued_.erase(it);
  return true;
}

std::vector<QueuedTrial> Scheduler::QueueSnapshot() const {
  std::vector<QueuedTrial> out;
  out.reserve(queued_.size());
  std::set<Key> rest;
  for (const auto& key : ready_) out.push_back(queued_.at(std::get<2>(key)));
  for (const auto& [id, t] : queued_) {
    Key key = KeyOf(t);
    if (!ready_.count(key)) rest.insert(key);
  }
  for (const auto& key : rest) out.push_back(queued_.at(std::get<2>(key)));
  return out;
}

WorkerState& Scheduler::UpsertWorker(const WorkerState& info) {
  auto [it, inserted] = workers_.try_emplace(info.id, info);
  WorkerState& w = it->second;
  if (inserted) {
    w.trials.clear();
    w.pack_key.clear();
    idle_.insert(w.id);
  } else {
    w.last_seen_ms = info.last_seen_ms;
    w.tokens_per_s = info.tokens_per_s;
    w.memory_bytes = info.memory_bytes;
    w.pack_limit = info.pack_limit;
  }
  return w;
}

WorkerState* Scheduler::FindWorker(const std::string& worker_id) {
  auto it = workers_.find(worker_id);
  return it == workers_.end() ? nullptr : &it->second;
}

std::vector<std::string> Scheduler::RemoveWorker(const std::string& worker_id) {
  auto it = workers_.find(worker_id);
  if (it == workers_.end()) return {};
  std::vector<std::string> held = it->second.trials;
  for (const std::string& trial_id : held) Release(trial_id);
  idle_.erase(worker_id);
  workers_.erase(worker_id);
  return held;
}

void Scheduler::Lease(const QueuedTrial& trial, const std::string& worker_id) {
  const WorkerState& w = workers_.at(worker_id);
  LF_CHECK_MSG(w.trials.empty() || (Packs(trial) && trial.pack_key == w.pack_key),
               "trial " + trial.trial_id + " (pack key '" + trial.pack_key + "', " +
                   std::to_string(trial.ranks) + " ranks) cannot join worker " + worker_id +
                   ", which holds " + w.trials.front() + " (pack key '" + w.pack_key + "')");
  Hold(trial, {worker_id});
}

void Scheduler::LeaseGang(const QueuedTrial& trial, const std::vector<std::string>& worker_ids) {
  for (const std::string& worker_id : worker_ids) {
    const WorkerState& w = workers_.at(worker_id);
    LF_CHECK_MSG(w.trials.empty(), "worker " + worker_id + " already holds " + w.trials.front());
  }
  Hold(trial, worker_ids);
}

void Scheduler::Hold(const QueuedTrial& trial, const std::vector<std::string>& worker_ids) {
  LF_CHECK_MSG(!worker_ids.empty(), "trial " + trial.trial_id + " leased to no worker");
  LF_CHECK_MSG(!leases_.count(trial.trial_id), "trial " + trial.trial_id + " leased twice");
  for (const std::string& worker_id : worker_ids) {
    WorkerState& w = workers_.at(worker_id);
    if (w.trials.empty()) w.pack_key = Packs(trial) ? trial.pack_key : "";
    w.trials.push_back(trial.trial_id);
    idle_.erase(worker_id);
  }
  leases_[trial.trial_id] = {trial.sweep_id, worker_ids, trial.memory_bytes, trial.shared_bytes};
  if (auto sit = sweeps_.find(trial.sweep_id); sit != sweeps_.end()) {
    const bool was = Eligible(sit->second);
    ++sit->second.running;
    Refresh(trial.sweep_id, was);
  }
}

void Scheduler::Release(const std::string& trial_id) {
  auto it = leases_.find(trial_id);
  if (it == leases_.end()) return;
  for (const std::string& worker_id : it->second.worker_ids) {
    if (auto w = workers_.find(worker_id); w != workers_.end()) {
      std::erase(w->second.trials, trial_id);
      if (w->second.trials.empty()) {
        w->second.pack_key.clear();
        idle_.insert(w->first);
      }
    }
  }
  if (auto sit = sweeps_.find(it->second.sweep_id); sit != sweeps_.end()) {
    const bool was = Eligible(sit->second);
    --sit->second.running;
    Refresh(it->second.sweep_id, was);
  }
  leases_.erase(it);
}

const WorkerState* Scheduler::Holder(const std::string& trial_id) const {
  auto it = leases_.find(trial_id);
  if (it == leases_.end()) return nullptr;
  auto w = workers_.find(it->second.worker_ids.front());
  return w == workers_.end() ? nullptr : &w->second;
}

std::vector<std::string> Scheduler::Holders(const std::string& trial_id) const {
  auto it = leases_.find(trial_id);
  return it == leases_.end() ? std::vector<std::string>{} : it->second.worker_ids;
}

int32_t Scheduler::RunningInSweep(const std::string& sweep_id) const {
  auto it = sweeps_.find(sweep_id);
  return it == sweeps_.end() ? 0 : it->second.running;
}

std::vector<std::string> Scheduler::SilentWorkers(int64_t deadline_ms) const {
  std::vector<std::string> out;
  for (const auto& [id, w] : workers_) {
    if (w.last_seen_ms < deadline_ms) out.push_back(id);
  }
  return out;
}

void Scheduler::PromoteDueRetries(int64_t now_ms) {
  while (!backoff_.empty() && backoff_.begin()->first <= now_ms) {
    QueuedTrial& t = queued_.at(backoff_.begin()->second);
    backoff_.erase(backoff_.begin());
    t.not_before_ms = 0;
    if (Eligible(sweeps_.at(t.sweep_id))) MakeReady(t);
  }
}

std::optional<int64_t> Scheduler::NextRetryMs() const {
  if (backoff_.empty()) return std::nullopt;
  return backoff_.begin()->first;
}

std::vector<std::string> Scheduler::PickMembers(const std::vector<std::string>& fitting,
                                                size_t need) const {
  std::map<std::string, std::vector<std::string>> by_host;
  for (const std::string& id : fitting) by_host[workers_.at(id).host].push_back(id);
  std::vector<std::string> members;
  const std::vector<std::string>* best = nullptr;  // the smallest host that suffices
  for (const auto& [host, ids] : by_host) {
    if (ids.size() >= need && (best == nullptr || ids.size() < best->size())) best = &ids;
  }
  if (best != nullptr) {
    members.assign(best->begin(), best->begin() + static_cast<std::ptrdiff_t>(need));
  } else {  // no host suffices: the largest hosts first, so the gang spans as few as it can
    std::vector<const std::vector<std::string>*> hosts;
    for (const auto& [host, ids] : by_host) hosts.push_back(&ids);
    std::stable_sort(hosts.begin(), hosts.end(),
                     [](const auto* a, const auto* b) { return a->size() > b->size(); });
    for (const auto* ids : hosts) {
      for (const std::string& id : *ids) {
        if (members.size() < need) members.push_back(id);
      }
    }
  }
  std::sort(members.begin(), members.end(), [&](const std::string& a, const std::string& b) {
    const WorkerState &wa = workers_.at(a), &wb = workers_.at(b);
    return std::tie(wa.rank, wa.id) < std::tie(wb.rank, wb.id);
  });
  return members;
}

bool Scheduler::PackFits(const QueuedTrial& t, const WorkerState& w) const {
  int64_t shared = 0;  // the base weights, held once
  int64_t own = 0;     // what each trial adds on top of them
  auto add = [&](int64_t memory_bytes, int64_t shared_bytes) {
    // Clamped so that a trial alone needs exactly its memory_bytes, as Fits has it.
    const int64_t part = std::min(std::max<int64_t>(shared_bytes, 0), memory_bytes);
    shared = std::max(shared, part);
    own += memory_bytes - part;
  };
  for (const std::string& trial_id : w.trials) {
    const LeaseInfo& lease = leases_.at(trial_id);
    add(lease.memory_bytes, lease.shared_bytes);
  }
  add(t.memory_bytes, t.shared_bytes);
  return shared + own <= w.memory_bytes;
}

std::string Scheduler::PickPack(const QueuedTrial& t,
                                const std::set<std::string>& candidates) const {
  const WorkerState* best = nullptr;
  for (const std::string& id : candidates) {  // by id: the first of the fewest wins
    const WorkerState& w = workers_.at(id);
    if ((best == nullptr || w.trials.size() < best->trials.size()) && PackFits(t, w)) best = &w;
  }
  return best == nullptr ? "" : best->id;
}

std::vector<Placement> Scheduler::Place(int64_t now_ms) {
  PromoteDueRetries(now_ms);
  std::vector<Placement> out;
  std::set<std::string> free(idle_.begin(), idle_.end());  // not given out or kept in this pass
  // Busy workers whose packs may take another trial in this pass, by pack key; a key with none
  // left is erased, so an empty map means no trial can join any pack.
  std::map<std::string, std::set<std::string>> room;
  for (const auto& [id, w] : workers_) {
    if (!w.trials.empty() && HasPackRoom(w)) room[w.pack_key].insert(id);
  }
  auto close_pack = [&room](const WorkerState& w) {
    auto r = room.find(w.pack_key);
    if (r == room.end()) return;
    r->second.erase(w.id);
    if (r->second.empty()) room.erase(r);
  };
  bool gathering = false;  // the first waiting gang keeps the workers it could use
  int skipped = 0;
  for (auto it = ready_.begin();
       it != ready_.end() && (!free.empty() || !room.empty()) && skipped < kMemoryScanLimit;) {
    const Key key = *it;
    const QueuedTrial& t = queued_.at(std::get<2>(key));
    const size_t need = static_cast<size_t>(std::max<int32_t>(1, t.ranks));
    std::vector<std::string> fitting;
    for (const std::string& id : free) {
      if (Fits(t, workers_.at(id))) fitting.push_back(id);
    }
    std::vector<std::string> members;
    if (fitting.size() >= need) {
      members = need == 1 ? std::vector<std::string>{fitting.front()} : PickMembers(fitting, need);
    } else if (auto r = Packs(t) ? room.find(t.pack_key) : room.end(); r != room.end()) {
      if (std::string id = PickPack(t, r->second); !id.empty()) members.push_back(std::move(id));
    }
    if (members.empty()) {
      ++skipped;
      if (need > 1 && !gathering) {
        size_t could = 0;  // workers, idle or busy, that could ever run it
        for (const auto& [id, w] : workers_) could += Fits(t, w) ? 1 : 0;
        if (need <= could) {
          for (const std::string& id : fitting) free.erase(id);
          // Busy ones too: a pack that kept taking trials would never free its worker.
          for (const auto& [id, w] : workers_) {
            if (Fits(t, w)) close_pack(w);
          }
          gathering = true;
        }
      }
      ++it;
      continue;
    }
    QueuedTrial trial = t;
    Dequeue(trial.trial_id);
    if (need == 1) {
      Lease(trial, members.front());
    } else {
      LeaseGang(trial, members);
    }
    for (const std::string& id : members) {
      free.erase(id);
      const WorkerState& w = workers_.at(id);
      if (HasPackRoom(w)) {
        room[w.pack_key].insert(id);
      } else {
        close_pack(w);
      }
    }
    // Leasing may have parked other trials of the sweep (its concurrency limit): look again
    // after this trial's key rather than trusting an iterator into the changed set.
    it = ready_.upper_bound(key);
    out.push_back({std::move(trial), members.front(),
                   need > 1 ? std::move(members) : std::vector<std::string>{}});
  }
  return out;
}

}  // namespace lf::coordinator
