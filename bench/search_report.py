#!/usr/bin/env python3
"""search_bench's report: reads the comparison JSON of every sweep bench/search_bench.sh ran and
prints best eval loss against trials spent per search, the trials TPE and BOHB need to reach
random search's final best (median over seeds), and PBT against the grid of fixed learning rates.
Standard library only."""
import argparse
import json
import math
import os
import statistics


def rows(out, name):
    with open(os.path.join(out, name + ".json")) as f:
        reply = json.load(f)
    # Trial ids end in the trial's index: the order trials were made (suggested) in.
    return sorted(reply.get("rows", []), key=lambda r: int(r["trial_id"].rsplit("-", 1)[1]))


def loss(r):
    v = r.get("eval_loss")
    return v if isinstance(v, (int, float)) and math.isfinite(v) else math.inf


def best_so_far(rs):
    best, curve = math.inf, []
    for r in rs:
        best = min(best, loss(r))
        curve.append(best)
    return curve


def trained_steps(rs):
    return sum((r.get("steps") or 0) - (r.get("resumed_from_step") or 0) for r in rs)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("out")
    p.add_argument("--seeds", type=int, default=5)
    p.add_argument("--trials", type=int, default=30)
    p.add_argument("--steps", type=int, default=30)
    p.add_argument("--population", type=int, default=4)
    p.add_argument("--grid", type=int, default=8)
    a = p.parse_args()
    seeds = range(1, a.seeds + 1)
    report = {"seeds": a.seeds, "trials": a.trials, "steps": a.steps, "methods": {}}
    print(f"\nbest eval loss after k trials (median over {a.seeds} seeds of the search)")
    marks = [k for k in (1, 5, 10, 15, 20, 30, 40) if k <= a.trials]
    print("  search " + "".join(f"{'k=' + str(k):>9}" for k in marks) + "   steps trained")
    curves = {}
    for m in ("random", "tpe", "bohb"):
        curves[m] = {s: best_so_far(rows(a.out, f"{m}-{s}")) for s in seeds}
        med = [statistics.median(c[k - 1] if len(c) >= k else c[-1] for c in curves[m].values())
               for k in marks]
        steps = statistics.median(trained_steps(rows(a.out, f"{m}-{s}")) for s in seeds)
        print(f"  {m:<7}" + "".join(f"{v:9.4f}" for v in med) + f"   {steps:8.0f}")
        report["methods"][m] = {"median_best_at": dict(zip(map(str, marks), med)),
                                "median_steps": steps}
    for m in ("tpe", "bohb"):
        needed, spent = [], []
        for s in seeds:
            target = curves["random"][s][-1]
            k = next((i + 1 for i, v in enumerate(curves[m][s]) if v <= target), math.inf)
            needed.append(k)
            # The steps trained by the trials made up to then, against random search's total.
            rs = rows(a.out, f"{m}-{s}")
            spent.append(trained_steps(rs[:k]) / trained_steps(rows(a.out, f"random-{s}"))
                         if k != math.inf else math.inf)
        ratio = statistics.median(needed) / a.trials
        shown = ", ".join(str(k) if k != math.inf else "never" for k in needed)
        print(f"{m}: trials to reach random search's final best, per seed: {shown}; median "
              f"{statistics.median(needed)} of {a.trials} = {ratio:.2f}x (aim: <= 0.6x)")
        print(f"{m}: steps trained until then, against random search's: "
              f"{', '.join(f'{x:.2f}' if x != math.inf else 'never' for x in spent)}; median "
              f"{statistics.median(spent):.2f}x")
        report["methods"][m]["trials_to_random_best"] = [k if k != math.inf else None
                                                         for k in needed]
        report["methods"][m]["compute_to_random_best"] = [x if x != math.inf else None
                                                          for x in spent]
        report["methods"][m]["ratio"] = ratio if math.isfinite(ratio) else None
    grid = rows(a.out, "grid")
    grid_best = min(loss(r) for r in grid)
    best_lr = min(grid, key=loss)["params"].get("train.lr")
    pbt = []
    for s in seeds:
        rs = rows(a.out, f"pbt-{s}")
        finished = [r for r in rs if r.get("state") == "completed"]
        pbt.append((min(map(loss, finished)) if finished else math.inf, trained_steps(rs),
                    len(rs) - a.population))
    grid_steps = trained_steps(grid)
    print(f"pbt: best final eval loss per seed: "
          f"{', '.join(f'{b:.4f}' for b, _, _ in pbt)} (median {statistics.median(b for b, _, _ in pbt):.4f}); "
          f"grid of {a.grid} fixed learning rates: best {grid_best:.4f} at lr {best_lr}")
    compute = statistics.median(c for _, c, _ in pbt) / grid_steps
    matched = sum(b <= grid_best for b, _, _ in pbt)
    print(f"pbt: {statistics.median(c for _, c, _ in pbt):.0f} steps trained (median) against the "
          f"grid's {grid_steps}: {compute:.2f}x the compute; {matched} of {a.seeds} seeds at or below "
          f"the grid's best (aim: as good at <= 0.5x); replacements per seed: "
          f"{', '.join(str(n) for _, _, n in pbt)}")
    report["pbt"] = {"best": [b for b, _, _ in pbt], "steps": [c for _, c, _ in pbt],
                     "grid_best": grid_best, "grid_best_lr": best_lr, "grid_steps": grid_steps,
                     "compute_ratio": compute, "seeds_matching_grid": matched}
    with open(os.path.join(a.out, "report.json"), "w") as f:
        json.dump(report, f, indent=1)


if __name__ == "__main__":
    main()
