#include "common/yaml.h"

#include <gtest/gtest.h>

#include <cmath>

namespace lf {
namespace {

TEST(YamlTest, ScalarsFollowTheCoreSchema) {
  Result<Json> doc = ParseYaml(R"(
int: 16
neg: -3
hex: 0x1f
float: 2.5e-4
exp: 1e-5
bool: true
off: no
null_value: ~
quoted_int: "16"
single: '1e-5'
text: q_proj
inf: .inf
)", "t.yaml");
  ASSERT_TRUE(doc.ok()) << doc.status().ToString();
  const Json& j = *doc;
  EXPECT_TRUE(j["int"].is_number_integer());
  EXPECT_EQ(j["int"], 16);
  EXPECT_EQ(j["neg"], -3);
  EXPECT_EQ(j["hex"], 31);
  EXPECT_DOUBLE_EQ(j["float"].get<double>(), 2.5e-4);
  EXPECT_DOUBLE_EQ(j["exp"].get<double>(), 1e-5);  // a string in YAML 1.1 parsers; a number here
  EXPECT_EQ(j["bool"], true);
  EXPECT_EQ(j["off"], "no");  // YAML 1.2: yes/no/on/off are strings
  EXPECT_TRUE(j["null_value"].is_null());
  EXPECT_EQ(j["quoted_int"], "16");
  EXPECT_EQ(j["single"], "1e-5");
  EXPECT_EQ(j["text"], "q_proj");
  EXPECT_TRUE(std::isinf(j["inf"].get<double>()));
}

TEST(YamlTest, NestedDocumentsWorkWithTheFieldReader) {
  Result<Json> doc = ParseYaml(R"(
search:
  space:
    lora.r: [1, 2, -1]
)", "sweep.yaml");
  ASSERT_TRUE(doc.ok());
  JsonField root(*doc, FieldPath("sweep"));
  auto r = root.Required("search")->Required("space")->Required("lora.r")->Elements().value();
  EXPECT_EQ(r[2].PositiveInt().status().message(),
            "sweep.search.space.lora.r[2]: expected a positive integer, got -1");
}

TEST(YamlTest, SyntaxErrorsNameFileLineAndColumn) {
  Result<Json> bad = ParseYaml("a: 1\nb: [1, 2\nc: 3\n", "bad.yaml");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(bad.status().message().find("bad.yaml:"), std::string::npos);
  EXPECT_NE(bad.status().message().find("invalid YAML"), std::string::npos);
}

TEST(YamlTest, DuplicateKeysAndSeveralDocumentsAreRejected) {
  Result<Json> dup = ParseYaml("lora:\n  r: 4\n  r: 8\n", "dup.yaml");
  ASSERT_FALSE(dup.ok());
  EXPECT_NE(dup.status().message().find("dup.yaml:3:3: duplicate key 'r'"), std::string::npos)
      << dup.status().message();
  EXPECT_FALSE(ParseYaml("a: 1\n---\nb: 2\n", "two.yaml").ok());
  Result<Json> empty = ParseYaml("", "empty.yaml");
  ASSERT_TRUE(empty.ok());
  EXPECT_TRUE(empty->is_null());
}

TEST(YamlTest, ReadYamlFileNamesAMissingFile) {
  Result<Json> r = ReadYamlFile("/nonexistent/sweep.yaml");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("/nonexistent/sweep.yaml"), std::string::npos);
}

}  // namespace
}  // namespace lf
