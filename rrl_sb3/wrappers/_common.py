"""Argument checks and seeding shared by the observation wrappers."""

from __future__ import annotations

import zlib
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces


def require_flat_box(env: gym.Env, wrapper: str) -> spaces.Box:
    """Return ``env.observation_space`` if it is a one-dimensional ``Box``, else raise ``TypeError``."""
    space = env.observation_space
    if not isinstance(space, spaces.Box):
        raise TypeError(f"{wrapper} needs a Box observation space, got env.observation_space={space!r}")
    if len(space.shape) != 1:
        raise TypeError(
            f"{wrapper} needs a flat (1-D) Box observation space, got env.observation_space.shape={space.shape}; "
            "flatten it first, e.g. with gymnasium.wrappers.FlattenObservation"
        )
    return space


def require_bool(name: str, value: Any) -> bool:
    """Return ``value`` as a ``bool`` if it is one (Python or NumPy), else raise ``TypeError`` naming ``name``.

    Strings are refused: ``bool("no")`` is ``True``, so a string boolean would silently mean the opposite.
    """
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be True or False, got {name}={value!r}")
    return bool(value)


def widen_to_include(space: spaces.Box, value: float, where: np.ndarray) -> spaces.Box:
    """Copy of ``space`` whose bounds on ``where`` are widened so that ``value`` lies inside them."""
    low, high = space.low.copy(), space.high.copy()
    low[where] = np.minimum(low[where], value)
    high[where] = np.maximum(high[where], value)
    return spaces.Box(low, high, shape=space.shape, dtype=space.dtype)


class SeededNoiseMixin:
    """Owns a generator for a wrapper's randomness, reseeded by ``reset(seed=...)``.

    The stream is derived from the reset seed and the wrapper's class name, so it is reproducible, and
    independent of the wrapped env's own ``np_random`` (which Gymnasium seeds from the same integer): the
    base env's trajectory is the same with and without the wrapper.
    """

    _rng: np.random.Generator | None = None

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[Any, dict[str, Any]]:
        self._reseed(seed)
        return super().reset(seed=seed, options=options)  # type: ignore[misc]

    def _reseed(self, seed: int | None) -> None:
        if seed is not None:
            tag = zlib.crc32(type(self).__name__.encode())
            self._rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(tag,)))
        elif self._rng is None:
            self._rng = np.random.default_rng()

    @property
    def rng(self) -> np.random.Generator:
        """The wrapper's own generator (seeded by the first ``reset(seed=...)``, from OS entropy otherwise)."""
        if self._rng is None:
            self._rng = np.random.default_rng()
        return self._rng
