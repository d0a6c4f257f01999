#!/usr/bin/env python3
"""Builds the general English corpus the bundled base model is pretrained on.

Sources are Debian packages, so the corpus can be remade on any Debian 12 machine:
  - fortunes      (quotations, literature, humour: /usr/share/games/fortunes)
  - python3-doc   (the Python tutorial, HOWTOs and FAQs: prose, /usr/share/doc/python3-doc/html)
  - base-files    (/usr/share/common-licenses: legal English)
Paragraphs are normalised to single spaces, deduplicated, shuffled with a fixed seed and split
into train and eval (1 in 50). Only the standard library is used.

    sudo apt-get install fortunes python3-doc
    python3 examples/tools/make_corpus.py examples/data/general
"""
import glob
import html.parser
import json
import os
import random
import sys


def fortunes():
    for path in sorted(glob.glob("/usr/share/games/fortunes/*")):
        if path.endswith(".dat") or os.path.islink(path) or os.path.isdir(path):
            continue
        with open(path, encoding="utf-8", errors="replace") as f:
            for entry in f.read().split("\n%\n"):
                yield " ".join(entry.split())


class _Text(html.parser.HTMLParser):
    """Collects the text of <p> and <li> elements of the Python documentation."""

    def __init__(self):
        super().__init__()
        self.depth, self.buf, self.out = 0, [], []

    def handle_starttag(self, tag, attrs):
        if tag in ("p", "li"):
            self.depth += 1

    def handle_endtag(self, tag):
        if tag in ("p", "li") and self.depth:
            self.depth -= 1
            if not self.depth:
                self.out.append(" ".join("".join(self.buf).split()))
                self.buf = []

    def handle_data(self, data):
        if self.depth:
            self.buf.append(data)


def python_docs():
    root = "/usr/share/doc/python3-doc/html"
    for sub in ("tutorial", "howto", "faq"):
        for path in sorted(glob.glob(f"{root}/{sub}/*.html")):
            parser = _Text()
            with open(path, encoding="utf-8", errors="replace") as f:
                parser.feed(f.read())
            yield from parser.out


def licenses():
    for path in sorted(glob.glob("/usr/share/common-licenses/*")):
        if os.path.isdir(path):
            continue
        with open(path, encoding="utf-8", errors="replace") as f:
            for para in f.read().split("\n\n"):
                yield " ".join(para.split())


def main(out_dir):
    seen, texts = set(), []
    for source in (fortunes(), python_docs(), licenses()):
        for t in source:
            if 40 <= len(t) <= 2000 and t not in seen:
                seen.add(t)
                texts.append(t)
    if len(texts) < 1000:
        sys.exit("too little text found: install the packages named in this script's docstring")
    random.Random(0).shuffle(texts)
    os.makedirs(out_dir, exist_ok=True)
    eval_texts = texts[::50]
    train_texts = [t for i, t in enumerate(texts) if i % 50]
    for name, part in (("train", train_texts), ("eval", eval_texts)):
        with open(os.path.join(out_dir, f"{name}.jsonl"), "w", encoding="utf-8") as f:
            for t in part:
                f.write(json.dumps({"text": t}, ensure_ascii=False) + "\n")
    print(f"{out_dir}: {len(train_texts)} train and {len(eval_texts)} eval paragraphs, "
          f"{sum(len(t.encode()) for t in texts) / 1e6:.1f} MB")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "examples/data/general")
