#!/usr/bin/env python3
"""Writes the Hugging Face fixtures the C++ tests read, so CI checks compatibility offline.

For each tiny random model (GPT-2; Llama with grouped-query attention and each rotary scaling;
Qwen2 with YaRN; Qwen3; Mistral with a sliding window; Phi-3, also with longrope; Gemma 2;
Gemma 3 text): the model folder as transformers saves it, a LoRA adapter as PEFT saves it
(non-zero B, so it changes the output), and the logits both give for a fixed input. Norm weights are randomised too, so every
tensor matters. Some configs are rewritten in transformers 4's format (rope_scaling with "type",
top-level rope_theta), checked to load to the same logits, so both formats stay covered. Needs
torch, transformers and peft (by hand only); name fixtures to write only those:

    python3 tests/unit/worker/testdata/make_hf_fixtures.py tests/unit/worker/testdata/hf [name...]
"""
import json
import os
import sys

import peft
import torch
import transformers
from safetensors.torch import save_file

INPUT = [[72, 101, 108, 108, 111, 44, 32, 119, 111, 114, 108, 100]]  # "Hello, world"


def tiny(config_class, **kwargs):
    """A tiny config of the Llama shape (4 query heads, 2 kv heads) with random-enough weights."""
    base = dict(vocab_size=257, initializer_range=0.3, hidden_size=16, intermediate_size=32,
                num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
                max_position_embeddings=32, tie_word_embeddings=False)
    base.update(kwargs)
    return config_class(**base)


def models():
    t = transformers
    llama3 = {"rope_type": "llama3", "rope_theta": 10000.0, "factor": 8.0, "low_freq_factor": 1.0,
              "high_freq_factor": 4.0, "original_max_position_embeddings": 100}
    return {
        "gpt2": (lambda: t.GPT2LMHeadModel(t.GPT2Config(
            n_positions=32, n_embd=16, n_layer=2, n_head=2, resid_pdrop=0, embd_pdrop=0,
            attn_pdrop=0, vocab_size=257, initializer_range=0.3)), ["c_attn", "c_proj", "c_fc"], None),
        "llama": (lambda: t.LlamaForCausalLM(tiny(t.LlamaConfig)), ["q_proj", "v_proj", "down_proj"],
                  None),
        # head_dim 8 puts one frequency on each side of llama3's smoothing band and one inside it.
        "llama_rope_llama3": (lambda: t.LlamaForCausalLM(tiny(
            t.LlamaConfig, head_dim=8, rope_parameters=llama3)), None, "transformers4"),
        "llama_rope_linear": (lambda: t.LlamaForCausalLM(tiny(t.LlamaConfig, rope_parameters={
            "rope_type": "linear", "rope_theta": 10000.0, "factor": 4.0})), None, None),
        # 12 tokens over max_position_embeddings 8: transformers recomputes the frequencies.
        "llama_rope_dynamic": (lambda: t.LlamaForCausalLM(tiny(
            t.LlamaConfig, max_position_embeddings=8, rope_parameters={
                "rope_type": "dynamic", "rope_theta": 10000.0, "factor": 2.0})), None, None),
        # As Qwen2.5 enables long context: rope_scaling {"type": "yarn", ...} in transformers 4.
        "qwen2_yarn": (lambda: t.Qwen2ForCausalLM(tiny(
            t.Qwen2Config, head_dim=8, max_position_embeddings=32, rope_parameters={
                "rope_type": "yarn", "rope_theta": 10000.0, "factor": 4.0,
                "original_max_position_embeddings": 8})), None, "transformers4"),
        "qwen3": (lambda: t.Qwen3ForCausalLM(tiny(t.Qwen3Config, head_dim=8,
                                                  tie_word_embeddings=True)), None, None),
        "mistral_sliding": (lambda: t.MistralForCausalLM(tiny(t.MistralConfig, sliding_window=4)),
                            None, None),
        "phi3": (lambda: t.Phi3ForCausalLM(tiny(
            t.Phi3Config, head_dim=8, partial_rotary_factor=0.5, pad_token_id=0, eos_token_id=0,
            bos_token_id=0,
            resid_pdrop=0.0, embd_pdrop=0.0, attention_dropout=0.0)),
                 ["qkv_proj", "o_proj", "gate_up_proj", "down_proj"], None),
        # Phi-3.5's long context: 12 tokens over original_max_position_embeddings 8 take the
        # long factors (head_dim 4: two frequencies).
        "phi3_longrope": (lambda: t.Phi3ForCausalLM(tiny(
            t.Phi3Config, original_max_position_embeddings=8, pad_token_id=0, eos_token_id=0,
            bos_token_id=0, resid_pdrop=0.0, embd_pdrop=0.0, attention_dropout=0.0,
            rope_parameters={"rope_type": "longrope", "rope_theta": 10000.0,
                             "short_factor": [1.0, 1.5], "long_factor": [2.0, 5.0]})),
                          ["qkv_proj", "o_proj", "gate_up_proj", "down_proj"], None),
        "gemma2": (lambda: t.Gemma2ForCausalLM(tiny(
            t.Gemma2Config, head_dim=8, sliding_window=4, query_pre_attn_scalar=6,
            attn_logit_softcapping=2.0, final_logit_softcapping=3.0, tie_word_embeddings=True)),
                   None, None),
        "gemma3": (lambda: t.Gemma3ForCausalLM(tiny(
            t.Gemma3TextConfig, head_dim=8, num_hidden_layers=3, sliding_window=4,
            query_pre_attn_scalar=6, final_logit_softcapping=3.0, tie_word_embeddings=True,
            layer_types=["sliding_attention", "full_attention", "sliding_attention"],
            rope_parameters={"full_attention": {"rope_type": "linear", "factor": 2.0,
                                                "rope_theta": 1000000.0},
                             "sliding_attention": {"rope_type": "default",
                                                   "rope_theta": 10000.0}})), None, None),
        # The same model as Gemma 3 configs on the Hub still read (transformers 4): rope_theta,
        # rope_local_base_freq and rope_scaling at the top level, sliding_window_pattern.
        "gemma3_transformers4": (lambda: models()["gemma3"][0](), None, "gemma3_transformers4"),
    }


def gemma3_to_transformers4(config_path):
    with open(config_path) as f:
        doc = json.load(f)
    params = doc.pop("rope_parameters")
    full, local = dict(params["full_attention"]), params["sliding_attention"]
    doc["rope_theta"] = full.pop("rope_theta")
    doc["rope_local_base_freq"] = local["rope_theta"]
    doc["rope_scaling"] = full
    assert doc.pop("layer_types") == ["sliding_attention", "full_attention", "sliding_attention"]
    doc["sliding_window_pattern"] = 2
    doc.pop("_sliding_window_pattern", None)
    with open(config_path, "w") as f:
        json.dump(doc, f, indent=2)


def to_transformers4(config_path):
    """Rewrites a saved config.json as transformers 4 wrote it: rope_theta at the top level and
    rope_scaling with the legacy "type" key."""
    with open(config_path) as f:
        doc = json.load(f)
    params = dict(doc.pop("rope_parameters"))
    doc["rope_theta"] = params.pop("rope_theta")
    params["type"] = params.pop("rope_type")
    doc["rope_scaling"] = params
    with open(config_path, "w") as f:
        json.dump(doc, f, indent=2)


def main(out, names):
    for name, (make, targets, rewrite) in models().items():
        if names and name not in names:
            continue
        torch.manual_seed(0)
        model = make()
        with torch.no_grad():
            for param_name, param in model.named_parameters():
                if "norm" in param_name:  # RMSNorm/LayerNorm weights start constant
                    param.normal_(0.5 if "gemma" in name else 1.0, 0.3)
        model.eval()
        num_parameters = model.num_parameters()  # tied embeddings once
        base_dir = os.path.join(out, name, "base")
        model.save_pretrained(base_dir, safe_serialization=True)
        x = torch.tensor(INPUT)
        with torch.no_grad():
            base_logits = model(x).logits[0].contiguous()
        if rewrite:
            rewriters = {"transformers4": to_transformers4,
                         "gemma3_transformers4": gemma3_to_transformers4}
            rewriters[rewrite](os.path.join(base_dir, "config.json"))
            reloaded = transformers.AutoModelForCausalLM.from_pretrained(base_dir).eval()
            with torch.no_grad():
                assert torch.allclose(reloaded(x).logits[0], base_logits, atol=1e-6), name
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
                       "peft": peft.__version__, "num_parameters": num_parameters}, f)
        print(f"{out}/{name}: written")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2:])
