// The worker side of the coordinator: worker messages, leases, retries, lost workers,
// and the group commit that turns a batch of messages into one durable store write.
#include <algorithm>
#include <filesystem>

#include "common/logging.h"
#include "coordinator/coordinator.h"
#include "jobs/job_spec.h"
#include "jobs/packing.h"
#include "jobs/sweep_spec.h"

namespace lf::coordinator {

using jobs::TrialState;
namespace fs = std::filesystem;

namespace {
constexpr const char* kScheduler = "scheduler";
std::string WorkerActor(const std::string& worker_id) { return "worker:" + worker_id; }
bool Holds(TrialState s) { return s == TrialState::kAssigned || s == TrialState::kRunning; }
}  // namespace

int64_t Coordinator::LiveSweep::unfinished() const {
  return counts[static_cast<size_t>(TrialState::kQueued)] +
         counts[static_cast<size_t>(TrialState::kAssigned)] +
         counts[static_cast<size_t>(TrialState::kRunning)];
}

Coordinator::Coordinator(store::ExperimentStore& store, WorkerSink& sink, const Clock& clock,
                         CoordinatorOptions options)
    : store_(store), sink_(sink), clock_(clock), options_(std::move(options)), ids_(clock) {
  started_ms_ = clock_.NowMillis();
}

Coordinator::~Coordinator() = default;

Result<std::unique_ptr<Coordinator>> Coordinator::Create(store::ExperimentStore& store,
                                                         WorkerSink& sink, const Clock& clock,
                                                         CoordinatorOptions options) {
  std::unique_ptr<Coordinator> c(new Coordinator(store, sink, clock, std::move(options)));
  LF_RETURN_IF_ERROR(c->Recover());
  return c;
}

// Rebuilds the queue and the sweeps' counts from the store. Trials the last coordinator had
// handed out keep their lease for one heartbeat timeout, so a worker that is still training
// reports it and carries on; leases nobody reclaims go back to the queue (Tick).
Coordinator::LiveTrial Coordinator::NewLiveTrial(const std::string& sweep_id, uint32_t index,
                                                 const jobs::JobSpec& job) {
  LiveTrial t{.sweep_id = sweep_id,
              .index = index,
              .pack_key = jobs::PackKey(job),
              .steps = job.train.steps};
  const LiveSweep& sweep = sweeps_.at(sweep_id);
  if (sweep.search && sweep.search->search == "bohb") {
    t.bracket = jobs::HyperbandBracket(*sweep.search->early_stopping, sweep.asha_steps,
                                       sweep.search->seed, index);
  }
  if (!t.pack_key.empty() && sweep.memory_bytes > 0) {
    auto [it, added] = base_weight_bytes_.try_emplace(job.base_model, 0);
    if (added) {  // the model*.safetensors files: what the base takes once loaded, near enough
      std::error_code ec;
      for (const auto& entry : fs::directory_iterator(job.base_model, ec)) {
        const std::string name = entry.path().filename().string();
        if (name.rfind("model", 0) == 0 && name.ends_with(".safetensors")) {
          it->second += static_cast<int64_t>(entry.file_size(ec));
        }
      }
    }
    t.shared_bytes = it->second;
  }
  return t;
}

int32_t Coordinator::PackLimit(const std::string& device) const {
  if (options_.max_pack > 0) return options_.max_pack;
  return device.rfind("cuda", 0) == 0 ? kDefaultGpuPack : 1;
}

QueuedTrial Coordinator::QueueEntry(const std::string& trial_id) const {
  const LiveTrial& t = trials_.at(trial_id);
  const LiveSweep& s = sweeps_.at(t.sweep_id);
  auto parsed = ParseTrialId(trial_id);
  const uint64_t index = parsed.ok() ? parsed->index : 0;
  return {.trial_id = trial_id,
          .sweep_id = t.sweep_id,
          .order = (s.ordinal << 32) | index,
          .memory_bytes = s.memory_bytes,
          .shared_bytes = t.shared_bytes,
          .ranks = s.ranks,
          .pack_key = t.pack_key};
}

void Coordinator::Enqueue(const std::string& trial_id, int64_t not_before_ms) {
  QueuedTrial q = QueueEntry(trial_id);
  q.not_before_ms = not_before_ms;
  q.queued_ms = clock_.NowMillis();
  scheduler_.Enqueue(std::move(q));
}

void Coordinator::OnMessage(const std::string& peer, protocol::Message message) {
  std::visit(
      [&](auto& m) {
        using T = std::decay_t<decltype(m)>;
        if constexpr (std::is_same_v<T, protocol::Hello>) {
          OnHello(peer, m, /*first=*/true);
        } else if constexpr (std::is_same_v<T, protocol::Heartbeat>) {
          OnHello(peer, m, /*first=*/false);
        } else if constexpr (std::is_same_v<T, protocol::Progress>) {
          OnProgress(peer, m);
        } else if constexpr (std::is_same_v<T, protocol::Checkpoint>) {
          OnCheckpoint(peer, m);
        } else if constexpr (std::is_same_v<T, protocol::Done>) {
          OnDone(peer, std::make_shared<const protocol::Done>(std::move(m)));
        } else if constexpr (std::is_same_v<T, protocol::Failed>) {
          OnFailed(peer, m);
        } else {
          LF_LOG_WARN("worker {} sent {}, which only the coordinator sends; ignored", peer,
                      protocol::MessageTypeName(message));
        }
      },
      message);
}

void Coordinator::OnHello(const std::string& peer, const protocol::Hello& hello, bool first) {
  const int64_t now = clock_.NowMillis();
  const bool known = scheduler_.FindWorker(peer) != nullptr;
  WorkerState& w = scheduler_.UpsertWorker({.id = peer,
                                            .rank = hello.rank,
                                            .host = hello.host,
                                            .device = hello.device,
                                            .memory_bytes = hello.memory_bytes,
                                            .connected_ms = now,
                                            .last_seen_ms = now,
                                            .tokens_per_s = hello.tokens_per_s,
                                            .pack_limit = PackLimit(hello.device)});
  if (!known) {
    LF_LOG_INFO("worker {} joined: rank {} of {} on {}, {}, {} MiB{}", peer, hello.rank,
                hello.world_size, hello.host, hello.device, hello.memory_bytes >> 20,
                first ? "" : " (reconnected)");
    sink_.Send(peer, protocol::Welcome{.heartbeat_interval_ms = options_.heartbeat_interval_ms});
  }
  for (const auto& r : hello.running) {
    auto orphan = orphans_.find(r.trial_id);
    if (orphan != orphans_.end() && orphan->second.worker == peer &&
        orphan->second.attempt == r.attempt) {
      // A worker reclaiming the lease the last coordinator gave it: a trial alone, or the trials
      // of its pack. (A trial it reports only queued behind another is left to expire.)
      // A gang's trial is not reclaimed: its members come back one by one, so it waits out the
      // timeout and starts again from its checkpoint.
      const LiveTrial& t = trials_.at(r.trial_id);
      const bool gang = sweeps_.at(t.sweep_id).ranks > 1;
      if (!gang && (w.trials.empty() || (!t.pack_key.empty() && w.pack_key == t.pack_key))) {
        scheduler_.Lease(QueueEntry(r.trial_id), peer);
        orphans_.erase(orphan);
        LF_LOG_INFO("worker {} still holds {} (attempt {}); lease kept", peer, r.trial_id,
                    r.attempt);
      }
    }
    if (LiveTrial* t = HeldBy(peer, r.trial_id, r.attempt)) t->step = std::max(t->step, r.step);
  }
}

Coordinator::LiveTrial* Coordinator::HeldBy(const std::string& peer, const std::string& trial_id,
                                            uint32_t attempt) {
  auto it = trials_.find(trial_id);
  const std::vector<std::string> holders = scheduler_.Holders(trial_id);  // a gang's members too
  if (it != trials_.end() && Holds(it->second.state) && it->second.attempt == attempt &&
      std::find(holders.begin(), holders.end(), peer) != holders.end()) {
    return &it->second;
  }
  if (auto orphan = orphans_.find(trial_id); orphan != orphans_.end()) {
    // After a restart the lease's holder may be heard before its first heartbeat reclaims the
    // lease: what it queued while no coordinator listened (the DONE of a trial that finished
    // meanwhile, PROGRESS) comes first. It is about the attempt it holds: taken, not dropped,
    // which would train the trial again and lose the metrics. The heartbeat reclaims the lease
    // (OnHello), or this message ends the attempt (Move drops the orphan). Others wait.
    if (it != trials_.end() && Holds(it->second.state) && it->second.attempt == attempt &&
        orphan->second.worker == peer && orphan->second.attempt == attempt) {
      return &it->second;
    }
    return nullptr;  // its worker may still reclaim it
  }
  LF_LOG_INFO("worker {} reports {} attempt {}, which is no longer its to train; stopping it",
              peer, trial_id, attempt);
  sink_.Send(peer, protocol::Stop{.trial_id = trial_id,
                                  .attempt = attempt,
                                  .reason = "this attempt is no longer yours"});
  return nullptr;
}

void Coordinator::OnProgress(const std::string& peer, const protocol::Progress& m) {
  LiveTrial* t = HeldBy(peer, m.trial_id, m.attempt);
  if (t == nullptr) return;
  if (t->state == TrialState::kAssigned) {
    Move(m.trial_id, TrialState::kRunning, WorkerActor(peer), "");
  }
  std::vector<store::MetricPoint> points;
  points.reserve(m.metrics.size());
  for (const auto& v : m.metrics) {
    points.push_back({.step = v.step, .name = v.name, .value = v.value, .time_ms = v.time_ms});
    if (v.step >= t->step && v.name == "loss") t->loss = v.value;
    t->step = std::max(t->step, v.step);
    // One loss per optimizer step: the time between two of them over the steps between is the
    // step time (the first report of an attempt only starts the clock).
    if (v.name == "loss" && v.time_ms > 0 && v.step > t->timed_step) {
      if (t->timed_step >= 0 && v.time_ms >= t->timed_ms) {
        step_time_s_.Observe(static_cast<double>(v.time_ms - t->timed_ms) / 1000.0 /
                             static_cast<double>(v.step - t->timed_step));
      }
      t->timed_step = v.step;
      t->timed_ms = v.time_ms;
    }
  }
  if (Status st = store_.AppendMetrics(m.trial_id, points); !st.ok()) {
    // Not stored, so not acted on: early stopping decides from what a restarted coordinator
    // would find in the store.
    LF_LOG_ERROR("storing metrics of {}: {}; these points are lost", m.trial_id, st.ToString());
    return;
  }
  ApplyEarlyStopping(peer, m.trial_id, *t, m.metrics);
  ApplyPbt(peer, m.trial_id, *t, m.metrics);
}

void Coordinator::OnCheckpoint(const std::string& peer, const protocol::Checkpoint& m) {
  LiveTrial* t = HeldBy(peer, m.trial_id, m.attempt);
  if (t == nullptr) return;
  t->checkpoint = m.path + "@" + std::to_string(m.step);
  auto recorded = store_.RecordEvent({.actor = WorkerActor(peer),
                                      .kind = "trial.checkpoint",
                                      .sweep_id = t->sweep_id,
                                      .trial_id = m.trial_id,
                                      .detail = "step " + std::to_string(m.step) + " in " +
                                                m.path});
  if (!recorded.ok()) LF_LOG_ERROR("recording a checkpoint: {}", recorded.status().ToString());
}

void Coordinator::OnDone(const std::string& peer, std::shared_ptr<const protocol::Done> m) {
  LiveTrial* t = HeldBy(peer, m->trial_id, m->attempt);
  if (t == nullptr) return;
  if (t->state == TrialState::kAssigned) {
    Move(m->trial_id, TrialState::kRunning, WorkerActor(peer), "");
  }
  const std::string trial_id = m->trial_id;
  // Stopped, adapter kept, when early stopping decided so (the worker may have reached the end
  // before the STOP did) or the worker says it finished early (a STOP sent before a restart).
  if (!t->early_stop.empty() || m->result.early_stopped()) {
    const std::string reason =
        t->early_stop.empty() ? "early stopping: the worker finished early" : t->early_stop;
    const int64_t steps = m->result.steps;
    Move(trial_id, TrialState::kStopped, WorkerActor(peer), reason,
         [this, trial_id, steps](const Result<store::TrialRecord>& r) {
           if (r.ok()) LF_LOG_INFO("trial {} stopped early after {} steps", trial_id, steps);
         },
         std::move(m));
    return;
  }
  ++counters_.completions;
  Move(trial_id, TrialState::kCompleted, WorkerActor(peer), "",
       [this, trial_id](const Result<store::TrialRecord>& r) {
         if (r.ok()) LF_LOG_INFO("trial {} completed", trial_id);
       },
       std::move(m));
}

void Coordinator::OnFailed(const std::string& peer, const protocol::Failed& m) {
  LiveTrial* t = HeldBy(peer, m.trial_id, m.attempt);
  if (t == nullptr) return;
  // One member's failure ends its gang's attempt: the others would wait for it forever.
  StopOnWorker(m.trial_id, "a member of the gang failed: " + m.reason, peer);
  if (m.interrupted) {
    Requeue(m.trial_id, WorkerActor(peer), m.reason);
    return;
  }
  if (t->state == TrialState::kAssigned) {
    Move(m.trial_id, TrialState::kRunning, WorkerActor(peer), "");
  }
  const LiveSweep& sweep = sweeps_.at(t->sweep_id);
  const uint32_t failures = t->failures + 1;
  const bool retry = m.retryable && failures <= static_cast<uint32_t>(sweep.max_retries);
  ++(retry ? counters_.retries : counters_.failed_for_good);
  if (!retry) {
    LF_LOG_WARN("trial {} failed{}: {}", m.trial_id,
                m.retryable ? " (retries exhausted)" : " (not retryable)", m.reason);
    const std::string trial_id = m.trial_id;
    Move(trial_id, TrialState::kFailed, WorkerActor(peer), m.reason,
         [this, trial_id](const Result<store::TrialRecord>& r) {
           if (r.ok()) trials_.erase(trial_id);  // for good: nothing more will happen to it
         });
    return;
  }
  Move(m.trial_id, TrialState::kFailed, WorkerActor(peer), m.reason);
  const int64_t backoff = std::min(options_.retry_backoff_max_ms,
                                   options_.retry_backoff_ms << std::min<uint32_t>(failures - 1, 20));
  LF_LOG_WARN("trial {} failed (attempt {}), retry {} of {} in {} ms: {}", m.trial_id, m.attempt,
              failures, sweep.max_retries, backoff, m.reason);
  const std::string trial_id = m.trial_id;
  const int64_t not_before = clock_.NowMillis() + backoff;
  Move(trial_id, TrialState::kQueued, kScheduler,
       "retry " + std::to_string(failures) + " of " + std::to_string(sweep.max_retries),
       [this, trial_id, not_before](const Result<store::TrialRecord>& r) {
         if (r.ok()) Enqueue(trial_id, not_before);
       });
}

void Coordinator::Move(const std::string& trial_id, TrialState to, std::string actor,
                       std::string reason,
                       std::function<void(const Result<store::TrialRecord>&)> then,
                       std::shared_ptr<const protocol::Done> done) {
  LiveTrial& t = trials_.at(trial_id);
  const TrialState from = t.state;
  store::TransitionRequest request{.trial_id = trial_id,
                                   .from = from,
                                   .to = to,
                                   .expected_attempt = t.attempt,
                                   .actor = std::move(actor),
                                   .worker = t.worker,
                                   .reason = std::move(reason)};
  if (!t.checkpoint.empty() && (to == TrialState::kQueued || jobs::IsFinal(to))) {
    request.checkpoint = t.checkpoint;
  }
  if (done) {
    for (const auto& f : done->files) request.files.push_back({f.name, f.bytes});
    request.result = done->result;
    sweeps_.at(t.sweep_id).adapter_bytes += done->result.adapter_bytes;
  }
  // The in-memory state moves now, so later messages of the same batch see it; a refused write
  // is reconciled from the store when the batch commits.
  t.state = to;
  if (to == TrialState::kFailed) ++t.failures;
  if (to == TrialState::kQueued || jobs::IsFinal(to) || to == TrialState::kFailed) {
    scheduler_.Release(trial_id);
    t.worker.clear();
    t.step = 0;
    t.loss.reset();
  }
  if (!Holds(to)) orphans_.erase(trial_id);  // a lease nobody holds any more
  CountMove(t.sweep_id, from, to);
  pending_.push_back({std::move(request), std::move(then), std::move(done)});
}

void Coordinator::Requeue(const std::string& trial_id, std::string actor, std::string reason,
                          int64_t not_before_ms) {
  Move(trial_id, TrialState::kQueued, std::move(actor), std::move(reason),
       [this, trial_id, not_before_ms](const Result<store::TrialRecord>& r) {
         if (r.ok()) Enqueue(trial_id, not_before_ms);
       });
}

void Coordinator::CountMove(const std::string& sweep_id, TrialState from, TrialState to) {
  LiveSweep& s = sweeps_.at(sweep_id);
  --s.counts[static_cast<size_t>(from)];
  ++s.counts[static_cast<size_t>(to)];
  if (jobs::IsFinal(to) || to == TrialState::kFailed) touched_sweeps_.push_back(sweep_id);
}

void Coordinator::Commit() {
  while (!pending_.empty()) {
    std::vector<Pending> batch;
    batch.swap(pending_);
    std::vector<store::TransitionRequest> requests;
    requests.reserve(batch.size());
    for (auto& p : batch) requests.push_back(p.request);
    std::vector<Result<store::TrialRecord>> results = store_.TransitionTrials(requests);
    for (size_t i = 0; i < batch.size(); ++i) {
      const auto& r = results[i];
      const std::string& id = batch[i].request.trial_id;
      if (!r.ok()) {
        LF_LOG_WARN("trial {}: {} -> {} refused: {}", id,
                    jobs::TrialStateName(batch[i].request.from),
                    jobs::TrialStateName(batch[i].request.to), r.status().ToString());
      } else {
        auto live = trials_.find(id);
        if (live != trials_.end()) {
          live->second.attempt = r->attempt;
          live->second.failures = r->failures;
        }
      }
      if (batch[i].then) batch[i].then(r);
      // Another writer got there first, or the store failed: take the store's word for it.
      if (!r.ok()) Reconcile(id);
      if (r.ok() && jobs::IsFinal(r->state)) trials_.erase(id);
    }
  }
  std::vector<store::EventRecord> unrecorded;
  for (auto& event : pending_events_) {
    auto recorded = store_.RecordEvent(event);
    if (recorded.ok()) continue;
    LF_LOG_ERROR("recording {}: {}", event.kind, recorded.status().ToString());
    // The decision it records is in memory already: keep it for a commit that can store it.
    if (!store_.Health().writable) unrecorded.push_back(std::move(event));
  }
  pending_events_ = std::move(unrecorded);
}

void Coordinator::Dispatch() {
  // A model-based sweep keeps one suggestion queued: each one placed makes room for the next,
  // until no worker takes more.
  for (int round = 0;; ++round) {
    const bool suggested = SuggestTrials();
    const std::vector<Placement> placed = scheduler_.Place(clock_.NowMillis());
    Assign(placed);
    if (!suggested || placed.empty() || round > 1000) break;
  }
}

void Coordinator::Assign(const std::vector<Placement>& placements) {
  for (const Placement& p : placements) {
    LiveTrial& t = trials_.at(p.trial.trial_id);
    t.worker = p.worker_id;
    t.started_ms = clock_.NowMillis();
    t.timed_step = -1;  // a new attempt: its first report restarts the step clock
    t.early_stop_sent = false;
    ++counters_.dispatches;
    const int64_t ready_ms = std::max(p.trial.queued_ms, p.trial.not_before_ms);
    dispatch_latency_s_.Observe(static_cast<double>(std::max<int64_t>(0, t.started_ms - ready_ms)) /
                                1000.0);
    const std::string trial_id = p.trial.trial_id;
    // The ASSIGN, whose attempt and job are known once the assignment is stored. Where packs are
    // allowed the trial trains in one, which later trials of its key can join. A gang's members
    // all get it, with their MPI ranks (ascending, as Place orders them: the first, worker_id, is
    // gang rank 0).
    protocol::Assign assign{.trial_id = trial_id};
    const WorkerState* w = scheduler_.FindWorker(p.worker_id);
    if (p.gang.empty() && w != nullptr && w->pack_limit > 1) assign.pack_key = p.trial.pack_key;
    for (const std::string& id : p.gang)
      assign.gang_ranks.push_back(scheduler_.FindWorker(id)->rank);
    if (!p.gang.empty()) assign.gang_tag = 1 + next_gang_tag_++ % 30000;
    const std::vector<std::string> to =
        p.gang.empty() ? std::vector<std::string>{p.worker_id} : p.gang;
    Move(trial_id, TrialState::kAssigned, kScheduler, "",
         [this, assign = std::move(assign), to](const Result<store::TrialRecord>& r) mutable {
           if (!r.ok()) {
             scheduler_.Release(assign.trial_id);
             return;
           }
           Result<TrialConfig> config = ParseTrialConfig(*r);
           if (!config.ok()) {  // it cannot train anywhere
             LF_LOG_ERROR("trial {}: {}", assign.trial_id, config.status().ToString());
             const std::string trial_id = assign.trial_id;
             Move(trial_id, TrialState::kFailed, kScheduler, config.status().message(),
                  [this, trial_id](const Result<store::TrialRecord>& failed) {
                    if (failed.ok()) trials_.erase(trial_id);
                  });
             return;
           }
           assign.attempt = r->attempt;
           assign.job = std::move(config->job);
           std::string workers;
           for (const std::string& id : to) workers += (workers.empty() ? "" : ", ") + id;
           LF_LOG_INFO("trial {} attempt {} -> {} {}{}", assign.trial_id, r->attempt,
                       to.size() > 1 ? "the gang of workers" : "worker", workers,
                       assign.pack_key.empty() ? "" : " (packed)");
           for (const std::string& id : to) sink_.Send(id, assign);
         });
    // Move released nothing for an assignment: the lease Place made stays.
  }
}

// Leases are released in memory as soon as a message ends them, so the trials that workers just
// finished and the ones they get next commit in the same batch: one fsync per batch of messages.
// ASSIGNs are sent from the commit callbacks, once the assignment is durable.
void Coordinator::Flush() {
  // While the store takes no writes, no trial is handed out: each assignment would be refused.
  const bool writable = store_.Health().writable;
  if (writable) Dispatch();
  Commit();
  // A commit may have re-queued trials (interrupted or lost workers) that idle workers can take.
  if (writable) Dispatch();
  Commit();
  FinishSweeps();
}

void Coordinator::FinishSweeps() {
  std::sort(touched_sweeps_.begin(), touched_sweeps_.end());
  touched_sweeps_.erase(std::unique(touched_sweeps_.begin(), touched_sweeps_.end()),
                        touched_sweeps_.end());
  for (const auto& id : touched_sweeps_) {
    LiveSweep& s = sweeps_.at(id);
    const auto state = s.record.state;
    if (s.unfinished() > 0 || s.suggesting() ||
        (state != jobs::SweepState::kActive && state != jobs::SweepState::kPaused)) {
      continue;
    }
    auto updated = store_.UpdateSweep(id, {.expected_state = state,
                                           .state = jobs::SweepState::kFinished,
                                           .actor = kScheduler,
                                           .reason = "every trial reached a final state"});
    if (!updated.ok()) {
      LF_LOG_ERROR("finishing sweep {}: {}", id, updated.status().ToString());
      continue;
    }
    s.record = std::move(updated).value();
    scheduler_.RemoveSweep(id);
    asha_.erase(id);
    LF_LOG_INFO("sweep {} ({}) finished", id, s.record.name);
  }
  touched_sweeps_.clear();
}

void Coordinator::WorkerLost(const std::string& worker_id, const std::string& why) {
  // The other members of its gangs would wait for it forever: they stop, and the gang goes back
  // to the queue whole.
  if (const WorkerState* w = scheduler_.FindWorker(worker_id)) {
    for (const std::string& trial : w->trials) {
      StopOnWorker(trial, "a member of the gang, worker " + worker_id + ", was lost", worker_id);
    }
  }
  const std::vector<std::string> trials = scheduler_.RemoveWorker(worker_id);
  ++counters_.lost_workers;
  std::string held;
  for (const std::string& trial : trials) held += (held.empty() ? "" : ", ") + trial;
  LF_LOG_WARN("worker {} lost: {}{}", worker_id, why,
              trials.empty() ? "" : "; " + held + " go(es) back to the queue");
  if (trials.empty()) {
    auto recorded = store_.RecordEvent(
        {.actor = kScheduler, .kind = "worker.lost", .detail = worker_id + ": " + why});
    if (!recorded.ok()) LF_LOG_ERROR("recording a lost worker: {}", recorded.status().ToString());
  }
  for (const std::string& trial : trials) {  // one event per trial, so each trial's log has it
    auto recorded = store_.RecordEvent({.actor = kScheduler,
                                        .kind = "worker.lost",
                                        .trial_id = trial,
                                        .detail = worker_id + ": " + why});
    if (!recorded.ok()) LF_LOG_ERROR("recording a lost worker: {}", recorded.status().ToString());
    if (trials_.count(trial) && Holds(trials_.at(trial).state)) {
      Requeue(trial, kScheduler, "worker " + worker_id + " lost (" + why + ")");
    }
  }
}

void Coordinator::Tick() {
  ResumeStore();
  const int64_t now = clock_.NowMillis();
  for (const auto& id : scheduler_.SilentWorkers(now - options_.heartbeat_timeout_ms)) {
    WorkerLost(id, "no heartbeat for " + std::to_string(options_.heartbeat_timeout_ms / 1000.0) +
                       " s");
  }
  for (auto it = orphans_.begin(); it != orphans_.end();) {
    if (it->second.deadline_ms > now) {
      ++it;
      continue;
    }
    const std::string trial = it->first;
    const std::string worker = it->second.worker;
    it = orphans_.erase(it);
    if (trials_.count(trial) && Holds(trials_.at(trial).state)) {
      Requeue(trial, kScheduler,
              "worker " + worker + " did not reclaim it after the coordinator restarted");
    }
  }
  Flush();
}

std::optional<int64_t> Coordinator::NextDeadlineMs() const { return scheduler_.NextRetryMs(); }

void Coordinator::StopOnWorker(const std::string& trial_id, const std::string& reason,
                               const std::string& except) {
  auto it = trials_.find(trial_id);
  if (it == trials_.end()) return;
  for (const std::string& holder : scheduler_.Holders(trial_id)) {
    if (holder == except) continue;
    sink_.Send(holder, protocol::Stop{
                           .trial_id = trial_id, .attempt = it->second.attempt, .reason = reason});
  }
}

}  // namespace lf::coordinator
