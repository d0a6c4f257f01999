// Each model family's tokenizer against Hugging Face `tokenizers`: the fixtures in
// testdata/families/ (make_family_fixtures.py) have the stages of the real Llama 3, Qwen2.5,
// SmolLM2, Llama 2, Mistral, TinyLlama, Gemma and Phi-3 files, and a SentencePiece model.
#include <gtest/gtest.h>

#include "common/file_util.h"
#include "common/json_reader.h"
#include "worker/tokenizer/tokenizer.h"
#include "tokenizer_test_util.h"

namespace lf::worker {
namespace {

std::string Family(const std::string& name) { return LF_TEST_SRCDIR "/testdata/families/" + name; }

std::vector<std::vector<uint32_t>> Offsets(const Encoding& e) {
  std::vector<std::vector<uint32_t>> out;
  for (const TokenOffsets& o : e.offsets) out.push_back({o.begin, o.end});
  return out;
}

class FamilyTest : public ::testing::TestWithParam<std::string> {};

// Ids, byte offsets, ids with the post-processor's special tokens and decodes of every text.
TEST_P(FamilyTest, MatchesHuggingFace) {
  const std::string dir = Family(GetParam());
  const Json expected = ReadJsonOrDie(dir + "/expected.json");
  auto tokenizer = LoadOrDie(dir);
  EXPECT_EQ(tokenizer->vocab_size(), expected["vocab_size"].get<int32_t>());
  int failures = 0;
  for (const Json& c : expected["cases"]) {
    const std::string text = c["text"];
    const std::vector<int32_t> ids = c["ids"];
    const Encoding encoding = tokenizer->EncodeWithOffsets(text);
    const bool ok =
        tokenizer->Encode(text) == ids && encoding.ids == ids &&
        Offsets(encoding) == c["offsets"].get<std::vector<std::vector<uint32_t>>>() &&
        tokenizer->AddSpecialTokens(ids) == c["with_special"].get<std::vector<int32_t>>() &&
        tokenizer->Decode(ids) == c["decode"].get<std::string>();
    EXPECT_TRUE(ok) << "text " << Json(text).dump() << "\n ours ids " << Json(encoding.ids).dump()
                    << "\n  HF ids " << c["ids"].dump() << "\n ours offsets "
                    << Json(Offsets(encoding)).dump() << "\n  HF offsets " << c["offsets"].dump()
                    << "\n ours decode " << Json(tokenizer->Decode(ids)).dump() << "\n  HF decode "
                    << c["decode"].dump();
    if (!ok && ++failures >= 5) break;
  }
  for (const Json& c : expected["invalid_utf8"]) {
    EXPECT_EQ(tokenizer->Encode(FromHex(c["hex"])), c["ids"].get<std::vector<int32_t>>())
        << c["hex"];
  }
  for (const Json& c : expected["decodes"]) {
    EXPECT_EQ(tokenizer->Decode(c["ids"].get<std::vector<int32_t>>()), c["text"].get<std::string>())
        << c["ids"].dump();
  }
  if (expected.value("transformers_agrees", false)) {
    const Json& auto_ids = expected["transformers_ids"];
    for (size_t i = 0; i < auto_ids.size(); ++i) {
      const std::string text = expected["cases"][i]["text"];
      EXPECT_EQ(tokenizer->AddSpecialTokens(tokenizer->Encode(text)),
                auto_ids[i].get<std::vector<int32_t>>())
          << Json(text).dump();
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Families, FamilyTest,
                         ::testing::Values("llama3", "qwen2", "smollm2", "llama2", "mistral",
                                           "tinyllama_metaspace", "gemma", "phi3",
                                           "stages_normalizers", "stages_split", "stages_bytelevel",
                                           "stages_no_decoder"));

// tokenizer_config.json's special tokens and chat templates, per family.
TEST(FamilyConfigTest, SpecialTokensAndChatTemplates) {
  auto llama3 = LoadOrDie(Family("llama3"));
  EXPECT_EQ(llama3->bos_id(), llama3->TokenToId("<|begin_of_text|>"));
  EXPECT_EQ(llama3->eos_id(), llama3->TokenToId("<|eot_id|>"));
  EXPECT_EQ(llama3->pad_id(), std::nullopt);
  EXPECT_NE(llama3->config().chat_templates.at("default").find("<|start_header_id|>"),
            std::string::npos);

  auto qwen = LoadOrDie(Family("qwen2"));
  EXPECT_EQ(qwen->bos_id(), std::nullopt);  // bos_token null and no BOS in the post-processor
  EXPECT_EQ(qwen->eos_id(), qwen->TokenToId("<|im_end|>"));
  EXPECT_EQ(qwen->pad_id(), qwen->TokenToId("<|endoftext|>"));
  EXPECT_EQ(qwen->config().bos_token, std::nullopt);

  auto smol = LoadOrDie(Family("smollm2"));
  EXPECT_EQ(smol->config().unk_token, "<|endoftext|>");  // the {"content": ...} form
  EXPECT_EQ(smol->config().chat_templates.size(), 2u);   // the list form
  EXPECT_EQ(smol->config().chat_templates.at("tool_use"), "{{ tools }}");

  auto gemma = LoadOrDie(Family("gemma"));
  EXPECT_EQ(gemma->bos_id(), 2);
  EXPECT_EQ(gemma->eos_id(), 1);
  EXPECT_EQ(gemma->pad_id(), 0);
  // chat_template.jinja wins over tokenizer_config.json's chat_template.
  EXPECT_TRUE(gemma->config().chat_templates.at("default").starts_with("{{ bos_token }}"));

  auto llama2 = LoadOrDie(Family("llama2"));
  EXPECT_EQ(llama2->bos_id(), 1);
  EXPECT_EQ(llama2->eos_id(), 2);
  EXPECT_EQ(llama2->config().bos_token, "<s>");
  EXPECT_TRUE(llama2->config().chat_templates.empty());
}

// Invalid UTF-8 is read as Python's U+FFFDs; their tokens cover the invalid bytes of the input.
TEST(FamilyConfigTest, InvalidUtf8OffsetsPointIntoTheInput) {
  for (const char* name : {"llama3", "llama2", "qwen2", "gemma"}) {
    auto tokenizer = LoadOrDie(Family(name));
    const std::string input =
        "ab\xFF\xFE"
        "cd \xE2\x82 \xC3\xA9";
    const Encoding e = tokenizer->EncodeWithOffsets(input);
    EXPECT_EQ(e.ids, tokenizer->Encode(input)) << name;
    ASSERT_EQ(e.offsets.size(), e.ids.size()) << name;
    int covered_ff = 0, covered_fe = 0, covered_e282 = 0;
    for (const TokenOffsets& o : e.offsets) {
      EXPECT_LE(o.begin, o.end) << name;
      EXPECT_LE(o.end, input.size()) << name;
      // Each U+FFFD covers the bytes it replaces: "\xFF", "\xFE", "\xE2\x82".
      covered_ff += o.begin == 2 && o.end == 3;
      covered_fe += o.begin == 3 && o.end == 4;
      covered_e282 += o.begin == 7 && o.end == 9;
    }
    EXPECT_GE(covered_ff, 1) << name;
    EXPECT_GE(covered_fe, 1) << name;
    EXPECT_GE(covered_e282, 1) << name;
  }
}

// A folder with only tokenizer.model: transformers' sentencepiece LlamaTokenizer (legacy=True).
TEST(SentencePieceTest, MatchesSlowLlamaTokenizer) {
  const std::string dir = Family("sentencepiece");
  const Json expected = ReadJsonOrDie(dir + "/expected.json");
  auto tokenizer = LoadOrDie(dir);
  EXPECT_EQ(tokenizer->vocab_size(), expected["vocab_size"].get<int32_t>());
  EXPECT_EQ(tokenizer->bos_id(), 1);
  EXPECT_EQ(tokenizer->eos_id(), 2);
  int failures = 0;
  for (const Json& c : expected["cases"]) {
    const std::string text = c["text"];
    const std::vector<int32_t> ids = c["ids"];
    const Encoding encoding = tokenizer->EncodeWithOffsets(text);
    const bool ok =
        tokenizer->Encode(text) == ids && encoding.ids == ids &&
        encoding.offsets.size() == ids.size() &&
        tokenizer->AddSpecialTokens(ids) == c["with_special"].get<std::vector<int32_t>>() &&
        tokenizer->Decode(ids) == c["decode"].get<std::string>();
    EXPECT_TRUE(ok) << "text " << Json(text).dump() << "\n ours " << Json(encoding.ids).dump()
                    << "\n   HF " << c["ids"].dump() << "\n ours decode "
                    << Json(tokenizer->Decode(ids)).dump() << "\n   HF decode " << c["decode"];
    if (!ok && ++failures >= 5) break;
    uint32_t last_end = 0;  // SentencePiece's surface offsets: in order, inside the text
    for (const TokenOffsets& o : encoding.offsets) {
      EXPECT_LE(last_end, o.begin) << Json(text).dump();
      EXPECT_LE(o.begin, o.end);
      last_end = o.end;
    }
    EXPECT_LE(last_end, text.size());
  }
  const Encoding hello = tokenizer->EncodeWithOffsets("hello <s>world\xFF");
  ASSERT_GE(hello.offsets.size(), 3u);
  EXPECT_EQ(hello.offsets.back(), (TokenOffsets{14, 15}));  // U+FFFD: the invalid byte
}

}  // namespace
}  // namespace lf::worker
