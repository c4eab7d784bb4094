"""Issue #14's tables: how Dreamer's settings hold a solved task, per seed, from the runner's result files.

    python benchmarks/tools/critic_ablation.py \\
        dreamer_default=benchmarks/results/pomdp/dreamer \\
        dreamer_v3_critic=benchmarks/results/dreamer_critic/dreamer_v3_critic

Each argument is ``LABEL=DIR`` with ``DIR`` holding ``<env>/seed_<n>.jsonl`` records (one per evaluation). For each env
with a threshold (CartPoleNoVel 475, PendulumNoVel -200) it prints, per label and seed: the return at 10k, 20k, 30k
and 50k env steps, the first evaluation at or above the threshold (env steps and training CPU seconds), the
evaluations at or above it from 20k on, and the lowest return after the first success; then, per label, the share of
evaluations at or above the threshold in the window every label covers (10k-30k), with a 95% bootstrap interval over
seeds; and for runs made by ``dreamer_acting.py``, each acting mode's mean return and evaluations at or above the
threshold from 10k on.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

THRESHOLDS = {"rrl_sb3-CartPoleNoVel-v1": 475.0, "rrl_sb3-PendulumNoVel-v1": -200.0}
MARKS = (10_000, 20_000, 30_000, 50_000)
WINDOW = (10_000, 30_000)


def load(directory: Path, env: str) -> dict[int, list[dict]]:
    runs = {}
    for path in sorted((directory / env).glob("seed_*.jsonl")):
        if not path.with_name(path.name.replace(".jsonl", ".done.json")).exists():
            continue  # unfinished
        runs[int(path.stem.split("_")[1])] = [json.loads(line) for line in path.read_text().splitlines() if line]
    return runs


def at(records: list[dict], steps: int) -> str:
    hits = [r for r in records if r["env_steps"] == steps]
    return f"{hits[0]['mean_return']:.1f}" if hits else ""


def bootstrap(values: list[float], n: int = 10_000) -> tuple[float, float]:
    rng = np.random.default_rng(0)
    means = rng.choice(values, (n, len(values))).mean(1)
    return float(np.percentile(means, 2.5)), float(np.percentile(means, 97.5))


def acting_modes(labels: dict[str, str], env: str, threshold: float) -> None:
    """The runs made by ``dreamer_acting.py``: each evaluation in three acting modes (records' ``"acting"``)."""
    for label, directory in labels.items():
        for seed, records in load(Path(directory), env).items():
            rows = [r for r in records if "acting" in r and r["env_steps"] >= WINDOW[0]]
            if not rows:
                continue
            print(f"\nActing modes, {label} seed {seed}, evaluations from {WINDOW[0] // 1000}k (mean return; >= threshold):")
            for mode in rows[0]["acting"]:
                values = [r["acting"][mode] for r in rows]
                print(f"- {mode}: {np.mean(values):.1f}; {sum(v >= threshold for v in values)}/{len(values)}")


def main() -> None:
    labels = dict(arg.split("=", 1) for arg in sys.argv[1:])
    for env, threshold in THRESHOLDS.items():
        print(f"\n### {env.replace('-', '/', 1)} (threshold {threshold:g})\n")
        print(
            "| setting | seed | at 10k | at 20k | at 30k | at 50k | first >= threshold (steps; CPU s) "
            "| evals >= threshold from 20k | lowest after first success |"
        )
        print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
        shares: dict[str, list[float]] = {}
        for label, directory in labels.items():
            for seed, records in load(Path(directory), env).items():
                ok = [r for r in records if r["mean_return"] >= threshold]
                first = f"{ok[0]['env_steps'] // 1000}k; {ok[0]['cpu_seconds']:.0f}" if ok else "never"
                late = [r for r in records if r["env_steps"] >= 20_000]
                held = f"{sum(r['mean_return'] >= threshold for r in late)}/{len(late)}"
                after = [r["mean_return"] for r in records if ok and r["env_steps"] >= ok[0]["env_steps"]]
                lowest = f"{min(after):.1f}" if after else ""
                marks = " | ".join(at(records, m) for m in MARKS)
                print(f"| {label} | {seed} | {marks} | {first} | {held} | {lowest} |")
                window = [r for r in records if WINDOW[0] <= r["env_steps"] <= WINDOW[1]]
                shares.setdefault(label, []).append(np.mean([r["mean_return"] >= threshold for r in window]))
        acting_modes(labels, env, threshold)
        print(
            f"\nShare of evaluations >= threshold from {WINDOW[0] // 1000}k to {WINDOW[1] // 1000}k (mean over seeds "
            "[95% bootstrap interval]):"
        )
        for label, values in shares.items():
            low, high = bootstrap(values)
            print(f"- {label}: {np.mean(values):.2f} [{low:.2f}, {high:.2f}] over {len(values)} seeds")


if __name__ == "__main__":
    main()
