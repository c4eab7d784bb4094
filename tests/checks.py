"""Assertions shared by the test files."""

from __future__ import annotations

import gc
import warnings
from collections.abc import Callable
from typing import Any

import gymnasium as gym
import numpy as np
import torch as th
from gymnasium import spaces
from gymnasium.utils.env_checker import check_env as gym_check_env
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.callbacks import CheckpointCallback, EvalCallback
from stable_baselines3.common.env_checker import check_env as sb3_check_env
from stable_baselines3.common.evaluation import evaluate_policy
from stable_baselines3.common.logger import configure
from stable_baselines3.common.vec_env import VecEnv

# Advice that does not signal a defect: checking a wrapped env, Pendulum's [-2, 2] action range, and unbounded
# observation components (CartPole's velocities; unclipped Gaussian noise really is unbounded).
BENIGN_CHECKER_WARNINGS = (
    "is different from the unwrapped version",
    "symmetric and normalized",
    "value is -infinity",
    "value is infinity",
)

# The critic variants of the GRU policies (rrl_sb3.policies): own GRU (default), reading the actor's GRU, no recurrence.
CRITIC_VARIANTS: dict[str, dict[str, bool]] = {
    "critic-gru": {"enable_critic_gru": True, "shared_gru": False},
    "shared-gru": {"enable_critic_gru": False, "shared_gru": True},
    "no-critic-gru": {"enable_critic_gru": False, "shared_gru": False},
}


# Tiny models, fast enough for many tests: the contract tests and each algorithm's own tests build from these.
DREAMER_TINY = dict(
    policy_kwargs=dict(hidden=32, layers=1, deter=32, stoch=4, classes=4),
    batch_size=4,
    sequence_length=8,
    horizon=5,
    learning_starts=40,
    train_ratio=32,
    device="cpu",
)

SAC_TINY = dict(
    policy_kwargs=dict(rnn_hidden_size=16, embed_dim=8, net_arch=[16]),
    batch_size=4,
    sequence_length=8,
    learning_starts=30,
    device="cpu",
)


class SpaceEnv(gym.Env):
    """An env with the given observation and action spaces: observations sampled from the space (seeded by
    ``reset``), reward 1 for the first action component being non-zero, episodes of ``length`` steps."""

    def __init__(self, observation_space: spaces.Space, action_space: spaces.Space, length: int = 10) -> None:
        self.observation_space, self.action_space, self.length = observation_space, action_space, length
        self._t = 0

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[Any, dict[str, Any]]:
        super().reset(seed=seed)
        if seed is not None:
            self.observation_space.seed(seed)
        self._t = 0
        return self.observation_space.sample(), {}

    def step(self, action: Any) -> tuple[Any, float, bool, bool, dict[str, Any]]:
        self._t += 1
        reward = float(np.asarray(action).flat[0] != 0)
        return self.observation_space.sample(), reward, self._t >= self.length, False, {}


# Every observation space SB3's policies accept (small sizes; images of 36 x 36, NatureCNN's smallest input).
OBSERVATION_SPACES: dict[str, spaces.Space] = {
    "Box-1d": spaces.Box(-1.0, 1.0, (4,), np.float32),
    "Box-2d": spaces.Box(-1.0, 1.0, (3, 4), np.float32),
    "image": spaces.Box(0, 255, (36, 36, 3), np.uint8),
    "image-channel-first": spaces.Box(0, 255, (1, 36, 36), np.uint8),
    "Discrete": spaces.Discrete(5),
    "MultiDiscrete": spaces.MultiDiscrete([3, 4]),
    "MultiBinary": spaces.MultiBinary(3),
    "Dict": spaces.Dict(
        {
            "image": spaces.Box(0, 255, (36, 36, 1), np.uint8),
            "vector": spaces.Box(-1.0, 1.0, (3,), np.float32),
            "discrete": spaces.Discrete(3),
        }
    ),
}
ACTION_SPACES: dict[str, spaces.Space] = {
    "Discrete": spaces.Discrete(3),
    "Box": spaces.Box(-1.0, 1.0, (2,), np.float32),
    "MultiDiscrete": spaces.MultiDiscrete([2, 3]),
    "MultiBinary": spaces.MultiBinary(2),
}


def assert_carries_state_and_round_trips(model: BaseAlgorithm, env: VecEnv, tmp_path: Any) -> None:
    """On a 2-env VecEnv: predict starts a state and carries it (the next call updates it), the actions are in the
    action space; save/load gives the same parameters and the same actions and states from the carried state; the
    loaded model evaluates to a finite return."""
    obs = env.reset()
    first, state = model.predict(obs, episode_start=np.ones(2, dtype=bool), deterministic=True)
    assert all(env.action_space.contains(action) for action in first)
    second, next_state = model.predict(obs, state=state, episode_start=np.zeros(2, dtype=bool), deterministic=True)
    assert not np.array_equal(next_state[0], state[0])  # the state is carried and updated
    model.save(tmp_path / "model")
    loaded = type(model).load(tmp_path / "model", env=env, device="cpu")
    assert type(loaded.policy) is type(model.policy)
    assert_nested_equal(model.policy.state_dict(), loaded.policy.state_dict(), "policy")
    again, again_state = loaded.predict(obs, state=state, episode_start=np.zeros(2, dtype=bool), deterministic=True)
    np.testing.assert_array_equal(again, second)
    for part, part_again in zip(next_state, again_state, strict=True):
        np.testing.assert_array_equal(part, part_again)
    mean, _ = evaluate_policy(loaded, env, n_eval_episodes=2)
    assert np.isfinite(mean)


class ExtremeActionEnv(gym.Env):
    """Rewards the largest action magnitude, driving the actor's tanh mean to the bounds."""

    observation_space = spaces.Box(-1, 1, (2,))
    action_space = spaces.Box(-1, 1, (1,))

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.t = 0
        return np.zeros(2, dtype=np.float32), {}

    def step(self, action):
        self.t += 1
        return np.full(2, self.t / 10, dtype=np.float32), float(abs(action[0]) * 100), False, self.t >= 10, {}


def assert_checkers_pass(env_fn: Callable[[], gym.Env]) -> None:
    """Gymnasium's and SB3's env checkers pass and warn about nothing but benign advice."""
    gc.collect()  # garbage of earlier tests (an unclosed log file) must not warn inside the block below
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        gym_check_env(env_fn(), skip_render_check=True)
        sb3_check_env(env_fn(), warn=True)
    problems = [str(w.message) for w in caught if not any(b in str(w.message) for b in BENIGN_CHECKER_WARNINGS)]
    assert not problems, problems


def rollout_predictions(model: BaseAlgorithm, n: int = 6) -> list[np.ndarray]:
    """Deterministic actions of a (recurrent) model on a fixed 2-env observation sequence, state carried."""
    assert model.observation_space.shape is not None
    dim = int(np.prod(model.observation_space.shape))
    obs = np.linspace(-1, 1, 2 * dim, dtype=np.float32).reshape(2, dim)
    state, starts, actions = None, np.ones(2), []
    for _ in range(n):
        action, state = model.predict(obs, state=state, episode_start=starts, deterministic=True)
        starts = np.zeros(2)
        obs = obs * 0.9 + 0.1
        actions.append(action)
    return actions


def assert_logs_and_checkpoints(
    model: BaseAlgorithm, tmp_path, keys: tuple[str, ...], steps: int = 120, replay_buffer: bool = True
) -> None:
    """``learn`` with a CSV/tensorboard logger, a progress bar and a checkpoint callback asked to save the replay buffer:
    every key is logged, the model is checkpointed and so is its replay buffer, if it has one."""
    model.set_logger(configure(str(tmp_path), ["csv", "tensorboard"]))
    checkpoint = CheckpointCallback(50, str(tmp_path), save_replay_buffer=True)
    model.learn(steps, callback=checkpoint, progress_bar=True, log_interval=1)
    model.logger.close()
    header = (tmp_path / "progress.csv").read_text().splitlines()[0].split(",")
    missing = [key for key in keys if key not in header]
    assert not missing, missing
    assert list(tmp_path.glob("events.out.tfevents.*"))
    assert bool(list(tmp_path.glob("rl_model_replay_buffer_*_steps.pkl"))) == replay_buffer
    assert list(tmp_path.glob("rl_model_*_steps.zip"))


def assert_eval_callback_and_evaluate(
    model: BaseAlgorithm, eval_env: VecEnv, tmp_path, steps: int = 120, eval_freq: int = 30
) -> None:
    """``learn`` with SB3's ``EvalCallback`` (which threads the recurrent state itself) evaluates, writes its evaluations
    and best model, and ``evaluate_policy`` and ``predict`` run on the trained model."""
    callback = EvalCallback(
        eval_env, eval_freq=eval_freq, n_eval_episodes=2, log_path=str(tmp_path), best_model_save_path=str(tmp_path)
    )
    model.learn(steps, callback=callback)
    assert model.num_timesteps == steps and model._n_updates > 0
    assert callback.evaluations_results, "EvalCallback did not evaluate"
    assert np.isfinite(callback.last_mean_reward)
    assert (tmp_path / "evaluations.npz").exists() and (tmp_path / "best_model.zip").exists()
    mean, _ = evaluate_policy(model, eval_env, n_eval_episodes=2)
    assert np.isfinite(mean)
    action, _ = model.predict(eval_env.reset(), deterministic=True)
    assert eval_env.action_space.contains(action[0])


def assert_stores_unnormalised_observations(model: BaseAlgorithm, steps: int = 100) -> None:
    """Trained on a ``VecNormalize``-wrapped Pendulum, the replay buffer keeps the original observations (as SB3's
    off-policy algorithms do), so that the normalisation statistics can change without invalidating it."""
    model.learn(steps)
    assert model._n_updates > 0
    stored = model.replay_buffer.observations[: int(model.replay_buffer.n_stored.min())]
    assert np.abs(stored).max() > 2.0  # |theta_dot| reaches beyond 2; normalised values would stay near 0


def assert_nested_equal(a: Any, b: Any, where: str = "") -> None:
    """Exact equality of nested dicts/lists/tuples of tensors and plain values (optimizer state dicts)."""
    if isinstance(a, dict):
        assert isinstance(b, dict) and a.keys() == b.keys(), where
        for key in a:
            assert_nested_equal(a[key], b[key], f"{where}.{key}")
    elif isinstance(a, (list, tuple)):
        assert isinstance(b, (list, tuple)) and len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            assert_nested_equal(x, y, f"{where}[{i}]")
    elif isinstance(a, th.Tensor):
        assert th.equal(a, b), where
    else:
        assert a == b, where


def assert_optimizers_equal(original: th.optim.Optimizer, restored: th.optim.Optimizer, name: str) -> None:
    """Same hyperparameters and bit-identical state (moments, step counts) in every parameter's slot."""
    assert original.state_dict()["state"], f"{name}: no optimizer state to compare (no step taken)"
    assert_nested_equal(original.state_dict(), restored.state_dict(), name)


def assert_same_seed_same_results(
    make_model: Callable[[int], BaseAlgorithm], steps: int, seeds: tuple[int, int] = (0, 1)
) -> None:
    """Two runs with one seed give identical parameters, buffers and predictions; another seed gives other
    parameters."""

    def run(seed: int) -> tuple[th.Tensor, dict[str, Any], list[np.ndarray]]:
        model = make_model(seed)
        model.learn(steps)
        params = th.cat([p.flatten() for p in model.policy.parameters()])
        return params, model.policy.state_dict(), rollout_predictions(model)

    params_a, state_a, actions_a = run(seeds[0])
    params_b, state_b, actions_b = run(seeds[0])
    params_c, _, _ = run(seeds[1])
    assert th.equal(params_a, params_b)
    assert_nested_equal(state_a, state_b, "policy")
    for a, b in zip(actions_a, actions_b, strict=True):
        np.testing.assert_array_equal(a, b)
    assert not th.equal(params_a, params_c)


def assert_same_predictions(model: BaseAlgorithm, other: BaseAlgorithm, env: VecEnv, n: int = 6) -> None:
    """Two models step one env with their own carried states (reset where an episode ends): the deterministic actions
    and every state array are identical at every step."""
    obs = env.reset()
    states: list[Any] = [None, None]
    starts = np.ones(env.num_envs, dtype=bool)
    for _ in range(n):
        (action, states[0]), (action_other, states[1]) = (
            m.predict(obs, state=s, episode_start=starts, deterministic=True)
            for m, s in zip((model, other), states, strict=True)
        )
        np.testing.assert_array_equal(action, action_other)
        assert (states[0] is None) == (states[1] is None)
        for part, part_other in zip(states[0] or (), states[1] or (), strict=True):
            np.testing.assert_array_equal(part, part_other)
        obs, _, starts, _ = env.step(action)


def optimizers(model: BaseAlgorithm) -> dict[str, th.optim.Optimizer]:
    """Every optimizer of a model, found rather than named, so that a refactor moving one cannot hide it: those the
    policy's modules hold (``"policy"``, ``"policy.actor"``, ...) and those the algorithm holds (by attribute name)."""
    found = {}
    for name, module in model.policy.named_modules():
        optimizer = vars(module).get("optimizer")
        if isinstance(optimizer, th.optim.Optimizer):
            found[f"policy.{name}" if name else "policy"] = optimizer
    found.update({name: value for name, value in vars(model).items() if isinstance(value, th.optim.Optimizer)})
    return found


def assert_recalls_cue(model: BaseAlgorithm, env: gym.Env, n_cues: int = 6) -> None:
    """The memory is in the carried state: at a memory probe's query the observation is the same for every cue, the
    deterministic action is the cue (discrete) or has its sign (continuous)."""
    for cue_seed in range(n_cues):
        obs, info = env.reset(seed=cue_seed)
        state, start = None, True
        for _ in range(env.unwrapped.delay):
            action, state = model.predict(obs, state=state, episode_start=start, deterministic=True)
            obs, *_ = env.step(action)
            start = False
        query_action, _ = model.predict(obs, state=state, episode_start=False, deterministic=True)
        if isinstance(env.action_space, spaces.Discrete):
            assert int(query_action) == info["cue"]
        else:
            assert np.sign(query_action[0]) == (1.0 if info["cue"] == 1 else -1.0)
