"""Where a Dreamer run's CPU goes: acting, env steps, storing, each part of the update, evaluation.

    python benchmarks/tools/dreamer_breakdown.py --env rrl_sb3/PendulumNoVel-v1 --steps 3000
    python benchmarks/tools/dreamer_breakdown.py --env rrl_sb3/CartPoleNoVel-v1 --hyperparams '{"precision": "bf16"}'

A short ``learn`` (``--steps`` env steps, the first ``--learning-starts`` of them random) on one torch thread, with
every part timed in CPU seconds (``time.process_time``) by wrapping the methods that do it; then one evaluation of
``--eval-episodes`` episodes through SB3's ``evaluate_policy``. Printed as a table: total CPU seconds of each part, its
share of the run, and its cost per env step (per update for the update's parts). The wrappers cost a few microseconds a
call, so the parts add up to slightly less than the total ("other": SB3's loop, logging, callbacks).
"""

from __future__ import annotations

import argparse
import json
import time
from collections import defaultdict
from collections.abc import Callable
from typing import Any

import torch as th
from stable_baselines3.common.env_util import make_vec_env
from stable_baselines3.common.evaluation import evaluate_policy
from stable_baselines3.common.vec_env import VecEnv

import rrl_sb3.dreamer.dreamer as dreamer_module
from rrl_sb3 import Dreamer
from rrl_sb3.common.buffers import SequenceReplayBuffer
from rrl_sb3.common.precision import cpu_bf16_units, cpu_model
from rrl_sb3.dreamer.world_model import WorldModel

CPU: dict[str, float] = defaultdict(float)
CALLS: dict[str, int] = defaultdict(int)


def timed(name: str | Callable[..., str], fn: Callable[..., Any]) -> Callable[..., Any]:
    """``fn`` that adds its CPU time to ``CPU[name]`` (``name`` may be a function of the call's arguments)."""

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        key = name(*args, **kwargs) if callable(name) else name
        start = time.process_time()
        try:
            return fn(*args, **kwargs)
        finally:
            CPU[key] += time.process_time() - start
            CALLS[key] += 1

    return wrapper


def instrument() -> None:
    """Wrap the methods that make up a run (class attributes: every model built after this call is timed)."""
    Dreamer._sample_action = timed("act (policy step)", Dreamer._sample_action)  # type: ignore[method-assign]
    Dreamer._store_transition = timed("store transition", Dreamer._store_transition)  # type: ignore[method-assign]
    SequenceReplayBuffer.sample = timed("update: sample batch", SequenceReplayBuffer.sample)  # type: ignore[method-assign]
    WorldModel.loss = timed("update: world model forward", WorldModel.loss)  # type: ignore[method-assign]
    dreamer_module.behavior_losses = timed("update: imagination + actor/critic forward", dreamer_module.behavior_losses)
    Dreamer._optimize = timed(  # type: ignore[method-assign]
        lambda self, module, loss, name, retain_graph=False: f"update: {name} backward + step", Dreamer._optimize
    )
    Dreamer._update = timed("update (total)", Dreamer._update)  # type: ignore[method-assign]


def cpu_name() -> str:
    return f"{cpu_model()} (bf16: {', '.join(cpu_bf16_units()) or 'none'})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--env", default="rrl_sb3/PendulumNoVel-v1")
    parser.add_argument("--steps", type=int, default=3000, help="env steps of the run")
    parser.add_argument("--learning-starts", type=int, default=1000)
    parser.add_argument("--eval-episodes", type=int, default=10)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--hyperparams", default="{}", help="Dreamer keyword arguments as JSON")
    args = parser.parse_args()
    th.set_num_threads(1)
    instrument()
    model = Dreamer(args.env, seed=args.seed, learning_starts=args.learning_starts, **json.loads(args.hyperparams))
    env = model.get_env()
    assert isinstance(env, VecEnv)
    env.step_wait = timed("env step", env.step_wait)  # type: ignore[method-assign]
    start = time.process_time()
    model.learn(args.steps)
    train_cpu = time.process_time() - start
    eval_env = make_vec_env(args.env, n_envs=1, seed=1000 + args.seed)  # a separate env, as the protocol's
    start = time.process_time()
    evaluate_policy(model, eval_env, n_eval_episodes=args.eval_episodes, deterministic=True)
    CPU["evaluation (acting + env)"] = time.process_time() - start
    total = train_cpu + CPU["evaluation (acting + env)"]
    n_updates = max(CALLS["update (total)"], 1)
    print(f"{args.env}, {args.steps} env steps ({args.learning_starts} random), {n_updates} updates; CPU: {cpu_name()}")
    print(f"hyperparameters: {args.hyperparams}; torch {th.__version__}, 1 thread")
    print(f"{'part':46s} {'CPU s':>8s} {'share':>6s} {'per env step':>13s} {'per update':>11s}")
    parts = [k for k in CPU if k != "update (total)"]
    update_parts = [k for k in parts if k.startswith("update:")]
    other = train_cpu - sum(CPU[k] for k in parts if k != "evaluation (acting + env)")
    rows = [*[k for k in parts if not k.startswith("update:")], *update_parts]
    for key in [*rows, "update (total)"]:
        per_update = f"{1000 * CPU[key] / n_updates:9.1f}ms" if key.startswith("update") else ""
        per_step = f"{1000 * CPU[key] / args.steps:11.2f}ms" if key != "evaluation (acting + env)" else ""
        print(f"{key:46s} {CPU[key]:8.2f} {CPU[key] / total:6.1%} {per_step:>13s} {per_update:>11s}")
    print(f"{'other (SB3 loop, logging)':46s} {other:8.2f} {other / total:6.1%}")
    per_step = f"{1000 * train_cpu / args.steps:11.2f}ms"
    print(f"{'training (total, evaluation excluded)':46s} {train_cpu:8.2f} {train_cpu / total:6.1%} {per_step:>13s}")


if __name__ == "__main__":
    main()
