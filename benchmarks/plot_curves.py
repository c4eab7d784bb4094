"""Plot learning curves written by ``dreamer_curve.py`` and print a markdown table.

    python benchmarks/plot_curves.py benchmarks/results/dreamer/pendulum_novel_seed*.jsonl \
        --out benchmarks/results/dreamer/pendulum_novel.png --at 10000 20000
"""

from __future__ import annotations

import argparse
import json
from collections import defaultdict
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np


def load(paths: list[Path]) -> dict[tuple[str, str], dict[int, list[dict]]]:
    """(algo, env) -> seed -> records sorted by env steps."""
    runs: dict[tuple[str, str], dict[int, list[dict]]] = defaultdict(lambda: defaultdict(list))
    for path in paths:
        for line in path.read_text().splitlines():
            record = json.loads(line)
            runs[(record["algo"], record["env"])][record["seed"]].append(record)
    for seeds in runs.values():
        for records in seeds.values():
            records.sort(key=lambda r: r["env_steps"])
    return runs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("files", nargs="+", type=Path)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--at", type=int, nargs="+", default=[10_000, 20_000])
    args = parser.parse_args()
    runs = load(args.files)

    fig, axes = plt.subplots(1, len(runs), figsize=(6 * len(runs), 4), squeeze=False)
    for ax, ((algo, env), seeds) in zip(axes[0], sorted(runs.items()), strict=True):
        steps = sorted({r["env_steps"] for records in seeds.values() for r in records})
        table = np.full((len(seeds), len(steps)), np.nan)
        for i, records in enumerate(seeds.values()):
            for r in records:
                table[i, steps.index(r["env_steps"])] = r["mean_return"]
        for seed, records in sorted(seeds.items()):
            ax.plot(
                [r["env_steps"] for r in records], [r["mean_return"] for r in records], alpha=0.35, lw=1, label=f"seed {seed}"
            )
        mean, std = np.nanmean(table, 0), np.nanstd(table, 0)
        ax.plot(steps, mean, color="k", lw=2, label=f"mean over {len(seeds)} seeds")
        ax.fill_between(steps, mean - std, mean + std, color="k", alpha=0.15, label="± 1 std across seeds")
        ax.set_title(f"{algo} on {env}")
        ax.set_xlabel("env steps")
        ax.set_ylabel("mean eval return (10 deterministic episodes)")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)

        print(f"\n{algo} on {env}\n")
        header = " | ".join(f"return at {n // 1000}k" for n in args.at)
        print(f"| seed | {header} | train wall clock (s) | updates | env steps/s | updates/s |")
        print("|" + " --- |" * (5 + len(args.at)))
        for seed, records in sorted(seeds.items()):
            by_step = {r["env_steps"]: r for r in records}
            cells = " | ".join(
                f"{by_step[n]['mean_return']:.1f} ± {by_step[n]['std_return']:.1f}" if n in by_step else "-" for n in args.at
            )
            last = records[-1]
            wall = last["wall_seconds"]
            print(
                f"| {seed} | {cells} | {wall:.0f} | {last['updates']} | {last['env_steps'] / wall:.1f} | "
                f"{last['updates'] / wall:.2f} |"
            )
    fig.tight_layout()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(args.out, dpi=120)
    print(f"\nplot: {args.out}")


if __name__ == "__main__":
    main()
