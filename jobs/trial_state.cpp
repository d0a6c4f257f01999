#include "jobs/trial_state.h"

#include <string>

namespace lf::jobs {

std::string_view TrialStateName(TrialState state) {
  switch (state) {
    case TrialState::kQueued: return "queued";
    case TrialState::kAssigned: return "assigned";
    case TrialState::kRunning: return "running";
    case TrialState::kCompleted: return "completed";
    case TrialState::kFailed: return "failed";
    case TrialState::kCancelled: return "cancelled";
    case TrialState::kStopped: return "stopped";
  }
  return "unknown";
}

const std::vector<TrialState>& AllTrialStates() {
  static const std::vector<TrialState> kAll = {
      TrialState::kQueued, TrialState::kAssigned,  TrialState::kRunning, TrialState::kCompleted,
      TrialState::kFailed, TrialState::kCancelled, TrialState::kStopped};
  return kAll;
}

Result<TrialState> ParseTrialState(std::string_view name) {
  for (TrialState s : AllTrialStates()) {
    if (TrialStateName(s) == name) return s;
  }
  return InvalidArgument("unknown trial state '" + std::string(name) +
                         "'; expected one of queued, assigned, running, completed, failed, "
                         "cancelled, stopped");
}

bool IsFinal(TrialState state) {
  return state == TrialState::kCompleted || state == TrialState::kCancelled ||
         state == TrialState::kStopped;
}

bool IsLegalTransition(TrialState from, TrialState to) {
  using S = TrialState;
  switch (from) {
    case S::kQueued:
      return to == S::kAssigned || to == S::kCancelled;
    case S::kAssigned:
      return to == S::kRunning || to == S::kQueued || to == S::kFailed || to == S::kCancelled;
    case S::kRunning:
      return to == S::kCompleted || to == S::kFailed || to == S::kCancelled ||
             to == S::kStopped || to == S::kQueued;
    case S::kFailed:
      return to == S::kQueued;
    case S::kCompleted:
    case S::kCancelled:
    case S::kStopped:
      return false;
  }
  return false;
}

Status CheckTransition(TrialState from, TrialState to) {
  if (IsLegalTransition(from, to)) return Status::Ok();
  std::string legal;
  for (TrialState s : AllTrialStates()) {
    if (IsLegalTransition(from, s)) legal += (legal.empty() ? "" : ", ") + std::string(TrialStateName(s));
  }
  return FailedPrecondition("a " + std::string(TrialStateName(from)) + " trial cannot become " +
                            std::string(TrialStateName(to)) + "; from " +
                            std::string(TrialStateName(from)) + " it can only become " +
                            (legal.empty() ? "nothing (the state is final)" : legal));
}

std::string_view SweepStateName(SweepState state) {
  switch (state) {
    case SweepState::kActive: return "active";
    case SweepState::kPaused: return "paused";
    case SweepState::kCancelled: return "cancelled";
    case SweepState::kFinished: return "finished";
  }
  return "unknown";
}

Result<SweepState> ParseSweepState(std::string_view name) {
  for (SweepState s : {SweepState::kActive, SweepState::kPaused, SweepState::kCancelled,
                       SweepState::kFinished}) {
    if (SweepStateName(s) == name) return s;
  }
  return InvalidArgument("unknown sweep state '" + std::string(name) +
                         "'; expected one of active, paused, cancelled, finished");
}

bool IsLegalSweepTransition(SweepState from, SweepState to) {
  if (from == SweepState::kCancelled || from == SweepState::kFinished) return false;
  if (from == to) return false;
  return true;  // active <-> paused, and either to cancelled or finished
}

Status CheckSweepTransition(SweepState from, SweepState to) {
  if (IsLegalSweepTransition(from, to)) return Status::Ok();
  if (from == to) {
    return FailedPrecondition("the sweep is already " + std::string(SweepStateName(from)));
  }
  return FailedPrecondition("a " + std::string(SweepStateName(from)) + " sweep cannot become " +
                            std::string(SweepStateName(to)) + "; " +
                            std::string(SweepStateName(from)) + " is final");
}

}  // namespace lf::jobs
