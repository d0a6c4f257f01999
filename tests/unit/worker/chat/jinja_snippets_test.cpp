// testdata/snippets.json (make_snippets.py): small templates, each one rule of the subset, with
// what jinja2 renders from them in transformers' environment; ours must match byte for byte,
// and must fail where jinja2 fails.
#include <fstream>
#include <sstream>

#include <gtest/gtest.h>

#include "worker/chat/jinja.h"

namespace lf::worker::jinja {
namespace {

TEST(JinjaSnippetsTest, EverySnippetRendersAsJinja2Does) {
  std::ifstream in(std::string(LF_TEST_SRCDIR) + "/testdata/snippets.json", std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  const Json fixtures = Json::parse(s.str());
  size_t count = 0;
  for (const Json& c : fixtures["snippets"]) {
    const std::string source = c["source"];
    SCOPED_TRACE(source);
    auto t = Template::Parse(source, "snippet");
    Result<Template::Output> out =
        t.ok() ? t->Render(fixtures["context"]) : Result<Template::Output>(t.status());
    if (c["error"].is_null()) {
      ASSERT_TRUE(out.ok()) << out.status().ToString();
      EXPECT_EQ(out->text, c["expected"].get<std::string>());
    } else {
      EXPECT_FALSE(out.ok()) << "jinja2 raised " << c["error"] << " but we rendered " << out->text;
    }
    ++count;
  }
  EXPECT_GE(count, 80u);
}

}  // namespace
}  // namespace lf::worker::jinja
