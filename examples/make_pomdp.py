"""Turn an MDP into a POMDP: the wrappers, the registered ids, and seeded reproducibility.

Takes a few seconds on a CPU:

    python examples/make_pomdp.py --env Pendulum-v1 --episodes 5
"""

from __future__ import annotations

import argparse

import gymnasium as gym
import numpy as np

import rrl_sb3  # registers the rrl_sb3/ ids
from rrl_sb3.wrappers import FlickerObservation, MaskVelocity, ObservationNoise


def first_observations(env: gym.Env, seed: int, steps: int = 3) -> list[list[float]]:
    """The first few observations under random actions, rounded for printing."""
    obs, _ = env.reset(seed=seed)
    env.action_space.seed(seed)
    seen = [obs]
    for _ in range(steps - 1):
        obs, *_ = env.step(env.action_space.sample())
        seen.append(obs)
    return [[round(float(x), 3) for x in o] for o in seen]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--env", default="Pendulum-v1", help="an env MaskVelocity knows (see the README)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--episodes", type=int, default=5, help="random-policy episodes used to check reproducibility")
    args = parser.parse_args()

    # 1. Wrap any env with a flat Box observation.
    wrappers = {
        "MaskVelocity": lambda env: MaskVelocity(env),
        "ObservationNoise(std=0.1)": lambda env: ObservationNoise(env, std=0.1),
        "FlickerObservation(p=0.5)": lambda env: FlickerObservation(env, p=0.5),
    }
    print(f"{args.env}, first observations under random actions (seed {args.seed}):")
    print(f"  {'unwrapped':28s} {first_observations(gym.make(args.env), args.seed)}")
    for name, wrap in wrappers.items():
        print(f"  {name:28s} {first_observations(wrap(gym.make(args.env)), args.seed)}")

    # 2. Or use a registered id: the same POMDP in one line, with the time limit of the base env.
    ids = rrl_sb3.list_env_ids(available_only=True)
    print(f"\n{len(ids)} rrl_sb3 ids available here, e.g. {', '.join(ids[:4])}, ...")
    pomdp_id = "rrl_sb3/PendulumNoisy-v1"
    env = gym.make(pomdp_id, noise_std=0.05)  # wrapper options are keyword arguments of gym.make
    print(f"gym.make({pomdp_id!r}, noise_std=0.05): spec.id={env.spec.id}, max_episode_steps={env.spec.max_episode_steps}")

    # 3. Noise and flicker draw from a generator seeded by reset(seed=...): the same seed gives the same episode.
    runs = []
    for _ in range(2):
        env = gym.make("rrl_sb3/PendulumFlicker-v1")
        env.action_space.seed(args.seed)
        total = []
        for episode in range(args.episodes):
            obs, _ = env.reset(seed=args.seed + episode)
            trace, done = [obs], False
            while not done:
                obs, _, terminated, truncated, _ = env.step(env.action_space.sample())
                trace.append(obs)
                done = terminated or truncated
            total.append(np.concatenate(trace))
        runs.append(np.concatenate(total))
    same = np.array_equal(runs[0], runs[1])
    print(f"two runs of {args.episodes} seeded rrl_sb3/PendulumFlicker-v1 episodes give identical observations: {same}")
    if not same:
        raise SystemExit("seeded episodes differ")


if __name__ == "__main__":
    main()
