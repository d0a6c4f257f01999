#!/usr/bin/env python3
"""Regenerates testdata/families/: one small tokenizer per model family, whose normalizer,
pre-tokenizer, model flags, post-processor and decoder are exactly those of the family's real
tokenizer.json, trained with `tokenizers` on make_fixtures.py's generated multilingual corpus;
plus a SentencePiece tokenizer.model. The C++ tests never run this script; they read its files.

  /work/venv/bin/python make_family_fixtures.py     # tokenizers 0.23, transformers 5, sentencepiece

Each folder holds tokenizer.json (or tokenizer.model) and tokenizer_config.json; expected.json
holds, for tricky and random texts: HF's ids (add_special_tokens=False), byte offsets, ids with
special tokens, and decode(ids, skip_special_tokens=False); transformers' AutoTokenizer ids
(tokenizer(text)["input_ids"]) where it loads the folder; and decodes of random id lists.
The BPE trainer breaks ties between equally frequent pairs in hash order, so a rerun may write a
different (equally valid) stages_split vocabulary; each folder's expected.json always matches its
own tokenizer.json.
"""
import json
import os
import random

import tokenizers
from tokenizers import Tokenizer, models, pre_tokenizers, trainers

import make_fixtures as base
from family_specs import EXTRA_TEXTS, FAMILIES, LLAMA3_REGEX, SPACE, STAGES

OUT = os.path.join(base.OUT, "families")
SEED = 20250101

def with_stages(tok, family):
    """`tok` with the family's own normalizer and pre-tokenizer when it trains with them."""
    if not family.get("train_stages"):
        return tok
    doc = json.loads(tok.to_str())
    doc["normalizer"] = family["normalizer"]
    doc["pre_tokenizer"] = family["pre_tokenizer"]
    return Tokenizer.from_str(json.dumps(doc))


def spm_style_tokenizer(family, text):
    """A BPE trained on Metaspace pieces, then laid out like Llama's vocabulary: the special
    tokens, the 256 byte tokens <0x00>..<0xFF>, then the learned tokens."""
    unk_only = family.get("unk_only", False)  # unknown characters give <unk>, no byte tokens
    tok = Tokenizer(models.BPE(unk_token="<unk>", fuse_unk=True, byte_fallback=not unk_only))
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement=SPACE, prepend_scheme="always")
    tok = with_stages(tok, family)
    trainer = trainers.BpeTrainer(vocab_size=900, min_frequency=2, show_progress=False,
                                  limit_alphabet=150)
    tok.train_from_iterator(text.split("\n"), trainer)
    doc = json.loads(tok.to_str())
    learned = sorted(doc["model"]["vocab"].items(), key=lambda kv: kv[1])
    vocab = {}
    for s in family["specials"]:
        vocab[s] = len(vocab)
    for b in range(0 if unk_only else 256):
        vocab[f"<0x{b:02X}>"] = len(vocab)
    for token, _ in learned:
        if token not in vocab:
            vocab[token] = len(vocab)
    doc["model"]["vocab"] = vocab
    doc["model"]["merges"] = [m if isinstance(m, list) else m.split(" ")
                              for m in doc["model"]["merges"]]
    added = [dict(id=vocab[s], content=s, single_word=False, lstrip=False, rstrip=False,
                  normalized=False, special=True) for s in family["specials"]]
    for content in family.get("normalized_tokens", []):
        added.append(dict(id=len(vocab) + len(added) - len(family["specials"]), content=content,
                          single_word=False, lstrip=False, rstrip=False, normalized=True,
                          special=False))
    for content, rstrip in family.get("late_specials", []):
        added.append(dict(id=len(vocab) + len(added) - len(family["specials"]), content=content,
                          single_word=False, lstrip=False, rstrip=rstrip, normalized=False,
                          special=True))
    return doc, added


def byte_level_tokenizer(family, text):
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok = with_stages(tok, family)
    trainer = trainers.BpeTrainer(vocab_size=1000, min_frequency=2, show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(text.split("\n"), trainer)
    doc = json.loads(tok.to_str())
    vocab = doc["model"]["vocab"]
    doc["model"]["merges"] = [m if isinstance(m, list) else m.split(" ")
                              for m in doc["model"]["merges"]]
    added = []
    for s in family["specials"]:
        added.append(dict(id=len(vocab) + len(added), content=s, single_word=False,
                          lstrip=False, rstrip=False, normalized=False, special=True))
    for s in family.get("non_special", []):
        added.append(dict(id=len(vocab) + len(added), content=s, single_word=False,
                          lstrip=False, rstrip=False, normalized=False, special=False))
    return doc, added


def build(name, family, text):
    make = byte_level_tokenizer if family["byte_level"] else spm_style_tokenizer
    doc, added = make(family, text)
    doc["added_tokens"] = added
    doc["normalizer"] = family["normalizer"]
    doc["pre_tokenizer"] = family["pre_tokenizer"]
    doc["decoder"] = family["decoder"]
    doc["model"]["ignore_merges"] = family.get("ignore_merges", False)
    post = json.loads(json.dumps(family["post_processor"]))
    ids = {a["content"]: a["id"] for a in added}
    for proc in post.get("processors", [post]) if post else []:
        for token, entry in proc.get("special_tokens", {}).items():
            entry["ids"] = [ids[token]]
    doc["post_processor"] = post
    return doc


def byte_offsets(text, char_offsets):
    starts = [0]
    for c in text:
        starts.append(starts[-1] + len(c.encode()))
    return [[starts[b], starts[e]] for b, e in char_offsets]


def transformers_ids(folder, texts):
    try:
        from transformers import AutoTokenizer
        auto = AutoTokenizer.from_pretrained(folder)
        return type(auto).__name__, [auto(t)["input_ids"] for t in texts]
    except Exception as e:  # a class this transformers cannot build from the folder
        print(f"  transformers could not load {folder}: {e!r}")
        return None, None


def write_family(name, family, text, texts, rng):
    folder = os.path.join(OUT, name)
    os.makedirs(folder, exist_ok=True)
    doc = build(name, family, text)
    base.write_json(os.path.join(folder, "tokenizer.json"), doc, compact=True)
    with open(os.path.join(folder, "tokenizer_config.json"), "w", encoding="utf-8") as f:
        json.dump(family["config"], f, ensure_ascii=False, indent=1)
    if "jinja" in family:
        with open(os.path.join(folder, "chat_template.jinja"), "w", encoding="utf-8") as f:
            f.write(family["jinja"])
    tok = Tokenizer.from_file(os.path.join(folder, "tokenizer.json"))
    cases = []
    for t in texts:
        enc = tok.encode(t, add_special_tokens=False)
        cases.append({"text": t, "ids": enc.ids, "offsets": byte_offsets(t, enc.offsets),
                      "with_special": tok.encode(t).ids,
                      "decode": tok.decode(enc.ids, skip_special_tokens=False)})
    invalid = []
    for raw in base.INVALID_UTF8[:20]:
        replaced = raw.decode("utf-8", errors="replace")
        invalid.append({"hex": raw.hex(), "ids": tok.encode(replaced, add_special_tokens=False).ids})
    size = tok.get_vocab_size(with_added_tokens=True)
    decodes = []
    if not family["byte_level"]:  # byte-level decodes give raw bytes here, not U+FFFD
        for _ in range(60):
            ids = [rng.randrange(size) for _ in range(rng.randint(1, 12))]
            if rng.random() < 0.5:  # runs of byte tokens, some cut inside a character
                ids += [rng.choice([3, 4, 5]) + rng.choice([0xC3, 0xA9, 0xE4, 0xB8, 0x41]) - 0]
            decodes.append({"ids": ids, "text": tok.decode(ids, skip_special_tokens=False)})
    auto_class, auto_ids = transformers_ids(folder, texts) if name in FAMILIES else (None, None)
    result = {"generator": "tokenizers " + tokenizers.__version__, "vocab_size": size,
              "cases": cases, "invalid_utf8": invalid, "decodes": decodes}
    if auto_ids is not None:
        # transformers 5 rebuilds some classes' pipelines (GPT2Tokenizer, LlamaTokenizer,
        # GemmaTokenizer) instead of reading tokenizer.json's; the tests compare its ids only
        # where it agrees with `tokenizers` on every text.
        result["transformers_class"] = auto_class
        result["transformers_agrees"] = auto_ids == [c["with_special"] for c in cases]
        result["transformers_ids"] = auto_ids
    base.write_json(os.path.join(folder, "expected.json"), result)
    print(f"{name}: vocab {size}, {len(cases)} texts, transformers {auto_class} agrees: "
          f"{result.get('transformers_agrees')}")


def write_sentencepiece(text, texts):
    import sentencepiece as spm
    from transformers.tokenization_utils_sentencepiece import SentencePieceBackend
    folder = os.path.join(OUT, "sentencepiece")
    os.makedirs(folder, exist_ok=True)
    corpus_path = os.path.join("/tmp", "lf_spm_corpus.txt")
    with open(corpus_path, "w", encoding="utf-8") as f:
        f.write(text.replace("<|endoftext|>", ""))
    spm.SentencePieceTrainer.train(
        input=corpus_path, model_prefix=os.path.join(folder, "tokenizer"), vocab_size=600,
        model_type="bpe", byte_fallback=True, character_coverage=0.9995, split_digits=True,
        normalization_rule_name="identity", remove_extra_whitespaces=False,
        allow_whitespace_only_pieces=True, unk_id=0, bos_id=1, eos_id=2, pad_id=-1,
        minloglevel=2)  # Llama's settings
    os.remove(os.path.join(folder, "tokenizer.vocab"))
    config = {"add_bos_token": True, "add_eos_token": True, "bos_token": "<s>",
              "eos_token": "</s>", "unk_token": "<unk>", "legacy": True,
              "tokenizer_class": "LlamaTokenizer"}
    with open(os.path.join(folder, "tokenizer_config.json"), "w", encoding="utf-8") as f:
        json.dump(config, f, indent=1)
    slow = SentencePieceBackend(vocab_file=os.path.join(folder, "tokenizer.model"), legacy=True,
                                bos_token="<s>", eos_token="</s>", unk_token="<unk>")
    sp = slow.sp_model

    def decode(ids):  # SentencePiece's decode of each run of ordinary ids; control tokens as text
        out, run = "", []
        for i in ids + [None]:
            if i is None or sp.is_control(i):
                out += sp.decode(run) + ("" if i is None else sp.id_to_piece(i))
                run = []
            else:
                run.append(i)
        return out

    cases = []
    for t in texts:
        ids = slow.convert_tokens_to_ids(slow.tokenize(t))
        cases.append({"text": t, "ids": ids, "with_special": [1] + ids + [2],
                      "decode": decode(ids)})
    base.write_json(os.path.join(folder, "expected.json"),
                    {"generator": "sentencepiece " + spm.__version__,
                     "vocab_size": sp.get_piece_size(), "cases": cases})
    print(f"sentencepiece: vocab {sp.get_piece_size()}, {len(cases)} texts")


# Texts with a code point in {}, and the length of the first piece when the (?i:'s|'t|'re|'ve|'m|
# 'll|'d) group matches it there: 's 't 'm 'd; 're 've; 'll; 're; 'll.
CASE_PROBES = [["'{}a", 2], ["'{}ea", 3], ["'{}la", 3], ["'r{}a", 3], ["'l{}a", 3]]


def llama3_classes():
    """The classes Llama 3's Split regex sees for every code point (probed as make_fixtures.py
    probes GPT-2's), and the code points its (?i:'s|'t|...) group matches case-insensitively: for
    each, a bitmask of the CASE_PROBES whose first piece ends just after it."""
    from tokenizers import Regex
    split = pre_tokenizers.Split(Regex(LLAMA3_REGEX), "isolated")

    def pieces(s):
        return [p for p, _ in split.pre_tokenize_str(s)]

    classes = {"letter": [], "number": [], "space": []}
    case_insensitive = []
    for cp in range(0x110000):
        if 0xD800 <= cp <= 0xDFFF:
            continue
        c = chr(cp)
        letter = len(pieces("a" + c)) == 1
        mask = 0
        for bit, (probe, length) in enumerate(CASE_PROBES):
            # Without the (?i:...) group a letter would join the letters after it.
            if letter and len(pieces(probe.format(c))[0]) == length:
                mask |= 1 << bit
        if mask:
            case_insensitive.append([cp, mask])
        if letter:
            name = "letter"
        elif len(pieces("1" + c)) == 1:
            name = "number"
        elif len(pieces("!" + c)) == 1:
            continue
        else:
            name = "space"
        ranges = classes[name]
        if ranges and ranges[-1][1] == cp - 1:
            ranges[-1][1] = cp
        else:
            ranges.append([cp, cp])
    path = os.path.join(base.OUT, "unicode_classes.json")
    with open(path, encoding="utf-8") as f:
        doc = json.load(f)
    doc["llama3"] = {"pattern": LLAMA3_REGEX, **classes, "case_probes": CASE_PROBES,
                     "case_insensitive": case_insensitive}
    base.write_json(path, doc)


def word_classes():
    """The code points Oniguruma's \\w holds as `tokenizers` runs it (probed with the Whitespace
    pre-tokenizer: "a" + c stays one piece), for unicode_classes.json's "word" ranges."""
    split = pre_tokenizers.Whitespace()
    ranges = []
    for cp in range(0x110000):
        if 0xD800 <= cp <= 0xDFFF:
            continue
        pieces = split.pre_tokenize_str("a" + chr(cp))
        if len(pieces) != 1 or pieces[0][0] != "a" + chr(cp):
            continue
        if ranges and ranges[-1][1] == cp - 1:
            ranges[-1][1] = cp
        else:
            ranges.append([cp, cp])
    path = os.path.join(base.OUT, "unicode_classes.json")
    with open(path, encoding="utf-8") as f:
        doc = json.load(f)
    doc["word"] = ranges
    base.write_json(path, doc)


def main():
    llama3_classes()
    word_classes()
    text = base.corpus(random.Random(SEED), 250_000)
    rng = random.Random(SEED + 1)
    texts = base.TRICKY + EXTRA_TEXTS + base.random_texts(rng, 30)
    for name, family in {**FAMILIES, **STAGES}.items():
        write_family(name, family, text, texts, random.Random(SEED + 2))
    write_sentencepiece(text, [t for t in texts if "\x00" not in t])


if __name__ == "__main__":
    main()
