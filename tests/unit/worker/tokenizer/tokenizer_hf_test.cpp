// Our ids against Hugging Face's, from the fixtures make_fixtures.py wrote with `tokenizers`.
#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <thread>

#include "common/file_util.h"
#include "common/json_reader.h"
#include "common/utf8.h"
#include "worker/tokenizer/byte_level.h"
#include "worker/tokenizer/pattern.h"
#include "worker/tokenizer/tokenizer.h"
#include "tokenizer_test_util.h"

namespace lf::worker {
namespace {

std::string TestData(const std::string& name) { return LF_TEST_SRCDIR "/testdata/" + name; }

const Json& Expected() {
  static const Json expected = ReadJsonOrDie(TestData("expected.json"));
  return expected;
}

std::string Hex(std::string_view s) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  for (unsigned char c : s) out += {kDigits[c >> 4], kDigits[c & 15]};
  return out;
}

// Every fixture text gives Hugging Face's ids; `key` picks which of the recorded ids apply.
void ExpectFixtureIds(const Tokenizer& tokenizer, const std::string& key) {
  int failures = 0;
  for (const Json& c : Expected()["cases"]) {
    const std::string text = c["text"];
    const std::vector<int32_t> want = c[key];
    EXPECT_EQ(tokenizer.Encode(text), want) << "text " << Json(text).dump();
    if (tokenizer.Encode(text) != want && ++failures >= 10) break;
  }
}

TEST(TokenizerHfTest, TokenizerJsonWithMergePairsMatchesHuggingFace) {
  auto tokenizer = LoadOrDie(TestData("json_pairs"));
  ExpectFixtureIds(*tokenizer, "ids");
  EXPECT_EQ(tokenizer->vocab_size(), Expected()["vocab_size"].get<int32_t>());
  EXPECT_EQ(tokenizer->eos_id(), tokenizer->TokenToId("<|endoftext|>"));
  EXPECT_TRUE(tokenizer->eos_id().has_value());
}

TEST(TokenizerHfTest, TokenizerJsonWithMergeStringsMatchesHuggingFace) {
  ExpectFixtureIds(*LoadOrDie(TestData("json_strings")), "ids");
}

TEST(TokenizerHfTest, VocabJsonAndMergesTxtMatchHuggingFace) {
  auto tokenizer = LoadOrDie(TestData("vocab_merges"));
  ExpectFixtureIds(*tokenizer, "files_ids");
  EXPECT_EQ(tokenizer->eos_id(), tokenizer->TokenToId("<|endoftext|>"));
}

TEST(TokenizerHfTest, LongTextMatchesHuggingFace) {
  auto tokenizer = LoadOrDie(TestData("json_pairs"));
  const Json& long_text = Expected()["long_text"];
  EXPECT_EQ(tokenizer->Encode(long_text["text"].get<std::string>()),
            long_text["ids"].get<std::vector<int32_t>>());
}

TEST(TokenizerHfTest, InvalidUtf8IsReplacedAsPythonDoesThenTokenized) {
  auto tokenizer = LoadOrDie(TestData("json_pairs"));
  for (const Json& c : Expected()["invalid_utf8"]) {
    const std::string raw = FromHex(c["hex"]);
    const std::string replaced = c["replaced"];
    EXPECT_FALSE(utf8::IsValid(raw)) << c["hex"];
    EXPECT_EQ(Hex(utf8::ReplaceInvalid(raw)), Hex(replaced)) << c["hex"];
    EXPECT_EQ(tokenizer->Encode(raw), c["ids"].get<std::vector<int32_t>>()) << c["hex"];
    EXPECT_EQ(tokenizer->Encode(raw), tokenizer->Encode(replaced)) << c["hex"];
  }
}

TEST(TokenizerHfTest, DecodeReversesEncodeOnValidText) {
  // The vocab.json form has no lstrip/rstrip tokens, which swallow whitespace by design.
  auto files = LoadOrDie(TestData("vocab_merges"));
  auto json = LoadOrDie(TestData("json_pairs"));
  for (const Json& c : Expected()["cases"]) {
    const std::string text = c["text"];
    EXPECT_EQ(files->Decode(files->Encode(text)), text) << Json(text).dump();
    if (text.find("<mask>") == std::string::npos) {
      EXPECT_EQ(json->Decode(json->Encode(text)), text) << Json(text).dump();
    }
  }
  std::string long_text = Expected()["long_text"]["text"];
  EXPECT_EQ(json->Decode(json->Encode(long_text)), long_text);
}

TEST(TokenizerHfTest, ConcurrentEncodesAgree) {
  auto tokenizer = LoadOrDie(TestData("json_pairs"));
  const std::string text = Expected()["long_text"]["text"];
  const std::vector<int32_t> want = Expected()["long_text"]["ids"];
  std::vector<std::thread> threads;
  std::vector<int> ok(4, 0);
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 5; ++i) ok[t] += tokenizer->Encode(text) == want;
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(ok, std::vector<int>(4, 5));
}

// The classes GPT-2's regex sees (letter, number, whitespace, other) for every code point, as
// Hugging Face's pre-tokenizer splits them (L, N, S, o). Failures list the code points.
TEST(TokenizerHfTest, PreTokenizerClassesMatchHuggingFace) {
  const Json classes = ReadJsonOrDie(TestData("unicode_classes.json"));
  std::vector<char> want(0x110000, 'o');
  for (const auto& [name, code] : {std::pair{"letter", 'L'}, {"number", 'N'}, {"space", 'S'}}) {
    for (const Json& range : classes[name]) {
      for (uint32_t cp = range[0]; cp <= range[1].get<uint32_t>(); ++cp) want[cp] = code;
    }
  }
  const RegexSplitter& gpt2 = RegexSplitter::Gpt2();
  auto one_piece = [&](char32_t first, char32_t cp) {
    std::string s;
    utf8::Append(s, first);
    utf8::Append(s, cp);
    std::vector<std::string_view> pieces;
    gpt2.Split(s, pieces);
    return pieces.size() == 1;
  };
  std::string mismatches;
  int count = 0;
  for (char32_t cp = 0; cp < 0x110000; ++cp) {
    if (cp >= 0xD800 && cp <= 0xDFFF) continue;
    char got = one_piece('a', cp) ? 'L' : one_piece('1', cp) ? 'N' : one_piece('!', cp) ? 'o' : 'S';
    if (got != want[cp] && ++count <= 20) {
      char line[64];
      std::snprintf(line, sizeof(line), "U+%04X: ours %c, HF %c\n", static_cast<unsigned>(cp), got,
                    want[cp]);
      mismatches += line;
    }
  }
  EXPECT_EQ(count, 0) << "code points classified differently:\n" << mismatches;
}

// The same for Llama 3's Split regex (Oniguruma in HF, translated for PCRE2 here): its classes
// for every code point, and the code points its case-insensitive (?i:'s|'t|...) group matches.
TEST(TokenizerHfTest, Llama3SplitClassesMatchHuggingFace) {
  const Json all = ReadJsonOrDie(TestData("unicode_classes.json"));
  const Json& classes = all["llama3"];
  auto pattern = Pattern::FromRegex(classes["pattern"].get<std::string>());
  ASSERT_TRUE(pattern.ok()) << pattern.status().ToString();
  // The code point lengths of the Isolated pieces of `s`.
  auto pieces = [&](const std::string& s) {
    std::vector<std::pair<size_t, size_t>> matches;
    pattern->Matches(s, matches);
    std::vector<size_t> bounds{0};
    for (const auto& [b, e] : matches) {
      if (b > bounds.back()) bounds.push_back(b);
      bounds.push_back(e);
    }
    if (bounds.back() < s.size()) bounds.push_back(s.size());
    std::vector<size_t> lengths;
    for (size_t i = 1; i < bounds.size(); ++i) {
      size_t n = 0;
      for (size_t pos = bounds[i - 1]; pos < bounds[i]; ++n) utf8::Next(s, pos);
      lengths.push_back(n);
    }
    return lengths;
  };
  auto with = [](const std::string& before, char32_t cp, const std::string& after) {
    std::string s = before;
    utf8::Append(s, cp);
    return s + after;
  };
  std::vector<char> want(0x110000, 'o');
  for (const auto& [name, code] : {std::pair{"letter", 'L'}, {"number", 'N'}, {"space", 'S'}}) {
    for (const Json& range : classes[name]) {
      for (uint32_t cp = range[0]; cp <= range[1].get<uint32_t>(); ++cp) want[cp] = code;
    }
  }
  std::vector<int> want_case(0x110000, 0);
  for (const Json& entry : classes["case_insensitive"]) want_case[entry[0]] = entry[1];
  std::string mismatches;
  int count = 0;
  for (char32_t cp = 0; cp < 0x110000; ++cp) {
    if (cp >= 0xD800 && cp <= 0xDFFF) continue;
    const bool letter = pieces(with("a", cp, "")).size() == 1;
    const char got = letter                                  ? 'L'
                     : pieces(with("1", cp, "")).size() == 1 ? 'N'
                     : pieces(with("!", cp, "")).size() == 1 ? 'o'
                                                             : 'S';
    int got_case = 0;
    for (size_t bit = 0; bit < classes["case_probes"].size(); ++bit) {
      const std::string probe = classes["case_probes"][bit][0];
      const size_t brace = probe.find("{}");
      const auto text = with(probe.substr(0, brace), cp, probe.substr(brace + 2));
      if (letter && pieces(text)[0] == classes["case_probes"][bit][1].get<size_t>()) {
        got_case |= 1 << bit;
      }
    }
    if ((got != want[cp] || got_case != want_case[cp]) && ++count <= 20) {
      char line[96];
      std::snprintf(line, sizeof(line), "U+%04X: ours %c/%d, HF %c/%d\n", static_cast<unsigned>(cp),
                    got, got_case, want[cp], want_case[cp]);
      mismatches += line;
    }
  }
  EXPECT_EQ(count, 0) << "code points classified differently:\n" << mismatches;
}

// Oniguruma's \w as HF's Whitespace pre-tokenizer runs it, and IsWordChar (added tokens'
// single_word), against WordClass on every code point.
TEST(TokenizerHfTest, WordClassMatchesHuggingFace) {
  const Json classes = ReadJsonOrDie(TestData("unicode_classes.json"));
  std::vector<bool> want(0x110000, false);
  for (const Json& range : classes["word"]) {
    for (uint32_t cp = range[0]; cp <= range[1].get<uint32_t>(); ++cp) want[cp] = true;
  }
  std::string mismatches;
  int count = 0;
  for (char32_t cp = 0; cp < 0x110000; ++cp) {
    if (cp >= 0xD800 && cp <= 0xDFFF) continue;
    if (IsWordChar(cp) != want[cp] && ++count <= 20) {
      char line[64];
      std::snprintf(line, sizeof(line), "U+%04X: ours %d, HF %d\n", static_cast<unsigned>(cp),
                    IsWordChar(cp), static_cast<int>(want[cp]));
      mismatches += line;
    }
  }
  EXPECT_EQ(count, 0) << count << " code points classified differently:\n" << mismatches;
}

// A hand check against another model folder, e.g. the real GPT-2 files: run
//   make_fixtures.py expect DIR OUT.json   then   LF_TOKENIZER_CHECK=OUT.json lf_tokenizer_tests
TEST(TokenizerHfTest, ExternalModelMatchesHuggingFaceWhenGiven) {
  const char* path = std::getenv("LF_TOKENIZER_CHECK");
  if (path == nullptr)
    GTEST_SKIP() << "set LF_TOKENIZER_CHECK to a file of make_fixtures.py expect";
  const Json expected = ReadJsonOrDie(path);
  auto tokenizer = LoadOrDie(expected["model_dir"]);
  int matched = 0;
  for (const Json& c : expected["cases"]) {
    const std::string text = c["text"];
    auto ids = tokenizer->Encode(text);
    EXPECT_EQ(ids, c["ids"].get<std::vector<int32_t>>()) << Json(text).dump();
    matched += ids == c["ids"].get<std::vector<int32_t>>();
    EXPECT_EQ(tokenizer->Decode(ids), text);
  }
  std::cout << matched << " of " << expected["cases"].size() << " texts match\n";
}

}  // namespace
}  // namespace lf::worker
