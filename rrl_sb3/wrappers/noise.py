"""Observation noise: additive Gaussian noise on a flat ``Box`` observation."""

from __future__ import annotations

from typing import Any, cast

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from rrl_sb3.wrappers._common import SeededNoiseMixin, require_bool, require_flat_box


class ObservationNoise(SeededNoiseMixin, gym.ObservationWrapper[np.ndarray, Any, np.ndarray], gym.utils.RecordConstructorArgs):
    """Add zero-mean Gaussian noise with standard deviation ``std`` to every observation.

    The noise comes from the wrapper's own generator, seeded by ``reset(seed=...)``: the same seed gives the
    same noise, and the wrapped env's dynamics (its own ``np_random``) are untouched.

    Without ``clip`` the noisy observation can leave the original bounds, so the observation space of every
    component with nonzero noise becomes unbounded. With ``clip=True`` the noisy observation is clipped to the
    original bounds and the space is unchanged.

    The observation space must be floating point: Gaussian noise on an integer (or boolean) observation has no
    faithful value of the same dtype, so such a space is refused at construction (``TypeError``); convert it first,
    e.g. with ``gymnasium.wrappers.DtypeObservation(env, np.float32)``.

    :param env: environment with a one-dimensional floating-point ``Box`` observation space
    :param std: noise standard deviation, a scalar or one value per observation component (finite, >= 0; numbers,
        not strings or booleans)
    :param clip: clip the noisy observation to the bounds of ``env.observation_space`` (``True`` or ``False``)

    Example:
        >>> import gymnasium as gym
        >>> from rrl_sb3.wrappers import ObservationNoise
        >>> env = ObservationNoise(gym.make("Pendulum-v1"), std=0.1)
        >>> a, _ = env.reset(seed=0)
        >>> b, _ = env.reset(seed=0)
        >>> bool((a == b).all())  # same seed, same noise
        True
        >>> env = ObservationNoise(gym.make("Pendulum-v1"), std=[0.0, 0.0, 0.5], clip=True)
        >>> env.observation_space == gym.make("Pendulum-v1").observation_space
        True
    """

    def __init__(self, env: gym.Env, std: float | np.typing.ArrayLike, clip: bool = False) -> None:
        gym.utils.RecordConstructorArgs.__init__(self, std=std, clip=clip)
        gym.ObservationWrapper.__init__(self, env)
        space = require_flat_box(env, type(self).__name__)
        if not np.issubdtype(space.dtype, np.floating):
            raise TypeError(
                "ObservationNoise needs a floating-point Box observation space, "
                f"got env.observation_space.dtype={space.dtype}; "
                "convert it first, e.g. with gymnasium.wrappers.DtypeObservation(env, np.float32)"
            )
        try:
            raw = np.asarray(std)
            if raw.dtype.kind not in "iuf":  # strings, booleans, objects: not a standard deviation
                raise TypeError
            std_array = raw.astype(np.float64)
        except (TypeError, ValueError):
            raise TypeError(f"std must be a number or a sequence of numbers, got std={std!r}") from None
        if std_array.ndim > 1 or (std_array.ndim == 1 and std_array.shape[0] != space.shape[0]):
            raise ValueError(
                f"std must be a scalar or have one value per observation component ({space.shape[0]}), got std={std!r}"
            )
        if not np.all(np.isfinite(std_array)) or np.any(std_array < 0):
            raise ValueError(f"std must be finite and >= 0, got std={std!r}")
        self.std = np.broadcast_to(std_array, space.shape).copy()
        self.clip = require_bool("clip", clip)
        if not self.clip:
            noisy = self.std > 0
            low, high = space.low.copy(), space.high.copy()
            low[noisy], high[noisy] = -np.inf, np.inf
            self.observation_space = spaces.Box(low, high, dtype=space.dtype)

    def observation(self, observation: np.ndarray) -> np.ndarray:
        noisy = observation + self.rng.normal(0.0, self.std)
        if self.clip:
            base = cast(spaces.Box, self.env.observation_space)  # a flat Box: checked in __init__
            noisy = np.clip(noisy, base.low, base.high)
        return noisy.astype(observation.dtype, copy=False)
