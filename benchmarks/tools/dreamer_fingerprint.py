"""Same-seed fingerprints of Dreamer: check that a refactor or a speed-up leaves every number unchanged.

    python benchmarks/tools/dreamer_fingerprint.py --save before.json     # on the old code
    python benchmarks/tools/dreamer_fingerprint.py --compare before.json  # on the new code: exit 1 on any difference

Each case trains a seeded Dreamer for a short ``learn`` on one torch thread (random prefill, then acting with the actor
and several gradient updates, so both the collection path and the update are covered), then records a hash of every
weight and optimizer state, the last update's losses, and the actions and recurrent state of ``predict`` over a fixed
sequence of observations. The cases cover each action kind and gradient (``Box``: dynamics, ``Discrete``:
reinforce), both latent kinds, both two-hot spaces, the replay value loss, several envs, and image, ``Dict`` and
discrete observations. Compare only on the same machine: float rounding differs between CPUs.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np
import torch as th
from gymnasium import spaces
from stable_baselines3.common.vec_env import DummyVecEnv

from rrl_sb3 import Dreamer

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the clone's tests/: its env of any spaces
from tests.checks import SpaceEnv

SMALL = dict(hidden=32, deter=32, stoch=4, classes=4)


def _space_env(observation_space: spaces.Space, action_space: spaces.Space) -> DummyVecEnv:
    return DummyVecEnv([lambda: SpaceEnv(observation_space, action_space)])


DICT_SPACE = spaces.Dict(
    {
        "image": spaces.Box(0, 255, (16, 16, 1), np.uint8),
        "vector": spaces.Box(-1.0, 1.0, (3,), np.float32),
        "discrete": spaces.Discrete(3),
    }
)

#: name -> (env factory, Dreamer keyword arguments, env steps of the run)
CASES: dict[str, tuple[Any, dict[str, Any], int]] = {
    "pendulum_defaults": (lambda: "rrl_sb3/PendulumNoVel-v1", {}, 1300),
    "cartpole_defaults": (lambda: "rrl_sb3/CartPoleNoVel-v1", {}, 1300),
    "pendulum_replay_value_raw": (
        lambda: "rrl_sb3/PendulumNoVel-v1",
        dict(replay_value_scale=0.3, policy_kwargs=dict(twohot_space="raw", **SMALL)),
        500,
    ),
    "cartpole_gaussian_sampled_latent": (
        lambda: "rrl_sb3/CartPoleNoVel-v1",
        dict(policy_kwargs=dict(latent="gaussian", deterministic_latent="sample", **SMALL)),
        500,
    ),
    "memory_cue_two_envs": (lambda: "rrl_sb3/MemoryCue-v0", dict(n_envs=2, policy_kwargs=SMALL), 500),
    "dict_obs_multidiscrete": (
        lambda: _space_env(DICT_SPACE, spaces.MultiDiscrete([2, 3])),
        dict(policy="MultiInputPolicy", policy_kwargs=dict(cnn_depth=4, **SMALL)),
        500,
    ),
    "multibinary_obs_and_actions": (
        lambda: _space_env(spaces.MultiBinary(3), spaces.MultiBinary(2)),
        dict(policy_kwargs=SMALL),
        500,
    ),
}


def _hash(arrays: list[tuple[str, Any]]) -> str:
    digest = hashlib.sha256()
    for name, value in arrays:
        digest.update(name.encode())
        if isinstance(value, th.Tensor):
            value = value.detach().cpu().numpy()
        digest.update(np.ascontiguousarray(value).tobytes() if isinstance(value, np.ndarray) else repr(value).encode())
    return digest.hexdigest()[:16]


def _flatten_state(prefix: str, value: Any) -> list[tuple[str, Any]]:
    if isinstance(value, dict):
        return [item for key in sorted(value, key=str) for item in _flatten_state(f"{prefix}.{key}", value[key])]
    if isinstance(value, (list, tuple)):
        return [item for i, v in enumerate(value) for item in _flatten_state(f"{prefix}.{i}", v)]
    return [(prefix, value)]


def fingerprint(name: str) -> dict[str, Any]:
    make_env, kwargs, steps = CASES[name]
    kwargs = dict(kwargs)
    policy = kwargs.pop("policy", "MlpPolicy")
    n_envs = kwargs.pop("n_envs", 1)
    env = make_env()
    if isinstance(env, str) and n_envs > 1:
        from stable_baselines3.common.env_util import make_vec_env

        env = make_vec_env(env, n_envs=n_envs, seed=0)
    model = Dreamer(policy, env, seed=0, learning_starts=steps - 300, device="cpu", **kwargs)
    losses: dict[str, float] = {}
    update = model._update

    def recording_update() -> dict[str, float]:
        result = update()
        losses.update(result)
        return result

    model._update = recording_update  # type: ignore[method-assign]
    model.learn(steps)
    vec_env = model.get_env()
    assert vec_env is not None
    vec_env.seed(123)
    obs = vec_env.reset()
    state, starts, actions = None, np.ones(vec_env.num_envs, dtype=bool), []
    for _ in range(8):
        action, state = model.predict(obs, state=state, episode_start=starts, deterministic=True)
        actions.append(np.asarray(action))
        obs, _, dones, _ = vec_env.step(action)
        starts = dones
    weights = _hash(sorted(model.policy.state_dict().items()))
    optimizers = {
        part: _hash(_flatten_state(part, getattr(model.policy, part).optimizer.state_dict()))
        for part in ("world_model", "actor", "critic")
    }
    return {
        "updates": model._n_updates,
        "weights": weights,
        "optimizers": optimizers,
        "losses": {key: f"{value:.9g}" for key, value in sorted(losses.items())},
        "actions": _hash([("actions", np.stack(actions))]),
        "state": _hash([(str(i), a) for i, a in enumerate(state or ())]),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cases", nargs="+", choices=sorted(CASES), default=list(CASES))
    parser.add_argument("--save", type=Path, help="write the fingerprints to this JSON file")
    parser.add_argument("--compare", type=Path, help="compare with fingerprints saved by --save; exit 1 if any differ")
    args = parser.parse_args()
    th.set_num_threads(1)
    results = {}
    for name in args.cases:
        results[name] = fingerprint(name)
        print(name, json.dumps(results[name]), flush=True)
    if args.save:
        args.save.write_text(json.dumps(results, indent=1) + "\n")
    if args.compare:
        saved = json.loads(args.compare.read_text())
        differing = [name for name in results if saved.get(name) != results[name]]
        for name in differing:
            print(f"DIFFERENT: {name}\n  saved {json.dumps(saved.get(name))}\n  now   {json.dumps(results[name])}")
        print("identical" if not differing else f"{len(differing)} of {len(results)} cases differ")
        sys.exit(1 if differing else 0)


if __name__ == "__main__":
    main()
