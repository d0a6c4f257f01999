#include "cli/commands/plot.h"

#include <gtest/gtest.h>

namespace lf::cli {
namespace {

Json Row(double r, double lr, Json loss, const std::string& state = "completed") {
  return {{"trial_id", "t"}, {"state", state}, {"method", "lora"},
          {"params", {{"lora.r", r}, {"train.lr", lr}}}, {"eval_loss", loss}};
}

size_t Count(const std::string& text, const std::string& what) {
  size_t n = 0;
  for (size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
  return n;
}

TEST(PlotTest, EvalLossAgainstTheFirstNumericKeyOneLinePerOtherCombination) {
  Json rows = Json::array();
  for (double r : {1, 4, 16}) {
    rows.push_back(Row(r, 5e-4, 2.0 - r / 20));
    rows.push_back(Row(r, 2e-3, 1.5 - r / 20));
  }
  rows.push_back(Row(8, 2e-3, nullptr, "running"));  // not drawn
  Result<std::string> svg = ComparePlotSvg(rows, {.title = "ranks"});
  ASSERT_TRUE(svg.ok()) << svg.status().ToString();
  EXPECT_EQ(svg->rfind("<svg xmlns=\"http://www.w3.org/2000/svg\"", 0), 0u);
  EXPECT_NE(svg->find("</svg>"), std::string::npos);
  EXPECT_EQ(Count(*svg, "<polyline class=\"series\""), 2u);
  EXPECT_EQ(Count(*svg, "<circle"), 6u);
  EXPECT_NE(svg->find("lora.r (log scale)"), std::string::npos);  // 1..16 spans > 10x
  EXPECT_NE(svg->find("train.lr=0.0005"), std::string::npos);
  EXPECT_NE(svg->find("train.lr=0.002"), std::string::npos);
  EXPECT_NE(svg->find(">ranks<"), std::string::npos);

  // The other key on the x axis: one line per rank.
  Result<std::string> by_lr = ComparePlotSvg(rows, {.x = "train.lr"});
  ASSERT_TRUE(by_lr.ok());
  EXPECT_EQ(Count(*by_lr, "<polyline class=\"series\""), 3u);
  EXPECT_EQ(by_lr->find("train.lr (log scale)"), std::string::npos);  // 5e-4..2e-3: linear
}

TEST(PlotTest, EachLineRunsInXOrderAndIsNamedByTheMethodWhenXIsTheOnlySweptKey) {
  Json rows = Json::array();
  for (double r : {16, 1, 4}) {
    rows.push_back({{"state", "completed"}, {"method", "dora"}, {"params", {{"lora.r", r}}},
                    {"eval_loss", 1.0 + r / 100}});
  }
  Result<std::string> svg = ComparePlotSvg(rows, {});
  ASSERT_TRUE(svg.ok()) << svg.status().ToString();
  EXPECT_EQ(Count(*svg, "<polyline class=\"series\""), 1u);
  EXPECT_NE(svg->find(">dora</text>"), std::string::npos);  // the legend
  const size_t r1 = svg->find("<title>lora.r=1, dora: 1.01</title>");
  const size_t r4 = svg->find("<title>lora.r=4, dora: 1.04</title>");
  const size_t r16 = svg->find("<title>lora.r=16, dora: 1.16</title>");
  ASSERT_NE(r16, std::string::npos);
  EXPECT_LT(r1, r4);
  EXPECT_LT(r4, r16);
}

TEST(PlotTest, SaysWhatIsMissing) {
  Json pending = Json::array({Row(1, 1e-3, nullptr, "queued")});
  Result<std::string> none = ComparePlotSvg(pending, {});
  ASSERT_FALSE(none.ok());
  EXPECT_NE(none.status().message().find("no trial with an adapter has an eval loss"),
            std::string::npos);
  Json rows = Json::array({Row(1, 1e-3, 2.0), Row(2, 1e-3, 1.9)});
  Result<std::string> unknown = ComparePlotSvg(rows, {.x = "lora.alpha"});
  ASSERT_FALSE(unknown.ok());
  EXPECT_NE(unknown.status().message().find("'lora.alpha' is not a swept key of this sweep "
                                            "(swept: lora.r, train.lr)"),
            std::string::npos)
      << unknown.status().message();
  Json lists = Json::array(
      {{{"state", "completed"}, {"eval_loss", 2.0}, {"params", {{"lora.target_modules", {"a"}}}}},
       {{"state", "completed"}, {"eval_loss", 1.0}, {"params", {{"lora.target_modules", {"b"}}}}}});
  EXPECT_NE(ComparePlotSvg(lists, {}).status().message().find("no swept key has several numeric"),
            std::string::npos);
}

}  // namespace
}  // namespace lf::cli
