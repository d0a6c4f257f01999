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
    w.trial_id.clear();
    w.attempt = 0;
    w.step = 0;
    idle_.insert(w.id);
  } else {
    w.last_seen_ms = info.last_seen_ms;
    w.tokens_per_s = info.tokens_per_s;
    w.memory_bytes = info.memory_bytes;
  }
  return w;
}

WorkerState* Scheduler::FindWorker(const std::string& worker_id) {
  auto it = workers_.find(worker_id);
  return it == workers_.end() ? nullptr : &it->second;
}

std::string Scheduler::RemoveWorker(const std::string& worker_id) {
  auto it = workers_.find(worker_id);
  if (it == workers_.end()) return {};
  std::string trial = it->second.trial_id;
  if (!trial.empty()) Release(trial);
  idle_.erase(worker_id);
  workers_.erase(worker_id);
  return trial;
}

void Scheduler::Lease(const std::string& trial_id, const std::string& sweep_id,
                      const std::string& worker_id, uint32_t attempt) {
  LeaseGang(trial_id, sweep_id, {worker_id}, attempt);
}

void Scheduler::LeaseGang(const std::string& trial_id, const std::string& sweep_id,
                          const std::vector<std::string>& worker_ids, uint32_t attempt) {
  LF_CHECK_MSG(!worker_ids.empty(), "trial " + trial_id + " leased to no worker");
  LF_CHECK_MSG(!leases_.count(trial_id), "trial " + trial_id + " leased twice");
  for (const std::string& worker_id : worker_ids) {
    WorkerState& w = workers_.at(worker_id);
    LF_CHECK_MSG(w.trial_id.empty(), "worker " + worker_id + " already holds " + w.trial_id);
    w.trial_id = trial_id;
    w.attempt = attempt;
    w.step = 0;
    idle_.erase(worker_id);
  }
  leases_[trial_id] = {sweep_id, worker_ids};
  if (auto sit = sweeps_.find(sweep_id); sit != sweeps_.end()) {
    const bool was = Eligible(sit->second);
    ++sit->second.running;
    Refresh(sweep_id, was);
  }
}

void Scheduler::Release(const std::string& trial_id) {
  auto it = leases_.find(trial_id);
  if (it == leases_.end()) return;
  for (const std::string& worker_id : it->second.worker_ids) {
    if (auto w = workers_.find(worker_id); w != workers_.end()) {
      w->second.trial_id.clear();
      w->second.attempt = 0;
      w->second.step = 0;
      idle_.insert(w->first);
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

std::vector<Placement> Scheduler::Place(int64_t now_ms) {
  PromoteDueRetries(now_ms);
  std::vector<Placement> out;
  std::set<std::string> free(idle_.begin(), idle_.end());  // not given out or kept in this pass
  bool gathering = false;  // the first waiting gang keeps the idle workers it could use
  int skipped = 0;
  for (auto it = ready_.begin(); it != ready_.end() && !free.empty() && skipped < kMemoryScanLimit;) {
    const Key key = *it;
    const QueuedTrial& t = queued_.at(std::get<2>(key));
    const size_t need = static_cast<size_t>(std::max<int32_t>(1, t.ranks));
    std::vector<std::string> fitting;
    for (const std::string& id : free) {
      if (Fits(t, workers_.at(id))) fitting.push_back(id);
    }
    if (fitting.size() < need) {
      ++skipped;
      if (need > 1 && !gathering) {
        size_t could = 0;  // workers, idle or busy, that could ever run it
        for (const auto& [id, w] : workers_) could += Fits(t, w) ? 1 : 0;
        if (need <= could) {
          for (const std::string& id : fitting) free.erase(id);
          gathering = true;
        }
      }
      ++it;
      continue;
    }
    std::vector<std::string> members =
        need == 1 ? std::vector<std::string>{fitting.front()} : PickMembers(fitting, need);
    QueuedTrial trial = t;
    Dequeue(trial.trial_id);
    LeaseGang(trial.trial_id, trial.sweep_id, members, 0);
    for (const std::string& id : members) free.erase(id);
    // Leasing may have parked other trials of the sweep (its concurrency limit): look again
    // after this trial's key rather than trusting an iterator into the changed set.
    it = ready_.upper_bound(key);
    out.push_back({std::move(trial), members.front(),
                   need > 1 ? std::move(members) : std::vector<std::string>{}});
  }
  return out;
}

}  // namespace lf::coordinator
