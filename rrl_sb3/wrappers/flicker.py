"""Flickering observations: the whole observation is blanked at random steps."""

from __future__ import annotations

import math
from typing import Any

import gymnasium as gym
import numpy as np

from rrl_sb3.wrappers._common import SeededNoiseMixin, require_flat_box, widen_to_include


class FlickerObservation(
    SeededNoiseMixin, gym.ObservationWrapper[np.ndarray, Any, np.ndarray], gym.utils.RecordConstructorArgs
):
    """With probability ``p``, independently at every step (the reset observation included), replace the whole
    observation by zeros: the "flickering" POMDP of Hausknecht & Stone (2015).

    The draws come from the wrapper's own generator, seeded by ``reset(seed=...)``, so the same seed gives the
    same blanked steps and the wrapped env's own randomness is untouched. Bounds are widened to contain 0.

    :param env: environment with a one-dimensional ``Box`` observation space
    :param p: probability of blanking an observation, in ``[0, 1]``

    Example:
        >>> import gymnasium as gym
        >>> from rrl_sb3.wrappers import FlickerObservation
        >>> env = FlickerObservation(gym.make("CartPole-v1"), p=1.0)
        >>> obs, _ = env.reset(seed=0)
        >>> obs.tolist()
        [0.0, 0.0, 0.0, 0.0]
    """

    def __init__(self, env: gym.Env, p: float) -> None:
        gym.utils.RecordConstructorArgs.__init__(self, p=p)
        gym.ObservationWrapper.__init__(self, env)
        space = require_flat_box(env, type(self).__name__)
        if isinstance(p, bool) or not isinstance(p, (int, float, np.integer, np.floating)):
            raise TypeError(f"p must be a number in [0, 1], got p={p!r}")
        if not (math.isfinite(p) and 0.0 <= p <= 1.0):
            raise ValueError(f"p must be in [0, 1], got p={p!r}")
        self.p = float(p)
        self.observation_space = widen_to_include(space, 0.0, np.ones(space.shape, dtype=bool))

    def observation(self, observation: np.ndarray) -> np.ndarray:
        # Always draw, so the stream (and every later step) does not depend on the observations themselves.
        if self.rng.random() < self.p:
            return np.zeros_like(observation)
        return observation
