// The Jinja subset against what jinja2 (as transformers configures it) renders.
#include "worker/chat/jinja.h"

#include <gtest/gtest.h>

namespace lf::worker::jinja {
namespace {

std::string Render(std::string_view source, const Json& context = Json::object()) {
  auto t = Template::Parse(source, "t");
  if (!t.ok()) return "PARSE ERROR: " + t.status().message();
  auto out = t->Render(context);
  if (!out.ok()) return "RENDER ERROR: " + out.status().message();
  return out->text;
}

TEST(JinjaTest, TextAndExpressions) {
  EXPECT_EQ(Render("a{{ 1 + 2 }}b"), "a3b");
  EXPECT_EQ(Render("{{ 'x' ~ 1 ~ none }}"), "x1None");
  EXPECT_EQ(Render("{{ 7 // 2 }} {{ -7 // 2 }} {{ 7 % 3 }} {{ -7 % 3 }} {{ 7 / 2 }} {{ 2 ** 10 }}"),
            "3 -4 1 2 3.5 1024");
  EXPECT_EQ(Render("{{ 1.0 }} {{ 0.1 + 0.2 }} {{ 1e16 }} {{ 1.5e-5 }}"),
            "1.0 0.30000000000000004 1e+16 1.5e-05");
  EXPECT_EQ(Render("{{ true }} {{ False }} {{ none }} {{ undefined_thing }}|"),
            "True False None |");
  EXPECT_EQ(Render("{{ [1, 'a', none, 2.5] }} {{ {'k': 'v', 'n': [1]} }}"),
            "[1, 'a', None, 2.5] {'k': 'v', 'n': [1]}");
  EXPECT_EQ(Render("{{ \"it's\" }} {{ ['it\\'s', \"q\\\"\"] }}"), "it's [\"it's\", 'q\"']");
  EXPECT_EQ(Render("{{ 'a\\nb\\t\\u00e9\\x41' }}"),
            "a\nb\t\xC3\xA9"
            "A");
  EXPECT_EQ(Render("{{ 'x' if false }}|{{ 'y' if 0 else 'z' }}"), "|z");
  EXPECT_EQ(
      Render("{{ 1 and 'b' }} {{ 0 or 'c' }} {{ not 1 }} {{ 2 in [1, 2] }} {{ 'b' not in 'abc' }}"),
      "b c False True False");
  EXPECT_EQ(Render("{{ 'ab' * 3 }} {{ [1] + [2] }} {{ 'a' + 'b' }}"), "ababab [1, 2] ab");
}

TEST(JinjaTest, AccessAndSlices) {
  Json ctx = {{"m", {{"role", "user"}, {"content", "héllo"}}}, {"l", {1, 2, 3, 4}}};
  EXPECT_EQ(Render("{{ m.role }} {{ m['content'] }} {{ m.missing }}|", ctx), "user héllo |");
  EXPECT_EQ(Render("{{ l[1:] }} {{ l[::-1] }} {{ l[-1] }} {{ l[:-2] }} {{ l[1::2] }}", ctx),
            "[2, 3, 4] [4, 3, 2, 1] 4 [1, 2] [2, 4]");
  EXPECT_EQ(Render("{{ m.content[1] }} {{ m.content[::-1] }} {{ m.content|length }}", ctx),
            "é olléh 5");
  EXPECT_EQ(Render("{{ m.missing.deeper }}", ctx),
            "RENDER ERROR: t line 1: attribute 'deeper' of an undefined value ('a dict' has no "
            "attribute 'missing')");
}

TEST(JinjaTest, WhitespaceControlAsTransformersConfiguresIt) {
  // trim_blocks drops the newline after a block tag; lstrip_blocks the indentation before it.
  EXPECT_EQ(Render("{% if true %}\n  yes\n{% endif %}\nend"), "  yes\nend");
  EXPECT_EQ(Render("x\n    {% if true %}\ny{% endif %}"), "x\ny");
  EXPECT_EQ(Render("a  {%- if true -%}  b  {%- endif %}"), "ab");
  EXPECT_EQ(Render("a {{- 'b' -}} c"), "abc");
  EXPECT_EQ(Render("{{ 'v' }}\n{{ 'w' }}"), "v\nw");  // no trim after }}
  EXPECT_EQ(Render("{# c #}\nx"), "x");
  EXPECT_EQ(Render("  {# c #}  x"), "  x");  // only whitespace up to the tag, on its own line
  EXPECT_EQ(Render("a\n  {%+ if true %}b{% endif %}"), "a\n  b");
  EXPECT_EQ(Render("{{ 'x' }}  {% if true %}y{% endif %}"), "x  y");
  EXPECT_EQ(Render("line\n"), "line");  // keep_trailing_newline=False
  EXPECT_EQ(Render("line\n\n"), "line\n");
  EXPECT_EQ(Render("a\r\nb"), "a\nb");
}

TEST(JinjaTest, LoopsAndScopes) {
  Json ctx = {{"xs", {"a", "b", "c"}}};
  EXPECT_EQ(
      Render("{% for x in xs %}{{ loop.index }}{{ x }}{{ ',' if not loop.last }}{% endfor %}", ctx),
      "1a,2b,3c");
  EXPECT_EQ(
      Render("{% for x in xs %}{{ loop.index0 }}{{ loop.revindex }}{{ loop.first }}{% endfor %}",
             ctx),
      "03True12False21False");
  EXPECT_EQ(Render("{% for x in xs if x != 'b' %}{{ x }}{{ loop.length }}{% endfor %}", ctx),
            "a2c2");
  EXPECT_EQ(Render("{% for x in [] %}x{% else %}empty{% endfor %}"), "empty");
  EXPECT_EQ(Render("{% for x in nothing %}x{% endfor %}|"), "|");
  EXPECT_EQ(
      Render("{% for x in xs %}{% if x == 'b' %}{% break %}{% endif %}{{ x }}{% endfor %}", ctx),
      "a");
  EXPECT_EQ(
      Render("{% for x in xs %}{% if x == 'b' %}{% continue %}{% endif %}{{ x }}{% endfor %}", ctx),
      "ac");
  EXPECT_EQ(Render("{% for x in xs %}{{ loop.previtem }}{{ loop.nextitem }};{% endfor %}", ctx),
            "b;ac;b;");
  EXPECT_EQ(Render("{% for k, v in {'a': 1, 'b': 2}.items() %}{{ k }}={{ v }} {% endfor %}"),
            "a=1 b=2 ");
  EXPECT_EQ(Render("{% for i in range(3) %}{{ i }}{% endfor %}{% for i in range(5, 1, -2) %}{{ i "
                   "}}{% endfor %}"),
            "01253");
  // set inside a loop does not leak; a namespace does.
  EXPECT_EQ(Render("{% set n = 0 %}{% for x in xs %}{% set n = n + 1 %}{% endfor %}{{ n }}", ctx),
            "0");
  EXPECT_EQ(Render("{% set ns = namespace(n=0) %}{% for x in xs %}{% set ns.n = ns.n + 1 %}{% "
                   "endfor %}{{ ns.n }}",
                   ctx),
            "3");
  EXPECT_EQ(Render("{% if true %}{% set y = 5 %}{% endif %}{{ y }}"), "5");
  EXPECT_EQ(Render("{% set a, b = 1, 2 %}{{ a }}{{ b }}"), "12");
  EXPECT_EQ(Render("{% set block %}in {{ 1 }}{% endset %}[{{ block }}]"), "[in 1]");
}

TEST(JinjaTest, FiltersAndTests) {
  EXPECT_EQ(
      Render("{{ '  x  '|trim }}|{{ 'ab'|upper }}|{{ 'hello world'|title }}|{{ 'hI'|capitalize }}"),
      "x|AB|Hello World|Hi");
  EXPECT_EQ(Render("{{ [3, 1]|first }}{{ [3, 1]|last }}{{ [1, 2]|join('-') }}{{ x|default('d') }}"),
            "311-2d");
  EXPECT_EQ(Render("{{ {'a': 1}|items|list }} {{ 'ab'|list }} {{ 5|string }}{{ '7'|int + 1 }} {{ "
                   "'2.5'|float }}"),
            "[('a', 1)] ['a', 'b'] 58 2.5");
  EXPECT_EQ(
      Render(
          "{{ 'aXbX'|replace('X', '-') }} {{ [1, 2, 1]|unique|list }} {{ [1, 2]|reverse|list }}"),
      "a-b- [1, 2] [2, 1]");
  EXPECT_EQ(Render("{{ -3|abs }} {{ 2.567|round(2) }} {{ 2.5|round }} {{ 3|round }}"),
            "3 2.57 2.0 3");
  Json ctx = {{"ms", {{{"role", "user"}, {"c", 1}}, {{"role", "tool"}, {"c", 2}}}}};
  EXPECT_EQ(Render("{{ ms|selectattr('role', 'equalto', 'user')|map(attribute='c')|list }}", ctx),
            "[1]");
  EXPECT_EQ(Render("{{ ms|rejectattr('role', 'equalto', 'user')|list|length }}", ctx), "1");
  EXPECT_EQ(Render("{{ ['a', 'code']|reject('equalto', 'code')|join(', ') }}"), "a");
  EXPECT_EQ(Render("{{ x is defined }}{{ none is none }}{{ 'a' is string }}{{ {} is mapping }}"
                   "{{ [] is iterable }}{{ 1 is number }}{{ true is boolean }}{{ false is false }}"
                   "{{ 3 is odd }}{{ 'a' is not string }}{{ 2 is divisibleby 2 }}"),
            "FalseTrueTrueTrueTrueTrueTrueTrueTrueFalseTrue");
  EXPECT_EQ(Render("{{ {'b': 1, 'a': [1, 'é']}|tojson }}"), "{\"b\": 1, \"a\": [1, \"é\"]}");
  EXPECT_EQ(Render("{{ {'a': {'b': none}}|tojson(indent=2) }}"),
            "{\n  \"a\": {\n    \"b\": null\n  }\n}");
  EXPECT_EQ(Render("{{ 'q\"\\n'|tojson }}"), "\"q\\\"\\n\"");
}

TEST(JinjaTest, StringAndDictMethods) {
  EXPECT_EQ(Render("{{ ' a '.strip() }}|{{ '\\n\\nx'.lstrip('\\n') }}|{{ 'x--'.rstrip('-') }}"),
            "a|x|x");
  EXPECT_EQ(Render("{{ 'a</think>b'.split('</think>')[-1] }} {{ ' a  b '.split() }} {{ "
                   "'a,b'.split(',', 1) }}"),
            "b ['a', 'b'] ['a', 'b']");
  EXPECT_EQ(
      Render("{{ 'abc'.startswith('ab') }}{{ 'abc'.endswith(('x', 'c')) }}{{ 'abc'.find('c') }}"),
      "TrueTrue2");
  EXPECT_EQ(
      Render(
          "{{ 'Ab'.upper() }}{{ 'Ab'.lower() }}{{ 'ab cd'.title() }}{{ 'aXa'.replace('a', 'b') }}"),
      "ABabAb CdbXb");
  EXPECT_EQ(Render("{{ d.get('a') }} {{ d.get('z', 0) }} {{ d.keys()|list }} {{ d.values()|list }}",
                   {{"d", {{"a", 1}}}}),
            "1 0 ['a'] [1]");
}

TEST(JinjaTest, GenerationBlocksReportTheirSpans) {
  auto t = Template::Parse(
      "A{% generation %}xé{% endgeneration %}B{% generation %}{% endgeneration %}", "t");
  ASSERT_TRUE(t.ok()) << t.status().ToString();
  EXPECT_TRUE(t->has_generation());
  auto out = t->Render(Json::object());
  ASSERT_TRUE(out.ok()) << out.status().ToString();
  EXPECT_EQ(out->text,
            "Axé"
            "B");
  ASSERT_EQ(out->generation_spans.size(), 2u);
  EXPECT_EQ(out->generation_spans[0], std::make_pair(size_t{1}, size_t{4}));  // bytes, not chars
  EXPECT_EQ(out->generation_spans[1], std::make_pair(size_t{5}, size_t{5}));
}

}  // namespace
}  // namespace lf::worker::jinja
