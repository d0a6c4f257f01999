#!/usr/bin/env python3
"""Writes testdata/chat_examples.json: for each model family, the ids Hugging Face's
apply_chat_template(messages, tokenize=True) gives with that family's tokenizer fixture
(../tokenizer/testdata/families) and chat template (../chat/testdata), and the loss mask of
data.train_on: assistant, computed here from HF's own offsets:
- templates with {% generation %} blocks: return_assistant_tokens_mask, as transformers returns it;
- others: the tokens whose characters overlap an assistant span, the span of message i being
  what rendering messages[:i+1] adds to rendering messages[:i] with the generation prompt.
The C++ test (chat_example_test.cpp) only reads the file. By hand, with transformers installed:

    python3 tests/unit/worker/data/make_chat_fixtures.py
"""
import json
import os
import re

import transformers

HERE = os.path.dirname(os.path.abspath(__file__))
FAMILIES = os.path.join(HERE, "..", "tokenizer", "testdata", "families")
TEMPLATES = os.path.join(HERE, "..", "chat", "testdata")
PAIRS = [("llama3", "llama3.jinja"), ("llama3", "llama3_1.jinja"), ("qwen2", "qwen2_5.jinja"),
         ("smollm2", "smollm2.jinja"), ("mistral", "mistral_v0_3.jinja"),
         ("tinyllama_metaspace", "zephyr.jinja"), ("gemma", "gemma2.jinja"),
         ("phi3", "phi3.jinja"), ("qwen2", "chatml_generation.jinja")]
CONVERSATIONS = [
    [{"role": "system", "content": "You are a support agent."},
     {"role": "user", "content": "Hi, my order #12345 hasn't arrived."},
     {"role": "assistant", "content": "Sorry about that! It ships today."},
     {"role": "user", "content": "Thanks - when will it arrive?"},
     {"role": "assistant", "content": "Within 3-5 days. Café crème ☕ included."}],
    [{"role": "user", "content": "Écris «bonjour» 3 fois\n\nmerci"},
     {"role": "assistant", "content": "bonjour bonjour bonjour"}],
]


def spans(tok, template, messages):
    whole = tok.apply_chat_template(messages, chat_template=template, tokenize=False)
    out = []
    for i, m in enumerate(messages):
        if m["role"] != "assistant":
            continue
        prefix = tok.apply_chat_template(messages[:i], chat_template=template, tokenize=False,
                                         add_generation_prompt=True)
        full = tok.apply_chat_template(messages[:i + 1], chat_template=template, tokenize=False)
        if not full.startswith(prefix):
            raise SystemExit(f"{template[:30]}: message {i}: not a prefix")
        end = len(full)
        if not whole.startswith(full):  # Phi-3: the conversation is closed with eos_token
            eos = tok.eos_token
            assert full.endswith(eos) and whole.startswith(full[:-len(eos)]), template[:40]
            end -= len(eos)
        out.append((len(prefix), end))
    return whole, out


def main():
    cases = []
    for family, template_file in PAIRS:
        tok = transformers.PreTrainedTokenizerFast.from_pretrained(os.path.join(FAMILIES, family))
        with open(os.path.join(TEMPLATES, template_file), encoding="utf-8") as f:
            template = f.read()
        for messages in CONVERSATIONS:
            if template_file == "gemma2.jinja" or template_file.startswith("mistral"):
                messages = [m for m in messages if m["role"] != "system"]  # they refuse system
            text, assistant = spans(tok, template, messages)
            enc = tok(text, add_special_tokens=False, return_offsets_mapping=True)
            ids = tok.apply_chat_template(messages, chat_template=template, tokenize=True,
                                          return_dict=True)["input_ids"]
            assert ids == enc["input_ids"], (family, template_file)
            generation = re.search(r"\{%-?\s*generation\s*-?%\}", template) is not None
            last = None
            if generation:
                mask = tok.apply_chat_template(messages, chat_template=template, tokenize=True,
                                               return_dict=True,
                                               return_assistant_tokens_mask=True)["assistant_masks"]
            else:
                mask = [int(any(b < e_ and e > b_ for b_, e_ in assistant))
                        for b, e in enc["offset_mapping"]]
                b_, e_ = assistant[-1]
                last = [int(b < e_ and e > b_) for b, e in enc["offset_mapping"]]
            cases.append({"family": family, "template": template_file, "messages": messages,
                          "ids": ids, "assistant_mask": mask, "last_assistant_mask": last})
    with open(os.path.join(HERE, "testdata", "chat_examples.json"), "w", encoding="utf-8") as f:
        json.dump({"transformers": transformers.__version__, "cases": cases}, f, ensure_ascii=False,
                  indent=1)
    print(f"{len(cases)} cases")


if __name__ == "__main__":
    main()
