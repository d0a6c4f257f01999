#!/usr/bin/env python3
"""Reads a page of the dashboard as headless Chromium left it (--dump-dom) for dashboard_test.sh.

usage: dashboard_page.py FILE EXPR
EXPR is a Python expression over the page, printed like lib.sh's jget (strings as they are,
anything else as JSON). Names it can use:
  page.rows(TABLE)      the rows of <table data-table=TABLE>: [{"_id": data-id, column: text}]
  page.find(TAG, **attrs)  elements whose attributes contain these values (class matches a word)
  page.text(el)         an element's text; page.text() the whole <main>
  el["attr"]            an element's attribute
"""
import json
import sys
from html.parser import HTMLParser

VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source",
        "track", "wbr"}


class Element:
    def __init__(self, tag, attrs, parent):
        self.tag, self.attrs, self.parent, self.children = tag, dict(attrs), parent, []

    def __getitem__(self, key):
        return self.attrs.get(key)

    def walk(self):
        yield self
        for c in self.children:
            if isinstance(c, Element):
                yield from c.walk()


class Page(HTMLParser):
    def __init__(self, html):
        super().__init__(convert_charrefs=True)
        self.root = Element("#root", {}, None)
        self.open = self.root
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        e = Element(tag, attrs, self.open)
        self.open.children.append(e)
        if tag not in VOID:
            self.open = e

    def handle_startendtag(self, tag, attrs):
        self.open.children.append(Element(tag, attrs, self.open))

    def handle_endtag(self, tag):
        e = self.open
        while e is not self.root and e.tag != tag:
            e = e.parent
        if e is not self.root:
            self.open = e.parent

    def handle_data(self, data):
        self.open.children.append(data)

    def find(self, tag=None, within=None, **attrs):
        def matches(e):
            if tag and e.tag != tag:
                return False
            for k, v in attrs.items():
                k = k.rstrip("_").replace("_", "-")
                have = e.attrs.get(k)
                if have is None:
                    return False
                if k == "class" and v not in have.split():
                    return False
                if k != "class" and have != str(v):
                    return False
            return True
        return [e for e in (within or self.root).walk() if matches(e)]

    def text(self, e=None):
        if e is None:
            e = self.find("main")[0]
        return "".join(c if isinstance(c, str) else self.text(c) for c in e.children)

    def rows(self, table):
        found = self.find("table", data_table=table)
        if not found:
            return []
        out = []
        for tr in self.find("tr", within=found[0]):
            cells = self.find("td", within=tr)
            if cells:
                row = {c["data-column"]: self.text(c).strip() for c in cells}
                row["_id"] = tr["data-id"]
                out.append(row)
        return out


def main():
    with open(sys.argv[1], encoding="utf-8") as f:
        page = Page(f.read())
    v = eval(sys.argv[2], {"page": page, "json": json})
    print(v if isinstance(v, str) else json.dumps(v))


if __name__ == "__main__":
    main()
