#!/usr/bin/env python3
"""Writes snippets.json: small templates, each exercising one rule of the Jinja subset, rendered
by the jinja2 environment transformers builds for chat templates (trim_blocks, lstrip_blocks,
loopcontrols, its tojson and globals). Run with the transformers venv:
/work/venv/bin/python make_snippets.py. A snippet jinja2 refuses is recorded with its error; the
C++ test then only requires an error. Context dict keys are sorted, as nlohmann::json orders them.
"""
import json
import pathlib

from transformers.utils.chat_template_utils import _compile_jinja_template

HERE = pathlib.Path(__file__).parent

CONTEXT = {
    "d": {"a": 1, "b": [1, 2], "c": {"x": "y"}},
    "e": "",
    "f": 2.5,
    "items": [{"n": 1, "name": "x"}, {"n": 2, "name": "Y"}, {"n": 3, "name": "x"}],
    "l": [3, 1, 2],
    "n": 3,
    "nothing": None,
    "s": "Héllo Wörld",
    "t": True,
}

SNIPPETS = [
    # Whitespace control with trim_blocks and lstrip_blocks.
    "{% if true %}\n    x\n{% endif %}\n",
    "  {% if true %}x{% endif %}  \n  y",
    "a {#- c -#} b",
    "{%- if true %}  \n  x{% endif -%}\n\n y",
    "\t{% for i in [1, 2] %}\n\t{{ i }}\n\t{% endfor %}\n",
    "{{ 'a' }}\n{# c #}\n{{ 'b' }}",
    "x {%+ if true %}y{% endif %}",
    "{% if true +%}\nx{% endif %}",
    "a\n\n  {% if true %}\n  b\n  {% endif %}\n\nc\n",
    "{{- '  x  ' -}}\n\n",
    "a  {{- 'b' }}  {{ 'c' -}}  d",
    "{% for i in l %}{{ i }}{% if not loop.last %}, {% endif %}{% endfor %}\n",
    "x\r\ny\rz\n",
    # Printing values as Python's str() does.
    "{{ 1.0 }} {{ 2.50 }} {{ 1e100 }} {{ 1e-7 }} {{ 123456789.123 }} {{ 0.1 }} {{ -0.0 }} {{ 1e15 }} {{ 1e16 }}",
    "{{ [1, 'a', none, true, 2.0, ['b']] }} {{ {'k': 'v'} }} {{ d }}",
    "{{ ['é', 'it\\'s', 'q\"', 'both \\' \"', 'a\\nb\\\\'] }}",
    "{{ nothing }} {{ t }} {{ n }} {{ f }} {{ undefined_name }}|",
    "{{ 'a' 'b' \"c\" }} {{ '\\x41\\u00e9\\t|' }} {{ 'tab\\there' }} {{ 'no\\escape' }}",
    "{{ 1_000 + 1e3 }} {{ 2 ** -1 }} {{ 2 ** 3 ** 2 }} {{ -2 ** 2 }}",
    # Operators.
    "{{ 7 / 2 }} {{ 6 / 3 }} {{ 7 // 2 }} {{ -7 // 2 }} {{ 7 % -3 }} {{ 7.5 // 2 }} {{ -7.5 % 2 }}",
    "{{ 'ab' * 2 }} {{ 2 * 'ab' }} {{ [1] * 3 }} {{ 'a' ~ 1 ~ 2.0 ~ none ~ true }}",
    "{{ 'a' in 'cat' }} {{ 'a' in d }} {{ 'z' not in d }} {{ 1 in l }} {{ 'x' in undefined_name }}",
    "{{ 'abc' < 'abd' }} {{ [1, 2] < [1, 3] }} {{ 1 == 1.0 }} {{ true == 1 }} {{ none == none }}",
    "{{ 1 and 2 }} {{ 0 and 2 }} {{ 0 or '' }} {{ '' or 'x' }} {{ not '' }} {{ not none }}",
    "{{ 'y' if t else 'n' }} {{ 'y' if nothing }}| {{ 1 if 0 else 2 if 0 else 3 }}",
    "{{ (1, 2) }} {{ (1,) }} {{ () }} {{ [1, 2][0] }} {{ {'a': 1}['a'] }}",
    # Attribute, item and slice access.
    "{{ d.a }} {{ d['b'][1] }} {{ d.c.x }} {{ d.missing }}| {{ l[5] }}| {{ l[-1] }} {{ d.items|length if false }}",
    "{{ l[1:] }} {{ l[:-1] }} {{ l[::-1] }} {{ l[::2] }} {{ l[5:] }} {{ l[-10:1] }} {{ l[2:0:-1] }}",
    "{{ s[1] }} {{ s[-1] }} {{ s[1:4] }} {{ s[::-1] }} {{ s[100:] }}|",
    # Filters.
    "{{ 'hello-world (foo) [bar] it\\'s'|title }} {{ 'hELLO wORLD'|capitalize }} {{ s|upper }} {{ s|lower }}",
    "{{ '  a b  '|trim }}|{{ 'xxaxx'|trim('x') }}|{{ '\\n\\t a \\n'|trim }}|{{ nothing|trim }}|",
    "{{ d|tojson }} {{ d|tojson(indent=2) }} {{ [1.0, 'é\\n\"', none, true]|tojson }}",
    "{{ {'b': 1, 'a': 2}|tojson(sort_keys=true) }} {{ d|tojson(separators=(',', ':')) }} {{ []|tojson(indent=4) }} {{ {}|tojson(indent=4) }}",
    "{{ 'x\\u0001\\u001f\\u007f'|tojson }} {{ 'a/b<c>&'|tojson }} {{ 3|tojson }} {{ 2.5|tojson }}",
    "{{ items|map(attribute='name')|join(', ') }} {{ items|join('|', attribute='n') }} {{ items|map(attribute='zzz', default='-')|list }}",
    "{{ items|selectattr('name', 'equalto', 'x')|map(attribute='n')|list }} {{ items|rejectattr('n', 'gt', 1)|list|length }}",
    "{{ items|selectattr('n')|list|length }} {{ [0, 1, 2, '']|select|list }} {{ l|select('odd')|list }} {{ l|reject('==', 1)|list }}",
    "{{ ['a', 'A', 'b', 'a']|unique|list }} {{ ['a', 'A']|unique(case_sensitive=true)|list }} {{ items|unique(attribute='name')|map(attribute='n')|list }}",
    "{{ 2.567|round(2) }} {{ 2.5|round }} {{ 3.5|round }} {{ 2.1|round(0, 'ceil') }} {{ 2.9|round(method='floor') }} {{ 7|round }}",
    "{{ '3'|int }} {{ '3.7'|int }} {{ 'abc'|int }} {{ 'abc'|int(5) }} {{ 3.9|int }} {{ '2.5'|float }} {{ 'x'|float }} {{ true|int }}",
    "{{ x|default('d') }} {{ ''|default('d') }} {{ ''|default('d', true) }} {{ nothing|d('n') }} {{ x|d }}|",
    "{{ d|items|list }} {{ 'ab'|list }} {{ d|list }} {{ l|string }} {{ nothing|string }} {{ x|list }}",
    "{{ 'aaa'|replace('a', 'b', 2) }} {{ s|length }} {{ d|length }} {{ x|length }} {{ l|count }} {{ s|first }} {{ s|last }}",
    "{{ l|first }} {{ l|last }} {{ l|reverse|list }} {{ s|reverse }} {{ -3|abs }} {{ -2.5|abs }} {{ l|sum }} {{ l|min }} {{ l|max }}",
    "{{ items|sum(attribute='n') if false }}{{ [1.5, 2]|sum }} {{ 'x'|safe }} {{ d|attr('a') }}|",
    # Tests.
    "{{ x is defined }} {{ d is defined }} {{ x is undefined }} {{ nothing is none }} {{ 0 is none }}",
    "{{ 'a' is string }} {{ 1 is number }} {{ 1.5 is number }} {{ true is number }} {{ 1 is integer }} {{ true is integer }} {{ 1.0 is float }}",
    "{{ true is boolean }} {{ 1 is boolean }} {{ true is true }} {{ 1 is true }} {{ false is false }} {{ 0 is false }}",
    "{{ d is mapping }} {{ l is mapping }} {{ l is iterable }} {{ s is iterable }} {{ 1 is iterable }} {{ x is iterable }} {{ s is sequence }} {{ d is sequence }}",
    "{{ 1 is equalto 1 }} {{ 1 is eq 2 }} {{ 1 is ne 2 }} {{ 3 is gt 2 }} {{ 3 is ge 3 }} {{ 2 is lt 3 }} {{ 2 is le 1 }} {{ 1 is in l }} {{ 'a' is in 'cat' }}",
    "{{ 3 is odd }} {{ 3 is even }} {{ 9 is divisibleby 3 }} {{ 'abc' is lower }} {{ 'ABC' is upper }} {{ 'aB' is lower }} {{ none is sameas none }}",
    "{{ 1 is not string }} {{ x is not defined }} {{ not x is defined }} {{ raise_exception is callable }} {{ strftime_now is defined }}",
    # Python string and dict methods.
    "{{ ' a b '.split() }} {{ 'a,b,,c'.split(',') }} {{ 'a b c'.split(' ', 1) }} {{ ''.split() }} {{ ''.split(',') }}",
    "{{ '  x  '.strip() }}|{{ '--x--'.strip('-') }}|{{ '\\n\\nx\\n'.lstrip('\\n') }}|{{ 'x  '.rstrip() }}|{{ 'abcx'.rstrip('xc') }}",
    "{{ 'abc'.startswith('ab') }} {{ 'abc'.startswith(('x', 'a')) }} {{ 'abc'.endswith('bc') }} {{ 'abc'.endswith('') }}",
    "{{ 'héllo'.find('l') }} {{ 'abc'.find('z') }} {{ 'aaa'.count('a') }} {{ 'hello world'.title() }} {{ 'x1y'.title() }} {{ 'aBc'.capitalize() }}",
    "{{ 'aXbX'.replace('X', '') }} {{ 'ab'.upper() }} {{ 'AB'.lower() }} {{ ', '.join(['a', 'b']) }}",
    "{{ d.get('a') }} {{ d.get('z') }} {{ d.get('z', 0) }} {{ d.keys()|list }} {{ d.values()|list|length }} {% for k, v in d.items() %}{{ k }}{% endfor %}",
    # Loops and scopes.
    "{% for x in l %}{{ loop.index }}{{ loop.index0 }}{{ loop.revindex }}{{ loop.revindex0 }}{{ loop.first }}{{ loop.last }}{{ loop.length }};{% endfor %}",
    "{% for x in l %}{{ loop.previtem }}-{{ loop.nextitem }};{% endfor %}",
    "{% for x in l if x > 1 %}{{ x }}{{ loop.index }}{% else %}none{% endfor %}|{% for x in l if x > 5 %}{{ x }}{% else %}none{% endfor %}",
    "{% for x in [1, 2] %}{% for y in 'ab' %}{{ loop.index }}{{ x }}{{ y }} {% endfor %}{{ loop.index }}|{% endfor %}",
    "{% for x in l %}{% if x == 1 %}{% continue %}{% endif %}{% if x == 2 %}{% break %}{% endif %}{{ x }}{% endfor %}",
    "{% for k in d %}{{ k }}{% endfor %} {% for c in 'hé' %}[{{ c }}]{% endfor %} {% for x in nothing_here %}x{% endfor %}|",
    "{% for a, b in [[1, 2], [3, 4]] %}{{ a + b }}{% endfor %} {% for i in range(2, 10, 3) %}{{ i }}{% endfor %} {{ range(3)|list }}",
    "{% set v = 1 %}{% for x in l %}{% set v = x %}{% endfor %}{{ v }} {% if t %}{% set w = 2 %}{% endif %}{{ w }}",
    "{% set ns = namespace(a=1, b=[]) %}{% for x in l %}{% set ns.a = ns.a + x %}{% endfor %}{{ ns.a }} {{ ns.b }}",
    "{% set ns = namespace() %}{% set ns.found = false %}{% for i in items if i.name == 'Y' %}{% set ns.found = true %}{% endfor %}{{ ns.found }}",
    "{% set a, b = 1, 'x' %}{{ a }}{{ b }} {% set c = (1, 2) %}{{ c }} {% set blk %}in {{ n }}\n{% endset %}[{{ blk }}]",
    "{% set messages = l[1:] %}{{ messages }} {% set l = 'shadow' %}{{ l }}",
    "{{ dict(a=1, b='x') }} {{ dict({'z': 1}, y=2) }} {{ namespace(x=1).x }}",
    "{% for x in [1, 2] %}{% if loop.first %}{% set y = 'a' %}{% endif %}[{{ y }}]{% endfor %}",
    "{% set y = 'o' %}{% for x in [1, 2] %}[{{ y }}]{% set y = x %}[{{ y }}]{% endfor %}{{ y }}",
    "{% for x in [1] %}{% set x = 5 %}{{ x }}{% endfor %}{% for x in l %}{% endfor %}{{ x }}|{{ loop }}|",
    "{%- set x -%}  a  {%- endset -%}[{{ x }}] {{ [1, 2] == (1, 2) }} {{ (1, 2) == (1, 2) }}",
    "{{ l|sort }} {{ l|sort(reverse=true) }} {{ ['b', 'A', 'a']|sort }} {{ items|sort(attribute='name')|map(attribute='n')|list }}",
    "{% for m in items %}{% if m.n == 2 %}{% set skip = true %}{% endif %}{{ m.n if not skip }}{% endfor %}",
    # What jinja2 refuses too.
    "{{ x.y }}",
    "{{ x + 1 }}",
    "{{ 'a' + 1 }}",
    "{{ l.append(4) }}",
    "{{ raise_exception('boom') }}",
    "{{ 1 // 0 }}",
    "{{ nothing.x }}",
    "{{ x() }}",
    "{% set ns = namespace() %}{% set ns._private = 1 %}",
]


def main():
    cases = []
    for source in SNIPPETS:
        case = {"source": source, "expected": None, "error": None}
        try:
            case["expected"] = _compile_jinja_template(source).render(**CONTEXT)
        except Exception as e:
            case["error"] = f"{type(e).__name__}: {e}"
        cases.append(case)
    out = {"context": CONTEXT, "snippets": cases}
    (HERE / "snippets.json").write_text(
        json.dumps(out, ensure_ascii=False, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    print(f"{len(cases)} snippets, {sum(1 for c in cases if c['error'])} errors")
    for c in cases:
        if c["error"]:
            print("  ", repr(c["source"])[:60], c["error"][:80])


if __name__ == "__main__":
    main()
