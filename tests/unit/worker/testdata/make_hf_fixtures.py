#!/usr/bin/env python3
"""Writes the Hugging Face fixtures the C++ tests read, so CI checks compatibility offline.

For a tiny random GPT-2 and a tiny random Llama (grouped-query attention): the model folder as
transformers saves it, a LoRA adapter as PEFT saves it (non-zero B, so it changes the output), and
the logits both give for a fixed input. Needs torch, transformers and peft (by hand only):

    python3 tests/unit/worker/testdata/make_hf_fixtures.py tests/unit/worker/testdata/hf
"""
import json
import os
import sys

import peft
import torch
import transformers
from safetensors.torch import save_file

INPUT = [[72, 101, 108, 108, 111, 44, 32, 119, 111, 114, 108, 100]]  # "Hello, world"


def main(out):
    torch.manual_seed(0)
    common = dict(vocab_size=257, initializer_range=0.3)
    models = {
        "gpt2": (transformers.GPT2LMHeadModel(transformers.GPT2Config(
            n_positions=32, n_embd=16, n_layer=2, n_head=2, resid_pdrop=0, embd_pdrop=0,
            attn_pdrop=0, **common)), ["c_attn", "c_proj", "c_fc"]),
        "llama": (transformers.LlamaForCausalLM(transformers.LlamaConfig(
            hidden_size=16, intermediate_size=32, num_hidden_layers=2, num_attention_heads=4,
            num_key_value_heads=2, max_position_embeddings=32, tie_word_embeddings=False,
            **common)), ["q_proj", "v_proj", "down_proj"]),
    }
    for name, (model, targets) in models.items():
        model.eval()
        base_dir = os.path.join(out, name, "base")
        model.save_pretrained(base_dir, safe_serialization=True)
        x = torch.tensor(INPUT)
        with torch.no_grad():
            base_logits = model(x).logits[0].contiguous()
        config = peft.LoraConfig(r=4, lora_alpha=8, target_modules=targets,
                                 init_lora_weights=False, task_type="CAUSAL_LM")
        adapted = peft.get_peft_model(model, config).eval()
        adapted.save_pretrained(os.path.join(out, name, "adapter"))
        with torch.no_grad():
            adapter_logits = adapted(x).logits[0].contiguous()
        save_file({"input_ids": x, "base_logits": base_logits, "adapter_logits": adapter_logits},
                  os.path.join(out, name, "expected.safetensors"))
        with open(os.path.join(out, name, "versions.json"), "w") as f:
            json.dump({"torch": torch.__version__, "transformers": transformers.__version__,
                       "peft": peft.__version__}, f)
        print(f"{out}/{name}: written")


if __name__ == "__main__":
    main(sys.argv[1])
