// ChatTemplate::RenderWithAssistantSpans on real templates: which bytes of each assistant turn
// the model learns to produce, and the refusal when no prefix rendering can delimit them.
#include "worker/chat/chat_template.h"

#include <ctime>
#include <fstream>
#include <sstream>
#include <thread>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace lf::worker {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

const std::map<std::string, std::string> kLlama = {{"bos_token", "<|begin_of_text|>"},
                                                   {"eos_token", "<|eot_id|>"}};
const std::map<std::string, std::string> kQwen = {{"eos_token", "<|im_end|>"},
                                                  {"pad_token", "<|endoftext|>"}};
const std::map<std::string, std::string> kMistral = {{"bos_token", "<s>"}, {"eos_token", "</s>"}};
const std::map<std::string, std::string> kGemma = {{"bos_token", "<bos>"}, {"eos_token", "<eos>"}};
const std::map<std::string, std::string> kPhi = {{"bos_token", "<s>"},
                                                 {"eos_token", "<|endoftext|>"}};

ChatTemplate Load(const std::string& file, const std::map<std::string, std::string>& special) {
  std::ifstream in(std::string(LF_TEST_SRCDIR) + "/testdata/" + file, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  auto t = ChatTemplate::Create(s.str(), file, special);
  EXPECT_TRUE(t.ok()) << t.status().ToString();
  return *t;
}

const std::vector<ChatMessage> kTwoTurns = {
    {"user", "Hello!"}, {"assistant", "Hi!"}, {"user", "Bye"}, {"assistant", "Bye, héllo “x”!"}};
const std::vector<ChatMessage> kWithSystem = {{"system", "Be brief."},
                                              {"user", "Hello!"},
                                              {"assistant", "Hi!"},
                                              {"user", "Bye"},
                                              {"assistant", "Bye, héllo “x”!"}};

// The spanned texts, and a check that each span's message is an assistant message.
std::vector<std::string> Spans(const ChatTemplate& t, const std::vector<ChatMessage>& messages) {
  auto chat = t.RenderWithAssistantSpans(messages);
  EXPECT_TRUE(chat.ok()) << chat.status().ToString();
  if (!chat.ok()) return {};
  auto whole = t.Render(messages, false);
  EXPECT_TRUE(whole.ok());
  EXPECT_EQ(chat->text, *whole);
  std::vector<std::string> out;
  for (const ChatSpan& span : chat->assistant_spans) {
    EXPECT_LE(span.begin, span.end);
    EXPECT_LE(span.end, chat->text.size());
    EXPECT_EQ(messages[span.message].role, "assistant");
    out.push_back(chat->text.substr(span.begin, span.end - span.begin));
  }
  return out;
}

TEST(ChatTemplateTest, LlamaSpansEndWithEotId) {
  for (const char* file : {"llama3.jinja", "llama3_1.jinja"}) {
    SCOPED_TRACE(file);
    ChatTemplate t = Load(file, kLlama);
    EXPECT_THAT(Spans(t, kWithSystem), ElementsAre("Hi!<|eot_id|>", "Bye, héllo “x”!<|eot_id|>"));
    EXPECT_THAT(Spans(t, kTwoTurns), ElementsAre("Hi!<|eot_id|>", "Bye, héllo “x”!<|eot_id|>"));
  }
  // Llama 3 trims the content: the span is the rendered text, not the message.
  std::vector<ChatMessage> padded = {{"user", "q"}, {"assistant", "  spaced\n"}};
  EXPECT_THAT(Spans(Load("llama3.jinja", kLlama), padded), ElementsAre("spaced<|eot_id|>"));
}

TEST(ChatTemplateTest, ChatMlSpansIncludeTheNewlineAfterImEnd) {
  for (const char* file : {"chatml.jinja", "qwen2_5.jinja", "smollm2.jinja"}) {
    SCOPED_TRACE(file);
    ChatTemplate t = Load(file, kQwen);
    EXPECT_THAT(Spans(t, kWithSystem),
                ElementsAre("Hi!<|im_end|>\n", "Bye, héllo “x”!<|im_end|>\n"));
    auto chat = t.RenderWithAssistantSpans(kWithSystem);
    ASSERT_TRUE(chat.ok());
    EXPECT_EQ(chat->assistant_spans[0].message, 2u);
    EXPECT_EQ(chat->assistant_spans[1].message, 4u);
    EXPECT_EQ(chat->text.substr(chat->assistant_spans[0].begin - 22, 22),
              "<|im_start|>assistant\n");
  }
}

TEST(ChatTemplateTest, GemmaMistralZephyrSpans) {
  for (const char* file : {"gemma2.jinja", "gemma3.jinja"}) {
    SCOPED_TRACE(file);
    EXPECT_THAT(Spans(Load(file, kGemma), kTwoTurns),
                ElementsAre("Hi!<end_of_turn>\n", "Bye, héllo “x”!<end_of_turn>\n"));
  }
  EXPECT_THAT(Spans(Load("mistral_v0_2.jinja", kMistral), kTwoTurns),
              ElementsAre("Hi!</s>", "Bye, héllo “x”!</s>"));
  EXPECT_THAT(Spans(Load("mistral_v0_3.jinja", kMistral), kTwoTurns),
              ElementsAre(" Hi!</s>", " Bye, héllo “x”!</s>"));
  EXPECT_THAT(Spans(Load("zephyr.jinja", kMistral), kWithSystem),
              ElementsAre("Hi!</s>\n", "Bye, héllo “x”!</s>\n"));
}

TEST(ChatTemplateTest, PhiClosesTheConversationWithEosWhichOnlyTheLastSpanHas) {
  for (const char* file : {"phi3.jinja", "phi3_5.jinja"}) {
    SCOPED_TRACE(file);
    EXPECT_THAT(Spans(Load(file, kPhi), kWithSystem),
                ElementsAre("Hi!<|end|>\n", "Bye, héllo “x”!<|end|>\n<|endoftext|>"));
  }
}

TEST(ChatTemplateTest, Qwen3SingleTurnSpansTheEmptyThinkBlock) {
  ChatTemplate t = Load("qwen3.jinja", kQwen);
  EXPECT_THAT(Spans(t, {{"user", "Hello!"}, {"assistant", "Hi!"}}),
              ElementsAre("<think>\n\n</think>\n\nHi!<|im_end|>\n"));
}

TEST(ChatTemplateTest, Qwen3MultiTurnIsRefusedNamingTheMessage) {
  ChatTemplate t = Load("qwen3.jinja", kQwen);
  auto chat = t.RenderWithAssistantSpans(kTwoTurns);
  ASSERT_FALSE(chat.ok());
  EXPECT_THAT(chat.status().message(), HasSubstr("qwen3.jinja: assistant message 1: "));
  EXPECT_THAT(chat.status().message(), HasSubstr("{% generation %}"));
}

TEST(ChatTemplateTest, MistralV03WithASystemMessageIsRefused) {
  // v0.3 puts the system message into the last user turn, so the prompt for an earlier reply
  // is not a prefix of the whole conversation.
  auto chat = Load("mistral_v0_3.jinja", kMistral).RenderWithAssistantSpans(kWithSystem);
  ASSERT_FALSE(chat.ok());
  EXPECT_THAT(chat.status().message(),
              HasSubstr("mistral_v0_3.jinja: assistant message 2: the conversation up to it with "
                        "a generation prompt is not a prefix"));
}

TEST(ChatTemplateTest, GenerationBlocksGiveTheSpans) {
  ChatTemplate t = Load("chatml_generation.jinja", kQwen);
  EXPECT_TRUE(t.jinja_template().has_generation());
  EXPECT_THAT(Spans(t, kWithSystem), ElementsAre("Hi!<|im_end|>", "Bye, héllo “x”!<|im_end|>"));
  auto chat = t.RenderWithAssistantSpans(kWithSystem);
  ASSERT_TRUE(chat.ok());
  EXPECT_EQ(chat->assistant_spans[1].message, 4u);
}

TEST(ChatTemplateTest, Qwen3WithGenerationBlocksSpansEveryTurn) {
  ChatTemplate t = Load("qwen3_generation.jinja", kQwen);
  const std::vector<ChatMessage> thinking = {
      {"user", "Solve it."},
      {"assistant", "<think>\nLet me think.\n</think>\n\nThe answer is 42."},
      {"user", "Sure?"},
      {"assistant", "<think>\nYes.\n</think>\n\nYes, 42."}};
  // Earlier turns lose their reasoning; the last keeps it.
  EXPECT_THAT(Spans(t, thinking), ElementsAre("The answer is 42.<|im_end|>",
                                              "<think>\nYes.\n</think>\n\nYes, 42.<|im_end|>"));
}

TEST(ChatTemplateTest, TemplateErrorsCarryTheMessageIndexOrTheTemplateName) {
  auto chat = Load("gemma2.jinja", kGemma).RenderWithAssistantSpans(kWithSystem);
  ASSERT_FALSE(chat.ok());
  EXPECT_THAT(chat.status().message(),
              HasSubstr("gemma2.jinja line 1: the template raised an error: System role not "
                        "supported"));
  // An assistant message first: the template cannot render the empty prefix.
  const std::vector<ChatMessage> assistant_first = {{"assistant", "x"}};
  auto first = Load("llama3_1.jinja", kLlama).RenderWithAssistantSpans(assistant_first);
  ASSERT_FALSE(first.ok());
  EXPECT_THAT(first.status().message(),
              HasSubstr("llama3_1.jinja: assistant message 0: rendering the messages before it"));
  auto bad = ChatTemplate::Create("{{ x|wordwrap }}", "tokenizer_config.json chat_template", {});
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().message(),
            "tokenizer_config.json chat_template line 1: filter \"wordwrap\" is not supported");
}

TEST(ChatTemplateTest, Llama32DatesTheSystemPromptWithStrftimeNow) {
  auto text = Load("llama3_2.jinja", kLlama).Render(kTwoTurns, true);
  ASSERT_TRUE(text.ok()) << text.status().ToString();
  std::time_t now = std::time(nullptr);
  std::tm local{};
  localtime_r(&now, &local);
  char today[32];
  std::strftime(today, sizeof(today), "%d %b %Y", &local);
  EXPECT_THAT(*text, HasSubstr(std::string("Today Date: ") + today + "\n\n<|eot_id|>"));
}

TEST(ChatTemplateTest, RendersFromSeveralThreadsAtOnce) {
  const ChatTemplate t = Load("qwen3_generation.jinja", kQwen);
  auto want = t.RenderWithAssistantSpans(kWithSystem);
  ASSERT_TRUE(want.ok());
  std::vector<std::thread> threads;
  std::vector<int> mismatches(4, 0);
  for (int k = 0; k < 4; ++k) {
    threads.emplace_back([&, k] {
      for (int i = 0; i < 50; ++i) {
        auto got = t.RenderWithAssistantSpans(kWithSystem);
        if (!got.ok() || got->text != want->text ||
            got->assistant_spans.size() != want->assistant_spans.size()) {
          ++mismatches[size_t(k)];
        }
      }
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_THAT(mismatches, ElementsAre(0, 0, 0, 0));
}

TEST(ChatTemplateTest, SpecialTokensReachTheTemplate) {
  auto t = ChatTemplate::Create("{{ bos_token }}|{{ eos_token }}|{{ unk_token }}|{{ tools }}", "t",
                                {{"bos_token", "<s>"}, {"eos_token", "</s>"}});
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(*t->Render({}, false), "<s>|</s>||None");
}

}  // namespace
}  // namespace lf::worker
