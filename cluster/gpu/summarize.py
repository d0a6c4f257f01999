#!/usr/bin/env python3
"""Writes the GPU check's summary (cluster/gpu/check.sh calls it last): summary.json and
summary.md in --out, from the steps check.sh recorded (steps.tsv) and the JSON the benchmarks
printed (train.json from train_bench --json, the last line of pack_bench's and hf_peer.py's
output). Exits 1 when a step failed, and in the rehearsal also when one ran out of time, so that
the ctest entry fails; 0 otherwise. Standard library only: it runs on both machines."""
import argparse
import json
import os
import sys

STEPS = ["env", "unpack", "configure", "build", "ctest", "train", "pack", "kernels", "peer"]


def last_json_line(path):
    if not os.path.exists(path):
        return None
    for line in reversed(open(path, errors="replace").read().splitlines()):
        line = line.strip()
        if line.startswith("{"):
            try:
                return json.loads(line)
            except json.JSONDecodeError:
                return None
    return None


def load(path):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, json.JSONDecodeError):
        return None


def headline(train, pack, peer):
    """The figures the issue asks for, None where not measured."""
    h = {k: None for k in [
        "model", "lora_tokens_per_s", "lora_mfu", "lora_peak_memory_bytes", "peer_lora_tokens_per_s",
        "peer_lora_peak_memory_bytes", "ours_over_peer_lora_tokens_per_s", "qlora_over_lora_tokens_per_s",
        "qlora_base_bytes_per_param", "lora_over_full_tokens_per_s", "lora_over_full_peak_memory",
        "packed_over_one_at_a_time", "packed_over_processes"]}
    if train and train.get("models"):
        model, m = next(iter(train["models"].items()))
        h["model"] = model
        lora, qlora, full = m.get("lorafleet lora"), m.get("lorafleet qlora"), m.get("lorafleet full")
        peer_lora = m.get("peer lora") or peer
        r = m.get("ratios", {})
        if lora:
            h["lora_tokens_per_s"] = lora["tokens_per_s"]
            h["lora_mfu"] = lora.get("mfu")
            h["lora_peak_memory_bytes"] = lora["peak_memory_bytes"]
        if peer_lora:
            h["peer_lora_tokens_per_s"] = peer_lora["tokens_per_s"]
            h["peer_lora_peak_memory_bytes"] = peer_lora["peak_memory_bytes"]
        if lora and peer_lora:
            h["ours_over_peer_lora_tokens_per_s"] = lora["tokens_per_s"] / peer_lora["tokens_per_s"]
        if qlora:
            h["qlora_base_bytes_per_param"] = qlora["base_bytes_per_param"]
        h["qlora_over_lora_tokens_per_s"] = r.get("qlora_over_lora_tokens_per_s")
        h["lora_over_full_tokens_per_s"] = r.get("lora_over_full_tokens_per_s")
        h["lora_over_full_peak_memory"] = r.get("lora_over_full_peak_above_baseline")
    elif peer:
        h["peer_lora_tokens_per_s"] = peer["tokens_per_s"]
        h["peer_lora_peak_memory_bytes"] = peer["peak_memory_bytes"]
    if pack:
        h["packed_over_one_at_a_time"] = pack.get("packed_speedup")
        h["packed_over_processes"] = pack.get("packed_over_processes")
    return h


AIMS = {  # headline field -> (aim, what it means)
    "ours_over_peer_lora_tokens_per_s": (1.3, ">= 1.3x transformers + PEFT"),
    "qlora_over_lora_tokens_per_s": (0.8, ">= 0.8x LoRA"),
    "packed_over_one_at_a_time": (3.0, ">= 3x one at a time"),
}


def fmt(v):
    if v is None:
        return "not measured"
    if isinstance(v, float):
        return f"{v:,.3g}" if abs(v) < 100 else f"{v:,.0f}"
    return str(v)


def markdown(s):
    lines = [f"# lorafleet GPU check ({s['mode']})", "",
             f"Result: **{'passed' if s['ok'] else 'FAILED'}**, {s['seconds']} s of a "
             f"{s['budget_seconds']} s budget.", "", "## Machine", "", "```"]
    lines += s["machine"] or ["(not recorded)"]
    lines += ["```", "", "## Steps", "", "| step | status | seconds | note |", "|---|---|---:|---|"]
    for st in s["steps"]:
        lines.append(f"| {st['name']} | {st['status']} | {st['seconds']} | {st['note']} |")
    lines += ["", "## Figures", "", "| figure | value | aim |", "|---|---:|---|"]
    for k, v in s["headline"].items():
        aim = AIMS.get(k)
        verdict = ""
        if aim and isinstance(v, (int, float)):
            verdict = f"{aim[1]}: {'met' if v >= aim[0] else 'NOT met'}"
        elif aim:
            verdict = aim[1]
        lines.append(f"| {k} | {fmt(v)} | {verdict} |")
    if s["results"]["train"]:
        lines += ["", f"FLOPs per token: {s['results']['train'].get('flop_formula')}; MFU against "
                  f"{s['results']['train'].get('peak_flops_spec', 0) / 1e12:.0f} TFLOP/s (H200 bf16 dense, "
                  "datasheet)."]
    skipped = [st["name"] for st in s["steps"] if st["status"] == "skipped"]
    if skipped:
        lines += ["", "Skipped: " + ", ".join(f"{st['name']} ({st['note']})" for st in s["steps"]
                                             if st["status"] == "skipped") + "."]
    return "\n".join(lines) + "\n"


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--mode", required=True)
    p.add_argument("--work", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--seconds", type=int, required=True)
    p.add_argument("--budget", type=int, required=True)
    a = p.parse_args()
    steps = []
    for line in open(os.path.join(a.work, "steps.tsv")).read().splitlines():
        name, status, seconds, note = (line.split("\t") + [""] * 4)[:4]
        steps.append({"name": name, "status": status, "seconds": int(seconds), "note": note})
    train = load(os.path.join(a.work, "train.json"))
    pack = last_json_line(os.path.join(a.work, "pack.txt"))
    peer = last_json_line(os.path.join(a.work, "peer.txt"))
    env_path = os.path.join(a.out, "env.txt")
    machine = open(env_path).read().splitlines() if os.path.exists(env_path) else []
    failed = [st for st in steps if st["status"] == "failed"]
    late = [st for st in steps if "out of time" in st["note"] or "timed out" in st["note"]]
    ok = not failed and not (a.mode == "rehearsal" and late)
    summary = {
        "check": "lorafleet GPU check (cluster/gpu/check.sh)",
        "mode": a.mode,
        "ok": ok,
        "seconds": a.seconds,
        "budget_seconds": a.budget,
        "machine": machine,
        "steps": steps,
        "headline": headline(train, pack, peer),
        "results": {"train": train, "pack": pack, "peer": peer},
    }
    with open(os.path.join(a.out, "summary.json"), "w") as f:
        json.dump(summary, f, indent=2)
        f.write("\n")
    md = markdown(summary)
    with open(os.path.join(a.out, "summary.md"), "w") as f:
        f.write(md)
    print(md)
    for st in failed:
        print(f"check.sh: step {st['name']} failed: {st['note']}", file=sys.stderr)
    if a.mode == "rehearsal" and late:
        print("check.sh: the rehearsal ran out of time: " + ", ".join(st["name"] for st in late),
              file=sys.stderr)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
