#!/usr/bin/env python3
"""Writes fixtures.json: what transformers renders from the chat templates in this folder.

Run with the transformers venv: /work/venv/bin/python make_fixtures.py
Each case holds the exact variables the template saw (`context`), and the text (or the error)
that transformers' render_jinja_template (what apply_chat_template(tokenize=False) calls) gives;
templates with {% generation %} blocks also get the generation spans, as byte offsets.
Dict keys are written in sorted order at every level, as nlohmann::json orders them in C++.
"""
import json
import pathlib
import re

import transformers
from transformers.utils.chat_template_utils import render_jinja_template

HERE = pathlib.Path(__file__).parent

LLAMA3 = {"bos_token": "<|begin_of_text|>", "eos_token": "<|eot_id|>"}
QWEN = {"eos_token": "<|im_end|>", "pad_token": "<|endoftext|>"}
MISTRAL = {"bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>"}
GEMMA = {"bos_token": "<bos>", "eos_token": "<eos>", "pad_token": "<pad>", "unk_token": "<unk>"}
PHI3 = {"bos_token": "<s>", "eos_token": "<|endoftext|>", "pad_token": "<|endoftext|>", "unk_token": "<unk>"}
SMOL = {"bos_token": "<|im_start|>", "eos_token": "<|im_end|>", "pad_token": "<|im_end|>", "unk_token": "<|endoftext|>"}

# name: (file, special tokens, extra variables, where the text comes from)
TEMPLATES = {
    "llama3": ("llama3.jinja", LLAMA3, {}, "Meta-Llama-3-8B-Instruct (from memory)"),
    "llama3_1": ("llama3_1.jinja", LLAMA3, {}, "Llama-3.1-8B-Instruct and Llama-3.3-70B-Instruct (from memory, checked against copies found in public code)"),
    "llama3_2": ("llama3_2.jinja", LLAMA3, {"date_string": "26 Jul 2024"}, "Llama-3.2-3B-Instruct (from memory, checked against copies found in public code)"),
    "qwen2_5": ("qwen2_5.jinja", QWEN, {}, "Qwen2.5-7B-Instruct (from memory, checked against copies found in public code)"),
    "qwen3": ("qwen3.jinja", QWEN, {}, "Qwen3-8B (from memory, checked against copies found in public code)"),
    "qwen3_generation": ("qwen3_generation.jinja", QWEN, {}, "qwen3.jinja with each assistant turn in a {% generation %} block (written for these tests)"),
    "mistral_v0_2": ("mistral_v0_2.jinja", MISTRAL, {}, "Mistral-7B-Instruct-v0.1/v0.2 (as llama.cpp's tests embed it)"),
    "mistral_v0_3": ("mistral_v0_3.jinja", MISTRAL, {}, "Mistral-7B-Instruct-v0.3 (from memory, checked against copies found in public code)"),
    "zephyr": ("zephyr.jinja", MISTRAL, {}, "TinyLlama-1.1B-Chat-v1.0 / zephyr-7b-beta (from memory, checked against copies found in public code)"),
    "gemma2": ("gemma2.jinja", GEMMA, {}, "gemma-2-2b-it (from memory)"),
    "gemma3": ("gemma3.jinja", GEMMA, {}, "gemma-3-1b-it (from memory, checked against copies found in public code)"),
    "phi3": ("phi3.jinja", PHI3, {}, "Phi-3-mini-4k-instruct (from memory, checked against copies found in public code)"),
    "phi3_5": ("phi3_5.jinja", PHI3, {}, "Phi-3.5-mini-instruct (from memory, checked against copies found in public code)"),
    "smollm2": ("smollm2.jinja", SMOL, {}, "SmolLM2-1.7B-Instruct (from memory, checked against copies found in public code)"),
    "chatml": ("chatml.jinja", {"eos_token": "<|im_end|>"}, {}, "OpenHermes-2.5 ChatML (as llama.cpp's tests embed it)"),
    "chatml_generation": ("chatml_generation.jinja", {"eos_token": "<|im_end|>"}, {}, "ChatML with {% generation %} blocks (written for these tests)"),
}


def m(role, content):
    return {"content": content, "role": role}


CONVERSATIONS = {
    "system_multi": [
        m("system", "You are a helpful assistant."),
        m("user", "Hello!"),
        m("assistant", "Hi there. How can I help?"),
        m("user", "What is 2+2?"),
        m("assistant", "2+2 = 4."),
    ],
    "no_system": [m("user", "Hello!"), m("assistant", "Hi!"), m("user", "Bye")],
    "single_user": [m("user", "Just one question?")],
    "unicode": [
        m("system", "Réponds en français, s'il te plaît."),
        m("user", "Héllo “quoted” 'single' \"double\" 日本語 🙂\nsecond line\n"),
        m("assistant", "  Bonjour ! Voilà: ✓\n\ttabbed\n\n"),
        m("user", "   trailing spaces   "),
    ],
    "think": [
        m("user", "Solve it."),
        m("assistant", "<think>\nLet me think.\n</think>\n\nThe answer is 42."),
        m("user", "Sure?"),
        m("assistant", "<think>\nYes.\n</think>\n\nYes, 42."),
    ],
    "empty_content": [m("user", ""), m("assistant", "")],
}

TOOLS = [{
    "function": {
        "description": "Get the weather",
        "name": "get_weather",
        "parameters": {
            "properties": {"city": {"description": "City name", "type": "string"}},
            "required": ["city"],
            "type": "object",
        },
    },
    "type": "function",
}]
TOOL_CONVERSATION = [
    m("user", "Weather in Paris?"),
    {"role": "assistant", "tool_calls": [{
        "function": {"arguments": {"city": "Paris"}, "name": "get_weather"},
        "id": "abc123def",
        "type": "function",
    }]},
    {"content": "{\"temp\": 21}", "role": "tool", "tool_call_id": "abc123def"},
    m("assistant", "It is 21 degrees."),
]
TOOL_TEMPLATES = ["llama3_1", "llama3_2", "qwen2_5", "qwen3", "qwen3_generation", "mistral_v0_3"]


def byte_offset(text, index):
    return len(text[:index].encode("utf-8"))


def render(source, special, extra, messages, add_generation_prompt, tools=None):
    context = {**special, **extra, "messages": messages, "add_generation_prompt": add_generation_prompt,
               "tools": tools, "documents": None}
    case = {"context": context, "expected": None, "error": None}
    generation = bool(re.search(r"\{%-?\s*generation\s*-?%\}", source))
    try:
        rendered, spans = render_jinja_template(
            conversations=[messages], tools=tools, documents=None, chat_template=source,
            return_assistant_tokens_mask=generation, add_generation_prompt=add_generation_prompt,
            **special, **extra)
        text = rendered[0]
        case["expected"] = text
        if generation:
            case["generation_spans"] = [[byte_offset(text, b), byte_offset(text, e)] for b, e in spans[0]]
    except Exception as e:  # the template refused the conversation (raise_exception)
        case["error"] = str(e)
    return case


def main():
    templates, cases = {}, []
    for name, (file, special, extra, origin) in TEMPLATES.items():
        source = (HERE / file).read_text(encoding="utf-8")
        templates[name] = {"file": file, "special": special, "origin": origin}
        for conversation, messages in CONVERSATIONS.items():
            for add_generation_prompt in (False, True):
                case = render(source, special, extra, messages, add_generation_prompt)
                case.update(template=name, conversation=conversation, chat_template_api=not extra)
                cases.append(case)
        if name in TOOL_TEMPLATES:
            for add_generation_prompt in (False, True):
                case = render(source, special, extra, TOOL_CONVERSATION, add_generation_prompt, TOOLS)
                case.update(template=name, conversation="tools", chat_template_api=False)
                cases.append(case)
    out = {"transformers": transformers.__version__, "templates": templates, "cases": cases}
    (HERE / "fixtures.json").write_text(
        json.dumps(out, ensure_ascii=False, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    print(f"{len(cases)} cases, {sum(1 for c in cases if c['error'])} errors")


if __name__ == "__main__":
    main()
