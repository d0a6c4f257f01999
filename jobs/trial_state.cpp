#include "jobs/trial_state.h"

#include <string>

#include "jobs/enum_names.h"

namespace lf::jobs {

namespace {

constexpr internal::EnumName<TrialState> kTrialStateNames[] = {
    {TrialState::kQueued, "queued"},       {TrialState::kAssigned, "assigned"},
    {TrialState::kRunning, "running"},     {TrialState::kCompleted, "completed"},
    {TrialState::kFailed, "failed"},       {TrialState::kCancelled, "cancelled"},
    {TrialState::kStopped, "stopped"}};
constexpr internal::EnumName<SweepState> kSweepStateNames[] = {
    {SweepState::kActive, "active"},
    {SweepState::kPaused, "paused"},
    {SweepState::kCancelled, "cancelled"},
    {SweepState::kFinished, "finished"}};

}  // namespace

std::string_view TrialStateName(TrialState state) {
  return internal::NameOf(state, kTrialStateNames);
}

const std::vector<TrialState>& AllTrialStates() {
  static const std::vector<TrialState> kAll = [] {
    std::vector<TrialState> all;
    for (const auto& [state, name] : kTrialStateNames) all.push_back(state);
    return all;
  }();
  return kAll;
}

Result<TrialState> ParseTrialState(std::string_view name) {
  if (auto state = internal::ValueOf(name, kTrialStateNames)) return *state;
  return InvalidArgument("unknown trial state '" + std::string(name) + "'; expected one of " +
                         internal::NameList(kTrialStateNames));
}

bool IsFinal(TrialState state) {
  return state == TrialState::kCompleted || state == TrialState::kCancelled ||
         state == TrialState::kStopped;
}

bool IsActive(TrialState state) {
  return state == TrialState::kQueued || state == TrialState::kAssigned ||
         state == TrialState::kRunning;
}

bool HasAdapter(TrialState state) {
  return state == TrialState::kCompleted || state == TrialState::kStopped;
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
  return internal::NameOf(state, kSweepStateNames);
}

Result<SweepState> ParseSweepState(std::string_view name) {
  if (auto state = internal::ValueOf(name, kSweepStateNames)) return *state;
  return InvalidArgument("unknown sweep state '" + std::string(name) + "'; expected one of " +
                         internal::NameList(kSweepStateNames));
}

bool IsFinal(SweepState state) {
  return state == SweepState::kCancelled || state == SweepState::kFinished;
}

bool IsLegalSweepTransition(SweepState from, SweepState to) {
  if (IsFinal(from)) return false;
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
