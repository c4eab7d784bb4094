"""What `rrl-bench run`'s checkpoints cost (issue #29): CPU seconds per checkpoint against the training CPU seconds
of the interval between two checkpoints, at the sizes of committed runs.

For every algorithm/env pair of a committed results directory whose algorithm has exact checkpoints, the run's model is
built from its completion marker's config (the same hyperparameters and envs), its replay buffer is filled with as
many random-action transitions as the run's budget (the largest buffer its last checkpoint would hold), and then:

- the CPU time of ``save_checkpoint`` (median of ``--reps``), its size on disk, and of ``load_checkpoint`` once;
- the training CPU time of ``--train-steps`` env steps, measured here in the same window, scaled to ``--every``;
- the committed runs' own training CPU per ``--every`` env steps (median over seeds, from their records).

    python benchmarks/tools/checkpoint_cost.py benchmarks/results/dreamer_compute/defaults \\
        benchmarks/results/recurrent_sac benchmarks/results/reinforce --out benchmarks/results/checkpoints

One torch thread. The ratio ``save / interval`` is the share of training CPU that checkpointing adds.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import torch as th

from rrl_sb3.benchmark.algorithms import build_model, get_algorithm, make_env_pair
from rrl_sb3.benchmark.hyperparams import prepare
from rrl_sb3.benchmark.report import load_results
from rrl_sb3.benchmark.suite import CHECKPOINT_EVERY
from rrl_sb3.common.precision import cpu_model


def _cpu(call: Any) -> tuple[float, Any]:
    began = time.process_time()
    out = call()
    return time.process_time() - began, out


def measure(config: dict[str, Any], committed_cpu: list[float], every: int, reps: int, train_steps: int) -> dict[str, Any]:
    spec = get_algorithm(config["algorithm"])
    where = f"{config['algo']} on {config['env']}"
    prepared = prepare(config["hyperparams"], where)
    train_env, eval_env = make_env_pair(config["env"], prepared, 0, 1000)
    eval_env.close()
    model = build_model(spec, prepared, train_env, 0, "cpu", where)
    if not hasattr(model, "save_checkpoint"):
        return {}
    rows = int(config["n_timesteps"])
    off_policy = getattr(model, "replay_buffer", None) is not None or hasattr(model, "learning_starts")
    fill_cpu = 0.0
    if off_policy:  # random actions, no training, until the buffer holds the run's whole budget
        learning_starts = model.learning_starts
        model.learning_starts = rows
        fill_cpu, _ = _cpu(lambda: model.learn(rows))
        model.learning_starts = learning_starts
    train_cpu, _ = _cpu(lambda: model.learn(train_steps, reset_num_timesteps=False))
    directory = Path(tempfile.mkdtemp(prefix="checkpoint_cost_"))
    try:
        saves = []
        for _ in range(reps):
            shutil.rmtree(directory / "ckpt", ignore_errors=True)
            seconds, _ = _cpu(lambda: model.save_checkpoint(directory / "ckpt"))
            saves.append(seconds)
        size = sum(f.stat().st_size for f in (directory / "ckpt").iterdir())
        load, _ = _cpu(lambda: type(model).load_checkpoint(directory / "ckpt", env=train_env, device="cpu"))
    finally:
        shutil.rmtree(directory, ignore_errors=True)
        train_env.close()
    save = statistics.median(saves)
    interval_here = train_cpu / train_steps * every
    interval_committed = statistics.median(committed_cpu) * every if committed_cpu else None
    return {
        "algo": config["algo"],
        "env": config["env"],
        "rows_in_buffer": rows if off_policy else 0,
        "save_cpu_seconds": round(save, 3),
        "save_cpu_seconds_all": [round(s, 3) for s in saves],
        "checkpoint_mb": round(size / 2**20, 2),
        "load_cpu_seconds": round(load, 3),
        "fill_cpu_seconds": round(fill_cpu, 1),
        "train_cpu_per_interval_here": round(interval_here, 1),
        "train_cpu_per_interval_committed": None if interval_committed is None else round(interval_committed, 1),
        "share_here": round(save / interval_here, 4),
        "share_committed": None if interval_committed is None else round(save / interval_committed, 4),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("results", nargs="+", type=Path, help="committed results directories")
    parser.add_argument("--every", type=int, default=CHECKPOINT_EVERY, help="env steps between checkpoints")
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--train-steps", type=int, default=1000, help="env steps of training timed here")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    th.set_num_threads(1)
    rows = []
    for directory in args.results:
        pairs: dict[tuple[str, str], tuple[dict[str, Any], list[float]]] = {}
        for run in load_results(directory).finished:
            config = (run.marker or {}).get("config", {})
            last = run.records[-1] if run.records else {}
            _, per_step = pairs.setdefault((run.algo, run.env), (config, []))
            if last.get("cpu_seconds") and last.get("env_steps"):
                per_step.append(last["cpu_seconds"] / last["env_steps"])
        for _, (config, per_step) in sorted(pairs.items()):
            row = measure(config, per_step, args.every, args.reps, args.train_steps)
            if row:
                row["results"] = str(directory)
                print(json.dumps(row), flush=True)
                rows.append(row)
    if args.out is not None:
        args.out.mkdir(parents=True, exist_ok=True)
        info = {"cpu_model": cpu_model(), "torch_threads": 1, "every": args.every, "reps": args.reps}
        (args.out / "checkpoint_cost.json").write_text(json.dumps({**info, "rows": rows}, indent=1) + "\n")
        lines = [
            f"Checkpoint cost at `checkpoint_every={args.every}` ({info['cpu_model']}, one torch thread)",
            "",
            "| algorithm | env | rows in buffer | checkpoint MB | save CPU s | load CPU s | training CPU s per interval "
            "(here / committed runs) | share of training CPU (here / committed) |",
            "| --- | --- | --- | --- | --- | --- | --- | --- |",
        ]
        for r in rows:
            committed = "-" if r["train_cpu_per_interval_committed"] is None else f"{r['train_cpu_per_interval_committed']}"
            share = "-" if r["share_committed"] is None else f"{100 * r['share_committed']:.2f}%"
            lines.append(
                f"| {r['algo']} | {r['env']} | {r['rows_in_buffer']:,} | {r['checkpoint_mb']} | {r['save_cpu_seconds']} | "
                f"{r['load_cpu_seconds']} | {r['train_cpu_per_interval_here']} / {committed} | "
                f"{100 * r['share_here']:.2f}% / {share} |"
            )
        (args.out / "checkpoint_cost.md").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
