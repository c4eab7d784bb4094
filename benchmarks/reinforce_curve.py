"""Learning curve of REINFORCE on one env and seed, following the evaluation protocol of DESIGN.md.

Trains on ``--env`` with ``--seed``; every ``--eval-freq`` env steps evaluates 10 deterministic episodes on a separate
env seeded ``1000 + seed`` (through SB3's ``evaluate_policy``, which threads the recurrent state) and appends a
record (env steps, training wall clock without evaluation, mean/std return) to ``--out`` (JSON lines).

    python benchmarks/reinforce_curve.py --env rrl_sb3/CartPoleNoVel-v1 --seed 0 --steps 200000 --eval-freq 10000 \
        --out benchmarks/results/reinforce/cartpole_novel_seed0.jsonl
"""

from __future__ import annotations

import argparse
import ast
from pathlib import Path

import torch as th
from dreamer_curve import CurveCallback  # the same protocol (benchmarks/ is on sys.path when run as a script)
from stable_baselines3.common.env_util import make_vec_env
from stable_baselines3.common.utils import LinearSchedule

import rrl_sb3  # noqa: F401  (registers the rrl_sb3/ ids)
from rrl_sb3.reinforce import REINFORCE


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--env", default="rrl_sb3/CartPoleNoVel-v1")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--steps", type=int, default=200_000)
    parser.add_argument("--eval-freq", type=int, default=10_000)
    parser.add_argument("--policy", default="MlpGruPolicy")
    parser.add_argument("--n-envs", type=int, default=1)
    parser.add_argument("--kwargs", default="{}", help="REINFORCE keyword arguments, a Python dict literal")
    parser.add_argument("--linear-lr", action="store_true", help="decay the learning rate linearly to 0 over --steps")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    th.set_num_threads(args.threads)
    kwargs = ast.literal_eval(args.kwargs)
    meta_kwargs = dict(kwargs, linear_lr=args.linear_lr)
    if args.linear_lr:
        kwargs["learning_rate"] = LinearSchedule(kwargs.get("learning_rate", 1e-3), 0.0, 1.0)
    env = make_vec_env(args.env, n_envs=args.n_envs, seed=args.seed)
    model = REINFORCE(args.policy, env, seed=args.seed, device="cpu", **kwargs)
    eval_env = make_vec_env(args.env, n_envs=1, seed=1000 + args.seed)
    meta = {"algo": "REINFORCE", "policy": args.policy, "env": args.env, "seed": args.seed, "n_envs": args.n_envs}
    meta["kwargs"] = meta_kwargs
    args.out.parent.mkdir(parents=True, exist_ok=True)
    model.learn(args.steps, callback=CurveCallback(eval_env, args.eval_freq, args.out, meta))


if __name__ == "__main__":
    main()
