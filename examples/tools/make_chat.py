#!/usr/bin/env python3
"""Builds the chat dataset of lorafleet's chat example (standard library only): customer-support
conversations as {"messages": [...]} lines, each a system prompt, a customer's message and the
agent's answer, a third of them with a follow-up question and its answer. The issues and answers
are make_domains.py's support ones, so an adapter has facts to learn (an issue determines its
answer); the follow-ups depend on the issue too.

    python3 examples/tools/make_chat.py examples/data/chat
"""
import json
import os
import random
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_domains import ISSUES, ITEMS, OPENERS  # noqa: E402

SYSTEMS = [
    "You are the support agent of an online shop. Answer briefly and politely.",
    "You are a helpful customer-support assistant.",
]
FOLLOW_UPS = [
    ("Thanks! How long will that take?",
     "It usually takes {days} days. I'll email you as soon as it's done."),
    ("Great, will I get a confirmation?",
     "Yes, a confirmation for order #{order} is on its way to your email address."),
    ("Can I talk to someone by phone?",
     "Of course - call us on 0800 555 0199, Monday to Friday, 9am to 6pm."),
]


def conversation(rng):
    issue, answer = rng.choice(ISSUES)
    v = dict(order=rng.randint(10000, 99999), days=rng.randint(5, 21), item=rng.choice(ITEMS))
    opener = rng.choice(OPENERS)
    messages = [
        {"role": "system", "content": rng.choice(SYSTEMS)},
        {"role": "user", "content": f"{opener} {issue.format(**v)}".strip()},
        {"role": "assistant", "content": answer.format(**v)},
    ]
    if rng.random() < 1 / 3:
        question, reply = rng.choice(FOLLOW_UPS)
        messages += [{"role": "user", "content": question},
                     {"role": "assistant", "content": reply.format(**v)}]
    return {"messages": messages}


def main(out):
    rng = random.Random(4242)
    os.makedirs(out, exist_ok=True)
    for split, n in (("train", 2000), ("eval", 150)):
        with open(os.path.join(out, f"{split}.jsonl"), "w", encoding="utf-8") as f:
            for _ in range(n):
                f.write(json.dumps(conversation(rng), ensure_ascii=False) + "\n")
    print(f"{out}: 2000 train, 150 eval")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "examples/data/chat")
