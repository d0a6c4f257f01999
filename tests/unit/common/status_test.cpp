#include "common/status.h"

#include <gtest/gtest.h>

#include <memory>

namespace lf {
namespace {

Result<int> Half(int x) {
  if (x % 2 != 0) return InvalidArgument("x=" + std::to_string(x) + " is odd");
  return x / 2;
}

Result<int> Quarter(int x) {
  LF_ASSIGN_OR_RETURN(int h, Half(x));
  LF_ASSIGN_OR_RETURN(int q, Half(h));
  return q;
}

Status CheckEven(int x) {
  LF_RETURN_IF_ERROR(Half(x));
  return Status::Ok();
}

TEST(StatusTest, OkByDefaultAndCarriesCodeAndMessage) {
  Status ok;
  EXPECT_TRUE(ok.ok());
  EXPECT_EQ(ok.ToString(), "OK");
  Status bad = NotFound("no trial with id t1");
  EXPECT_FALSE(bad.ok());
  EXPECT_EQ(bad.code(), StatusCode::kNotFound);
  EXPECT_EQ(bad.message(), "no trial with id t1");
  EXPECT_EQ(bad.ToString(), "NotFound: no trial with id t1");
}

TEST(StatusTest, WithContextPrefixesAndKeepsCode) {
  Status s = DataLoss("checksum mismatch").WithContext("reading adapter a1");
  EXPECT_EQ(s.code(), StatusCode::kDataLoss);
  EXPECT_EQ(s.message(), "reading adapter a1: checksum mismatch");
  EXPECT_TRUE(Status::Ok().WithContext("ignored").ok());
}

TEST(StatusTest, CarriesItsFieldAsDataThroughContext) {
  Status s = InvalidArgument("sweep.lora.r: expected a positive integer, got 0")
                 .WithField("sweep.lora.r");
  EXPECT_EQ(s.field(), "sweep.lora.r");
  EXPECT_EQ(s.message(), "sweep.lora.r: expected a positive integer, got 0");
  Status outer = s.WithContext("submitting sweep.yaml");
  EXPECT_EQ(outer.field(), "sweep.lora.r");
  EXPECT_EQ(outer.code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(NotFound("no such trial").field(), "");
  EXPECT_TRUE(Status::Ok().WithField("x").ok());
}

TEST(StatusTest, MacrosPropagateErrorsAndValues) {
  Result<int> q = Quarter(12);
  ASSERT_TRUE(q.ok());
  EXPECT_EQ(*q, 3);
  Result<int> bad = Quarter(6);  // 6 -> 3, then 3 is odd
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().message(), "x=3 is odd");
  EXPECT_TRUE(CheckEven(4).ok());
  EXPECT_EQ(CheckEven(5).code(), StatusCode::kInvalidArgument);
}

TEST(StatusTest, ResultHoldsMoveOnlyValues) {
  Result<std::unique_ptr<int>> r = std::make_unique<int>(7);
  ASSERT_TRUE(r.ok());
  std::unique_ptr<int> p = std::move(r).value();
  EXPECT_EQ(*p, 7);
  EXPECT_EQ(Result<int>(Internal("x")).value_or(9), 9);
}

TEST(StatusDeathTest, ValueOfFailedResultAbortsWithTheStatus) {
  Result<int> bad = Internal("boom");
  EXPECT_DEATH((void)bad.value(), "boom");
  EXPECT_DEATH(LF_CHECK(1 + 1 == 3), "1 \\+ 1 == 3");
}

}  // namespace
}  // namespace lf
