// What the coordinator does when the store refuses a write (a full disk, a lost
// compare-and-set): memory is put back to what the store says, and a store that stopped taking
// writes is asked to resume from the tick. See docs/operations.md ("When the disk fills up").
#include <algorithm>

#include "common/logging.h"
#include "coordinator/coordinator.h"

namespace lf::coordinator {

using jobs::TrialState;

void Coordinator::Reconcile(const std::string& trial_id) {
  auto live = trials_.find(trial_id);
  if (live == trials_.end()) return;
  Result<store::TrialRecord> stored = store_.GetTrial(trial_id);
  if (!stored.ok()) {
    LF_LOG_ERROR(
        "trial {}: cannot read it back after a refused write, so memory keeps what it "
        "assumed: {}",
        trial_id, stored.status().ToString());
    return;
  }
  LiveTrial& t = live->second;
  CountMove(t.sweep_id, t.state, stored->state);
  t.state = stored->state;
  t.attempt = stored->attempt;
  t.failures = stored->failures;
  std::vector<std::string> holders = scheduler_.Holders(trial_id);
  if ((stored->state == TrialState::kAssigned || stored->state == TrialState::kRunning)) {
    // The store says a worker holds it. If memory let the lease go (the refused write ended it),
    // the worker gets one heartbeat timeout to show it still trains it, as after a restart;
    // otherwise Tick puts it back in the queue, retrying the write.
    scheduler_.Dequeue(trial_id);
    t.worker = stored->worker;
    if (std::find(holders.begin(), holders.end(), stored->worker) == holders.end()) {
      scheduler_.Release(trial_id);
      orphans_[trial_id] = {stored->worker, stored->attempt,
                            clock_.NowMillis() + options_.heartbeat_timeout_ms};
    }
    return;
  }
  scheduler_.Release(trial_id);
  t.worker.clear();
  orphans_.erase(trial_id);
  if (stored->state == TrialState::kQueued) {
    // A lease that could not be stored is not held: the trial waits in the queue again.
    if (!scheduler_.IsQueued(trial_id) && scheduler_.HasSweep(t.sweep_id)) Enqueue(trial_id, 0);
    return;
  }
  scheduler_.Dequeue(trial_id);
  if (jobs::IsFinal(stored->state)) trials_.erase(live);
}

void Coordinator::ResumeStore() {
  const store::StoreHealth health = store_.Health();
  const int64_t now = clock_.NowMillis();
  if (health.writable || now < next_store_resume_ms_) return;
  next_store_resume_ms_ = now + kStoreResumeIntervalMs;
  if (Status st = store_.TryResume(); !st.ok()) {
    LF_LOG_WARN("the store still takes no writes: {}", st.message());
    return;
  }
  LF_LOG_INFO("the store takes writes again; dispatching resumes");
}

}  // namespace lf::coordinator
