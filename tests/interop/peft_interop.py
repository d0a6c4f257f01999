#!/usr/bin/env python3
"""lorafleet against Hugging Face: base models, exported adapters, imported adapters, merges.

Builds small random GPT-2, Llama (grouped-query attention, separate lm_head; and with Llama 3
rotary scaling), Qwen2 (q/k/v biases, tied embeddings; YaRN), Qwen3 (q/k norms), Mistral (a
sliding window shorter than the sequence), Phi-3 (fused qkv_proj and gate_up_proj, partial
rotary; and with longrope), Gemma 2 and Gemma 3 text models with transformers, then checks that
  1. `lorafleet eval` gives the logits and loss transformers gives for each base;
  2. an adapter trained by `lorafleet train` loads with PeftModel.from_pretrained and gives
     the same logits and loss as lorafleet;
  3. an adapter PEFT writes (non-zero B) gives the same logits in lorafleet;
  4. `lorafleet merge` writes a folder transformers loads with the same logits;
  5. 2-4 again for DoRA (LoraConfig use_dora=True) and IA³ (IA3Config);
  6. 2-3 for prompt tuning, P-tuning and prefix tuning (with and without projection), which
     cannot be merged.
Run by ctest (label interop) when Python has torch, transformers and peft; exits 77 (skipped)
otherwise. usage: peft_interop.py BIN_DIR [model name...]
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile

try:
    import torch
    import transformers
    import peft
    from safetensors.torch import load_file
except ImportError as e:  # pragma: no cover - the skip path
    print(f"SKIP: {e}. The interop test needs torch, transformers and peft in the Python that "
          f"runs it (set LF_INTEROP_PYTHON, or pip install torch transformers peft).")
    sys.exit(77)

BIN = sys.argv[1]
LORAFLEET = os.path.join(BIN, "lorafleet")
TMP = tempfile.mkdtemp(prefix="lf_interop_")
ATOL = 2e-4
failures = []


def run(*args):
    out = subprocess.run([LORAFLEET, *args], capture_output=True, text=True)
    if out.returncode != 0:
        raise RuntimeError(f"lorafleet {' '.join(args)} failed:\n{out.stdout}\n{out.stderr}")
    return out.stdout


def check(name, ok, detail=""):
    print(("ok   " if ok else "FAIL ") + name + (f"  ({detail})" if detail else ""))
    if not ok:
        failures.append(name)


TEXTS = [
    "The patient presented with a mild fever and was given fluids.",
    "Clause 4.2: the lessee shall return the premises in good order.",
    "Hi! My order #4411 hasn't arrived yet - could you check on it?",
    "Überraschung: naïve café owners serve crème brûlée at 9:30.",
]


def write_jsonl(path, texts):
    with open(path, "w") as f:
        for t in texts:
            f.write(json.dumps({"text": t}) + "\n")


def hf_logits_and_loss(model, texts, n_positions, soft_prompt=0):
    """`soft_prompt`: virtual tokens PEFT puts before the sequence (prompt and P-tuning), whose
    logits it returns too; lorafleet returns the real tokens' only."""
    total, count, first = 0.0, 0, None
    with torch.no_grad():
        for t in texts:
            ids = list(t.encode("utf-8"))[:n_positions]
            x = torch.tensor([ids])
            logits = model(x).logits[0, soft_prompt:-1].float()
            if first is None:
                first = logits
            total += torch.nn.functional.cross_entropy(logits, x[0, 1:], reduction="sum").item()
            count += len(ids) - 1
    return first, total / count


def ours(base, data, adapter=None):
    out = os.path.join(TMP, "logits.safetensors")
    args = ["eval", "--base", base, "--data", data, "--json", "--logits", out]
    if adapter:
        args += ["--adapter", adapter]
    report = json.loads(run(*args))
    return load_file(out)["logits"], report["loss"]


def compare(name, hf, mine):
    (hl, hloss), (ml, mloss) = hf, mine
    diff = (hl - ml).abs().max().item()
    check(f"{name}: logits", diff < ATOL, f"max |diff| {diff:.2e}")
    check(f"{name}: loss", abs(hloss - mloss) < ATOL, f"{hloss:.6f} vs {mloss:.6f}")


def train_adapter(name, base, data, method, block):
    """`lorafleet train` with `method` and its settings block; returns the adapter folder."""
    job = os.path.join(TMP, f"{name}_{method}_job.yaml")
    out = os.path.join(TMP, f"{name}_{method}_run")
    shutil.rmtree(out, ignore_errors=True)
    with open(job, "w") as f:
        json.dump({"base_model": base, "data": {"train": data, "seq_len": 32}, "method": method,
                   method: block, "train": {"steps": 8, "batch_size": 4, "lr": 0.02, "seed": 1},
                   "output": out}, f)
    run("train", job, "--quiet")
    return os.path.join(out, "adapter")


def peft_wrapped(model, base, peft_config):
    """A fresh copy of the base saved at `base`, wrapped by PEFT with `peft_config`."""
    fresh = type(model)(model.config).eval()
    fresh.load_state_dict(transformers.AutoModelForCausalLM.from_pretrained(base).state_dict())
    return peft.get_peft_model(fresh, peft_config).eval()


def check_method(name, model, base, data, n_pos, method, block, peft_config):
    """Steps 2-4 for `method` (dora, ia3): lorafleet trains, PEFT loads; lorafleet merges,
    transformers loads; PEFT writes (non-identity weights), lorafleet loads."""
    adapter = train_adapter(name, base, data, method, block)
    peft_model = peft.PeftModel.from_pretrained(model, adapter).eval()
    compare(f"{name} {method} adapter trained by lorafleet, loaded by PEFT",
            hf_logits_and_loss(peft_model, TEXTS, n_pos), ours(base, data, adapter))
    peft_model.unload()

    merged = os.path.join(TMP, f"{name}_{method}_merged")
    run("merge", "--base", base, "--adapter", adapter, "--out", merged)
    merged_model = transformers.AutoModelForCausalLM.from_pretrained(merged).eval()
    compare(f"{name} {method} merged by lorafleet, loaded by transformers",
            hf_logits_and_loss(merged_model, TEXTS, n_pos), ours(base, data, adapter))

    written = peft_wrapped(model, base, peft_config)
    with torch.no_grad():  # move DoRA's magnitudes off their initial norms
        for key, p in written.named_parameters():
            if "lora_magnitude_vector" in key:
                p.mul_(1 + 0.3 * torch.rand_like(p))
    peft_dir = os.path.join(TMP, f"{name}_{method}_peft_adapter")
    written.save_pretrained(peft_dir)
    compare(f"{name} {method} adapter written by PEFT, loaded by lorafleet",
            hf_logits_and_loss(written, TEXTS, n_pos), ours(base, data, peft_dir))


def check_prompt_method(name, model, base, data, method, block, peft_config):
    """Steps 2-3 for a prompt-learning method: lorafleet trains, PEFT loads; PEFT writes (its
    random initialisation), lorafleet loads. The virtual tokens shorten the usable context."""
    tokens = block["num_virtual_tokens"]
    soft_prompt = 0 if method == "prefix_tuning" else tokens
    n_pos = 64 - tokens
    label = f"{name} {method}" + (" (projection)" if block.get("prefix_projection") else "")
    adapter = train_adapter(name, base, data, method, block)
    peft_model = peft.PeftModel.from_pretrained(model, adapter).eval()
    compare(f"{label} adapter trained by lorafleet, loaded by PEFT",
            hf_logits_and_loss(peft_model, TEXTS, n_pos, soft_prompt),
            ours(base, data, adapter))

    written = peft_wrapped(model, base, peft_config)
    peft_dir = os.path.join(TMP, f"{name}_{method}_peft_adapter")
    shutil.rmtree(peft_dir, ignore_errors=True)
    written.save_pretrained(peft_dir)
    compare(f"{label} adapter written by PEFT, loaded by lorafleet",
            hf_logits_and_loss(written, TEXTS, n_pos, soft_prompt), ours(base, data, peft_dir))


def main():
    torch.manual_seed(0)
    # The byte-level tokenizer lorafleet writes for its own models: ids are the UTF-8 bytes.
    tok_dir = os.path.join(TMP, "tok")
    data = os.path.join(TMP, "data.jsonl")
    write_jsonl(data, TEXTS * 8)
    run("pretrain", "--data", data, "--out", tok_dir, "--layers", "1", "--hidden", "8",
        "--heads", "1", "--seq-len", "16", "--steps", "1", "--batch-size", "1", "--quiet")
    hf_tok = transformers.PreTrainedTokenizerFast(tokenizer_file=os.path.join(tok_dir, "tokenizer.json"))
    check("tokenizer: Hugging Face reads lorafleet's byte tokenizer",
          hf_tok(TEXTS[3])["input_ids"] == list(TEXTS[3].encode("utf-8")))

    common = dict(vocab_size=257, initializer_range=0.3)
    models = {
        "gpt2": transformers.GPT2LMHeadModel(transformers.GPT2Config(
            n_positions=64, n_embd=32, n_layer=2, n_head=4, resid_pdrop=0, embd_pdrop=0,
            attn_pdrop=0, **common)),
        "llama": transformers.LlamaForCausalLM(transformers.LlamaConfig(
            hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
            num_key_value_heads=2, max_position_embeddings=64, rms_norm_eps=1e-6,
            tie_word_embeddings=False, **common)),
        "qwen2": transformers.Qwen2ForCausalLM(transformers.Qwen2Config(
            hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
            num_key_value_heads=2, max_position_embeddings=64, tie_word_embeddings=True,
            **common)),
    }
    t = transformers
    shape = dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
                 num_key_value_heads=2, max_position_embeddings=64, **common)
    models.update({
        "llama_rope_llama3": t.LlamaForCausalLM(t.LlamaConfig(
            tie_word_embeddings=False, head_dim=16, **shape,
            rope_parameters={"rope_type": "llama3", "rope_theta": 10000.0, "factor": 8.0,
                             "low_freq_factor": 1.0, "high_freq_factor": 4.0,
                             "original_max_position_embeddings": 100})),
        "qwen2_yarn": t.Qwen2ForCausalLM(t.Qwen2Config(
            tie_word_embeddings=True, **shape, rope_parameters={
                "rope_type": "yarn", "rope_theta": 10000.0, "factor": 4.0,
                "original_max_position_embeddings": 16})),
        "qwen3": t.Qwen3ForCausalLM(t.Qwen3Config(head_dim=16, tie_word_embeddings=True, **shape)),
        "mistral": t.MistralForCausalLM(t.MistralConfig(sliding_window=8, tie_word_embeddings=False,
                                                        **shape)),
        "phi3": t.Phi3ForCausalLM(t.Phi3Config(
            partial_rotary_factor=0.5, pad_token_id=0, bos_token_id=0, eos_token_id=0,
            tie_word_embeddings=False, **shape)),
        "phi3_longrope": t.Phi3ForCausalLM(t.Phi3Config(
            original_max_position_embeddings=16, pad_token_id=0, bos_token_id=0, eos_token_id=0,
            tie_word_embeddings=False, **shape, rope_parameters={
                "rope_type": "longrope", "rope_theta": 10000.0,
                "short_factor": [1.0, 1.2, 1.5, 2.0], "long_factor": [2.0, 3.0, 5.0, 8.0]})),
        "gemma2": t.Gemma2ForCausalLM(t.Gemma2Config(
            head_dim=8, sliding_window=8, query_pre_attn_scalar=6, attn_logit_softcapping=5.0,
            **shape)),
        "gemma3": t.Gemma3ForCausalLM(t.Gemma3TextConfig(
            head_dim=8, sliding_window=8, query_pre_attn_scalar=6, final_logit_softcapping=10.0,
            layer_types=["sliding_attention", "full_attention"], **shape,
            rope_parameters={"full_attention": {"rope_type": "linear", "factor": 2.0,
                                                "rope_theta": 1000000.0},
                             "sliding_attention": {"rope_type": "default",
                                                   "rope_theta": 10000.0}})),
    })
    if len(sys.argv) > 2:  # names to check, e.g. `peft_interop.py BIN_DIR gemma2 phi3`
        models = {k: v for k, v in models.items() if k in sys.argv[2:]}
    all_linear = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
    targets = {"gpt2": ["c_attn", "c_proj", "c_fc"], "llama": all_linear,
               "qwen2": ["q_proj", "v_proj", "down_proj"],
               "phi3": ["qkv_proj", "o_proj", "gate_up_proj", "down_proj"],
               "phi3_longrope": ["qkv_proj", "o_proj", "gate_up_proj", "down_proj"]}
    for name, model in models.items():
        with torch.no_grad():  # norm weights start constant; randomise them so they matter
            for param_name, param in model.named_parameters():
                if "norm" in param_name and "gpt2" not in name:
                    param.normal_(0.5 if "gemma" in name else 1.0, 0.3)
        model.eval()
        base = os.path.join(TMP, name)
        model.save_pretrained(base, safe_serialization=True)
        for f in ("tokenizer.json", "tokenizer_config.json"):
            shutil.copy(os.path.join(tok_dir, f), base)
        n_pos = 64
        compare(f"{name} base", hf_logits_and_loss(model, TEXTS, n_pos), ours(base, data))

        # 2. lorafleet trains, PEFT loads.
        job = os.path.join(TMP, f"{name}_job.yaml")
        out = os.path.join(TMP, f"{name}_run")
        with open(job, "w") as f:
            json.dump({"base_model": base, "data": {"train": data, "seq_len": 32},
                       "lora": {"r": 4, "alpha": 8,
                                "target_modules": targets.get(name, all_linear)},
                       "train": {"steps": 8, "batch_size": 4, "lr": 0.02, "seed": 1},
                       "output": out}, f)
        run("train", job, "--quiet")
        adapter = os.path.join(out, "adapter")
        peft_model = peft.PeftModel.from_pretrained(model, adapter).eval()
        compare(f"{name} adapter trained by lorafleet, loaded by PEFT",
                hf_logits_and_loss(peft_model, TEXTS, n_pos), ours(base, data, adapter))
        base_loss = hf_logits_and_loss(model.get_base_model() if hasattr(model, "get_base_model") else model, TEXTS, n_pos)
        peft_model.unload()

        # 4. merged by lorafleet, loaded by transformers.
        merged = os.path.join(TMP, f"{name}_merged")
        run("merge", "--base", base, "--adapter", adapter, "--out", merged)
        merged_model = transformers.AutoModelForCausalLM.from_pretrained(merged).eval()
        compare(f"{name} merged by lorafleet, loaded by transformers",
                hf_logits_and_loss(merged_model, TEXTS, n_pos), ours(base, data, adapter))

        # 3. PEFT writes, lorafleet loads.
        fresh = type(model)(model.config).eval()
        fresh.load_state_dict(transformers.AutoModelForCausalLM.from_pretrained(base).state_dict())
        config = peft.LoraConfig(r=4, lora_alpha=16, target_modules=targets.get(name, all_linear),
                                 init_lora_weights=False, task_type="CAUSAL_LM")
        written = peft.get_peft_model(fresh, config).eval()
        peft_dir = os.path.join(TMP, f"{name}_peft_adapter")
        written.save_pretrained(peft_dir)
        compare(f"{name} adapter written by PEFT, loaded by lorafleet",
                hf_logits_and_loss(written, TEXTS, n_pos), ours(base, data, peft_dir))
        del base_loss

        # 5. DoRA and IA³.
        check_method(name, model, base, data, n_pos, "dora",
                     {"r": 4, "alpha": 8, "target_modules": targets.get(name, all_linear)},
                     peft.LoraConfig(r=4, lora_alpha=16, target_modules=targets.get(name, all_linear),
                                     use_dora=True, init_lora_weights=False,
                                     task_type="CAUSAL_LM"))
        # Feed-forward modules must be among the targets (PEFT checks it; so does lorafleet).
        ia3_targets, ia3_ff = {
            "gpt2": (["c_attn", "c_fc", "mlp.c_proj"], ["mlp.c_proj"]),
            "qwen2": (["q_proj", "v_proj", "down_proj"], ["down_proj"]),
            "phi3": (["qkv_proj", "down_proj"], ["down_proj"]),
            "phi3_longrope": (["qkv_proj", "down_proj"], ["down_proj"])}.get(
                name, (["k_proj", "v_proj", "up_proj", "down_proj"], ["down_proj"]))
        check_method(name, model, base, data, n_pos, "ia3",
                     {"target_modules": ia3_targets, "feedforward_modules": ia3_ff},
                     peft.IA3Config(target_modules=ia3_targets, feedforward_modules=ia3_ff,
                                    init_ia3_weights=False, task_type="CAUSAL_LM"))

        # 6. Prompt learning.
        check_prompt_method(name, model, base, data, "prompt_tuning",
                            {"num_virtual_tokens": 4},
                            peft.PromptTuningConfig(num_virtual_tokens=4, task_type="CAUSAL_LM"))
        check_prompt_method(name, model, base, data, "p_tuning",
                            {"num_virtual_tokens": 4, "encoder_hidden_size": 16},
                            peft.PromptEncoderConfig(num_virtual_tokens=4, encoder_hidden_size=16,
                                                     task_type="CAUSAL_LM"))
        check_prompt_method(name, model, base, data, "prefix_tuning",
                            {"num_virtual_tokens": 4},
                            peft.PrefixTuningConfig(num_virtual_tokens=4, task_type="CAUSAL_LM"))
        check_prompt_method(name, model, base, data, "prefix_tuning",
                            {"num_virtual_tokens": 4, "prefix_projection": True,
                             "encoder_hidden_size": 16},
                            peft.PrefixTuningConfig(num_virtual_tokens=4, prefix_projection=True,
                                                    encoder_hidden_size=16, task_type="CAUSAL_LM"))

    print(f"{len(failures)} failed")
    shutil.rmtree(TMP, ignore_errors=True)
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
