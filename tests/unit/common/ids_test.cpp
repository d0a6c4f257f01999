#include "common/ids.h"

#include <gtest/gtest.h>

#include <set>
#include <thread>

namespace lf {
namespace {

TEST(IdsTest, SweepIdsAreValidAndEncodeTheirTime) {
  FakeClock clock(1'732'400'000'123);
  IdGenerator gen(clock, 42);
  std::string id = gen.NextSweepId();
  EXPECT_EQ(id.size(), kSweepIdLength);
  EXPECT_TRUE(ValidateSweepId(id).ok());
  Result<int64_t> t = IdTimestampMillis(id);
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(*t, 1'732'400'000'123);
}

TEST(IdsTest, IdsIncreaseStrictlyWithinAndAcrossMilliseconds) {
  FakeClock clock;
  IdGenerator gen(clock, 7);
  std::string prev = gen.NextSweepId();
  for (int i = 0; i < 10000; ++i) {
    if (i % 1000 == 0) clock.AdvanceMillis(1);
    std::string next = gen.NextSweepId();
    ASSERT_LT(prev, next) << "at " << i;
    prev = next;
  }
}

TEST(IdsTest, ClockSteppingBackwardsKeepsOrder) {
  FakeClock clock(2'000'000'000'000);
  IdGenerator gen(clock, 1);
  std::string a = gen.NextSweepId();
  clock.AdvanceMillis(-5000);
  std::string b = gen.NextSweepId();
  EXPECT_LT(a, b);
}

TEST(IdsTest, ConcurrentGenerationGivesUniqueIds) {
  IdGenerator gen;
  std::vector<std::vector<std::string>> per_thread(4);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 5000; ++i) per_thread[t].push_back(gen.NextSweepId());
    });
  }
  for (auto& th : threads) th.join();
  std::set<std::string> all;
  for (auto& v : per_thread) all.insert(v.begin(), v.end());
  EXPECT_EQ(all.size(), 20000u);
}

TEST(IdsTest, TrialIdsSortBySweepThenIndexAndParseBack) {
  FakeClock clock;
  IdGenerator gen(clock, 3);
  std::string sweep = gen.NextSweepId();
  EXPECT_LT(MakeTrialId(sweep, 9), MakeTrialId(sweep, 10));
  std::string id = MakeTrialId(sweep, 123);
  EXPECT_EQ(id, sweep + "-000123");
  Result<TrialIdParts> parts = ParseTrialId(id);
  ASSERT_TRUE(parts.ok());
  EXPECT_EQ(parts->sweep_id, sweep);
  EXPECT_EQ(parts->index, 123u);
}

TEST(IdsTest, MalformedIdsAreRejectedWithTheReason) {
  EXPECT_NE(ValidateSweepId("short").message().find("26 characters"), std::string::npos);
  std::string bad(26, '0');
  bad[5] = 'u';
  EXPECT_NE(ValidateSweepId(bad).message().find("'u' at position 5"), std::string::npos);
  EXPECT_FALSE(ParseTrialId(std::string(26, '0') + "-00012x").ok());
  EXPECT_FALSE(ParseTrialId(std::string(26, '0') + "_000123").ok());
}

}  // namespace
}  // namespace lf
