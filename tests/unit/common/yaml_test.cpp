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

TEST(YamlTest, NumbersAndLookAlikesResolveWithoutRegex) {
  Result<Json> doc = ParseYaml(R"(
a: .5
b: 5.
c: -1.5E+3
d: 0o17
e: 1e5e3
f: "."
g: 1.2.3
h: 0x
i: +7
)", "t.yaml");
  ASSERT_TRUE(doc.ok()) << doc.status().ToString();
  EXPECT_DOUBLE_EQ((*doc)["a"].get<double>(), 0.5);
  EXPECT_DOUBLE_EQ((*doc)["b"].get<double>(), 5.0);
  EXPECT_DOUBLE_EQ((*doc)["c"].get<double>(), -1500.0);
  EXPECT_EQ((*doc)["d"], 15);
  EXPECT_EQ((*doc)["e"], "1e5e3");
  EXPECT_EQ((*doc)["f"], ".");
  EXPECT_EQ((*doc)["g"], "1.2.3");
  EXPECT_EQ((*doc)["h"], "0x");
  EXPECT_EQ((*doc)["i"], 7);
  // A long plain scalar made of digits is resolved without recursing per character.
  Result<Json> digits = ParseYaml("n: " + std::string(500000, '1') + ".5", "t.yaml");
  ASSERT_TRUE(digits.ok()) << digits.status().ToString();
  EXPECT_TRUE((*digits)["n"].is_number());
}

TEST(YamlTest, HostileDocumentsAreRefusedWithinBounds) {
  // Billion laughs: nine levels of ten aliases would copy out 10^9 values.
  std::string laughs = "a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]\n";
  for (int i = 1; i <= 9; ++i) {
    const std::string prev = "*a" + std::to_string(i - 1);
    laughs += "a" + std::to_string(i) + ": &a" + std::to_string(i) + " [";
    for (int k = 0; k < 10; ++k) laughs += (k ? ", " : "") + prev;
    laughs += "]\n";
  }
  Result<Json> bomb = ParseYaml(laughs, "sweep.yaml");
  ASSERT_FALSE(bomb.ok());
  EXPECT_NE(bomb.status().message().find("expands to more than 1000000 values"),
            std::string::npos)
      << bomb.status().message();
  // Deep flow nesting never reaches the recursive parser.
  Result<Json> deep = ParseYaml("a: " + std::string(100000, '[') + std::string(100000, ']'),
                                "sweep.yaml");
  ASSERT_FALSE(deep.ok());
  EXPECT_NE(deep.status().message().find("nested deeper than 64"), std::string::npos);
  // Brackets inside quotes and comments are not nesting.
  EXPECT_TRUE(ParseYaml("a: '" + std::string(100, '[') + "' # " + std::string(100, '{'), "t")
                  .ok());
  // Size and scalar length.
  EXPECT_FALSE(ParseYaml(std::string(kMaxYamlBytes + 1, ' '), "big.yaml").ok());
  Result<Json> long_value = ParseYaml("a: " + std::string(kMaxYamlScalarBytes + 1, 'x'), "t");
  ASSERT_FALSE(long_value.ok());
  EXPECT_NE(long_value.status().message().find("the limit is"), std::string::npos);
}

TEST(YamlTest, AnAnchorThatContainsItsOwnAliasIsRefused) {
  for (const char* text : {"a: &x [1, *x]\n", "a: &x {b: *x}\n"}) {
    // yaml-cpp builds a cycle; copying it out stops at the depth bound instead of recursing on.
    Result<Json> doc = ParseYaml(text, "t.yaml");
    ASSERT_FALSE(doc.ok()) << text;
    EXPECT_EQ(doc.status().code(), StatusCode::kInvalidArgument) << text;
    EXPECT_NE(doc.status().message().find("an alias that refers to its own anchor"),
              std::string::npos)
        << doc.status().message();
  }
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

TEST(YamlTest, InvalidUtf8AndNulAreRefusedWithTheirLineAndColumn) {
  // Found by fuzzing: yaml-cpp passed the bytes through into values (or, in a comment, garbled
  // the text after them), and the tree then threw when written as JSON.
  Result<Json> in_value = ParseYaml("name: ok\nbase:\n  model: caf\xe9\n", "sweep.yaml");
  ASSERT_FALSE(in_value.ok());
  EXPECT_EQ(in_value.status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(in_value.status().message(),
            "sweep.yaml:3:13: not valid UTF-8 (byte 27); save the file as UTF-8");
  Result<Json> in_comment = ParseYaml("# trials: 12\x80\nname: x\n", "s.yaml");
  ASSERT_FALSE(in_comment.ok());
  EXPECT_EQ(in_comment.status().message(),
            "s.yaml:1:13: not valid UTF-8 (byte 12); save the file as UTF-8");
  // A NUL made yaml-cpp read the rest as UTF-16 ("a\0b: 1" gave the key "a㩢㄀").
  Result<Json> nul = ParseYaml(std::string("name: x\nse\0_len: 128\n", 20), "job.yaml");
  ASSERT_FALSE(nul.ok());
  EXPECT_EQ(nul.status().message(),
            "job.yaml:2:3: a NUL byte (byte 10); YAML text cannot contain one");
  // Valid multi-byte text and a byte-order mark still read.
  Result<Json> accents = ParseYaml("\xef\xbb\xbfname: caf\xc3\xa9 \xf0\x9f\x98\x80\n", "t.yaml");
  ASSERT_TRUE(accents.ok()) << accents.status().ToString();
  EXPECT_EQ((*accents)["name"], "caf\xc3\xa9 \xf0\x9f\x98\x80");
}

TEST(YamlTest, AStrayCommaIsRefusedInsteadOfLoopingForever) {
  // Found by fuzzing: yaml-cpp 0.7 reads these as an endless stream of empty documents, allocating
  // until memory runs out.
  for (const auto& [text, where] : std::vector<std::pair<std::string, std::string>>{
           {",", "s.yaml:1:1"}, {"- a\n,\n", "s.yaml:2:1"}, {"'a',", "s.yaml:1:4"}}) {
    Result<Json> doc = ParseYaml(text, "s.yaml");
    ASSERT_FALSE(doc.ok()) << text;
    EXPECT_EQ(doc.status().code(), StatusCode::kInvalidArgument);
    EXPECT_TRUE(doc.status().message().starts_with(where + ": invalid YAML: unexpected ','"))
        << doc.status().message();
  }
  // Commas inside values and flow collections are still fine.
  Result<Json> fine = ParseYaml("a: x, y\nb: [1, 2]\nc: {d: 3, e: 4}\n", "t.yaml");
  ASSERT_TRUE(fine.ok()) << fine.status().ToString();
  EXPECT_EQ((*fine)["a"], "x, y");
}

TEST(YamlTest, NextLineAndNoBreakSpaceEscapesBecomeUtf8) {
  // Found by fuzzing: yaml-cpp writes "\N" and "\_" as the bytes 0x85 and 0xA0, which are not
  // UTF-8, and the value then threw when written as JSON.
  Result<Json> doc = ParseYaml(R"(name: "a\Nb\_c\Ld"
"k\_": 1
)", "t.yaml");
  ASSERT_TRUE(doc.ok()) << doc.status().ToString();
  EXPECT_EQ((*doc)["name"], "a\u0085b\u00a0c\u2028d");
  EXPECT_EQ((*doc)["k\u00a0"], 1);
  EXPECT_NO_THROW((void)doc->dump());
}

TEST(YamlTest, QuotesAndHashesInsideValuesDoNotHideOrInventNesting) {
  // Found by fuzzing: the nesting check took the escaped quote in JSON's "a\"[[[..." for the end
  // of the string and refused a valid document for brackets inside a string.
  const std::string brackets(70, '[');
  Result<Json> escaped = ParseYaml(R"({"a": "x\")" + brackets + R"("})", "t.json");
  ASSERT_TRUE(escaped.ok()) << escaped.status().ToString();
  EXPECT_EQ((*escaped)["a"], "x\"" + brackets);
  // A quote or '#' inside a plain value opens nothing, so nesting after it is still counted.
  for (const std::string prefix : {"a: it\"s\nb: ", "a: x#y\nb: "}) {
    Result<Json> deep = ParseYaml(prefix + std::string(100, '[') + std::string(100, ']'), "t");
    ASSERT_FALSE(deep.ok()) << prefix;
    EXPECT_NE(deep.status().message().find("nested deeper than 64"), std::string::npos)
        << deep.status().message();
  }
}

TEST(YamlTest, ReadYamlFileNamesAMissingFile) {
  Result<Json> r = ReadYamlFile("/nonexistent/sweep.yaml");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("/nonexistent/sweep.yaml"), std::string::npos);
}

}  // namespace
}  // namespace lf
