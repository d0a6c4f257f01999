#!/usr/bin/env python3
"""The peer that train_bench measures lorafleet against: Hugging Face transformers + PEFT training
the same model shape (random weights from a config.json folder) with the same method, LoRA rank,
target modules, batch, sequence length, optimizer (AdamW, clipping at 1.0) and dtype, on the same
device. Prints one JSON line last: steady-state tokens/s (after --warmup steps), peak memory, the
trainable and base parameter counts and the versions used. train_bench --peer PYTHON runs it;
it runs alone too:

  python3 bench/hf_peer.py --config bench/models/llama-110m --method lora --rank 16 \
      --targets q_proj,k_proj,v_proj,o_proj,gate_proj,up_proj,down_proj --seq 256 --batch 2
"""
import argparse
import json
import resource
import sys
import time


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--config", required=True, help="folder with a Hugging Face config.json")
    p.add_argument("--method", choices=["lora", "full"], default="lora")
    p.add_argument("--rank", type=int, default=16)
    p.add_argument("--alpha", type=float, default=32)
    p.add_argument("--targets", default="", help="comma-separated module names (PEFT's list)")
    p.add_argument("--seq", type=int, default=256)
    p.add_argument("--batch", type=int, default=2)
    p.add_argument("--steps", type=int, default=4, help="timed optimizer steps")
    p.add_argument("--warmup", type=int, default=1, help="untimed steps first")
    p.add_argument("--device", default="cpu")
    p.add_argument("--dtype", choices=["fp32", "bf16"], default="fp32")
    p.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    p.add_argument("--lr", type=float, default=1e-4)
    return p.parse_args()


def rss_peak_bytes():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def rss_bytes():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


def main():
    a = parse_args()
    import torch
    import transformers
    from transformers import AutoConfig, AutoModelForCausalLM
    # The process before any tensor exists (the libraries' code), as train_bench measures its own.
    baseline = rss_bytes()

    if a.threads > 0:
        torch.set_num_threads(a.threads)
    dtype = {"fp32": torch.float32, "bf16": torch.bfloat16}[a.dtype]
    device = torch.device(a.device)
    torch.manual_seed(0)
    config = AutoConfig.from_pretrained(a.config)
    config.use_cache = False
    with device:
        try:  # transformers 5 names it dtype; 4.x torch_dtype
            model = AutoModelForCausalLM.from_config(config, dtype=dtype, attn_implementation="sdpa")
        except TypeError:
            model = AutoModelForCausalLM.from_config(config, torch_dtype=dtype,
                                                     attn_implementation="sdpa")
    model.to(device=device, dtype=dtype)
    base_params = sum(p.numel() for p in model.parameters())
    versions = {"torch": torch.__version__, "transformers": transformers.__version__}
    if a.method == "lora":
        import peft
        targets = [t for t in a.targets.split(",") if t]
        lora = peft.LoraConfig(r=a.rank, lora_alpha=a.alpha, lora_dropout=0.0,
                               target_modules=targets or None, task_type="CAUSAL_LM",
                               fan_in_fan_out=config.model_type == "gpt2")
        model = peft.get_peft_model(model, lora)
        versions["peft"] = peft.__version__
    else:
        for p in model.parameters():
            p.requires_grad_(True)
    model.train()
    params = [p for p in model.parameters() if p.requires_grad]
    trainable = sum(p.numel() for p in params)
    opt = torch.optim.AdamW(params, lr=a.lr)

    gen = torch.Generator(device="cpu").manual_seed(1)
    batches = [torch.randint(0, config.vocab_size, (a.batch, a.seq), generator=gen)
               for _ in range(4)]
    cuda = device.type == "cuda"
    if cuda:
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    # No read-back inside the loop (lorafleet's steps do not wait for the device either); the
    # device is waited for at the end of the warmup and at the end, where the clock is read.
    def sync():
        if cuda:
            torch.cuda.synchronize()
        return time.perf_counter()

    t0 = sync()
    t_warm = t0
    losses = []
    for step in range(a.warmup + a.steps):
        ids = batches[step % len(batches)].to(device, non_blocking=True)
        loss = model(input_ids=ids, labels=ids).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)
        losses.append(loss.detach())
        if step + 1 == a.warmup:
            t_warm = sync()
    t_end = sync()
    timed = t_end - t_warm
    out = {
        "impl": "transformers+peft" if a.method == "lora" else "transformers",
        "method": a.method,
        "device": str(device),
        "dtype": a.dtype,
        "threads": torch.get_num_threads(),
        "seq": a.seq,
        "batch": a.batch,
        "steps": a.steps,
        "warmup": a.warmup,
        "tokens_per_s": a.batch * a.seq * a.steps / timed,
        "timed_s": timed,
        "trainable_params": trainable,
        "base_params": base_params,
        "final_loss": losses[-1].item(),
        "versions": versions,
    }
    if cuda:
        out["peak_memory_bytes"] = torch.cuda.max_memory_allocated()
        out["device_name"] = torch.cuda.get_device_name()
    else:
        out["peak_memory_bytes"] = rss_peak_bytes()
        out["baseline_memory_bytes"] = baseline
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
