// Tokenizers on hand-written vocabularies, UTF-8 repair, load errors and the byte tokenizer.
#include "worker/tokenizer/tokenizer.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>

#include "common/file_util.h"
#include "common/json_reader.h"
#include "common/utf8.h"
#include "worker/tokenizer/bpe_tokenizer.h"
#include "worker/tokenizer/tokenizer_json.h"

namespace lf::worker {
namespace {

using Ids = std::vector<int32_t>;

std::string FreshDir(const std::string& name) {
  auto dir = std::filesystem::path(::testing::TempDir()) / ("lf_tokenizer_" + name);
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  return dir.string();
}

void Write(const std::string& dir, const std::string& file, const std::string& contents) {
  LF_CHECK_OK(WriteFileAtomically(dir + "/" + file, contents));
}

// A vocabulary small enough to work out by hand. "Ġ" is the byte-level space.
constexpr char kVocab[] = R"({"h": 0, "e": 1, "l": 2, "o": 3, "Ġ": 4, "w": 5, "r": 6, "d": 7,
  "he": 8, "ll": 9, "llo": 10, "hello": 11, "Ġw": 12, "or": 13, "Ġwor": 14, "ld": 15,
  "<|endoftext|>": 16})";
constexpr char kMerges[] = "#version: 0.2\nh e\nl l\nll o\nhe llo\nĠ w\no r\nĠw or\nl d\n";

void ExpectHandWorkedIds(const Tokenizer& t) {
  // "hello": h e l l o; ranks h+e 0, l+l 1 -> [he, l, l, o] -> [he, ll, o] -> ll+o (2) ->
  // [he, llo] -> he+llo (3) -> [hello]. " world": Ġ+w (4) first -> [Ġw, o, r, l, d]; o+r (5)
  // -> [Ġw, or, l, d]; Ġw+or (6) -> [Ġwor, l, d]; l+d (7) -> [Ġwor, ld].
  EXPECT_EQ(t.Encode("hello world"), (Ids{11, 14, 15}));
  EXPECT_EQ(t.Encode("hell"), (Ids{8, 9}));    // [he, l, l] -> [he, ll]; no "he ll" merge
  EXPECT_EQ(t.Encode("ello"), (Ids{1, 10}));   // [e, ll, o] -> [e, llo]; no "e llo" merge
  EXPECT_EQ(t.Encode("lll"), (Ids{9, 2}));     // equal ranks: the leftmost pair merges first
  EXPECT_EQ(t.Encode("lol"), (Ids{2, 3, 2}));  // no merge applies
  EXPECT_EQ(t.Encode("hex"), (Ids{8}));        // "x" is not in the vocabulary: dropped, as HF
  EXPECT_EQ(t.Encode("hello<|endoftext|>hello"), (Ids{11, 16, 11}));
  EXPECT_EQ(t.Encode("  world"),
            (Ids{4, 14, 15}));  // "\s+(?!\S)" leaves the last space to " world"
  EXPECT_EQ(t.Decode(Ids{11, 14, 15, 16}), "hello world<|endoftext|>");
  EXPECT_EQ(t.Decode(Ids{11, 999, -1, 4}), "hello ");  // unknown ids are skipped
  EXPECT_EQ(t.vocab_size(), 17);
  EXPECT_EQ(t.eos_id(), 16);
  EXPECT_EQ(t.TokenToId("Ġwor"), 14);
  EXPECT_EQ(t.TokenToId("world"), std::nullopt);
}

TEST(TokenizerTest, HandWorkedMergesFromVocabAndMergesFiles) {
  const std::string dir = FreshDir("hand_files");
  Write(dir, "vocab.json", kVocab);
  Write(dir, "merges.txt", kMerges);
  auto t = LoadTokenizer(dir);
  ASSERT_TRUE(t.ok()) << t.status().ToString();
  ExpectHandWorkedIds(**t);
}

TEST(TokenizerTest, HandWorkedMergesFromTokenizerJson) {
  const std::string dir = FreshDir("hand_json");
  Write(dir, "tokenizer.json",
        std::string(R"({"version": "1.0", "normalizer": null,
    "pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true},
    "decoder": {"type": "ByteLevel"},
    "added_tokens": [{"id": 16, "content": "<|endoftext|>", "special": true}],
    "model": {"type": "BPE", "dropout": null, "unk_token": null, "vocab": )") +
            kVocab +
            R"(, "merges": ["h e", ["l", "l"], "ll o", ["he", "llo"],
    "Ġ w", "o r", "Ġw or", "l d"]}})");
  auto t = LoadTokenizer(dir);
  ASSERT_TRUE(t.ok()) << t.status().ToString();
  ExpectHandWorkedIds(**t);
}

TEST(TokenizerTest, AddPrefixSpaceAppliesToEachStretchOfText) {
  const std::string dir = FreshDir("prefix");
  Write(dir, "vocab.json", kVocab);
  Write(dir, "merges.txt", kMerges);
  Write(dir, "tokenizer_config.json", R"({"add_prefix_space": true})");
  auto t = LoadTokenizer(dir);
  ASSERT_TRUE(t.ok()) << t.status().ToString();
  // Without added_tokens_decoder "<|endoftext|>" stays special, as GPT2Tokenizer makes it.
  EXPECT_EQ((*t)->Encode("world<|endoftext|>world"), (Ids{14, 15, 16, 14, 15}));
  EXPECT_EQ((*t)->Encode(" world"), (Ids{14, 15}));
}

TEST(TokenizerTest, Utf8ReplacementFollowsPython) {
  // Each expectation is what b"...".decode("utf-8", errors="replace") gives in Python 3.
  const std::string r = "\xEF\xBF\xBD";                      // U+FFFD
  EXPECT_EQ(utf8::ReplaceInvalid("a\x80z"), "a" + r + "z");  // lone continuation
  EXPECT_EQ(utf8::ReplaceInvalid("\xE2\x82"), r);            // truncated: one
  EXPECT_EQ(utf8::ReplaceInvalid("\xE2\x82x"), r + "x");
  EXPECT_EQ(utf8::ReplaceInvalid("\xF0\x9F\x98"), r);
  EXPECT_EQ(utf8::ReplaceInvalid("\xC0\xAF"), r + r);  // overlong
  EXPECT_EQ(utf8::ReplaceInvalid("\xE0\x80\xAF"), r + r + r);
  EXPECT_EQ(utf8::ReplaceInvalid("\xED\xA0\x80"), r + r + r);          // surrogate
  EXPECT_EQ(utf8::ReplaceInvalid("\xF4\x90\x80\x80"), r + r + r + r);  // past U+10FFFF
  EXPECT_EQ(utf8::ReplaceInvalid("\xFF\xFE"), r + r);
  EXPECT_EQ(utf8::ReplaceInvalid("ok \xC3\xA9 \xF0\x9F\x98\x80"), "ok \xC3\xA9 \xF0\x9F\x98\x80");
  EXPECT_TRUE(utf8::IsValid("plain ascii, \xC3\xA9, \xE4\xB8\xAD, \xF0\x9F\x98\x80"));
  EXPECT_FALSE(utf8::IsValid("\xED\xBF\xBF"));
  EXPECT_FALSE(utf8::IsValid("twelve bytes\xC3"));
}

// Loads `dir` and returns the error message, which must exist.
std::string LoadError(const std::string& dir) {
  auto t = LoadTokenizer(dir);
  EXPECT_FALSE(t.ok());
  return t.ok() ? "" : t.status().message();
}

TEST(TokenizerTest, LoadErrorsNameTheFileAndField) {
  using ::testing::HasSubstr;
  EXPECT_THAT(LoadError("/nonexistent/lf_model"), HasSubstr("/nonexistent/lf_model: no such"));
  const std::string empty = FreshDir("err_empty");
  EXPECT_THAT(LoadError(empty), HasSubstr("expected tokenizer.json, or vocab.json and merges.txt"));

  const std::string no_merges = FreshDir("err_no_merges");
  Write(no_merges, "vocab.json", kVocab);
  EXPECT_THAT(LoadError(no_merges), HasSubstr(no_merges + "/merges.txt"));

  const std::string bad_line = FreshDir("err_bad_line");
  Write(bad_line, "vocab.json", kVocab);
  Write(bad_line, "merges.txt", "#version: 0.2\nh e\nl  l\n");
  EXPECT_THAT(LoadError(bad_line), HasSubstr("merges.txt line 3: expected two tokens"));
  Write(bad_line, "merges.txt", "h e\nh x\n");
  EXPECT_THAT(LoadError(bad_line),
              HasSubstr("merges.txt line 2: token \"x\" is not in vocab.json"));

  const std::string corrupt = FreshDir("err_corrupt");
  Write(corrupt, "tokenizer.json", R"({"model": {"type": "BPE", "vocab": {"a": 0)");
  EXPECT_THAT(LoadError(corrupt), HasSubstr(corrupt + "/tokenizer.json: invalid JSON"));

  auto json_error = [](const std::string& name, const std::string& doc) {
    const std::string dir = FreshDir(name);
    Write(dir, "tokenizer.json", doc);
    return LoadError(dir);
  };
  const std::string byte_level = R"("pre_tokenizer": {"type": "ByteLevel"})";
  EXPECT_THAT(json_error("err_unigram", "{" + byte_level + R"(, "model": {"type": "Unigram"}})"),
              HasSubstr("tokenizer.json: model.type: model type \"Unigram\" is not supported"));
  EXPECT_THAT(
      json_error("err_bert_norm", R"({"normalizer": {"type": "Sequence", "normalizers":
                              [{"type": "NFC"}, {"type": "BertNormalizer"}]}, )" +
                                      byte_level + R"(, "model": {"vocab": {}, "merges": []}})"),
      HasSubstr("tokenizer.json: normalizer.normalizers[1].type: normalizer "
                "\"BertNormalizer\" is not supported; supported: NFC"));
  EXPECT_THAT(json_error("err_bert_pre", R"({"pre_tokenizer": {"type": "Sequence",
                              "pretokenizers": [{"type": "Digits"}, {"type": "BertPreTokenizer"}]},
                              "model": {}})"),
              HasSubstr("tokenizer.json: pre_tokenizer.pretokenizers[1].type: pre-tokenizer "
                        "\"BertPreTokenizer\" is not supported; supported: Split"));
  EXPECT_THAT(json_error("err_merge", "{" + byte_level +
                                          R"(, "model": {"vocab": {"a": 0}, "merges": ["a b"]}})"),
              HasSubstr("model.merges[0]: token \"b\" is not in model.vocab"));
  EXPECT_THAT(json_error("err_vocab",
                         "{" + byte_level + R"(, "model": {"vocab": {"a": -3}, "merges": []}})"),
              HasSubstr("model.vocab.a: expected an integer from 0"));
  EXPECT_THAT(json_error("err_added", "{" + byte_level +
                                          R"(, "model": {"vocab": {}, "merges": []},
                                             "added_tokens": [{"id": 1}]})"),
              HasSubstr("added_tokens[0].content: required field is missing"));
}

TEST(ByteTokenizerTest, MapsEachByteToItsIdAndKeepsInvalidUtf8) {
  auto t = MakeByteTokenizer();
  EXPECT_EQ(t->vocab_size(), 257);
  EXPECT_EQ(t->eos_id(), 256);
  EXPECT_EQ(t->Encode("Hi\xC3\xA9"), (Ids{72, 105, 0xC3, 0xA9}));
  // Raw bytes, not U+FFFD: the byte tokenizer has an id for every byte.
  EXPECT_EQ(t->Encode("a\xFF\x80<|endoftext|>\n"), (Ids{97, 0xFF, 0x80, 256, 10}));
  EXPECT_EQ(t->Encode("<|endoftext|<|endoftext|>"),
            (Ids{'<', '|', 'e', 'n', 'd', 'o', 'f', 't', 'e', 'x', 't', '|', 256}));
  std::string all;
  for (int b = 255; b >= 0; --b) all.push_back(static_cast<char>(b));
  all += "<|endoftext|>";
  EXPECT_EQ(t->Decode(t->Encode(all)), all);
  EXPECT_EQ(t->Decode(Ids{104, 300, -2, 256}), "h<|endoftext|>");
  EXPECT_EQ(t->TokenToId("Ġ"), 32);  // spelled as in its tokenizer.json
  EXPECT_EQ(t->TokenToId("a"), 97);
  EXPECT_EQ(t->TokenToId("<|endoftext|>"), 256);
  EXPECT_EQ(t->TokenToId("ab"), std::nullopt);
}

TEST(ByteTokenizerTest, SavedTokenizerJsonLoadsWithTheSameIds) {
  const std::string dir = FreshDir("byte_saved");
  ASSERT_TRUE(SaveByteTokenizer(dir).ok());
  auto loaded = LoadTokenizer(dir);
  ASSERT_TRUE(loaded.ok()) << loaded.status().ToString();
  auto made = MakeByteTokenizer();
  // The same file read as a generic byte-level BPE (what Hugging Face does with it).
  auto text = ReadFileToString(dir + "/tokenizer.json");
  ASSERT_TRUE(text.ok());
  auto doc = ParseJson(*text, "tokenizer.json");
  ASSERT_TRUE(doc.ok());
  EXPECT_EQ((*doc)["model"]["vocab"].size(), 256u);
  EXPECT_TRUE((*doc)["model"]["merges"].empty());
  auto spec = ParseTokenizerJson(*doc);
  ASSERT_TRUE(spec.ok()) << spec.status().ToString();
  auto generic = MakeBpeTokenizer(std::move(spec).value(), TokenizerConfig{});
  for (std::string s : {"", "Hello, world!", "h\xC3\xA9llo \xF0\x9F\x98\x80 <|endoftext|>x",
                        "  \t\n  spaces  ", "<|endoftext|><|endoftext|>", "don't 123"}) {
    EXPECT_EQ((*loaded)->Encode(s), made->Encode(s)) << s;
    EXPECT_EQ(generic->Encode(s), made->Encode(s)) << s;
    EXPECT_EQ(generic->Decode(made->Encode(s)), s);
  }
  EXPECT_EQ((*loaded)->Encode("\xFF\x80"), (Ids{0xFF, 0x80}));  // still the byte tokenizer
  EXPECT_EQ((*loaded)->vocab_size(), 257);
  EXPECT_EQ(generic->vocab_size(), 257);
  EXPECT_EQ(generic->eos_id(), 256);
  auto config = ReadFileToString(dir + "/tokenizer_config.json");
  ASSERT_TRUE(config.ok());
  EXPECT_NE(config->find("\"eos_token\": \"<|endoftext|>\""), std::string::npos);
}

}  // namespace
}  // namespace lf::worker
