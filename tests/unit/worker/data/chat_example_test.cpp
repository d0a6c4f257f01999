// Chat examples against Hugging Face: for each family's tokenizer fixture and chat template, the
// ids of apply_chat_template(messages, tokenize=True) and the assistant loss masks that
// make_chat_fixtures.py wrote (transformers' return_assistant_tokens_mask for templates with
// {% generation %} blocks; HF's offsets over the prefix-rendering spans for the others).
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "common/file_util.h"
#include "common/json_reader.h"
#include "worker/data/example.h"
#include "worker/data/jsonl_reader.h"
#include "worker/data/packed_loader.h"

namespace lf::worker {
namespace {

const std::string kDataDir = LF_TEST_SRCDIR;
const std::string kFamilies = kDataDir + "/../tokenizer/testdata/families/";
const std::string kTemplates = kDataDir + "/../chat/testdata/";

// The template file as a job's data.chat_template names it.
ChatTemplate LoadTemplate(const std::string& file, const Tokenizer& tokenizer) {
  auto chat = LoadChatTemplate(tokenizer, kTemplates + file, "unused");
  EXPECT_TRUE(chat.ok() && chat->has_value()) << chat.status().ToString();
  return std::move(**chat);
}

std::unique_ptr<Tokenizer> LoadFamily(const std::string& family) {
  auto tokenizer = LoadTokenizer(kFamilies + family);
  EXPECT_TRUE(tokenizer.ok()) << tokenizer.status().ToString();
  return std::move(tokenizer).value();
}

std::string WriteTemp(const std::string& name, const std::string& content) {
  std::string path = (std::filesystem::path(::testing::TempDir()) / ("lf_chat_" + name)).string();
  std::ofstream(path, std::ios::binary) << content;
  return path;
}

TEST(ChatExampleTest, IdsAndAssistantMasksEqualHuggingFacesForEveryFamily) {
  Result<std::string> text = ReadFileToString(kDataDir + "/testdata/chat_examples.json");
  ASSERT_TRUE(text.ok()) << text.status().ToString();
  Result<Json> doc = ParseJson(*text, "chat_examples.json");
  ASSERT_TRUE(doc.ok());
  int checked = 0;
  for (const Json& c : (*doc)["cases"]) {
    const std::string family = c["family"], file = c["template"];
    SCOPED_TRACE(family + " + " + file);
    std::unique_ptr<Tokenizer> tokenizer = LoadFamily(family);
    ChatTemplate chat = LoadTemplate(file, *tokenizer);
    std::vector<ChatMessage> messages;
    for (const Json& m : c["messages"]) messages.push_back({m["role"], m["content"]});
    Result<Example> e = ChatExample(*tokenizer, chat, messages, jobs::TrainOn::kAssistant);
    ASSERT_TRUE(e.ok()) << e.status().ToString();
    EXPECT_EQ(e->ids, c["ids"].get<std::vector<int32_t>>());
    EXPECT_EQ(std::vector<int>(e->loss.begin(), e->loss.end()),
              c["assistant_mask"].get<std::vector<int>>());
    if (!c["last_assistant_mask"].is_null()) {
      Result<Example> last = ChatExample(*tokenizer, chat, messages, jobs::TrainOn::kLastAssistant);
      ASSERT_TRUE(last.ok()) << last.status().ToString();
      EXPECT_EQ(std::vector<int>(last->loss.begin(), last->loss.end()),
                c["last_assistant_mask"].get<std::vector<int>>());
    }
    Result<Example> all = ChatExample(*tokenizer, chat, messages, jobs::TrainOn::kAll);
    ASSERT_TRUE(all.ok());
    EXPECT_EQ(all->ids, e->ids);
    EXPECT_EQ(std::count(all->loss.begin(), all->loss.end(), 1),
              static_cast<int64_t>(all->loss.size()));
    ++checked;
  }
  EXPECT_GE(checked, 18);
}

TEST(ChatExampleTest, AssistantTargetsAreTheRepliesAndTheirEndOfTurn) {
  std::unique_ptr<Tokenizer> tokenizer = LoadFamily("llama3");
  ChatTemplate chat = LoadTemplate("llama3.jinja", *tokenizer);
  const std::vector<ChatMessage> messages = {
      {"user", "Hi"}, {"assistant", "Hello there"}, {"user", "Bye"}, {"assistant", "Goodbye"}};
  Result<Example> e = ChatExample(*tokenizer, chat, messages, jobs::TrainOn::kAssistant);
  ASSERT_TRUE(e.ok()) << e.status().ToString();
  std::vector<int32_t> targets;
  for (size_t i = 0; i < e->ids.size(); ++i) {
    if (e->loss[i]) targets.push_back(e->ids[i]);
  }
  EXPECT_EQ(tokenizer->Decode(targets), "Hello there<|eot_id|>Goodbye<|eot_id|>");
  EXPECT_EQ(e->ids.front(), *tokenizer->TokenToId("<|begin_of_text|>"));  // from the template

  Result<Example> none = ChatExample(*tokenizer, chat, std::vector<ChatMessage>{{"user", "Hi"}},
                                     jobs::TrainOn::kAssistant);
  ASSERT_FALSE(none.ok());
  EXPECT_NE(none.status().message().find("no assistant message to learn from"), std::string::npos);
  EXPECT_TRUE(
      ChatExample(*tokenizer, chat, std::vector<ChatMessage>{{"user", "Hi"}}, jobs::TrainOn::kAll)
          .ok());
}

TEST(ChatExampleTest, TextExamplesGetTheBosHuggingFaceAdds) {
  std::unique_ptr<Tokenizer> llama3 = LoadFamily("llama3");
  const int32_t eos = *llama3->eos_id();
  Example e = TextExample(*llama3, "Hello world", eos);
  std::vector<int32_t> want = llama3->AddSpecialTokens(llama3->Encode("Hello world"));
  ASSERT_EQ(want.front(), *llama3->TokenToId("<|begin_of_text|>"));
  want.push_back(eos);
  EXPECT_EQ(e.ids, want);
  Example pc = PromptCompletionExample(*llama3, "Q:", " A", eos);
  EXPECT_EQ(pc.ids.front(), want.front());
  EXPECT_EQ(pc.loss.front(), 0);
  EXPECT_EQ(pc.ids.back(), eos);
  EXPECT_EQ(pc.loss.back(), 1);
}

TEST(ChatExampleTest, JsonlChatLinesAreRenderedAndPackedAsDocuments) {
  std::unique_ptr<Tokenizer> tokenizer = LoadFamily("qwen2");
  ChatTemplate chat = LoadTemplate("qwen2_5.jinja", *tokenizer);
  const std::string path = WriteTemp(
      "ok.jsonl",
      R"({"messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello"}]})"
      "\n"
      R"({"text": "plain text mixes in"})"
      "\n");
  DataFileInfo info;
  auto examples = LoadJsonlExamples(path, *tokenizer, {.chat_template = &chat}, &info);
  ASSERT_TRUE(examples.ok()) << examples.status().ToString();
  EXPECT_EQ(info.chat_examples, 1);
  ASSERT_EQ(examples->size(), 2u);
  std::vector<ChatMessage> messages = {{"user", "Hi"}, {"assistant", "Hello"}};
  EXPECT_EQ((*examples)[0].ids,
            ChatExample(*tokenizer, chat, messages, jobs::TrainOn::kAssistant)->ids);

  auto loader = PackedLoader::Create(
      *examples, {.seq_len = 256, .batch_size = 1, .packing = jobs::DataPacking::kDocuments});
  ASSERT_TRUE(loader.ok()) << loader.status().ToString();
  Batch b = loader->Next();
  ASSERT_EQ(b.document_ids.size(), 256u);
  EXPECT_EQ(b.document_ids.front(), 0);
  EXPECT_EQ(b.document_ids[static_cast<size_t>(b.lengths[0] - 1)], 1);  // both in one row
  EXPECT_EQ(b.document_ids.back(), 2);                                  // then padding
}

TEST(ChatExampleTest, BadChatLinesNameTheFileLineAndMessage) {
  std::unique_ptr<Tokenizer> tokenizer = LoadFamily("qwen2");
  ChatTemplate chat = LoadTemplate("qwen2_5.jinja", *tokenizer);
  const JsonlOptions with_chat{.chat_template = &chat};
  struct Case {
    std::string line;
    JsonlOptions options;
    std::string message;
  };
  const std::vector<Case> cases = {
      {R"({"messages": []})", with_chat, ":1: messages: expected at least one message"},
      {R"({"messages": [{"role": "user", "content": "a"}, {"role": "tool", "content": "b"}]})",
       with_chat,
       ":1: messages[1].role: expected \"system\", \"user\" or \"assistant\", got \"tool\""},
      {R"({"messages": [{"role": "user"}]})", with_chat,
       ":1: messages[0].content: required field is missing"},
      {R"({"messages": [{"role": "user", "content": 3}]})", with_chat,
       ":1: messages[0].content: expected a string"},
      {R"({"messages": ["hi"]})", with_chat, ":1: messages[0]: expected {\"role\""},
      {R"({"messages": [{"role": "user", "content": "a"}], "text": "b"})", with_chat,
       ":1: text: unknown key"},
      {R"({"messages": [{"role": "user", "content": "a"}]})", with_chat,
       ":1: messages: no assistant message to learn from"},
      {R"({"messages": [{"role": "assistant", "content": "a"}]})", JsonlOptions{},
       ":1: messages: a chat example needs a chat template"},
  };
  for (const Case& c : cases) {
    const std::string path = WriteTemp("bad.jsonl", c.line + "\n");
    auto examples = LoadJsonlExamples(path, *tokenizer, c.options);
    ASSERT_FALSE(examples.ok()) << c.line;
    EXPECT_NE(examples.status().message().find(path + c.message), std::string::npos)
        << examples.status().message();
  }
}

}  // namespace
}  // namespace lf::worker
