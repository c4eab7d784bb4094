"""Stop a run and resume it exactly: the resumed run ends with the same weights as one that was never stopped.

Trains Dreamer on rrl_sb3/PendulumNoVel-v1 with a ResumableCheckpointCallback, "stops" it by throwing the model away,
resumes from the latest complete checkpoint on a freshly built env, and compares with an uninterrupted run of the
same length (same seed). About 2 minutes on one CPU thread with the defaults:

    python examples/resume_exactly.py --timesteps 2000 --save-freq 500

To resume a run that really died, point ``latest_checkpoint`` at its checkpoint directory and call
``model.learn(total - model.num_timesteps, reset_num_timesteps=False)``.
"""

from __future__ import annotations

import argparse
import tempfile

import torch as th
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.env_util import make_vec_env

from rrl_sb3 import Dreamer
from rrl_sb3.common.checkpoints import ResumableCheckpointCallback, latest_checkpoint

SMALL = dict(policy_kwargs=dict(hidden=64, deter=64, stoch=8, classes=8), learning_starts=200, device="cpu")


class StopAt(BaseCallback):
    """Stops training at an env step, as a crash would (what happened since the last checkpoint is lost)."""

    def __init__(self, step: int) -> None:
        super().__init__()
        self.step = step

    def _on_step(self) -> bool:
        return self.num_timesteps < self.step


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--timesteps", type=int, default=2000)
    parser.add_argument("--save-freq", type=int, default=500, help="env steps between checkpoints")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    th.set_num_threads(1)  # bit-identical results need the same (single-threaded) CPU kernels

    def make_env():  # the same construction for every run: a checkpoint restores the env's state into it
        return make_vec_env("rrl_sb3/PendulumNoVel-v1", n_envs=1, seed=args.seed)

    with tempfile.TemporaryDirectory() as checkpoints:
        interrupted = Dreamer("MlpPolicy", make_env(), seed=args.seed, **SMALL)
        stop_at = args.timesteps * 2 // 3
        interrupted.learn(
            args.timesteps, callback=[ResumableCheckpointCallback(args.save_freq, checkpoints, verbose=1), StopAt(stop_at)]
        )
        del interrupted  # the process could have died here

        path = latest_checkpoint(checkpoints)
        if path is None:
            raise SystemExit(f"no checkpoint before step {stop_at}: lower --save-freq")
        resumed = Dreamer.load_checkpoint(path, env=make_env())
        print(f"resuming from {path.name} at {resumed.num_timesteps} env steps")
        resumed.learn(args.timesteps - resumed.num_timesteps, reset_num_timesteps=False)

    uninterrupted = Dreamer("MlpPolicy", make_env(), seed=args.seed, **SMALL)
    uninterrupted.learn(args.timesteps)

    a, b = uninterrupted.policy.state_dict(), resumed.policy.state_dict()
    differing = [name for name in a if not th.equal(a[name], b[name])]
    print(f"{len(a) - len(differing)} of {len(a)} parameter tensors identical after {args.timesteps} env steps")
    if differing:
        raise SystemExit(f"the resumed run differs in {differing[:5]}")


if __name__ == "__main__":
    main()
