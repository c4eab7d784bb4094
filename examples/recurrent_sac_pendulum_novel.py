"""Train recurrent SAC on Pendulum without velocities.

    python examples/recurrent_sac_pendulum_novel.py                # 8,000 steps: about 4 minutes on one CPU thread
    python examples/recurrent_sac_pendulum_novel.py --steps 20000  # the benchmark's budget: 10-12 minutes

The observation hides the angular velocity; the GRU actor infers it from the history of angles and actions, and the
GRU critics from angles, actions and rewards. The script trains, saves, reloads and evaluates the agent, threading
the recurrent state through ``predict`` by hand and with SB3's ``evaluate_policy``.
"""

from __future__ import annotations

import argparse
import time

import gymnasium as gym
import torch as th
from stable_baselines3.common.env_util import make_vec_env
from stable_baselines3.common.evaluation import evaluate_policy

import rrl_sb3  # noqa: F401  (registers the rrl_sb3/ ids)
from rrl_sb3 import RecurrentSAC


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=8_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--save", default="recurrent_sac_pendulum_novel")
    args = parser.parse_args()
    th.set_num_threads(1)  # as in the benchmark (benchmarks/results/recurrent_sac/)

    model = RecurrentSAC("MlpPolicy", "rrl_sb3/PendulumNoVel-v1", seed=args.seed, verbose=1)
    start = time.perf_counter()
    model.learn(args.steps, log_interval=10)
    print(f"trained {args.steps} steps, {model._n_updates} updates in {time.perf_counter() - start:.0f} s")
    model.save(args.save)
    model = RecurrentSAC.load(args.save)

    # One episode by hand: the state goes back in at every step, episode_start resets it.
    env = gym.make("rrl_sb3/PendulumNoVel-v1")
    obs, _ = env.reset(seed=1000 + args.seed)
    state, episode_start, total, done = None, True, 0.0, False
    while not done:
        action, state = model.predict(obs, state=state, episode_start=episode_start, deterministic=True)
        obs, reward, terminated, truncated, _ = env.step(action)
        total, episode_start, done = total + float(reward), False, terminated or truncated
    print(f"one episode by hand: return {total:.1f}")

    eval_env = make_vec_env("rrl_sb3/PendulumNoVel-v1", n_envs=1, seed=1000 + args.seed)
    mean, std = evaluate_policy(model, eval_env, n_eval_episodes=10, deterministic=True)
    print(f"evaluate_policy: {mean:.1f} +/- {std:.1f} over 10 episodes (random policy: about -1200; solved: about -150)")


if __name__ == "__main__":
    main()
