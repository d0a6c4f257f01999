#include "cli/commands/table.h"

#include <gtest/gtest.h>

namespace lf::cli {
namespace {

TEST(TableTest, TextFitsColumnsAndAlignsNumbersRight) {
  Table t({{"trial"}, {"loss", Align::kRight}, {"note"}});
  t.AddRow({"a", "2.5", "x"});
  t.AddRow({"longer-id", "10.25", ""});
  EXPECT_EQ(t.RenderText(),
            "trial       loss  note\n"
            "a            2.5  x\n"
            "longer-id  10.25\n");  // no trailing spaces after an empty last cell
}

TEST(TableTest, WidthCountsCodePointsNotBytes) {
  Table t({{"name"}, {"n", Align::kRight}});
  t.AddRow({"héllo", "1"});
  t.AddRow({"ab", "22"});
  EXPECT_EQ(t.RenderText(),
            "name    n\n"
            "héllo   1\n"
            "ab     22\n");
}

TEST(TableTest, HeaderOnlyWhenEmpty) {
  Table t({{"a"}, {"b"}});
  EXPECT_EQ(t.RenderText(), "a  b\n");
  EXPECT_EQ(t.rows(), 0u);
}

TEST(TableTest, CsvQuotesOnlyWhenNeeded) {
  Table t({{"key"}, {"value"}});
  t.AddRow({"plain", "1.5"});
  t.AddRow({"a,b", "say \"hi\""});
  t.AddRow({"line\nbreak", ""});
  EXPECT_EQ(t.RenderCsv(),
            "key,value\n"
            "plain,1.5\n"
            "\"a,b\",\"say \"\"hi\"\"\"\n"
            "\"line\nbreak\",\n");
}

TEST(TableTest, MarkdownEscapesPipesAndMarksAlignment) {
  Table t({{"name"}, {"loss", Align::kRight}});
  t.AddRow({"a|b", "1.0"});
  t.AddRow({"two\nlines", "back\\slash"});
  EXPECT_EQ(t.RenderMarkdown(),
            "| name | loss |\n"
            "| --- | ---: |\n"
            "| a\\|b | 1.0 |\n"
            "| two lines | back\\\\slash |\n");
}

TEST(TableDeathTest, RowOfTheWrongWidthIsABug) {
  Table t({{"a"}, {"b"}});
  EXPECT_DEATH(t.AddRow({"only one"}), "1 cells for 2 columns");
}

TEST(FormatTest, Numbers) {
  EXPECT_EQ(FormatFixed(Json(2.13456), 4), "2.1346");
  EXPECT_EQ(FormatFixed(Json(3), 2), "3.00");
  EXPECT_EQ(FormatFixed(Json(nullptr), 2), "-");
  EXPECT_EQ(FormatFixed(Json("text"), 2), "-");
  EXPECT_EQ(FormatFixed(Json(), 2), "-");
  EXPECT_EQ(FormatInt(Json(42)), "42");
  EXPECT_EQ(FormatInt(Json(41.6)), "42");
  EXPECT_EQ(FormatInt(Json(nullptr)), "-");
  EXPECT_EQ(FormatMb(Json(1234567)), "1.23");
  EXPECT_EQ(FormatMb(Json(nullptr)), "-");
  EXPECT_EQ(FormatMb(Json(1500)), "0.0015");
  EXPECT_EQ(FormatMb(Json(0)), "0.00");
  EXPECT_EQ(FormatBytes(512), "512 B");
  EXPECT_EQ(FormatBytes(3400), "3.4 KB");
  EXPECT_EQ(FormatBytes(12e6), "12.0 MB");
  EXPECT_EQ(FormatBytes(7.5e9), "7.5 GB");
}

TEST(FormatTest, Durations) {
  EXPECT_EQ(FormatLocalTime(0), "-");
  EXPECT_EQ(FormatLocalTime(1'700'000'000'000).size(), 19u);  // "YYYY-MM-DD HH:MM:SS"
}

TEST(FormatTest, ParamsAndValues) {
  const Json params = Json::parse(
      R"({"lora.r": 4, "train.lr": 0.002, "lora.target_modules": ["c_attn"], "method": "lora"})");
  EXPECT_EQ(FormatParams(params),
            "lora.r=4 lora.target_modules=[\"c_attn\"] method=lora train.lr=0.002");
  EXPECT_EQ(FormatParams(Json()), "");
  EXPECT_EQ(FormatValue(Json(true)), "true");
}

TEST(FormatTest, TruncateKeepsWholeCodePoints) {
  EXPECT_EQ(Truncate("short", 10), "short");
  EXPECT_EQ(Truncate("abcdefgh", 5), "abcd…");
  EXPECT_EQ(Truncate("ééééé", 3), "éé…");
  EXPECT_EQ(DisplayWidth("éé…"), 3u);
}

TEST(FormatTest, MembersOfAnythingAreSafe) {
  const Json obj = {{"a", "x"}, {"n", 2.5}};
  EXPECT_EQ(StringMember(obj, "a"), "x");
  EXPECT_EQ(StringMember(obj, "n", "fallback"), "fallback");
  EXPECT_EQ(NumberMember(obj, "n"), 2.5);
  EXPECT_EQ(NumberMember(Json::array(), "n", 7), 7);
  EXPECT_TRUE(Member(Json("str"), "a").is_null());
}

}  // namespace
}  // namespace lf::cli
