"""Learning curve of RecurrentSAC on one env and seed, following the evaluation protocol of DESIGN.md.

Trains on ``--env`` with ``--seed``; every ``--eval-freq`` env steps evaluates 10 deterministic episodes on a separate
env seeded ``1000 + seed`` (through SB3's ``evaluate_policy``, which threads the recurrent state) and appends a
record (env steps, training wall clock and CPU time without evaluation, mean/std return) to ``--out`` (JSON lines).

    python benchmarks/recurrent_sac_curve.py --env rrl_sb3/PendulumNoVel-v1 --seed 0 --steps 20000 \
        --out benchmarks/results/recurrent_sac/pendulum_novel_seed0.jsonl
"""

from __future__ import annotations

import argparse
import ast
import time
from pathlib import Path

import torch as th
from dreamer_curve import CurveCallback  # the same protocol (benchmarks/ is on sys.path when run as a script)
from stable_baselines3.common.env_util import make_vec_env

import rrl_sb3  # noqa: F401  (registers the rrl_sb3/ ids)
from rrl_sb3 import RecurrentSAC


class CpuCurveCallback(CurveCallback):
    """:class:`CurveCallback` that also records the training process's CPU time (without evaluation): on a shared
    machine the wall clock measures the load as much as the algorithm."""

    def _on_training_start(self) -> None:
        self.cpu_start, self.eval_cpu = time.process_time(), 0.0

    def _on_step(self) -> bool:
        if self.num_timesteps < self.next_eval:
            return True
        cpu0 = time.process_time()
        self.meta["cpu_seconds"] = round(cpu0 - self.cpu_start - self.eval_cpu, 1)
        result = super()._on_step()
        self.eval_cpu += time.process_time() - cpu0
        return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--env", default="rrl_sb3/PendulumNoVel-v1")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--steps", type=int, default=20_000)
    parser.add_argument("--eval-freq", type=int, default=2_000)
    parser.add_argument("--kwargs", default="{}", help="RecurrentSAC keyword arguments, a Python dict literal")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    th.set_num_threads(args.threads)
    kwargs = ast.literal_eval(args.kwargs)
    model = RecurrentSAC(args.env, seed=args.seed, device="cpu", **kwargs)
    eval_env = make_vec_env(args.env, n_envs=1, seed=1000 + args.seed)
    meta = {"algo": "RecurrentSAC", "env": args.env, "seed": args.seed, "kwargs": kwargs}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    model.learn(args.steps, callback=CpuCurveCallback(eval_env, args.eval_freq, args.out, meta))


if __name__ == "__main__":
    main()
