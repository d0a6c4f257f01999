#!/usr/bin/env python3
"""Regenerates the tokenizer test fixtures in testdata/ from Hugging Face `tokenizers`.

The C++ tests never run this script; they read the files it wrote, which are committed.

  python3 -m venv /tmp/tokvenv && /tmp/tokvenv/bin/pip install tokenizers transformers
  /tmp/tokvenv/bin/python make_fixtures.py              # rewrites testdata/
  /tmp/tokvenv/bin/python make_fixtures.py expect DIR OUT.json
      # HF ids of the tricky texts for the model folder DIR (tokenizer.json, or vocab.json +
      # merges.txt); run the C++ test with LF_TOKENIZER_CHECK=OUT.json to compare (e.g. real GPT-2)
  /tmp/tokvenv/bin/python make_fixtures.py check-byte DIR
      # loads a folder written by SaveByteTokenizer with HF and prints its ids for a few texts

What it makes: a byte-level BPE (GPT-2's pre-tokenizer and decoder, ~1200 tokens) trained on a
generated multilingual corpus, saved as tokenizer.json with merges as pairs (what this version of
`tokenizers` writes) and as "a b" strings (what older versions wrote), and as vocab.json +
merges.txt; then HF's ids for tricky texts, random strings and invalid UTF-8 (decoded the way
Python's bytes.decode("utf-8", errors="replace") does), and the Unicode classes (letter, number,
whitespace) that HF's GPT-2 regex uses, found by probing every code point.
"""
import json
import os
import random
import sys

import tokenizers
from tokenizers import AddedToken, Tokenizer, decoders, models, pre_tokenizers, trainers

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "testdata")
SEED = 20240611

WORDS = {
    "en": "the of and to in is you that it he was for on are as with his they I at be this have "
          "from or one had by word but not what all were we when your can said there use an each "
          "which she do how their if will up other about out many then them these so some her "
          "would make like him into time has look two more write go see number no way could "
          "people my than first water been call who oil its now find long down day did get come "
          "made may part Hello World GPT tokenizer OpenAI's London Paris".split(),
    "contractions": "don't can't it's I'm you're we've they'll she'd HE'S IT'S DON'T I'M "
                    "you'RE o'clock rock'n'roll 'tis '90s Mary's James' y'all".split(),
    "fr": "déjà vu où à l'été Noël garçon français élève naïve cœur fête forêt très".split(),
    "de": "Straße Grüße Mädchen schön Fußgänger Übermut Ärger Öl größer".split(),
    "es": "niño mañana corazón acción jalapeño ¿qué? ¡hola! año pingüino".split(),
    "ru": "привет мир Москва съешь же ещё этих мягких французских булок".split(),
    "el": "Καλημέρα κόσμε αλφάβητο Ελλάδα ψυχή".split(),
    "hi": "नमस्ते दुनिया हिन्दी भाषा क्षत्रिय प्रेम ज्ञान १२३ ४५६".split(),
    "zh": "你好 世界 中文 分词器 测试 人工智能 我们 今天 天气 很好".split(),
    "ja": "こんにちは 世界 カタカナ ひらがな 東京 日本語 テスト".split(),
    "ko": "안녕하세요 세계 한국어 토크나이저 서울".split(),
    "ar": "مرحبا بالعالم العربية كتاب ٣٤٥".split(),
    "he": "שלום עולם עברית".split(),
    "th": "สวัสดี ภาษาไทย".split(),
    "emoji": "😀 👍 👍🏽 👨‍👩‍👧‍👦 🇫🇷 ❤️ 🎉🎉 🤖 ✨".split(),
    "num": "0 1 42 1999 2024 3.14159 1,000,000 007 12:30 ½ ² Ⅻ 𝟘".split(),
    "code": ["def f(x):", "return x+1", "if (a && b) {", "}", "x = [1, 2, 3]", "#include",
             "<div>", "</div>", "a->b", "i++;", "==", "!=", "...", "--flag", "$HOME", "C:\\path"],
}
SPACES = [" ", " ", " ", " ", "  ", "\n", "\n\n", "\t", " \n", "   ", "\r\n"]


def corpus(rng, size):
    keys = list(WORDS)
    weights = [6 if k in ("en", "contractions") else 1 for k in keys]
    parts, n = [], 0
    while n < size:
        lang = rng.choices(keys, weights)[0]
        sentence = rng.choice(SPACES).join(
            rng.choice(WORDS[lang]) for _ in range(rng.randint(3, 14)))
        if rng.random() < 0.5:
            sentence = sentence[:1].upper() + sentence[1:] + rng.choice([".", "!", "?", ",", ""])
        if rng.random() < 0.02:
            sentence += "<|endoftext|>"
        parts.append(sentence)
        n += len(sentence.encode()) + 1
    return "\n".join(parts)


TRICKY = [
    "", " ", "  ", "   ", "\t", "\n", "\n\n", "\r\n", " \n ", "a", "A", "Hello world",
    "Hello  world", "Hello   world", "Hello world ", "Hello world  ", "  leading spaces",
    "tab\tseparated\tvalues", "line one\nline two\n", "trailing newline\n\n\n", "mixed \t \n  \t",
    "x  \n  y", "end with space and tab \t", " \t\n\r\x0b\x0c", "a\u00a0b", "a\u3000b c\u2003d",
    "nel\u0085line", "sep\u2028line\u2029para", "mongolian\u180evowel", "zw\u200bspace",
    "don't can't won't it's I'm you're we've they'll she'd",
    "DON'T IT'S I'M YOU'RE WE'VE THEY'LL SHE'D", "It'S He'Ll We'Ve", "'s 't 're 've 'm 'll 'd",
    "''s ' s 's's", "rock'n'roll o'clock y'all", "don’t (curly apostrophe)", "'", "''", "x'",
    "0", "12", "123", "1234567890", "3.14159", "1,000,000", "007 agent", "2024-06-11T12:30:00Z",
    "½ ² ³ Ⅻ 𝟘 ٣٤٥ १२३", "x1y2z3", "a1 b22 c333", "v1.2.3-rc4",
    "déjà vu", "Straße", "naïve café", "e\u0301 (combining)", "\u0301 leading combining mark",
    "Ελληνικά και ελληνικά", "привет, мир!", "ПРИВЕТ", "नमस्ते दुनिया", "क्षत्रिय",
    "你好，世界！", "中文分词测试", "日本語のテキスト、カタカナ。", "한국어 토크나이저", "مرحبا بالعالم",
    "שלום עולם", "สวัสดีครับ", "😀", "😀😀😀", "👍🏽", "👨‍👩‍👧‍👦 family", "🇫🇷🇩🇪", "❤️‍🔥", "I ❤️ NY",
    "emoji😀inside", "a\ufffdb", "\ufffd", "\u0000 null \u0001 ctrl \u007f del",
    "\U0010ffff \U000e0041 \uffff", "Unicode 16: \u1c89\u1c8a \U000105c0 \U00011f04 \U00016d70",
    "<|endoftext|>", "a<|endoftext|>b", "<|endoftext|><|endoftext|>", " <|endoftext|> ",
    "<|endoftext|", "<|endoftext", "|endoftext|>", "<|end|> and <|endoftext|> and <|end|x",
    "<|pad|>", "x<|pad|>y", "[CODE] block", "a[CODE]b", "<mask>", "a <mask> b",
    "a  <mask>  b", "a\t<mask>\nb", "ony", "Tony ony ony's ony.", "phony ony", "→", "a→b → c",
    "def f(x):\n    return x + 1\n", "if (a && b) { return; }", "    indented\n        more",
    "a->b->c; i++;", "#include <vector>", "C:\\Users\\name", "https://example.com/a?b=c&d=e",
    "email@example.com", "$HOME/.config", "¿Qué tal? ¡Hola!", "... --- ...", "!!!???", "a.b,c;d:e",
    "\"quoted\" 'single'", "(parentheses) [brackets] {braces}", "100%", "#hashtag @mention",
    "The quick brown fox jumps over the lazy dog. THE QUICK BROWN FOX!",
    "Mixed English и русский 和中文 with 😀 and numbers 123.",
    "word" * 40, " " * 40, "a" + " " * 17 + "b", "\n" * 7 + "x", "ab" * 100,
]

POOL = (list("aAbBzZéßж中あ한ع१٣") + list("0123456789") + [" "] * 8 + ["\t", "\n", "\r",
        "\u00a0", "\u0085", "\u2028", "\u3000", "\u180e", "\u200b"] + list("'''sStTdDmMlLrReEvV") +
        list(".,;:!?-_()[]{}<>|/\\\"#$%&*+=@^`~") + ["\u0301", "\u0308", "\u200d", "\ufe0f"] +
        ["😀", "👍", "🏽", "🇫", "🇷", "❤", "\U0001f9d1", "\U000105c0", "\u1c89", "\U00016d70"] +
        ["<|endoftext|>", "<|end", "oftext|>", "<|pad|>", "[CODE]", "<mask>", "ony", "→"])


def random_texts(rng, count):
    return ["".join(rng.choice(POOL) for _ in range(rng.randint(1, 40))) for _ in range(count)]


INVALID_UTF8 = [
    b"\x80", b"abc\x80def", b"\xbf\xbf", b"\xc3", b"\xc3(", b"caf\xc3", b"\xe2\x82", b"\xe2\x82x",
    b"\xf0\x9f\x98", b"\xf0\x9f\x98 ok", b"\xf0\x9f", b"\xc0\xaf", b"\xc1\xbf", b"\xe0\x80\xaf",
    b"\xe0\x9f\xbf", b"\xf0\x80\x80\xaf", b"\xf0\x8f\xbf\xbf", b"\xed\xa0\x80", b"\xed\xbf\xbf",
    b"\xed\xa0\x80\xed\xb0\x80", b"\xf4\x90\x80\x80", b"\xf5\x80\x80\x80", b"\xf8\x88\x80\x80\x80",
    b"\xfc\x84\x80\x80\x80\x80", b"\xff", b"\xfe\xff", b"a\xffb\xfec", b"\xff\xfe\xfd",
    b"Hello \xff world", b"don\x92t", b"\xe4\xb8", b"\xe4\xb8\xad\xe4", b" \x80 \x80\x80 ",
    b"<|endoftext|>\xff<|endoftext|>", b"<|endo\xfftext|>", b"\xc3\xa9\xc3", b"\x00\xff\x00",
]


def random_bytes(rng, count):
    lead = [0xc2, 0xc3, 0xdf, 0xe0, 0xe2, 0xed, 0xef, 0xf0, 0xf3, 0xf4, 0xf5, 0xc0, 0xff]
    out = []
    for _ in range(count):
        b = bytearray()
        for _ in range(rng.randint(1, 24)):
            r = rng.random()
            if r < 0.35:
                b.append(rng.choice(b"ab 's1\n"))
            elif r < 0.6:
                b.append(rng.randint(0x80, 0xbf))
            elif r < 0.9:
                b.append(rng.choice(lead))
            else:
                b += rng.choice(["é", "中", "😀", "<|endoftext|>"]).encode()
        try:
            bytes(b).decode("utf-8")  # valid by chance: not a test of invalid input
        except UnicodeDecodeError:
            out.append(bytes(b))
    return out


def train():
    rng = random.Random(SEED)
    text = corpus(rng, 400_000)
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=1200, min_frequency=2,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
                                  special_tokens=["<|endoftext|>"], show_progress=False)
    tok.train_from_iterator(text.split("\n"), trainer)
    # Added tokens beyond the model vocabulary, with the options HF honours when splitting.
    tok.add_special_tokens([AddedToken("<|pad|>", special=True, normalized=False),
                            AddedToken("<|end|>", special=True, normalized=False),
                            AddedToken("<mask>", special=True, lstrip=True, rstrip=True,
                                       normalized=False)])
    tok.add_tokens([AddedToken("[CODE]", normalized=True),
                    AddedToken("ony", single_word=True, normalized=True),
                    AddedToken("→", normalized=False)])
    return tok


def files_tokenizer(vocab, merges):
    """What the vocab.json + merges.txt form is: GPT-2's tokenizer with only <|endoftext|>."""
    tok = Tokenizer(models.BPE.from_file(vocab, merges))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.add_special_tokens([AddedToken("<|endoftext|>", special=True, normalized=False)])
    return tok


def ids(tok, text):
    return tok.encode(text, add_special_tokens=False).ids


def unicode_classes():
    pre = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    classes = {"letter": [], "number": [], "space": []}
    for cp in range(0x110000):
        if 0xD800 <= cp <= 0xDFFF:
            continue
        c = chr(cp)
        if len(pre.pre_tokenize_str("a" + c)) == 1:
            name = "letter"
        elif len(pre.pre_tokenize_str("1" + c)) == 1:
            name = "number"
        elif len(pre.pre_tokenize_str("!" + c)) == 1:
            continue  # neither: punctuation, symbols, marks, controls, unassigned
        else:
            name = "space"
        ranges = classes[name]
        if ranges and ranges[-1][1] == cp - 1:
            ranges[-1][1] = cp
        else:
            ranges.append([cp, cp])
    return classes


def write_json(path, value, compact=False):
    """Compact, except that each element of a top-level list gets its own line (readable diffs)."""
    def dump(v):
        return json.dumps(v, ensure_ascii=False, separators=(",", ":"))
    with open(path, "w", encoding="utf-8") as f:
        if compact or not isinstance(value, dict):
            f.write(dump(value) + "\n")
            return
        fields = []
        for key, v in value.items():
            if isinstance(v, list) and v:
                v = "[\n" + ",\n".join(dump(e) for e in v) + "\n]"
            else:
                v = dump(v)
            fields.append(dump(key) + ": " + v)
        f.write("{\n" + ",\n".join(fields) + "\n}\n")


def regenerate():
    tok = train()
    for d in ("json_pairs", "json_strings", "vocab_merges"):
        os.makedirs(os.path.join(OUT, d), exist_ok=True)
    doc = json.loads(tok.to_str())
    merges = doc["model"]["merges"]
    pairs = [m if isinstance(m, list) else m.split(" ") for m in merges]
    doc["model"]["merges"] = pairs
    write_json(os.path.join(OUT, "json_pairs", "tokenizer.json"), doc, compact=True)
    doc["model"]["merges"] = [" ".join(p) for p in pairs]
    write_json(os.path.join(OUT, "json_strings", "tokenizer.json"), doc, compact=True)
    files_dir = os.path.join(OUT, "vocab_merges")
    tok.model.save(files_dir)
    files = files_tokenizer(os.path.join(files_dir, "vocab.json"),
                            os.path.join(files_dir, "merges.txt"))
    # Both JSON forms must load to the same tokenizer in HF too.
    again = Tokenizer.from_file(os.path.join(OUT, "json_strings", "tokenizer.json"))

    rng = random.Random(SEED + 1)
    texts = TRICKY + random_texts(rng, 300)
    cases = []
    for text in texts:
        case = {"text": text, "ids": ids(tok, text), "files_ids": ids(files, text)}
        assert ids(again, text) == case["ids"], text
        cases.append(case)
    invalid = []
    for raw in INVALID_UTF8 + random_bytes(rng, 200):
        text = raw.decode("utf-8", errors="replace")
        invalid.append({"hex": raw.hex(), "replaced": text, "ids": ids(tok, text)})
    long_text = corpus(random.Random(SEED + 2), 20_000)
    write_json(os.path.join(OUT, "expected.json"), {
        "generator": "tokenizers " + tokenizers.__version__,
        "eos": "<|endoftext|>",
        "vocab_size": tok.get_vocab_size(with_added_tokens=True),
        "cases": cases,
        "invalid_utf8": invalid,
        "long_text": {"text": long_text, "ids": ids(tok, long_text)},
    })
    write_json(os.path.join(OUT, "unicode_classes.json"), unicode_classes())
    cross_check_transformers(files_dir, cases)


def cross_check_transformers(files_dir, cases):
    try:
        from transformers import GPT2Tokenizer
    except ImportError:
        print("transformers not installed: skipped the cross-check")
        return
    slow = GPT2Tokenizer(os.path.join(files_dir, "vocab.json"),
                         os.path.join(files_dir, "merges.txt"))
    bad = [c["text"] for c in cases
           if slow(c["text"], add_special_tokens=False)["input_ids"] != c["files_ids"]]
    print(f"transformers GPT2Tokenizer disagrees on {len(bad)} of {len(cases)} texts: {bad[:5]!r}")


def load_folder(model_dir):
    path = os.path.join(model_dir, "tokenizer.json")
    if os.path.exists(path):
        return Tokenizer.from_file(path)
    return files_tokenizer(os.path.join(model_dir, "vocab.json"),
                           os.path.join(model_dir, "merges.txt"))


def expect(model_dir, out_path):
    tok = load_folder(model_dir)
    rng = random.Random(SEED + 1)
    texts = TRICKY + random_texts(rng, 300) + [corpus(random.Random(SEED + 2), 20_000)]
    write_json(out_path, {"model_dir": os.path.abspath(model_dir),
                          "generator": "tokenizers " + tokenizers.__version__,
                          "cases": [{"text": t, "ids": ids(tok, t)} for t in texts]})
    print(f"wrote {len(texts)} cases to {out_path}")


def check_byte(model_dir):
    tok = Tokenizer.from_file(os.path.join(model_dir, "tokenizer.json"))
    for text in ["Hello, world!", "héllo 😀", "a<|endoftext|>b", " \t\n", ""]:
        want = []
        for i, part in enumerate(text.split("<|endoftext|>")):
            want += ([256] if i else []) + list(part.encode())
        got = ids(tok, text)
        print("ok  " if got == want else "BAD ", repr(text), got)
        assert tok.decode(got, skip_special_tokens=False) == text
    print("vocab size", tok.get_vocab_size(with_added_tokens=True))
    try:
        from transformers import AutoTokenizer
        auto = AutoTokenizer.from_pretrained(model_dir)
        print("AutoTokenizer:", type(auto).__name__, "eos", auto.eos_token, auto.eos_token_id,
              auto("héllo<|endoftext|>", add_special_tokens=False)["input_ids"])
    except ImportError:
        pass


if __name__ == "__main__":
    if len(sys.argv) == 1:
        regenerate()
    elif sys.argv[1] == "expect" and len(sys.argv) == 4:
        expect(sys.argv[2], sys.argv[3])
    elif sys.argv[1] == "check-byte" and len(sys.argv) == 3:
        check_byte(sys.argv[2])
    else:
        sys.exit(__doc__)
