// What the pipeline refuses (each error names the stage and field), tokenizer_config.json's
// forms and errors, and behaviour the HF fixtures cannot show (offsets of the byte tokenizer,
// the Strip decoder's stop, TemplateProcessing's EOS).
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>

#include "common/file_util.h"
#include "worker/tokenizer/tokenizer.h"

namespace lf::worker {
namespace {

using ::testing::HasSubstr;
using Ids = std::vector<int32_t>;

std::string FreshDir(const std::string& name) {
  auto dir = std::filesystem::path(::testing::TempDir()) / ("lf_tokenizer_stages_" + name);
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  return dir.string();
}

void Write(const std::string& dir, const std::string& file, const std::string& contents) {
  LF_CHECK_OK(WriteFileAtomically(dir + "/" + file, contents));
}

// A character-level vocabulary ("▁" words) with byte fallback for everything else.
std::string Model() {
  std::string vocab = R"("<unk>": 0, "<s>": 1, "</s>": 2)";
  int id = 3;
  for (int b = 0; b < 256; ++b) {
    char name[16];
    std::snprintf(name, sizeof(name), R"(, "<0x%02X>": %d)", b, id++);
    vocab += name;
  }
  for (const char* t : {"\u2581", "h", "i", "\u2581h", "\u2581hi", "e"}) {
    vocab += std::string(R"(, ")") + t + R"(": )" + std::to_string(id++);
  }
  return R"({"type": "BPE", "unk_token": "<unk>", "fuse_unk": true, "byte_fallback": true,
    "vocab": {)" +
         vocab + R"(}, "merges": [["\u2581", "h"], ["\u2581h", "i"]]})";
}

// A tokenizer.json with the given stages (JSON members, without the braces).
std::string Doc(const std::string& stages) {
  return R"({"added_tokens": [{"id": 1, "content": "<s>", "special": true},
    {"id": 2, "content": "</s>", "special": true}], )" +
         stages + R"(, "model": )" + Model() + "}";
}

Result<std::unique_ptr<Tokenizer>> Load(const std::string& name, const std::string& stages,
                                        const std::string& config = "") {
  const std::string dir = FreshDir(name);
  Write(dir, "tokenizer.json", Doc(stages));
  if (!config.empty()) Write(dir, "tokenizer_config.json", config);
  return LoadTokenizer(dir);
}

std::string Error(const std::string& name, const std::string& stages,
                  const std::string& config = "") {
  auto t = Load(name, stages, config);
  EXPECT_FALSE(t.ok()) << stages;
  return t.ok() ? "" : t.status().message();
}

TEST(TokenizerStagesTest, RefusedStagesNameTheirField) {
  EXPECT_THAT(Error("bert_norm", R"("normalizer": {"type": "BertNormalizer"})"),
              HasSubstr("tokenizer.json: normalizer.type: normalizer \"BertNormalizer\" is not "
                        "supported; supported: NFC"));
  EXPECT_THAT(Error("precompiled", R"("normalizer": {"type": "Sequence", "normalizers": [
                   {"type": "Precompiled", "precompiled_charsmap": ""}]})"),
              HasSubstr("normalizer.normalizers[0].type: normalizer \"Precompiled\""));
  EXPECT_THAT(Error("bert_pre", R"("pre_tokenizer": {"type": "Sequence", "pretokenizers": [
                   {"type": "Digits"}, {"type": "BertPreTokenizer"}]})"),
              HasSubstr("pre_tokenizer.pretokenizers[1].type: pre-tokenizer "
                        "\"BertPreTokenizer\" is not supported; supported: Split, Digits"));
  EXPECT_THAT(Error("byte_level_first", R"("pre_tokenizer": {"type": "Sequence",
                   "pretokenizers": [{"type": "ByteLevel"}, {"type": "Digits"}]})"),
              HasSubstr("pre_tokenizer.pretokenizers[0].type: a ByteLevel pre-tokenizer that is "
                        "not the last step is not supported"));
  EXPECT_THAT(Error("behavior", R"("pre_tokenizer": {"type": "Split",
                   "pattern": {"String": "-"}, "behavior": "Merged"})"),
              HasSubstr("pre_tokenizer.behavior: unknown split behavior \"Merged\"; expected one "
                        "of Removed, Isolated"));
  EXPECT_THAT(Error("bad_regex", R"("pre_tokenizer": {"type": "Split",
                   "pattern": {"Regex": "(a"}, "behavior": "Isolated"})"),
              HasSubstr("pre_tokenizer.pattern.Regex: invalid regex"));
  EXPECT_THAT(Error("pattern", R"("pre_tokenizer": {"type": "Split",
                   "pattern": {"Glob": "*"}, "behavior": "Isolated"})"),
              HasSubstr("pre_tokenizer.pattern: expected {\"String\": ...} or {\"Regex\": ...}"));
  EXPECT_THAT(Error("scheme", R"("pre_tokenizer": {"type": "Metaspace",
                   "prepend_scheme": "sometimes"})"),
              HasSubstr("pre_tokenizer.prepend_scheme: expected \"always\", \"first\" or "
                        "\"never\""));
  EXPECT_THAT(Error("roberta", R"("post_processor": {"type": "RobertaProcessing"})"),
              HasSubstr("post_processor.type: post-processor \"RobertaProcessing\" is not "
                        "supported; supported: TemplateProcessing, ByteLevel, Sequence"));
  EXPECT_THAT(Error("template_b", R"("post_processor": {"type": "TemplateProcessing",
                   "single": [{"Sequence": {"id": "B", "type_id": 0}}], "special_tokens": {}})"),
              HasSubstr("post_processor.single[0].Sequence: a single-sequence template must "
                        "hold sequence A once"));
  EXPECT_THAT(Error("template_special", R"("post_processor": {"type": "TemplateProcessing",
                   "single": [{"SpecialToken": {"id": "<bos>", "type_id": 0}},
                              {"Sequence": {"id": "A", "type_id": 0}}], "special_tokens": {}})"),
              HasSubstr("post_processor.single[0].SpecialToken: special token \"<bos>\" is not "
                        "in special_tokens"));
  EXPECT_THAT(Error("wordpiece", R"("decoder": {"type": "Sequence", "decoders": [
                   {"type": "Fuse"}, {"type": "WordPiece"}]})"),
              HasSubstr("decoder.decoders[1].type: decoder \"WordPiece\" is not supported; "
                        "supported: ByteLevel, Metaspace"));
  EXPECT_THAT(Error("chat_template", R"("normalizer": null)", R"({"chat_template": 3})"),
              HasSubstr("tokenizer_config.json.chat_template: expected a template string or a "
                        "list"));
  EXPECT_THAT(Error("bos_token", R"("normalizer": null)", R"({"bos_token": [1]})"),
              HasSubstr("tokenizer_config.json.bos_token: expected a token string or "
                        "{\"content\": ...}"));
  // The model's own refusals keep working.
  const std::string dropout_dir = FreshDir("dropout");
  Write(dropout_dir, "tokenizer.json",
        R"({"model": {"type": "BPE", "dropout": 0.1, "vocab": {}, "merges": []}})");
  auto dropout = LoadTokenizer(dropout_dir);
  ASSERT_FALSE(dropout.ok());
  EXPECT_THAT(dropout.status().message(), HasSubstr("model.dropout: BPE dropout"));
}

TEST(TokenizerStagesTest, PostProcessorIdsMustBeTokens) {
  // Found by fuzzing: a TemplateProcessing id past the vocabulary (and every added token) loaded,
  // and AddSpecialTokens then put an id the model has no embedding row for before every text.
  EXPECT_THAT(Error("template_id", R"("post_processor": {"type": "TemplateProcessing",
                   "single": [{"SpecialToken": {"id": "<bos>", "type_id": 0}},
                              {"Sequence": {"id": "A", "type_id": 0}}],
                   "special_tokens": {"<bos>": {"id": "<bos>", "ids": [300], "tokens": ["<bos>"]}}})"),
              HasSubstr("tokenizer.json: post_processor: special token id 300 is neither in "
                        "model.vocab nor in added_tokens (the largest id is 264)"));
}

TEST(TokenizerStagesTest, AMergesLineThatIsNotUtf8IsReportedNotThrown) {
  // Found while writing the fuzz targets: the message about a bad merges.txt line wrote the line
  // as JSON, which throws on bytes that are not UTF-8.
  const std::string dir = FreshDir("merges_not_utf8");
  Write(dir, "vocab.json", R"({"a": 0, "b": 1, "ab": 2})");
  Write(dir, "merges.txt", "#version: 0.2\na b\n\xff\xfe\n");
  auto tokenizer = LoadTokenizer(dir);
  ASSERT_FALSE(tokenizer.ok());
  EXPECT_THAT(tokenizer.status().message(),
              HasSubstr("merges.txt line 3: expected two tokens separated by one space, got "
                        "\"\xef\xbf\xbd\xef\xbf\xbd\""));
}

TEST(TokenizerStagesTest, TemplateAddsBosAndEosAroundTheText) {
  auto t = Load("template", R"("normalizer": {"type": "Sequence", "normalizers": [
      {"type": "Prepend", "prepend": "\u2581"},
      {"type": "Replace", "pattern": {"String": " "}, "content": "\u2581"}]},
    "post_processor": {"type": "TemplateProcessing",
      "single": [{"SpecialToken": {"id": "<s>", "type_id": 0}},
                 {"Sequence": {"id": "A", "type_id": 0}},
                 {"SpecialToken": {"id": "</s>", "type_id": 0}}],
      "pair": [], "special_tokens": {"<s>": {"id": "<s>", "ids": [1], "tokens": ["<s>"]},
                                     "</s>": {"id": "</s>", "ids": [2], "tokens": ["</s>"]}}},
    "decoder": {"type": "Sequence", "decoders": [
      {"type": "Replace", "pattern": {"String": "\u2581"}, "content": " "},
      {"type": "ByteFallback"}, {"type": "Fuse"},
      {"type": "Strip", "content": " ", "start": 1, "stop": 1}]})");
  ASSERT_TRUE(t.ok()) << t.status().ToString();
  const Tokenizer& tok = **t;
  const int32_t hi = *tok.TokenToId("\u2581hi");
  const int32_t byte_fallback_x = *tok.TokenToId("<0x78>");  // "x" is not in the vocabulary
  EXPECT_EQ(tok.Encode("hix"), (Ids{hi, byte_fallback_x}));
  EXPECT_EQ(tok.AddSpecialTokens(tok.Encode("hi")), (Ids{1, hi, 2}));
  EXPECT_EQ(tok.bos_id(), 1);  // no tokenizer_config.json: the template's first token
  EXPECT_EQ(tok.eos_id(), 2);  // "</s>"
  EXPECT_EQ(tok.pad_id(), std::nullopt);
  const Encoding e = tok.EncodeWithOffsets("hi \xC3\xA9");  // "é" is two byte-fallback tokens
  ASSERT_EQ(e.ids.size(), 4u);
  EXPECT_EQ(e.offsets[0], (TokenOffsets{0, 2}));
  EXPECT_EQ(e.offsets[2], (TokenOffsets{3, 5}));  // part of a character covers all of it
  EXPECT_EQ(e.offsets[3], (TokenOffsets{3, 5}));
  // Strip's stop removes the trailing space after Fuse; a cut character gives U+FFFD per byte.
  EXPECT_EQ(tok.Decode(Ids{hi, *tok.TokenToId("\u2581")}), "hi");
  EXPECT_EQ(tok.Decode(Ids{hi, *tok.TokenToId("<0xC3>")}), "hi\xEF\xBF\xBD");
}

TEST(TokenizerStagesTest, ByteTokenizerOffsetsAndConfig) {
  auto t = MakeByteTokenizer();
  const Encoding e = t->EncodeWithOffsets("a\xC3\xA9<|endoftext|>b");
  EXPECT_EQ(e.ids, (Ids{'a', 0xC3, 0xA9, 256, 'b'}));
  ASSERT_EQ(e.offsets.size(), 5u);
  EXPECT_EQ(e.offsets[1], (TokenOffsets{1, 2}));
  EXPECT_EQ(e.offsets[3], (TokenOffsets{3, 16}));
  EXPECT_EQ(e.offsets[4], (TokenOffsets{16, 17}));
  EXPECT_EQ(t->AddSpecialTokens(e.ids), e.ids);
  EXPECT_EQ(t->config().eos_token, "<|endoftext|>");
  EXPECT_EQ(t->pad_id(), std::nullopt);
}

TEST(TokenizerStagesTest, SentencePieceModelThatIsNotOneIsAnError) {
  const std::string dir = FreshDir("bad_spm");
  Write(dir, "tokenizer.model", "not a protobuf");
  auto t = LoadTokenizer(dir);
  ASSERT_FALSE(t.ok());
  EXPECT_THAT(t.status().message(), HasSubstr(dir + "/tokenizer.model: not a SentencePiece model"));
}

}  // namespace
}  // namespace lf::worker
