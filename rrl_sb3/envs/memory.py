"""Memory-probe environments: the recurrent analogue of SB3's identity envs.

A cue is shown only in the first observation; after ``delay`` blank steps the agent is queried and
rewarded for acting on the cue. The observation at the query step is identical whatever the cue, so a
memoryless policy cannot beat chance, while a policy that remembers the cue collects the full reward.
They are tiny (one float vector, a handful of steps) so a learning test on them takes seconds.

``observation="discrete"`` and ``observation="image"`` show the same cue as a ``Discrete`` observation or as a
``uint8`` image, to probe memory through those spaces.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

OBSERVATION_KINDS = ("vector", "discrete", "image")


class _MemoryCueBase(gym.Env[np.ndarray, Any]):
    """Shared dynamics: cue at ``t = 0``, blank steps, query at ``t = delay``; the episode ends after the query.

    Observation, by ``observation``:

    - ``"vector"`` (``float32``, length ``n_cues + 1``): the one-hot cue at ``t = 0`` and zeros afterwards, except
      the last component, which is 1 at the query step only;
    - ``"discrete"`` (``Discrete(n_cues + 2)``): the cue's index at ``t = 0``, ``n_cues`` on blank steps and
      ``n_cues + 1`` at the query;
    - ``"image"`` (``uint8``, ``(image_size, image_size, 1)``, channel-last as Atari frames): the ``"vector"``
      observation drawn as ``n_cues + 1`` horizontal bands, white where a component is 1.

    Rewards before the query are 0.
    """

    # gym.Env declares metadata an instance attribute (so no ClassVar, which mypy would refuse), as gymnasium's envs do
    metadata: dict[str, Any] = {"render_modes": ["rgb_array", "ansi"], "render_fps": 4}  # noqa: RUF012

    def __init__(
        self, n_cues: int, delay: int, render_mode: str | None = None, observation: str = "vector", image_size: int = 36
    ) -> None:
        if isinstance(delay, bool) or not isinstance(delay, (int, np.integer)) or delay < 1:
            raise ValueError(f"delay must be an integer >= 1, got delay={delay!r}")
        if observation not in OBSERVATION_KINDS:
            raise ValueError(f"observation must be one of {OBSERVATION_KINDS}, got observation={observation!r}")
        if isinstance(image_size, bool) or not isinstance(image_size, (int, np.integer)) or image_size < n_cues + 1:
            raise ValueError(f"image_size must be an integer >= n_cues + 1 = {n_cues + 1}, got image_size={image_size!r}")
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ValueError(
                f"render_mode must be None or one of {self.metadata['render_modes']}, got render_mode={render_mode!r}"
            )
        self.render_mode = render_mode
        self.n_cues = int(n_cues)
        self.delay = int(delay)
        self.observation = observation
        self.image_size = int(image_size)
        self.observation_space: spaces.Space = {
            "vector": spaces.Box(0.0, 1.0, shape=(self.n_cues + 1,), dtype=np.float32),
            "discrete": spaces.Discrete(self.n_cues + 2),
            "image": spaces.Box(0, 255, shape=(self.image_size, self.image_size, 1), dtype=np.uint8),
        }[observation]
        self._t = 0
        self._cue = 0

    def _vector(self) -> np.ndarray:
        obs = np.zeros(self.n_cues + 1, dtype=np.float32)
        if self._t == 0:
            obs[self._cue] = 1.0
        if self._t == self.delay:
            obs[-1] = 1.0
        return obs

    def _obs(self) -> Any:
        vector = self._vector()
        if self.observation == "discrete":
            if self._t == 0:
                return self._cue
            return self.n_cues + 1 if self._t == self.delay else self.n_cues
        if self.observation == "image":
            bands = np.array_split(np.arange(self.image_size), self.n_cues + 1)
            image = np.zeros((self.image_size, self.image_size, 1), dtype=np.uint8)
            for component in np.flatnonzero(vector):
                image[bands[component]] = 255
            return image
        return vector

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[np.ndarray, dict[str, Any]]:
        super().reset(seed=seed)
        self._t = 0
        self._cue = int(self.np_random.integers(self.n_cues))
        return self._obs(), {"cue": self._cue}

    def _query_reward(self, action: Any) -> float:
        raise NotImplementedError

    def render(self) -> np.ndarray | str | None:
        """``"rgb_array"``: the observation as a row of 16 x 16 cells, white where a component is 1;
        ``"ansi"``: the step, the observation and the cue."""
        obs = self._vector()
        if self.render_mode == "rgb_array":
            cells = np.repeat(np.repeat(obs[None, :] * 255, 16, axis=0), 16, axis=1).astype(np.uint8)
            return np.repeat(cells[:, :, None], 3, axis=2)
        if self.render_mode == "ansi":
            return f"t={self._t} obs={obs.astype(int).tolist()} cue={self._cue}"
        return None

    def step(self, action: Any) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        if not self.action_space.contains(np.asarray(action, dtype=self.action_space.dtype)):
            raise ValueError(f"action {action!r} is not in the action space {self.action_space}")
        if self._t > self.delay:
            raise RuntimeError("step() called after the episode ended; call reset() first")
        reward = self._query_reward(action) if self._t == self.delay else 0.0
        terminated = self._t == self.delay
        self._t += 1
        return self._obs(), reward, terminated, False, {"cue": self._cue}


class MemoryCueDiscrete(_MemoryCueBase):
    """Remember one of ``n_cues`` cues for ``delay`` steps, then name it with a discrete action.

    At the query step the reward is ``+1`` for the action equal to the cue and ``-1`` otherwise.

    - Best return **with memory**: ``1``.
    - Best return **without memory** (any policy that only sees the current observation):
      ``2 / n_cues - 1`` in expectation, i.e. ``0`` for the default two cues.

    Episodes last ``delay + 1`` steps and end with ``terminated=True``.

    :param n_cues: number of distinct cues (and actions), at least 2
    :param delay: steps between the cue and the query, at least 1
    :param render_mode: ``None``, ``"rgb_array"`` or ``"ansi"``
    :param observation: ``"vector"``, ``"discrete"`` or ``"image"`` (see below)
    :param image_size: height and width of ``"image"`` observations (36: the smallest SB3's ``NatureCNN`` takes)

    Example:
        >>> from rrl_sb3.envs import MemoryCueDiscrete
        >>> env = MemoryCueDiscrete(n_cues=2, delay=3)
        >>> obs, info = env.reset(seed=0)
        >>> cue = info["cue"]
        >>> bool(obs[cue] == 1.0)
        True
        >>> for _ in range(3):
        ...     obs, reward, terminated, truncated, info = env.step(0)
        >>> obs.tolist()  # the query: the cue is no longer visible
        [0.0, 0.0, 1.0]
        >>> _, reward, terminated, _, _ = env.step(cue)
        >>> reward, terminated
        (1.0, True)
    """

    def __init__(
        self,
        n_cues: int = 2,
        delay: int = 4,
        render_mode: str | None = None,
        observation: str = "vector",
        image_size: int = 36,
    ) -> None:
        if isinstance(n_cues, bool) or not isinstance(n_cues, (int, np.integer)) or n_cues < 2:
            raise ValueError(f"n_cues must be an integer >= 2, got n_cues={n_cues!r}")
        super().__init__(n_cues, delay, render_mode, observation, image_size)
        self.action_space = spaces.Discrete(self.n_cues)

    @property
    def best_memoryless_return(self) -> float:
        return 2.0 / self.n_cues - 1.0

    best_memory_return = 1.0

    def _query_reward(self, action: Any) -> float:
        return 1.0 if int(action) == self._cue else -1.0


class MemoryCueContinuous(_MemoryCueBase):
    """Remember the sign of a cue for ``delay`` steps, then reproduce it with a continuous action in ``[-1, 1]``.

    The cue ``c`` is ``-1`` or ``+1`` (shown one-hot over two components). At the query step the reward is
    ``1 - (a - c)**2``; the action is clipped to ``[-1, 1]``.

    - Best return **with memory**: ``1`` (act ``a = c``).
    - Best return **without memory**: ``0`` (act ``a = 0``: ``E[1 - (a - c)**2] = -a**2`` when ``c = ±1``
      with equal odds); a uniformly random action gets ``-1/3`` in expectation.

    Episodes last ``delay + 1`` steps and end with ``terminated=True``.

    :param delay: steps between the cue and the query, at least 1
    :param render_mode: ``None``, ``"rgb_array"`` or ``"ansi"``
    :param observation: ``"vector"``, ``"discrete"`` or ``"image"`` (see ``MemoryCueDiscrete``)
    :param image_size: height and width of ``"image"`` observations

    Example:
        >>> from rrl_sb3.envs import MemoryCueContinuous
        >>> env = MemoryCueContinuous(delay=2)
        >>> obs, info = env.reset(seed=0)
        >>> sign = 1.0 if obs[1] == 1.0 else -1.0
        >>> _ = env.step([0.0]); _ = env.step([0.0])
        >>> _, reward, terminated, _, _ = env.step([sign])
        >>> reward, terminated
        (1.0, True)
    """

    best_memoryless_return = 0.0
    best_memory_return = 1.0

    def __init__(
        self, delay: int = 4, render_mode: str | None = None, observation: str = "vector", image_size: int = 36
    ) -> None:
        super().__init__(2, delay, render_mode, observation, image_size)
        self.action_space = spaces.Box(-1.0, 1.0, shape=(1,), dtype=np.float32)

    def _query_reward(self, action: Any) -> float:
        a = float(np.clip(np.asarray(action, dtype=np.float64).reshape(-1)[0], -1.0, 1.0))
        c = 1.0 if self._cue == 1 else -1.0
        return 1.0 - (a - c) ** 2

    def step(self, action: Any) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        # Policies may emit actions slightly outside the bounds; clipping is part of the documented reward.
        return super().step(np.clip(np.asarray(action, dtype=np.float32).reshape(1), -1.0, 1.0))
