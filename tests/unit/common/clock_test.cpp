#include "common/clock.h"

#include <gtest/gtest.h>

namespace lf {
namespace {

TEST(ClockTest, SystemClockIsNearNowAndSteadyNeverGoesBack) {
  const Clock& c = SystemClock();
  EXPECT_GT(c.NowMillis(), 1'700'000'000'000);  // after Nov 2023
  int64_t a = c.SteadyMicros();
  int64_t b = c.SteadyMicros();
  EXPECT_LE(a, b);
}

TEST(ClockTest, FakeClockMovesOnlyWhenTold) {
  FakeClock c(1000);
  EXPECT_EQ(c.NowMillis(), 1000);
  EXPECT_EQ(c.SteadyMicros(), 0);
  c.AdvanceMillis(250);
  EXPECT_EQ(c.NowMillis(), 1250);
  EXPECT_EQ(c.SteadyMicros(), 250'000);
  c.SetMillis(5000);
  EXPECT_EQ(c.NowMillis(), 5000);
}

TEST(ClockTest, FormatsUtcWithMilliseconds) {
  EXPECT_EQ(FormatUtcMillis(0), "1970-01-01T00:00:00.000Z");
  EXPECT_EQ(FormatUtcMillis(1'795'496'116'129), "2026-11-24T04:55:16.129Z");
}

}  // namespace
TEST(FormatDurationTest, MinutesAndHours) {
  EXPECT_EQ(FormatDuration(9), "0:09");
  EXPECT_EQ(FormatDuration(247), "4:07");
  EXPECT_EQ(FormatDuration(3903), "1:05:03");
  EXPECT_EQ(FormatDuration(-1), "-");
  EXPECT_EQ(FormatDuration(1e9), "-");
}

}  // namespace lf
