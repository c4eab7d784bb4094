"""Assertions shared by the test files."""

from __future__ import annotations

import warnings
from collections.abc import Callable

import gymnasium as gym
import numpy as np
from gymnasium.utils.env_checker import check_env as gym_check_env
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.callbacks import CheckpointCallback
from stable_baselines3.common.env_checker import check_env as sb3_check_env
from stable_baselines3.common.logger import configure

# Advice that does not signal a defect: checking a wrapped env, Pendulum's [-2, 2] action range, and unbounded
# observation components (CartPole's velocities; unclipped Gaussian noise really is unbounded).
BENIGN_CHECKER_WARNINGS = (
    "is different from the unwrapped version",
    "symmetric and normalized",
    "value is -infinity",
    "value is infinity",
)


def assert_checkers_pass(env_fn: Callable[[], gym.Env]) -> None:
    """Gymnasium's and SB3's env checkers pass and warn about nothing but benign advice."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        gym_check_env(env_fn(), skip_render_check=True)
        sb3_check_env(env_fn(), warn=True)
    problems = [str(w.message) for w in caught if not any(b in str(w.message) for b in BENIGN_CHECKER_WARNINGS)]
    assert not problems, problems


def rollout_predictions(model: BaseAlgorithm, n: int = 6) -> list[np.ndarray]:
    """Deterministic actions of a recurrent model on a fixed 2-env, 3-dimensional observation sequence, state carried."""
    obs = np.linspace(-1, 1, 6, dtype=np.float32).reshape(2, 3)
    state, starts, actions = None, np.ones(2), []
    for _ in range(n):
        action, state = model.predict(obs, state=state, episode_start=starts, deterministic=True)
        starts = np.zeros(2)
        obs = obs * 0.9 + 0.1
        actions.append(action)
    return actions


def assert_logs_and_checkpoints(model: BaseAlgorithm, tmp_path, keys: tuple[str, ...], steps: int = 120) -> None:
    """``learn`` with a CSV/tensorboard logger, a progress bar and a checkpoint callback that saves the replay buffer:
    every key is logged and the model and its replay buffer are checkpointed."""
    model.set_logger(configure(str(tmp_path), ["csv", "tensorboard"]))
    checkpoint = CheckpointCallback(50, str(tmp_path), save_replay_buffer=True)
    model.learn(steps, callback=checkpoint, progress_bar=True, log_interval=1)
    header = (tmp_path / "progress.csv").read_text().splitlines()[0].split(",")
    missing = [key for key in keys if key not in header]
    assert not missing, missing
    assert list(tmp_path.glob("rl_model_replay_buffer_*_steps.pkl"))
    assert list(tmp_path.glob("rl_model_*_steps.zip"))
