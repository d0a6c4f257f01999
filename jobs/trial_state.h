// The lifecycle of a trial and of a sweep: the states, their names as users and the API see
// them, and which transitions are legal. The experiment store enforces these rules on every
// write; the scheduler and workers only ask for transitions. Pure functions, thread-safe.
//
//   queued ──► assigned ──► running ──► completed | failed | cancelled | stopped
//     ▲           │            │            failed ──► queued (retry)
//     └───────────┴────────────┘  (worker lost or gang broken: back to the queue)
//   queued | assigned ──► cancelled
#pragma once

#include <string_view>
#include <vector>

#include "common/status.h"

namespace lf::jobs {

enum class TrialState {
  kQueued,
  kAssigned,   // a worker was chosen and sent the trial; it has not reported it started
  kRunning,
  kCompleted,  // trained to the end; the adapter is stored
  kFailed,     // gave up: an error that retrying cannot fix, or retries exhausted
  kCancelled,  // by a user
  kStopped,    // by early stopping (e.g. ASHA); its metrics and adapter at that point are kept
};

std::string_view TrialStateName(TrialState state);  // "queued", "running", ...
Result<TrialState> ParseTrialState(std::string_view name);
const std::vector<TrialState>& AllTrialStates();

// Completed, cancelled and stopped never change again; failed may go back to queued (a retry).
bool IsFinal(TrialState state);
// Queued, assigned or running: waiting for or holding a worker. A trial neither active nor final
// is failed, and may yet be retried (its sweep's state says when nothing more will run).
bool IsActive(TrialState state);
// Completed and stopped (early stopping keeps the adapter at the step it stopped) trials have an
// adapter and a result; no other state does. The one rule views, plots and the store follow.
bool HasAdapter(TrialState state);
bool IsLegalTransition(TrialState from, TrialState to);
// The message a refused transition carries: names both states and the legal targets.
Status CheckTransition(TrialState from, TrialState to);

// active <-> paused; active or paused -> cancelled or finished; cancelled and finished are final.
enum class SweepState { kActive, kPaused, kCancelled, kFinished };
std::string_view SweepStateName(SweepState state);
Result<SweepState> ParseSweepState(std::string_view name);
// Cancelled and finished: nothing more runs.
bool IsFinal(SweepState state);
bool IsLegalSweepTransition(SweepState from, SweepState to);
Status CheckSweepTransition(SweepState from, SweepState to);

}  // namespace lf::jobs
