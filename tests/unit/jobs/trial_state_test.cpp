#include "jobs/trial_state.h"

#include <gtest/gtest.h>

#include <set>
#include <utility>

namespace lf::jobs {
namespace {

using S = TrialState;

TEST(TrialStateTest, ExactlyTheDocumentedTransitionsAreLegal) {
  const std::set<std::pair<S, S>> legal = {
      {S::kQueued, S::kAssigned},   {S::kQueued, S::kCancelled},  {S::kAssigned, S::kRunning},
      {S::kAssigned, S::kQueued},   {S::kAssigned, S::kFailed},   {S::kAssigned, S::kCancelled},
      {S::kRunning, S::kCompleted}, {S::kRunning, S::kFailed},    {S::kRunning, S::kCancelled},
      {S::kRunning, S::kStopped},   {S::kRunning, S::kQueued},    {S::kFailed, S::kQueued}};
  for (S from : AllTrialStates()) {
    for (S to : AllTrialStates()) {
      bool expected = legal.count({from, to}) > 0;
      EXPECT_EQ(IsLegalTransition(from, to), expected)
          << TrialStateName(from) << " -> " << TrialStateName(to);
      EXPECT_EQ(CheckTransition(from, to).ok(), expected);
    }
  }
}

TEST(TrialStateTest, FinalStatesAndMessages) {
  EXPECT_TRUE(IsFinal(S::kCompleted));
  EXPECT_TRUE(IsFinal(S::kStopped));
  EXPECT_TRUE(IsFinal(S::kCancelled));
  EXPECT_FALSE(IsFinal(S::kFailed));  // may be retried
  EXPECT_EQ(CheckTransition(S::kCompleted, S::kRunning).message(),
            "a completed trial cannot become running; from completed it can only become nothing "
            "(the state is final)");
  EXPECT_EQ(CheckTransition(S::kQueued, S::kRunning).message(),
            "a queued trial cannot become running; from queued it can only become assigned, "
            "cancelled");
}

TEST(TrialStateTest, EveryStateIsExactlyOneOfActiveFinalOrFailed) {
  for (S s : AllTrialStates()) {
    EXPECT_EQ(int(IsActive(s)) + int(IsFinal(s)) + int(s == S::kFailed), 1) << TrialStateName(s);
  }
  // An adapter exists exactly for the states that end with one.
  std::vector<S> with_adapter;
  for (S s : AllTrialStates()) {
    if (HasAdapter(s)) with_adapter.push_back(s);
  }
  EXPECT_EQ(with_adapter, (std::vector<S>{S::kCompleted, S::kStopped}));
}

TEST(TrialStateTest, NamesRoundTrip) {
  for (S s : AllTrialStates()) EXPECT_EQ(*ParseTrialState(TrialStateName(s)), s);
  EXPECT_FALSE(ParseTrialState("done").ok());
  EXPECT_EQ(ParseTrialState("done").status().message(),
            "unknown trial state 'done'; expected one of queued, assigned, running, completed, "
            "failed, cancelled, stopped");
  for (SweepState s : {SweepState::kActive, SweepState::kPaused, SweepState::kCancelled,
                       SweepState::kFinished}) {
    EXPECT_EQ(*ParseSweepState(SweepStateName(s)), s);
  }
}

TEST(SweepStateTest, PauseResumeAndFinalStates) {
  EXPECT_TRUE(IsLegalSweepTransition(SweepState::kActive, SweepState::kPaused));
  EXPECT_TRUE(IsLegalSweepTransition(SweepState::kPaused, SweepState::kActive));
  EXPECT_TRUE(IsLegalSweepTransition(SweepState::kPaused, SweepState::kCancelled));
  EXPECT_FALSE(IsLegalSweepTransition(SweepState::kCancelled, SweepState::kActive));
  EXPECT_FALSE(IsLegalSweepTransition(SweepState::kFinished, SweepState::kPaused));
  EXPECT_EQ(CheckSweepTransition(SweepState::kPaused, SweepState::kPaused).message(),
            "the sweep is already paused");
}

}  // namespace
}  // namespace lf::jobs
