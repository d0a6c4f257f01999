#include "worker/data/jsonl_reader.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <optional>
#include <string>
#include <vector>

#include "common/sha256.h"

namespace lf::worker {
namespace {

// One id per byte and EOS = 256: enough to check masking and layout without the real tokenizers.
class ByteTestTokenizer : public Tokenizer {
 public:
  explicit ByteTestTokenizer(std::optional<int32_t> eos = 256) : eos_(eos) {}
  std::vector<int32_t> Encode(std::string_view text) const override {
    std::vector<int32_t> ids;
    for (char c : text) ids.push_back(static_cast<uint8_t>(c));
    return ids;
  }
  std::string Decode(std::span<const int32_t> ids) const override {
    std::string text;
    for (int32_t id : ids) text += id < 256 ? static_cast<char>(id) : '#';
    return text;
  }
  int32_t vocab_size() const override { return 257; }
  std::optional<int32_t> eos_id() const override { return eos_; }
  std::optional<int32_t> TokenToId(std::string_view) const override { return std::nullopt; }
  Encoding EncodeWithOffsets(std::string_view text) const override {
    Encoding e{.ids = Encode(text), .offsets = {}};
    for (uint32_t i = 0; i < text.size(); ++i) e.offsets.push_back({i, i + 1});
    return e;
  }
  std::vector<int32_t> AddSpecialTokens(std::span<const int32_t> ids) const override {
    return {ids.begin(), ids.end()};
  }
  std::optional<int32_t> bos_id() const override { return std::nullopt; }
  std::optional<int32_t> pad_id() const override { return std::nullopt; }
  const TokenizerConfig& config() const override { return config_; }

 private:
  std::optional<int32_t> eos_;
  TokenizerConfig config_;
};

constexpr int32_t kEos = 256;

std::string WriteTemp(const std::string& name, const std::string& content) {
  std::string path = (std::filesystem::path(::testing::TempDir()) / ("lf_data_" + name)).string();
  std::ofstream(path, std::ios::binary) << content;
  return path;
}

TEST(DataExampleTest, TextTrainsOnEveryTokenAndEndsWithEos) {
  Example e = TextExample(ByteTestTokenizer(), "hi", kEos);
  EXPECT_EQ(e.ids, (std::vector<int32_t>{'h', 'i', kEos}));
  EXPECT_EQ(e.loss, (std::vector<uint8_t>{1, 1, 1}));
}

TEST(DataExampleTest, PromptTokensAreMasked) {
  Example e = PromptCompletionExample(ByteTestTokenizer(), "Q:", " A", kEos);
  EXPECT_EQ(e.ids, (std::vector<int32_t>{'Q', ':', ' ', 'A', kEos}));
  EXPECT_EQ(e.loss, (std::vector<uint8_t>{0, 0, 1, 1, 1}));
}

TEST(DataExampleTest, EmptyCompletionTrainsOnlyTheEos) {
  Example e = PromptCompletionExample(ByteTestTokenizer(), "ab", "", kEos);
  EXPECT_EQ(e.ids, (std::vector<int32_t>{'a', 'b', kEos}));
  EXPECT_EQ(e.loss, (std::vector<uint8_t>{0, 0, 1}));
  DataStats stats = CountTokens(std::vector<Example>{e, e});
  EXPECT_EQ(stats.examples, 2);
  EXPECT_EQ(stats.tokens, 6);
  EXPECT_EQ(stats.loss_tokens, 2);
}

TEST(JsonlReaderTest, ReadsBothKindsSkipsBlankLinesAndHashesTheFile) {
  // A BOM, CRLF endings, a blank line, mixed kinds, UTF-8 text and no final newline.
  std::string path = WriteTemp("good.jsonl",
                               "\xEF\xBB\xBF{\"text\": \"h\\u00e9\"}\r\n"
                               "\n  \t\n"
                               "{\"completion\": \"b\", \"prompt\": \"a\"}\n"
                               "{\"text\": \"\xF0\x9F\x98\x80\"}");
  DataFileInfo info;
  auto examples = LoadJsonlExamples(path, ByteTestTokenizer(), &info);
  ASSERT_TRUE(examples.ok()) << examples.status().ToString();
  ASSERT_EQ(examples->size(), 3u);
  EXPECT_EQ((*examples)[0].ids, (std::vector<int32_t>{'h', 0xC3, 0xA9, kEos}));
  EXPECT_EQ((*examples)[1].ids, (std::vector<int32_t>{'a', 'b', kEos}));
  EXPECT_EQ((*examples)[1].loss, (std::vector<uint8_t>{0, 1, 1}));
  EXPECT_EQ((*examples)[2].ids, (std::vector<int32_t>{0xF0, 0x9F, 0x98, 0x80, kEos}));
  EXPECT_EQ(info.path, path);
  EXPECT_EQ(info.sha256, Sha256FileHex(path).value());
  EXPECT_EQ(info.stats.examples, 3);
  EXPECT_EQ(info.stats.tokens, 12);
  EXPECT_EQ(info.stats.loss_tokens, 11);
  EXPECT_EQ(info.skipped_empty, 0);
}

TEST(JsonlReaderTest, LinesLongerThanTheReadChunkAndAcrossChunkEdges) {
  // The reader works in 1 MiB chunks: a 1.5 MiB line and lines straddling the edges.
  std::string big(3 << 19, 'x'), mid(700000, 'y');
  std::string content = "{\"text\": \"" + big + "\"}\n";
  for (int i = 0; i < 3; ++i) content += "{\"text\": \"" + mid + "\"}\n";
  std::string path = WriteTemp("long.jsonl", content);
  DataFileInfo info;
  auto examples = LoadJsonlExamples(path, ByteTestTokenizer(), &info);
  ASSERT_TRUE(examples.ok()) << examples.status().ToString();
  ASSERT_EQ(examples->size(), 4u);
  EXPECT_EQ((*examples)[0].ids.size(), big.size() + 1);
  for (int i = 1; i < 4; ++i) EXPECT_EQ((*examples)[i].ids.size(), mid.size() + 1);
  EXPECT_EQ(info.sha256, Sha256Hex(content));
}

TEST(JsonlReaderTest, EmptyExamplesAreSkippedAndCounted) {
  DataFileInfo info;
  auto examples = LoadJsonlExamples(WriteTemp("empties.jsonl",
                                              "{\"text\": \"\"}\n{\"text\": \"a\"}\n"
                                              "{\"prompt\": \"\", \"completion\": \"\"}\n"),
                                    ByteTestTokenizer(), &info);
  ASSERT_TRUE(examples.ok()) << examples.status().ToString();
  EXPECT_EQ(examples->size(), 1u);
  EXPECT_EQ(info.skipped_empty, 2);
}

struct BadFile {
  std::string name;
  std::string content;
  std::string reason;  // expected in the message after "<path>:<line>: ", or after "<path>: "
  int line = 3;        // 0: the whole file is wrong
};

TEST(JsonlReaderTest, MalformedLinesNameFileLineAndReason) {
  const std::string good = "{\"text\": \"ok\"}\n\n";  // lines 1 and 2; the bad line is 3
  const std::vector<BadFile> corpus = {
      {"truncated", good + "{\"text\": \"a\"", "invalid JSON at column 13: syntax error"},
      {"not_json", good + "text: a", "invalid JSON at column 2: syntax error"},
      {"two_values", good + "{\"text\": \"a\"} {\"text\": \"b\"}",
       "invalid JSON at column 15: syntax error"},
      {"list", good + "[1, 2]", R"(expected {"text": "..."}, {"prompt")"},
      {"string", good + "\"hello\"", "got \"hello\""},
      {"number_text", good + "{\"text\": 5}", "text: expected a string, got 5"},
      {"null_text", good + "{\"text\": null}", "text: expected a string, got null"},
      {"list_prompt", good + "{\"prompt\": [\"a\"], \"completion\": \"b\"}",
       "prompt: expected a string, got a list"},
      {"no_completion", good + "{\"prompt\": \"a\"}", "completion: required field is missing"},
      {"no_prompt", good + "{\"completion\": \"a\"}", "prompt: required field is missing"},
      {"extra_field", good + "{\"prompt\": \"a\", \"completion\": \"b\", \"id\": 1}",
       "id: unknown key; expected one of: prompt, completion"},
      {"extra_text_field", good + "{\"text\": \"a\", \"source\": \"web\"}",
       "source: unknown key; expected one of: text"},
      {"both_kinds", good + "{\"text\": \"a\", \"prompt\": \"b\"}",
       R"(got both "text" and "prompt"/"completion" on one line)"},
      {"typo", good + "{\"txt\": \"a\"}",
       "txt: unknown key; expected one of: text, prompt, "
       "completion, messages (did you mean 'text'?)"},
      {"empty_object", good + "{}", "got an empty object"},
      {"latin1", good + "{\"text\": \"caf\xE9\"}", "invalid UTF-8 at column 14 (byte 0xE9)"},
      {"overlong", good + "{\"text\": \"\xC0\xAF\"}", "invalid UTF-8 at column 11 (byte 0xC0)"},
      {"cut_sequence", good + "{\"text\": \"\xE2\x82\"}", "invalid UTF-8 at column 11 (byte 0xE2)"},
      {"raw_surrogate", good + "{\"text\": \"\xED\xA0\x80\"}", "invalid UTF-8 at column 11"},
      {"escaped_lone_surrogate", good + "{\"text\": \"\\ud800\"}", "invalid JSON at column"},
      {"empty_file", "", "no training examples: the file is empty", 0},
      {"blank_file", "\n \n\r\n", "no training examples: every line is blank", 0},
      {"only_empty", "{\"text\": \"\"}\n", "no training examples: every example is empty", 0},
  };
  for (const BadFile& bad : corpus) {
    std::string path = WriteTemp("bad_" + bad.name + ".jsonl", bad.content);
    auto examples = LoadJsonlExamples(path, ByteTestTokenizer());
    ASSERT_FALSE(examples.ok()) << bad.name;
    EXPECT_EQ(examples.status().code(), StatusCode::kInvalidArgument) << bad.name;
    std::string where = bad.line ? path + ":" + std::to_string(bad.line) + ": " : path + ": ";
    const std::string& message = examples.status().message();
    EXPECT_EQ(message.rfind(where, 0), 0u) << bad.name << ": " << message;
    EXPECT_NE(message.find(bad.reason), std::string::npos) << bad.name << ": " << message;
  }
}

TEST(JsonlReaderTest, MissingFileDirectoryAndTokenizerWithoutEos) {
  auto missing = LoadJsonlExamples(WriteTemp("x", "") + "_missing.jsonl", ByteTestTokenizer());
  EXPECT_EQ(missing.status().code(), StatusCode::kNotFound) << missing.status().ToString();
  EXPECT_NE(missing.status().message().find("_missing.jsonl"), std::string::npos);

  auto directory = LoadJsonlExamples(::testing::TempDir(), ByteTestTokenizer());
  EXPECT_EQ(directory.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(directory.status().message().find("is a directory"), std::string::npos);

  auto no_eos = LoadJsonlExamples(WriteTemp("eos.jsonl", "{\"text\": \"a\"}\n"),
                                  ByteTestTokenizer(std::nullopt));
  ASSERT_FALSE(no_eos.ok());
  EXPECT_NE(no_eos.status().message().find("no end-of-text token"), std::string::npos);
}

}  // namespace
}  // namespace lf::worker
