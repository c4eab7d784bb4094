"""Learning curve of one algorithm run, following the evaluation protocol of DESIGN.md.

Trains on ``--env`` with ``--seed``; every ``--eval-freq`` env steps evaluates 10 deterministic episodes on a separate
env seeded ``1000 + seed`` (through SB3's ``evaluate_policy``, which threads the recurrent state) and appends a
record (env steps, training wall clock without evaluation, mean/std return) to ``--out`` (JSON lines).

    python benchmarks/dreamer_curve.py --env rrl_sb3/PendulumNoVel-v1 --seed 0 --steps 20000 --out results.jsonl
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch as th
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.env_util import make_vec_env
from stable_baselines3.common.evaluation import evaluate_policy

from rrl_sb3 import Dreamer


class CurveCallback(BaseCallback):
    def __init__(self, eval_env, eval_freq: int, out: Path, meta: dict) -> None:
        super().__init__()
        self.eval_env, self.eval_freq, self.out, self.meta = eval_env, eval_freq, out, meta
        self.eval_seconds = 0.0
        self.start = time.perf_counter()
        self.next_eval = eval_freq

    def _on_step(self) -> bool:
        if self.num_timesteps >= self.next_eval:
            self.next_eval += self.eval_freq
            t0 = time.perf_counter()
            self.eval_env.seed(1000 + self.meta["seed"])
            returns, lengths = evaluate_policy(
                self.model, self.eval_env, n_eval_episodes=10, deterministic=True, return_episode_rewards=True
            )
            self.eval_seconds += time.perf_counter() - t0
            wall = time.perf_counter() - self.start - self.eval_seconds
            record = {
                **self.meta,
                "env_steps": self.num_timesteps,
                "wall_seconds": round(wall, 1),
                "updates": self.model._n_updates,
                "mean_return": float(sum(returns) / len(returns)),
                "std_return": float(th.tensor(returns, dtype=th.float64).std(unbiased=False)),
                "mean_length": float(sum(lengths) / len(lengths)),
            }
            with self.out.open("a") as f:
                f.write(json.dumps(record) + "\n")
            print(json.dumps(record), flush=True)
        return True


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--env", default="rrl_sb3/PendulumNoVel-v1")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--steps", type=int, default=20_000)
    parser.add_argument("--eval-freq", type=int, default=2_000)
    parser.add_argument("--kwargs", default="{}", help="Dreamer keyword arguments, a Python dict literal")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    th.set_num_threads(args.threads)
    kwargs = eval(args.kwargs)  # a trusted command-line literal
    model = Dreamer(args.env, seed=args.seed, **kwargs)
    eval_env = make_vec_env(args.env, n_envs=1, seed=1000 + args.seed)
    meta = {"algo": "Dreamer", "env": args.env, "seed": args.seed, "kwargs": kwargs}
    model.learn(args.steps, callback=CurveCallback(eval_env, args.eval_freq, args.out, meta))


if __name__ == "__main__":
    main()
