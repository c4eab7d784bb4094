"""Make CartPole partially observable and train sb3-contrib's RecurrentPPO on it, with rrl_sb3's GRU policy.

Runs in about a minute on a CPU:

    python examples/recurrent_ppo_cartpole_novel.py --timesteps 20000

``--policy MlpLstmPolicy`` trains sb3-contrib's LSTM policy instead, with the same settings.
"""

from __future__ import annotations

import argparse
import time

import gymnasium as gym
import torch as th
from sb3_contrib import RecurrentPPO
from stable_baselines3.common.env_util import make_vec_env
from stable_baselines3.common.evaluation import evaluate_policy
from stable_baselines3.common.utils import LinearSchedule

import rrl_sb3  # noqa: F401  (registers the rrl_sb3/ ids)
from rrl_sb3.policies import resolve_recurrent_policy
from rrl_sb3.wrappers import MaskVelocity


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--timesteps", type=int, default=20_000)
    parser.add_argument("--policy", default="MlpGruPolicy", choices=["MlpGruPolicy", "MlpLstmPolicy"])
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    th.set_num_threads(1)  # these small recurrent nets run faster on one thread than on two

    # Two equivalent ways to get the POMDP: wrap any env, or use the registered id.
    wrapped = MaskVelocity(gym.make("CartPole-v1"))
    obs, _ = wrapped.reset(seed=args.seed)
    shown = [round(float(x), 3) for x in obs]
    print(f"MaskVelocity(CartPole-v1) hides indices {wrapped.indices.tolist()}: first observation {shown}")

    env = make_vec_env("rrl_sb3/CartPoleNoVel-v1", n_envs=8, seed=args.seed)
    # rl-zoo3's tuned RecurrentPPO settings for CartPoleNoVel-v1 (hyperparams/ppo_lstm.yml).
    model = RecurrentPPO(
        resolve_recurrent_policy(args.policy),
        env,
        n_steps=32,
        batch_size=256,
        gae_lambda=0.8,
        gamma=0.98,
        n_epochs=20,
        ent_coef=0.0,
        learning_rate=LinearSchedule(1e-3, 0.0, 1.0),
        clip_range=LinearSchedule(0.2, 0.0, 1.0),
        seed=args.seed,
        verbose=0,
    )
    start = time.perf_counter()
    model.learn(args.timesteps)
    elapsed = time.perf_counter() - start

    eval_env = make_vec_env("rrl_sb3/CartPoleNoVel-v1", n_envs=1, seed=1000 + args.seed)
    mean, std = evaluate_policy(model, eval_env, n_eval_episodes=10, deterministic=True)
    print(
        f"RecurrentPPO ({args.policy}) on rrl_sb3/CartPoleNoVel-v1: {args.timesteps} steps in {elapsed:.0f} s "
        f"({args.timesteps / elapsed:.0f} steps/s); eval return {mean:.1f} +/- {std:.1f} over 10 episodes "
        "(a random policy gets about 22, the maximum is 500)"
    )


if __name__ == "__main__":
    main()
