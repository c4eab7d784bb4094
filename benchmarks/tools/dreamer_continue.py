"""Issue #27, step 1: what Dreamer's forgetting of CartPole is made of.

Trains one run of a suite entry exactly as ``rrl-bench run`` does and, at every evaluation, adds to its record

- ``"continue"``: :func:`rrl_sb3.dreamer.diagnostics.continue_diagnostics` on the last 10,000 env steps of replay,
  grouped by :func:`~rrl_sb3.dreamer.diagnostics.cartpole_regions` (the continue head's p(continue) at replayed
  terminations of each kind and near each bound, the share of terminations in replay, the decoder's error per
  observation component);
- ``"eval_ends"``: how the evaluation's episodes ended (``"end: position"``, ``"end: angle"``, ``"truncated"``).

Neither changes training (the diagnostics leave torch's and NumPy's random states as they were), so the run's returns
are those the suite's own run gives. The run is saved like any run (``rrl-bench report`` reads it) and checkpointed
like one (the suite's ``checkpoint_every``): run again after an interruption, it resumes. ``--plot`` draws the
measurements of the saved runs beside their evaluation curves.

    python benchmarks/tools/dreamer_continue.py benchmarks/suites/dreamer_compute_defaults.yml --label dreamer \\
        --env rrl_sb3/CartPoleNoVel-v1 --seed 0 --results benchmarks/results/dreamer_continue
    python benchmarks/tools/dreamer_continue.py --plot benchmarks/results/dreamer_continue
"""

from __future__ import annotations

import argparse
import json
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
from stable_baselines3.common.vec_env import VecEnv, VecEnvWrapper

from rrl_sb3.benchmark.runner import run_one
from rrl_sb3.benchmark.suite import Suite
from rrl_sb3.benchmark.worker import EvalRecorder
from rrl_sb3.dreamer.diagnostics import cartpole_regions, continue_diagnostics


class EpisodeEnds(VecEnvWrapper):
    """Counts how episodes end: the group :func:`cartpole_regions` gives a terminal observation, or ``"truncated"``."""

    def __init__(self, venv: VecEnv) -> None:
        super().__init__(venv)
        self.ends: Counter[str] = Counter()

    def reset(self) -> Any:
        return self.venv.reset()

    def step_wait(self) -> Any:
        obs, rewards, dones, infos = self.venv.step_wait()
        for done, info in zip(dones, infos, strict=True):
            if not done:
                continue
            if info.get("TimeLimit.truncated", False):
                self.ends["truncated"] += 1
            else:
                terminal = np.asarray(info["terminal_observation"])[None]
                self.ends[str(cartpole_regions(terminal, np.array([True]))[0])] += 1
        return obs, rewards, dones, infos


class ContinueRecorder(EvalRecorder):
    """:class:`EvalRecorder` that adds the continue head's diagnostics and the evaluation's episode ends."""

    def __init__(self, eval_env: VecEnv, *args: Any, **kwargs: Any) -> None:
        self.ends = EpisodeEnds(eval_env)
        super().__init__(self.ends, *args, **kwargs)

    def evaluate(self, n_episodes: int | None = None) -> dict[str, Any]:
        self.ends.ends.clear()
        record = super().evaluate(n_episodes)
        record["eval_ends"] = dict(self.ends.ends)
        try:
            record["continue"] = continue_diagnostics(self.model, regions=cartpole_regions).to_dict()  # type: ignore[arg-type]
        except ValueError:  # no replayed window yet
            record["continue"] = None
        groups = (record["continue"] or {}).get("groups", {})
        cells = ", ".join(f"{name} {g['p_continue']:.2f} (n={g['count']})" for name, g in groups.items())
        print(f"    {record['env_steps']}: ends {record['eval_ends']}; p(continue) {cells}", flush=True)
        return record


def plot(results: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    files = sorted(results.glob("*/*/seed_*.jsonl"))
    if not files:
        raise SystemExit(f"no runs under {results}")
    fig, axes = plt.subplots(4, len(files), figsize=(5 * len(files), 12), sharex=True, squeeze=False)
    for column, path in enumerate(files):
        records = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
        steps = [r["env_steps"] for r in records]
        ax = axes[0, column]
        ax.plot(steps, [r["mean_return"] for r in records], marker="o", color="black")
        ax.axhline(475, ls=":", color="grey")
        ax.set_title(f"{path.parent.name} {path.stem}")
        ax.set_ylabel("evaluation return")
        ends = [r.get("eval_ends", {}) for r in records]
        for kind, color in (("end: position", "tab:red"), ("end: angle", "tab:blue")):
            shares = [e.get(kind, 0) / max(sum(e.values()), 1) for e in ends]
            ax.bar(
                steps,
                [500 * share for share in shares],
                width=600,
                alpha=0.3,
                color=color,
                label=f"episodes: {kind} (500 = all)",
            )
        ax.legend(fontsize=7)
        diag = [(r["env_steps"], r["continue"]) for r in records if r.get("continue")]
        ax = axes[1, column]
        for name in ("end: position", "end: angle", "near position bound", "near angle bound", "inside"):
            points = [(s, d["groups"][name]["p_continue"]) for s, d in diag if name in d["groups"]]
            if points:
                ax.plot(*zip(*points, strict=True), marker=".", label=name)
        ax.set_ylabel("p(continue), replayed rows")
        ax.set_ylim(0, 1.02)
        ax.legend(fontsize=7)
        ax = axes[2, column]
        ax.plot([s for s, _ in diag], [100 * d["terminal_share"] for _, d in diag], marker=".")
        ax.set_ylabel("terminations, % of recent replay")
        ax = axes[3, column]
        for name in ("end: position", "near position bound", "inside"):
            points = [(s, d["groups"][name]["recon_error"][0]) for s, d in diag if name in d["groups"]]
            if points:
                ax.plot(*zip(*points, strict=True), marker=".", label=name)
        ax.set_ylabel("|x decoded - x|")
        ax.set_xlabel("env steps")
        ax.legend(fontsize=7)
    fig.tight_layout()
    out = results / "continue_diagnostics.png"
    fig.savefig(out, dpi=80)
    print(f"wrote {out}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("suite", nargs="?")
    parser.add_argument("--label")
    parser.add_argument("--env")
    parser.add_argument("--seed", type=int)
    parser.add_argument("--results", type=Path)
    parser.add_argument("--plot", type=Path, help="draw the saved runs under this folder and stop")
    args = parser.parse_args()
    if args.plot is not None:
        plot(args.plot)
        return
    if None in (args.suite, args.label, args.env, args.seed, args.results):
        parser.error("a run needs suite, --label, --env, --seed and --results")
    run = Suite.from_file(args.suite).plan().find(args.label, args.env, args.seed)
    result = run_one(run, args.results, recorder_class=ContinueRecorder)
    print(result.status, result.error or "")


if __name__ == "__main__":
    main()
