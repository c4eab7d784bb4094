"""Assertions shared by the test files."""

from __future__ import annotations

import warnings
from collections.abc import Callable

import gymnasium as gym
from gymnasium.utils.env_checker import check_env as gym_check_env
from stable_baselines3.common.env_checker import check_env as sb3_check_env

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
