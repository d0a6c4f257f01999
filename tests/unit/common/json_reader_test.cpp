#include "common/json_reader.h"

#include <gtest/gtest.h>

namespace lf {
namespace {

Json Doc() {
  return Json::parse(R"({
    "search": {"space": {"lora.r": [1, 2, -1], "train.lr": {"loguniform": [1e-5, 1e-3]}}},
    "name": "ranks", "steps": 8.0, "half": 2.5, "flag": true, "empty": "", "nothing": null
  })");
}

TEST(JsonReaderTest, ErrorsNameTheFullPathOfTheBadValue) {
  Json doc = Doc();
  JsonField root(doc, FieldPath("sweep"));
  auto space = root.Required("search").value().Required("space").value();
  auto ranks = space.Required("lora.r").value().Elements().value();
  ASSERT_EQ(ranks.size(), 3u);
  EXPECT_EQ(*ranks[0].PositiveInt(), 1);
  Result<int64_t> bad = ranks[2].PositiveInt();
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(bad.status().message(),
            "sweep.search.space.lora.r[2]: expected a positive integer, got -1");
  EXPECT_EQ(bad.status().field(), "sweep.search.space.lora.r[2]");
}

TEST(JsonReaderTest, MissingAndWrongTypedFields) {
  Json doc = Doc();
  JsonField root(doc, FieldPath("job"));
  EXPECT_EQ(root.Required("model").status().message(), "job.model: required field is missing");
  EXPECT_EQ(root.Required("name").value().Int().status().message(),
            "job.name: expected an integer, got \"ranks\"");
  EXPECT_EQ(root.Required("flag").value().String().status().message(),
            "job.flag: expected a string, got true");
  EXPECT_EQ(root.Required("search").value().Bool().status().message(),
            "job.search: expected true or false, got an object");
  EXPECT_EQ(root.Required("empty").value().NonEmptyString().status().message(),
            "job.empty: must not be empty");
  EXPECT_EQ(root.IntAt("model", {.min = 1}).status().message(),
            "job.model: required field is missing");
  EXPECT_EQ(*root.StringAt("name"), "ranks");
  EXPECT_FALSE(root.Optional("nothing").has_value());  // null counts as absent
  EXPECT_FALSE(root.Optional("absent").has_value());
}

TEST(JsonReaderTest, IntegersAcceptIntegralFloatsOnlyAndCheckBounds) {
  Json doc = Doc();
  JsonField root(doc, FieldPath("train"));
  EXPECT_EQ(*root.Required("steps").value().PositiveInt(), 8);
  EXPECT_EQ(root.Required("half").value().Int().status().message(),
            "train.half: expected an integer, got 2.5");
  EXPECT_EQ(root.Required("steps").value().Int({.min = 1, .max = 4}).status().message(),
            "train.steps: expected an integer from 1 to 4, got 8.0");
  EXPECT_EQ(*root.IntOr("absent", 17, {.min = 0}), 17);
}

TEST(JsonReaderTest, NumbersWithBounds) {
  Json doc = Json::parse(R"({"lr": -0.1, "dropout": 0.5, "zero": 0})");
  JsonField root(doc, FieldPath("train"));
  EXPECT_EQ(root.Required("lr").value().PositiveNumber().status().message(),
            "train.lr: expected a positive number, got -0.1");
  EXPECT_EQ(*root.Required("dropout").value().Number({.min = 0, .max = 1}), 0.5);
  EXPECT_FALSE(root.Required("zero").value().PositiveNumber().ok());
  EXPECT_DOUBLE_EQ(*root.NumberOr("missing", 3e-4), 3e-4);
}

TEST(JsonReaderTest, UnknownKeysSuggestTheClosestKnownOne) {
  Json doc = Json::parse(R"({"r": 8, "alpah": 16})");
  JsonField lora(doc, FieldPath("job.lora"));
  Status st = lora.CheckKeys({"r", "alpha", "dropout", "target_modules"});
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.message(),
            "job.lora.alpah: unknown key; expected one of: r, alpha, dropout, target_modules "
            "(did you mean 'alpha'?)");
  EXPECT_TRUE(lora.CheckKeys({"r", "alpah"}).ok());
}

TEST(JsonReaderTest, StringListsAndMembersKeepPaths) {
  Json doc = Json::parse(R"({"targets": ["q_proj", 3], "blocks": {"a": 1, "b": 2}})");
  JsonField root(doc, FieldPath());
  EXPECT_EQ(root.Required("targets").value().StringList().status().message(),
            "targets[1]: expected a string, got 3");
  auto members = root.Required("blocks").value().Members().value();
  ASSERT_EQ(members.size(), 2u);
  EXPECT_EQ(members[1].second.path().str(), "blocks.b");
}

TEST(JsonReaderTest, ParseJsonReportsSourceAndOffset) {
  Result<Json> bad = ParseJson("{\"a\": [1, 2,}", "config.json");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("config.json: invalid JSON at byte"), std::string::npos);
  EXPECT_TRUE(ParseJson("[1]", "x").ok());
}

TEST(JsonReaderTest, ParseJsonRefusesHostileInputWithoutThrowing) {
  // A number beyond double's range: nlohmann throws out_of_range, which must not escape.
  Result<Json> huge = ParseJson(R"({"v": 1e999})", "protocol message");
  ASSERT_FALSE(huge.ok());
  EXPECT_EQ(huge.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(huge.status().message().find("protocol message: invalid JSON"), std::string::npos)
      << huge.status().message();
  // Nesting: kMaxJsonDepth levels parse, one more is refused, and a million does not recurse.
  auto nested = [](int levels, char open, char close) {
    return std::string(levels, open) + std::string(levels, close);
  };
  EXPECT_TRUE(ParseJson(nested(kMaxJsonDepth, '[', ']'), "x").ok());
  Result<Json> deep = ParseJson(nested(kMaxJsonDepth + 1, '[', ']'), "body");
  ASSERT_FALSE(deep.ok());
  EXPECT_EQ(deep.status().message(), "body: objects and arrays nested deeper than 128 levels");
  EXPECT_FALSE(ParseJson(std::string(1000000, '['), "body").ok());
  std::string objects;
  for (int i = 0; i < 200; ++i) objects += "{\"a\":";
  objects += "1" + std::string(200, '}');
  EXPECT_FALSE(ParseJson(objects, "body").ok());
}

TEST(JsonReaderTest, ALongNonAsciiValueIsShownCutBeforeACharacter) {
  // Found by fuzzing: the cut at 57 bytes fell inside "Ä" and the error message threw instead.
  Json doc = {{"r", "Übersedizinische Fachtexte, Version 2 (März 2024) — Ärzte und Patienten"}};
  Result<int64_t> r = JsonField(doc, FieldPath("lora")).IntAt("r");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().message(),
            "lora.r: expected an integer, got \"Übersedizinische Fachtexte, Version 2 (März "
            "2024) — ...\"");
  EXPECT_EQ(DescribeJsonValue(std::string(56, 'x') + "ä" + std::string(10, 'x')),
            "\"" + std::string(56, 'x') + "...\"");
  // Bytes that are not UTF-8 (a value built in code) are shown replaced.
  EXPECT_EQ(DescribeJsonValue(std::string("a\xff")), "\"a\xef\xbf\xbd\"");
}

}  // namespace
}  // namespace lf
