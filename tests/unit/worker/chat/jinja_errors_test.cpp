// What the engine refuses, and how: every error names the template and the line; hostile
// templates stop at the limits instead of crashing or hanging.
#include <chrono>

#include <gtest/gtest.h>

#include "worker/chat/jinja.h"

namespace lf::worker::jinja {
namespace {

std::string ParseError(std::string_view source) {
  auto t = Template::Parse(source, "chat_template");
  return t.ok() ? "parsed" : t.status().message();
}

std::string RenderError(std::string_view source, const Json& context = Json::object()) {
  auto t = Template::Parse(source, "chat_template");
  if (!t.ok()) return "parse error: " + t.status().message();
  auto out = t->Render(context);
  return out.ok() ? "rendered: " + out->text : out.status().message();
}

TEST(JinjaErrorsTest, UnsupportedConstructsAreRefusedAtParseNamingTheLine) {
  EXPECT_EQ(ParseError("a\nb\n{{ x|wordwrap }}"),
            "chat_template line 3: filter \"wordwrap\" is not supported");
  EXPECT_EQ(ParseError("{% macro f() %}{% endmacro %}"),
            "chat_template line 1: statement \"macro\" is not supported");
  EXPECT_EQ(ParseError("\n{% raw %}x{% endraw %}"),
            "chat_template line 2: statement \"raw\" is not supported");
  EXPECT_EQ(ParseError("{% include 'x' %}"),
            "chat_template line 1: statement \"include\" is not supported");
  EXPECT_EQ(ParseError("{{ x is divisible }}"),
            "chat_template line 1: test \"divisible\" is not supported");
  EXPECT_EQ(ParseError("{% for x in y recursive %}{% endfor %}"),
            "chat_template line 1: recursive for loops are not supported");
  EXPECT_EQ(ParseError("{{ 1 < 2 < 3 }}"),
            "chat_template line 1: chained comparisons (a < b < c) are not supported");
  EXPECT_EQ(ParseError("{{ f(*args) }}"),
            "chat_template line 1: *args and **kwargs in calls are not supported");
}

TEST(JinjaErrorsTest, SyntaxErrorsNameTheLine) {
  EXPECT_EQ(ParseError("x\n{% if a %}never closed"),
            "chat_template line 2: {% if %} is never closed (expected {% endif %})");
  EXPECT_EQ(ParseError("{% endfor %}"), "chat_template line 1: unexpected {% endfor %}");
  EXPECT_EQ(ParseError("{{ 'abc }}"), "chat_template line 1: unterminated string literal");
  EXPECT_EQ(ParseError("{{ 1 +"), "chat_template line 1: unclosed {{ ... }}");
  EXPECT_EQ(ParseError("{# never"), "chat_template line 1: unclosed comment {# ... #}");
  EXPECT_EQ(ParseError("{% break %}"), "chat_template line 1: {% break %} outside a for loop");
  EXPECT_EQ(ParseError("{{ a b }}"), "chat_template line 1: unexpected 'b'");
}

TEST(JinjaErrorsTest, RenderErrorsNameTheLine) {
  EXPECT_EQ(
      RenderError("\n\n{{ raise_exception('Conversation roles must alternate') }}"),
      "chat_template line 3: the template raised an error: Conversation roles must alternate");
  EXPECT_EQ(RenderError("{{ messages[0]['role'] }}", {{"messages", Json::array()}}),
            "chat_template line 1: item 'role' of an undefined value (list index out of range)");
  EXPECT_EQ(RenderError("{{ foo.bar }}"),
            "chat_template line 1: attribute 'bar' of an undefined value ('foo' is undefined)");
  EXPECT_EQ(RenderError("{{ foo() }}"),
            "chat_template line 1: a call of an undefined value ('foo' is undefined)");
  EXPECT_EQ(RenderError("{{ 'a' + 1 }}"),
            "chat_template line 1: unsupported operands for +: a string and an integer");
  EXPECT_EQ(RenderError("{{ x + 1 }}"),
            "chat_template line 1: operator + on an undefined value ('x' is undefined)");
  EXPECT_EQ(RenderError("{{ [1].append(2) }}"),
            "chat_template line 1: lists cannot be modified (list.append)");
  EXPECT_EQ(RenderError("{{ 'x'.format(1) }}"),
            "chat_template line 1: a string has no method \"format\" (or it is not supported)");
  EXPECT_EQ(RenderError("{% set ns = namespace() %}{% set ns._x = 1 %}"),
            "chat_template line 1: namespace attributes cannot start with '_': _x");
  EXPECT_EQ(RenderError("{% set s = 'a' %}{% set s.x = 1 %}"),
            "chat_template line 1: cannot assign attribute on a string \"s\" (only namespace() "
            "objects)");
  EXPECT_EQ(RenderError("{{ 1 // 0 }}"), "chat_template line 1: division by zero");
  EXPECT_EQ(RenderError("{{ '%s' % 1 }}"),
            "chat_template line 1: string formatting with % is not supported");
  EXPECT_EQ(RenderError("{{ x|tojson }}"),
            "chat_template line 1: filter tojson: tojson: undefined is not JSON serializable");
  auto t = Template::Parse("x", "t");
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(t->Render(Json::array()).status().message(),
            "t: the render context must be a JSON object");
}

TEST(JinjaErrorsTest, HostileTemplatesStopAtTheLimits) {
  auto start = std::chrono::steady_clock::now();
  EXPECT_NE(RenderError("{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}"
                        "{% endfor %}")
                .find("steps; is it looping without end?"),
            std::string::npos);
  EXPECT_NE(RenderError("{% for i in range(100000) %}{{ 'x' * 1000 }}{% endfor %}")
                .find("the output would exceed 16777216 bytes"),
            std::string::npos);
  EXPECT_EQ(RenderError("{{ 'x' * 100000000 }}"),
            "chat_template line 1: repetition beyond the size limit");
  EXPECT_EQ(RenderError("{{ range(100000000)|length }}"),
            "chat_template line 1: range() of more than 1000000 items");
  EXPECT_EQ(RenderError("{% set ns = namespace(s='x') %}{% for i in range(40) %}"
                        "{% set ns.s = ns.s + ns.s %}{% endfor %}"),
            "chat_template line 1: string longer than the output limit");
  EXPECT_EQ(RenderError("{% set ns = namespace(x=1) %}{% for i in range(100000) %}"
                        "{% set ns.x = [ns.x] %}{% endfor %}"),
            "chat_template line 1: the value assigned to ns.x nests lists, dicts or namespaces "
            "deeper than 100 levels");
  EXPECT_EQ(RenderError("{% set ns = namespace() %}{% set ns.me = ns %}{{ ns }}").substr(0, 45),
            "rendered: <Namespace {'me': <Namespace {'me':");
  EXPECT_EQ(RenderError("{% set ns = namespace() %}{% set ns.me = ns %}{% set ns.again = ns %}"),
            "chat_template line 1: the value assigned to ns.again nests lists, dicts or namespaces "
            "deeper than 100 levels");
  std::string deep = std::string(5000, '(') + "1" + std::string(5000, ')');
  EXPECT_EQ(ParseError("{{ " + deep + " }}"),
            "chat_template line 1: expression nested deeper than 100 levels");
  std::string nots;
  for (int i = 0; i < 5000; ++i) nots += "not ";
  EXPECT_EQ(ParseError("{{ " + nots + "1 }}"),
            "chat_template line 1: expression nested deeper than 100 levels");
  std::string blocks;
  for (int i = 0; i < 500; ++i) blocks += "{% if true %}";
  EXPECT_EQ(ParseError(blocks), "chat_template line 1: blocks nested deeper than 100");
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(20));
}

}  // namespace
}  // namespace lf::worker::jinja
