// The wait every gang collective makes (gang_wait.h), with a fake clock and sleep: it spins, then
// naps, returns as soon as the operation completes, fails or the gang gives up on a member; and
// which backend the factory picks for which device. No MPI, NCCL or GPU needed.
#include "worker/collective/gang_wait.h"

#include <gtest/gtest.h>

#include <vector>

#include "worker/collective/collective.h"

namespace lf::worker {
namespace {

// Steady time that moves only when the wait sleeps (or the test says so).
class StepClock final : public Clock {
 public:
  int64_t NowMillis() const override { return micros_ / 1000; }
  int64_t SteadyMicros() const override { return micros_; }
  void Advance(int64_t micros) { micros_ += micros; }

 private:
  int64_t micros_ = 1'000'000;
};

struct Recorder {
  StepClock clock;
  std::vector<int64_t> naps;
  int polls = 0;
  std::function<void(int64_t)> Sleep() {
    return [this](int64_t micros) {
      naps.push_back(micros);
      clock.Advance(micros);
    };
  }
};

TEST(GangWaitTest, ReturnsAtOnceWhenTheOperationIsDone) {
  Recorder r;
  auto end = WaitForGang([&]() -> Result<bool> { return ++r.polls == 1; }, nullptr, {}, r.clock,
                         r.Sleep());
  ASSERT_TRUE(end.ok());
  EXPECT_EQ(*end, GangWaitEnd::kDone);
  EXPECT_EQ(r.polls, 1);
  EXPECT_TRUE(r.naps.empty());
}

TEST(GangWaitTest, SpinsForTheSpinTimeThenNapsBetweenPolls) {
  Recorder r;
  const GangWaitTiming timing{.spin_micros = 2000, .nap_micros = 200};
  // Each poll costs 100 us of (fake) time: 20 polls spin through 2 ms, then every poll naps.
  auto end = WaitForGang(
      [&]() -> Result<bool> {
        r.clock.Advance(100);
        return ++r.polls == 30;
      },
      nullptr, timing, r.clock, r.Sleep());
  ASSERT_TRUE(end.ok());
  EXPECT_EQ(*end, GangWaitEnd::kDone);
  EXPECT_EQ(r.polls, 30);
  // Polls 1..19 end before the 2 ms spin; 20..29 each nap once (the 30th is done).
  EXPECT_EQ(r.naps.size(), 10u);
  for (int64_t nap : r.naps) EXPECT_EQ(nap, 200);
}

TEST(GangWaitTest, AbandonEndsTheWaitAfterTheGangsOwnDeadline) {
  Recorder r;
  // The rule the worker passes (train_job.cpp JoinGang): give up once a deadline has passed.
  const int64_t deadline = r.clock.SteadyMicros() + 10'000'000;  // gang_abandon_after_ms = 10 s
  int asked = 0;
  auto end = WaitForGang([&]() -> Result<bool> { return false; },
                         [&] {
                           ++asked;
                           return r.clock.SteadyMicros() > deadline;
                         },
                         {.spin_micros = 0, .nap_micros = 1000}, r.clock, r.Sleep());
  ASSERT_TRUE(end.ok());
  EXPECT_EQ(*end, GangWaitEnd::kAbandoned);
  // Not before the deadline, and within one nap after it.
  EXPECT_GT(r.clock.SteadyMicros(), deadline);
  EXPECT_LE(r.clock.SteadyMicros(), deadline + 1000);
  EXPECT_EQ(asked, static_cast<int>(r.naps.size()) + 1);
}

TEST(GangWaitTest, AFailedOperationEndsTheWaitWithItsErrorWithoutAskingAbandon) {
  Recorder r;
  bool asked = false;
  auto end = WaitForGang(
      [&]() -> Result<bool> {
        if (++r.polls < 3) return false;
        return Unavailable("ncclAllReduce: remote process exited");
      },
      [&] {
        asked = true;
        return false;
      },
      {}, r.clock, r.Sleep());
  ASSERT_FALSE(end.ok());
  EXPECT_EQ(end.status().code(), StatusCode::kUnavailable);
  EXPECT_NE(end.status().message().find("remote process exited"), std::string::npos);
  EXPECT_EQ(r.polls, 3);
  EXPECT_TRUE(asked);  // between the unfinished polls
}

TEST(GangWaitTest, TheRealClockAndSleepWork) {
  int polls = 0;
  auto end = WaitForGang([&]() -> Result<bool> { return ++polls == 50; }, nullptr,
                         {.spin_micros = 0, .nap_micros = 10});
  ASSERT_TRUE(end.ok());
  EXPECT_EQ(*end, GangWaitEnd::kDone);
}

TEST(CollectiveBackendTest, CpuGangsUseMpiAndCudaGangsNcclWhenBuilt) {
  const torch::Device cpu(torch::kCPU);
  const torch::Device cuda(torch::kCUDA, 1);
  EXPECT_EQ(PickCollectiveBackend(cpu, /*build_has_nccl=*/true), CollectiveBackend::kMpi);
  EXPECT_EQ(PickCollectiveBackend(cpu, false), CollectiveBackend::kMpi);
  EXPECT_EQ(PickCollectiveBackend(cuda, true), CollectiveBackend::kNccl);
  // Without NCCL a CUDA gang still trains, over MPI through host memory.
  EXPECT_EQ(PickCollectiveBackend(cuda, false), CollectiveBackend::kMpi);
}

TEST(CollectiveBackendTest, ACpuGangWithoutMpiIsRefusedSayingSo) {
  // This test process is not an MPI rank: the factory takes the MPI path and says what is missing.
  auto gang = CreateCollective({.world_ranks = {0}, .tag = 1}, torch::kCPU);
  ASSERT_FALSE(gang.ok());
  EXPECT_EQ(gang.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(gang.status().message().find("mpirun"), std::string::npos) << gang.status().ToString();
}

}  // namespace
}  // namespace lf::worker
