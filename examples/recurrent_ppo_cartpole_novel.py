"""Memory at work: RecurrentPPO with rrl_sb3's GRU policy solves CartPole without velocities; memoryless PPO cannot.

``make demo`` runs this. It trains sb3-contrib's RecurrentPPO with ``MlpGruPolicy`` and rl-zoo3's tuned settings for
CartPoleNoVel until a 10-episode evaluation reaches 475 (SB3's ``StopTrainingOnRewardThreshold``; at most
``--timesteps`` env steps), then memoryless PPO (rl-zoo3's tuned CartPole-v1 settings) for as many env steps, and
evaluates both on 50 fresh episodes. A few minutes on a CPU:

    python examples/recurrent_ppo_cartpole_novel.py
"""

from __future__ import annotations

import argparse
import time

import gymnasium as gym
import numpy as np
import torch as th
from sb3_contrib import RecurrentPPO
from stable_baselines3 import PPO
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.callbacks import EvalCallback, StopTrainingOnRewardThreshold
from stable_baselines3.common.env_util import make_vec_env
from stable_baselines3.common.evaluation import evaluate_policy
from stable_baselines3.common.utils import LinearSchedule
from stable_baselines3.common.vec_env import VecEnv, VecNormalize, sync_envs_normalization
from torch import nn

import rrl_sb3  # noqa: F401  (registers the rrl_sb3/ ids)
from rrl_sb3.policies import MlpGruPolicy
from rrl_sb3.wrappers import MaskVelocity

ENV_ID = "rrl_sb3/CartPoleNoVel-v1"
N_ENVS = 8
SOLVED = 475.0
# rl-zoo3's tuned PPO settings for CartPole-v1 (hyperparams/ppo.yml); its RecurrentPPO settings for CartPoleNoVel-v1
# (hyperparams/ppo_lstm.yml) are the same plus VecNormalize and the recurrent policy's kwargs, here with a GRU of the
# LSTM's size. tests/test_baseline_configs.py checks both against rrl_sb3/hyperparams/.
PPO_SETTINGS = dict(
    n_steps=32,
    batch_size=256,
    gae_lambda=0.8,
    gamma=0.98,
    n_epochs=20,
    ent_coef=0.0,
    learning_rate=LinearSchedule(1e-3, 0.0, 1.0),
    clip_range=LinearSchedule(0.2, 0.0, 1.0),
)
GRU_POLICY_KWARGS = dict(
    ortho_init=False,
    activation_fn=nn.ReLU,
    gru_hidden_size=64,
    enable_critic_gru=True,
    net_arch=dict(pi=[64], vf=[64]),
)


def make_env(seed: int, n_envs: int, normalize: bool, training: bool = True) -> VecEnv:
    env = make_vec_env(ENV_ID, n_envs=n_envs, seed=seed)
    if not normalize:
        return env
    # rl-zoo3's normalize: True, rewards discounted with the agent's gamma; evaluation sees raw rewards
    return VecNormalize(env, gamma=PPO_SETTINGS["gamma"], training=training, norm_reward=training)


def final_score(model: BaseAlgorithm, seed: int, normalize: bool) -> tuple[float, float]:
    """Mean and std of 50 deterministic episodes on fresh env seeds, with the training statistics frozen."""
    env = make_env(seed, 1, normalize, training=False)
    if normalize:
        sync_envs_normalization(model.get_env(), env)  # type: ignore[arg-type]
    mean, std = evaluate_policy(model, env, n_eval_episodes=50, deterministic=True)
    return float(mean), float(std)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--timesteps", type=int, default=100_000, help="the most env steps RecurrentPPO may train")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    th.set_num_threads(1)  # these small networks run faster on one thread than on two

    # Two equivalent ways to get the POMDP: wrap any env, or use the registered id.
    wrapped = MaskVelocity(gym.make("CartPole-v1"))
    obs, _ = wrapped.reset(seed=args.seed)
    print(f"MaskVelocity(CartPole-v1) hides indices {wrapped.indices.tolist()}: first observation {np.round(obs, 3)}")

    recurrent = RecurrentPPO(
        MlpGruPolicy, make_env(args.seed, N_ENVS, True), policy_kwargs=GRU_POLICY_KWARGS, seed=args.seed, **PPO_SETTINGS
    )
    stop = StopTrainingOnRewardThreshold(reward_threshold=SOLVED)
    check = EvalCallback(
        make_env(1000 + args.seed, 1, True, training=False),
        eval_freq=5000 // N_ENVS,
        n_eval_episodes=10,
        callback_on_new_best=stop,
        warn=False,
        verbose=0,
    )
    print(f"training RecurrentPPO (GRU policy) on {ENV_ID} until a 10-episode evaluation reaches {SOLVED:.0f} ...")
    start = time.perf_counter()
    recurrent.learn(args.timesteps, callback=check)
    recurrent_seconds = time.perf_counter() - start
    steps = recurrent.num_timesteps
    reached = check.best_mean_reward >= SOLVED
    outcome = "reached" if reached else "did not reach"
    print(f"... {outcome} {SOLVED:.0f} (best evaluation {check.best_mean_reward:.1f}) at {steps:,} env steps")

    print(f"training memoryless PPO on {ENV_ID} for the same {steps:,} env steps ...")
    memoryless = PPO("MlpPolicy", make_env(args.seed, N_ENVS, False), seed=args.seed, **PPO_SETTINGS)
    start = time.perf_counter()
    memoryless.learn(steps)
    memoryless_seconds = time.perf_counter() - start

    rows = [
        ("RecurrentPPO, GRU policy (memory)", recurrent_seconds, final_score(recurrent, 2000 + args.seed, True)),
        ("PPO, MLP policy (no memory)", memoryless_seconds, final_score(memoryless, 2000 + args.seed, False)),
    ]
    print(f"\n{ENV_ID} (CartPole with the velocities hidden), {steps:,} env steps each, 50 fresh evaluation episodes:")
    print(f"{'agent':<36}{'training (s)':>14}{'return (mean +/- std)':>26}")
    for name, seconds, (mean, std) in rows:
        print(f"{name:<36}{seconds:>14.0f}{f'{mean:.1f} +/- {std:.1f}':>26}")
    print("(500 is the most an episode can return; a random policy gets about 22)")


if __name__ == "__main__":
    main()
