// Every case of testdata/fixtures.json (make_fixtures.py: what transformers renders from real
// chat templates) rendered by our engine and compared byte for byte, errors included.
#include <fstream>
#include <map>
#include <sstream>

#include <gtest/gtest.h>

#include "worker/chat/chat_template.h"
#include "worker/chat/jinja.h"

namespace lf::worker {
namespace {

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

Json LoadFixtures() {
  return Json::parse(ReadFile(std::string(LF_TEST_SRCDIR) + "/testdata/fixtures.json"));
}

TEST(ChatTemplateFixtureTest, EveryCaseRendersAsTransformersDoes) {
  const Json fixtures = LoadFixtures();
  std::map<std::string, jinja::Template> templates;
  std::map<std::string, ChatTemplate> chat_templates;
  for (const auto& [name, info] : fixtures["templates"].items()) {
    std::string path = std::string(LF_TEST_SRCDIR) + "/testdata/" + info["file"].get<std::string>();
    std::string source = ReadFile(path);
    auto parsed = jinja::Template::Parse(source, info["file"].get<std::string>());
    ASSERT_TRUE(parsed.ok()) << parsed.status().ToString();
    templates.emplace(name, *parsed);
    auto chat = ChatTemplate::Create(source, name,
                                     info["special"].get<std::map<std::string, std::string>>());
    ASSERT_TRUE(chat.ok()) << chat.status().ToString();
    chat_templates.emplace(name, *chat);
  }
  size_t checked = 0, errors = 0, via_api = 0, spans = 0;
  for (const Json& c : fixtures["cases"]) {
    const std::string name = c["template"];
    const std::string label = name + "/" + c["conversation"].get<std::string>() +
                              (c["context"]["add_generation_prompt"].get<bool>() ? "/gen" : "");
    SCOPED_TRACE(label);
    auto out = templates.at(name).Render(c["context"]);
    if (!c["error"].is_null()) {
      ASSERT_FALSE(out.ok()) << label << " rendered but transformers raised " << c["error"];
      EXPECT_NE(out.status().message().find(c["error"].get<std::string>()), std::string::npos)
          << out.status().message();
      ++errors;
      continue;
    }
    ASSERT_TRUE(out.ok()) << out.status().ToString();
    EXPECT_EQ(out->text, c["expected"].get<std::string>());
    if (c.contains("generation_spans")) {
      std::vector<std::pair<size_t, size_t>> want;
      for (const auto& s : c["generation_spans"])
        want.emplace_back(s[0].get<size_t>(), s[1].get<size_t>());
      EXPECT_EQ(out->generation_spans, want);
      ++spans;
    }
    if (c["chat_template_api"].get<bool>()) {
      std::vector<ChatMessage> messages;
      for (const auto& m : c["context"]["messages"]) {
        messages.push_back({m["role"].get<std::string>(), m["content"].get<std::string>()});
      }
      auto text = chat_templates.at(name).Render(messages,
                                                 c["context"]["add_generation_prompt"].get<bool>());
      ASSERT_TRUE(text.ok()) << text.status().ToString();
      EXPECT_EQ(*text, c["expected"].get<std::string>());
      ++via_api;
    }
    ++checked;
  }
  EXPECT_GE(checked, 150u);
  EXPECT_GE(errors, 4u);
  EXPECT_GE(via_api, 100u);
  EXPECT_GE(spans, 6u);
}

}  // namespace
}  // namespace lf::worker
