"""Sequence replay buffer shared by the recurrent off-policy algorithms (Dreamer, recurrent SAC)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, NamedTuple, cast

import numpy as np
import torch as th
from gymnasium import spaces
from stable_baselines3.common.buffers import BaseBuffer, ReplayBuffer
from stable_baselines3.common.vec_env import VecNormalize


class SequenceReplayBufferSamples(NamedTuple):
    """A batch of chunks from a :class:`SequenceReplayBuffer`, batch-major: ``(batch_size, sequence_length, ...)``.

    Row ``t`` of a chunk is one step of one env's stream (see :class:`SequenceReplayBuffer` for the layout).

    :param observations: ``o_t``, shape ``(B, L, *obs_shape)``, the observation space's dtype; for a ``Dict``
        observation space a dict of such tensors, one per key
    :param prev_actions: ``a_{t-1}``, the action that led to ``o_t`` (zero where ``is_first``), shape ``(B, L, action_dim)``;
        ``float32`` for ``Box`` actions (flattened as in SB3), ``int64`` indices for ``Discrete`` ones (``action_dim = 1``)
    :param rewards: ``r_{t-1}``, the reward received on arriving at ``o_t`` (zero where ``is_first``), ``float32`` ``(B, L)``
    :param terminated: 1 where ``o_t`` is terminal (the continue target is ``1 - terminated``), ``float32`` ``(B, L)``
    :param truncated: 1 where the episode was cut at ``o_t`` without terminating (time limit), ``float32`` ``(B, L)``
    :param is_first: 1 where ``o_t`` is the first observation of an episode (recurrent state must be reset there),
        ``float32`` ``(B, L)``
    """

    observations: th.Tensor | dict[str, th.Tensor]
    prev_actions: th.Tensor
    rewards: th.Tensor
    terminated: th.Tensor
    truncated: th.Tensor
    is_first: th.Tensor


def final_observations(new_obs: np.ndarray, dones: np.ndarray, infos: Sequence[dict[str, Any]]) -> np.ndarray:
    """The observations the envs of a VecEnv actually reached on one step.

    A VecEnv resets an env as soon as its episode ends and returns the first observation of the next episode in
    ``new_obs``; the last observation of the finished episode is in ``infos[i]["terminal_observation"]``. This puts it
    back, as SB3's ``OffPolicyAlgorithm._store_transition`` does, for collection loops written by hand. Under
    ``VecNormalize`` both are normalised; store the original observations instead if the buffer is sampled with
    ``env=vec_normalize``.

    :param new_obs: observations returned by ``VecEnv.step``, shape ``(n_envs, ...)``
    :param dones: ``done`` flags returned by ``VecEnv.step``, shape ``(n_envs,)``
    :param infos: infos returned by ``VecEnv.step``
    :return: a copy of ``new_obs`` with the terminal observation in place of the reset one for every done env
    """
    next_obs = np.array(new_obs, copy=True)
    for i in np.flatnonzero(np.asarray(dones)).tolist():
        terminal = infos[i].get("terminal_observation")
        if terminal is not None:
            next_obs[i] = terminal
    return next_obs


class SequenceReplayBuffer(ReplayBuffer):
    """Replay buffer of env-step streams, sampled as fixed-length chunks for recurrent models.

    Each env of the VecEnv has its own circular stream of ``buffer_size // n_envs`` rows; the arrays are
    preallocated with shape ``(buffer_size // n_envs, n_envs, ...)`` and never grow. Row ``t`` of a stream holds
    what an agent sees at step ``t`` (DreamerV3's layout)::

        row             0        1        2          3           4        5     ...
        observations    o_0      o_1      o_2        o_3 (final) o'_0     o'_1
        prev_actions    0        a_0      a_1        a_2         0        a'_0
        rewards         0        r_0      r_1        r_2         0        r'_0
        terminated      F        F        F          T or F      F        F
        truncated       F        F        F          F or T      F        F
        is_first        T        F        F          F           T        F

    ``a_{t-1}`` and ``r_{t-1}`` are the action that led to ``o_t`` and the reward received on arriving there, so a
    world model consumes the pair ``(o_t, a_{t-1})`` of one row directly. The last observation of an episode,
    terminal or truncated, is a row of its own, and the first observation of the next episode follows it with
    ``is_first`` set. A transition ``o_t -> o_{t+1}`` is rows ``t`` and ``t + 1`` of one stream, valid where
    ``is_first[t + 1]`` is false.

    Feed it with :meth:`add`, which takes SB3's ``ReplayBuffer.add`` arguments, so SB3's off-policy collection
    loop (``replay_buffer_class=SequenceReplayBuffer``) fills it unchanged: ``obs`` starts a new episode in the
    stream when the previous one ended (and on the very first call), ``next_obs`` (holding
    ``infos[i]["terminal_observation"]`` for done envs, see :func:`final_observations`) becomes the next row,
    and ``infos[i]["TimeLimit.truncated"]`` splits ``done`` into ``terminated`` and ``truncated``. The first
    observation of an episode is thus written by the ``add`` of the step taken from it, and the first observation
    handed over by the VecEnv's auto-reset is stored only if the env steps from it. Envs write at their own pace
    (one or two rows per ``add``), so each stream has its own write position. :meth:`add_rows` writes rows directly.

    :meth:`sample` draws chunks uniformly among all windows of ``sequence_length`` consecutive stored rows of one
    stream: a chunk never mixes envs, never reads unwritten rows and never straddles the write position (old and
    new data). Chunks may cross episode boundaries; ``is_first`` marks where the recurrent state must be reset. The
    first row of a chunk need not be an episode start (models start it from their initial state), and after
    wrap-around the oldest row of a stream may be mid-episode.

    Sampling uses a ``numpy.random.Generator`` owned by the buffer, pickled with it (SB3's ``save_replay_buffer``
    and ``load_replay_buffer`` resume the same draws). A pickle holds only the stored rows of each stream (the
    arrays are re-allocated at full size when it is loaded), so a saved buffer's size grows with what it holds, not
    with ``buffer_size``. Without ``seed`` it is seeded from NumPy's global random
    state when the buffer is built, which SB3's ``set_random_seed`` (called with the algorithm's ``seed`` before it
    builds the buffer) makes reproducible; :meth:`seed` reseeds it.

    Unlike SB3's ``ReplayBuffer``, ``buffer_size`` stays the total number of rows across envs, :meth:`size` counts
    rows across envs and ``pos`` is an array with one write position per env.

    :param buffer_size: total number of rows (env steps, plus one row per episode start) kept across all envs,
        at least ``2 * n_envs``
    :param observation_space: a ``Box`` space of any shape, or a ``Discrete`` (stored as ``(1,)`` indices),
        ``MultiDiscrete`` or ``MultiBinary`` space, or a ``Dict`` of these (one array per key; ``add`` takes and
        ``sample`` returns dicts of arrays)
    :param action_space: a ``Box`` space (stored flattened, ``float32``), a ``MultiDiscrete`` one (``int64``, one
        index per variable), a ``MultiBinary`` one (``int64`` bits) or a ``Discrete`` space (stored as ``int64``
        indices of shape ``(1,)``)
    :param device: PyTorch device of the sampled tensors
    :param n_envs: number of parallel envs
    :param optimize_memory_usage: accepted for SB3 compatibility and must be ``False``: each observation is already
        stored once
    :param seed: seed of the sampling generator; ``None`` draws it from NumPy's global random state

    Example:
        >>> import numpy as np
        >>> from stable_baselines3.common.vec_env import DummyVecEnv
        >>> from rrl_sb3.common import SequenceReplayBuffer, final_observations
        >>> from rrl_sb3.envs import MemoryCueDiscrete
        >>> venv = DummyVecEnv([lambda: MemoryCueDiscrete(delay=2)] * 2)
        >>> buffer = SequenceReplayBuffer(1000, venv.observation_space, venv.action_space, n_envs=2, seed=0)
        >>> obs = venv.reset()
        >>> for _ in range(10):
        ...     actions = np.array([0, 1])
        ...     new_obs, rewards, dones, infos = venv.step(actions)
        ...     buffer.add(obs, final_observations(new_obs, dones, infos), actions, rewards, dones, infos)
        ...     obs = new_obs
        >>> batch = buffer.sample(batch_size=4, sequence_length=5)
        >>> tuple(batch.observations.shape), tuple(batch.prev_actions.shape), tuple(batch.is_first.shape)
        ((4, 5, 3), (4, 5, 1), (4, 5))
        >>> buffer.is_first[:8, 0].astype(int).tolist()  # episodes of 3 steps: 4 rows each
        [1, 0, 0, 0, 1, 0, 0, 0]
        >>> buffer.terminated[:8, 0].astype(int).tolist()
        [0, 0, 0, 1, 0, 0, 0, 1]
    """

    observations: np.ndarray | dict[str, np.ndarray]  # type: ignore[assignment]  # a dict of arrays for Dict spaces
    prev_actions: np.ndarray
    rewards: np.ndarray
    terminated: np.ndarray
    truncated: np.ndarray
    is_first: np.ndarray
    pos: np.ndarray  # type: ignore[assignment]

    def __init__(
        self,
        buffer_size: int,
        observation_space: spaces.Space,
        action_space: spaces.Space,
        device: th.device | str = "auto",
        n_envs: int = 1,
        optimize_memory_usage: bool = False,
        seed: int | None = None,
    ) -> None:
        if isinstance(n_envs, bool) or not isinstance(n_envs, (int, np.integer)) or n_envs < 1:
            raise ValueError(f"n_envs must be an integer >= 1, got n_envs={n_envs!r}")
        if isinstance(buffer_size, bool) or not isinstance(buffer_size, (int, np.integer)) or buffer_size < 2 * n_envs:
            raise ValueError(
                f"buffer_size must be an integer >= 2 * n_envs = {2 * n_envs} (one add can write two rows to an env's "
                f"stream), got buffer_size={buffer_size!r}"
            )
        leaves = (spaces.Box, spaces.Discrete, spaces.MultiDiscrete, spaces.MultiBinary)
        subspaces = observation_space.spaces.values() if isinstance(observation_space, spaces.Dict) else [observation_space]
        if not all(isinstance(space, leaves) for space in subspaces):
            raise TypeError(
                "observation_space must be a gymnasium.spaces.Box, Discrete, MultiDiscrete or MultiBinary, or a Dict of "
                f"them, got observation_space={observation_space!r}"
            )
        if not isinstance(action_space, (spaces.Box, spaces.Discrete, spaces.MultiDiscrete, spaces.MultiBinary)):
            raise TypeError(
                "action_space must be a gymnasium.spaces.Box, Discrete, MultiDiscrete or MultiBinary, got "
                f"action_space={action_space!r}"
            )
        if optimize_memory_usage:
            raise ValueError(
                "optimize_memory_usage=True is not supported by SequenceReplayBuffer (each observation is stored once "
                "already); got optimize_memory_usage=True"
            )
        # Skip ReplayBuffer.__init__, which allocates SB3's transition arrays; subclassing ReplayBuffer keeps
        # OffPolicyAlgorithm.load_replay_buffer (which checks isinstance) working.
        BaseBuffer.__init__(self, int(buffer_size), observation_space, action_space, device=device, n_envs=int(n_envs))
        self.optimize_memory_usage = False
        self.handle_timeout_termination = True  # truncations are always stored apart from terminations
        self.capacity = self.buffer_size // self.n_envs

        shape = (self.capacity, self.n_envs)
        discrete = isinstance(action_space, (spaces.Discrete, spaces.MultiDiscrete, spaces.MultiBinary))
        self.action_dtype = np.dtype(np.int64) if discrete else np.dtype(np.float32)
        if isinstance(observation_space, spaces.Dict):  # one array per key
            shapes = cast("dict[str, tuple[int, ...]]", self.obs_shape)
            self.observations = {
                key: np.zeros((*shape, *shapes[key]), dtype=space.dtype) for key, space in observation_space.spaces.items()
            }
        else:
            self.observations = np.zeros((*shape, *self.obs_shape), dtype=observation_space.dtype)
        self.prev_actions = np.zeros((*shape, self.action_dim), dtype=self.action_dtype)
        self.rewards = np.zeros(shape, dtype=np.float32)
        self.terminated = np.zeros(shape, dtype=bool)
        self.truncated = np.zeros(shape, dtype=bool)
        self.is_first = np.zeros(shape, dtype=bool)

        self.pos = np.zeros(self.n_envs, dtype=np.int64)  # next row to write, per stream
        self.n_stored = np.zeros(self.n_envs, dtype=np.int64)  # rows held, per stream
        self._needs_start = np.ones(self.n_envs, dtype=bool)  # the next row of the stream must start an episode
        self.full = False
        self.seed(seed)

    # ------------------------------------------------------------------ state

    def seed(self, seed: int | None = None) -> None:
        """Reseed the sampling generator.

        :param seed: seed; ``None`` draws one from NumPy's global random state (reproducible after ``np.random.seed``)
        """
        if seed is None:
            seed = int(np.random.randint(0, 2**31 - 1))
        self._rng = np.random.default_rng(seed)

    def size(self) -> int:
        """:return: number of rows stored, summed over envs (at most ``buffer_size``)"""
        return int(self.n_stored.sum())

    @property
    def nbytes(self) -> int:
        """Bytes held by the preallocated arrays; fixed at construction."""
        arrays = (self.prev_actions, self.rewards, self.terminated, self.truncated, self.is_first)
        return sum(a.nbytes for a in arrays) + sum(a.nbytes for a in _arrays(self.observations))

    # ------------------------------------------------------------------ pickling (save_replay_buffer)

    #: The per-row arrays, ``(capacity, n_envs, ...)``; a pickle holds only their stored rows
    _ROW_ARRAYS = ("observations", "prev_actions", "rewards", "terminated", "truncated", "is_first")

    def __getstate__(self) -> dict[str, Any]:
        """The buffer's state with only the stored rows of each env's stream (rows ``0 .. n_stored - 1``, which hold
        every stored row until the stream wraps around), so that ``save_replay_buffer`` writes a file proportional to
        what is stored, not to ``buffer_size``."""
        state = self.__dict__.copy()

        def stored(array: np.ndarray) -> list[np.ndarray]:
            return [array[: int(n), env].copy() for env, n in enumerate(self.n_stored)]

        for name in self._ROW_ARRAYS:
            array = state.pop(name)
            state[f"_stored_{name}"] = {k: stored(a) for k, a in array.items()} if isinstance(array, dict) else stored(array)
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        """Rebuild the preallocated arrays from the stored rows written by :meth:`__getstate__`."""
        rows = {name: state.pop(f"_stored_{name}") for name in self._ROW_ARRAYS if f"_stored_{name}" in state}
        self.__dict__.update(state)

        def rebuilt(streams: list[np.ndarray]) -> np.ndarray:
            first = streams[0]
            array = np.zeros((self.capacity, self.n_envs, *first.shape[1:]), dtype=first.dtype)
            for env, stored in enumerate(streams):
                array[: len(stored), env] = stored
            return array

        for name, streams in rows.items():
            setattr(self, name, {k: rebuilt(v) for k, v in streams.items()} if isinstance(streams, dict) else rebuilt(streams))

    def reset(self) -> None:
        """Forget all stored rows (the arrays are kept); the next row of every stream starts an episode."""
        self.pos[:] = 0
        self.n_stored[:] = 0
        self._needs_start[:] = True
        self.full = False

    def truncate_last_episodes(self) -> None:
        """End the episode in progress in every stream as truncated.

        Call it when the envs are reset without the buffer seeing the end of their episodes (a new ``learn`` call
        that resets the VecEnv). :meth:`add` also does this by itself when ``obs`` differs from the stream's last
        observation.
        """
        envs = np.flatnonzero(~self._needs_start & (self.n_stored > 0))
        self.truncated[(self.pos[envs] - 1) % self.capacity, envs] = True
        self._needs_start[:] = True

    # ------------------------------------------------------------------ writing

    def add(  # type: ignore[override]
        self,
        obs: np.ndarray,
        next_obs: np.ndarray,
        action: np.ndarray,
        reward: np.ndarray,
        done: np.ndarray,
        infos: Sequence[dict[str, Any]],
    ) -> None:
        """Store one VecEnv step, with the arguments of SB3's ``ReplayBuffer.add``.

        For each env, if its stream expects a new episode (first call, previous episode ended, or ``obs`` differs
        from the stream's last observation because the env was reset behind the buffer's back, which ends that
        episode as truncated), ``obs`` is written as an ``is_first`` row. Then ``(next_obs, action, reward,
        terminated, truncated)`` is written as the next row, with ``truncated = done and
        infos[i]["TimeLimit.truncated"]`` and ``terminated = done and not truncated``.

        :param obs: observations the actions were taken from, shape ``(n_envs, *obs_shape)``
        :param next_obs: observations reached, with the terminal observation (not the reset one) for done envs,
            shape ``(n_envs, *obs_shape)``; see :func:`final_observations`
        :param action: actions taken, shape ``(n_envs, *action_shape)`` (``(n_envs,)`` for ``Discrete``)
        :param reward: rewards received, shape ``(n_envs,)``
        :param done: episode ends (terminated or truncated), shape ``(n_envs,)``
        :param infos: VecEnv infos, one dict per env
        """
        if len(infos) != self.n_envs:
            raise ValueError(f"infos must hold one dict per env ({self.n_envs}), got {len(infos)}")
        # Validate everything before writing, so a bad call leaves the buffer untouched.
        obs = self._as_obs(obs, "obs")
        next_obs = self._as_obs(next_obs, "next_obs")
        done = self._as_flags(done, "done")
        action, reward = self._as_action_reward(action, reward, self.n_envs)
        timeouts = np.array([bool(info.get("TimeLimit.truncated", False)) for info in infos])
        truncated = done & timeouts
        terminated = done & ~truncated

        all_envs = np.arange(self.n_envs)
        last = _map(lambda array: array[(self.pos - 1) % self.capacity, all_envs], self.observations)
        start = self._needs_start | ~self._rows_equal(last, obs)
        if start.any():
            envs = np.flatnonzero(start)
            k = len(envs)
            no_action, no_flag = np.zeros((k, self.action_dim)), np.zeros(k, dtype=bool)
            self.add_rows(
                _map(lambda array: array[envs], obs),
                no_action,
                np.zeros(k),
                no_flag,
                no_flag,
                np.ones(k, dtype=bool),
                env_indices=envs,
            )
        self.add_rows(next_obs, action, reward, terminated, truncated, np.zeros(self.n_envs, dtype=bool))

    def add_rows(
        self,
        obs: np.ndarray,
        prev_action: np.ndarray,
        reward: np.ndarray,
        terminated: np.ndarray,
        truncated: np.ndarray,
        is_first: np.ndarray,
        env_indices: np.ndarray | Sequence[int] | None = None,
    ) -> None:
        """Append one row, in the buffer's layout, to the stream of each env in ``env_indices``.

        ``prev_action`` and ``reward`` are stored as zero where ``is_first`` is set. A row that starts an episode in
        a stream whose episode is still running ends that episode as truncated.

        :param obs: ``o_t``, shape ``(k, *obs_shape)``
        :param prev_action: ``a_{t-1}``, shape ``(k, *action_shape)`` (``(k,)`` for ``Discrete``)
        :param reward: ``r_{t-1}``, shape ``(k,)``
        :param terminated: whether ``o_t`` is terminal, shape ``(k,)``
        :param truncated: whether the episode was cut at ``o_t``, shape ``(k,)``
        :param is_first: whether ``o_t`` starts an episode, shape ``(k,)``
        :param env_indices: the ``k`` distinct envs to write to; all ``n_envs`` envs by default
        """
        envs = np.arange(self.n_envs) if env_indices is None else np.asarray(env_indices, dtype=np.int64).reshape(-1)
        if len(np.unique(envs)) != len(envs) or (len(envs) and (envs.min() < 0 or envs.max() >= self.n_envs)):
            raise ValueError(f"env_indices must be distinct env indices in [0, {self.n_envs}), got {env_indices!r}")
        k = len(envs)
        obs = self._as_obs(obs, "obs", k)
        is_first = self._as_flags(is_first, "is_first", k)
        terminated = self._as_flags(terminated, "terminated", k)
        truncated = self._as_flags(truncated, "truncated", k)
        prev_action, reward = self._as_action_reward(prev_action, reward, k)
        orphans = envs[self._needs_start[envs] & ~is_first]
        if len(orphans):
            raise ValueError(
                f"envs {orphans.tolist()} have no episode in progress (their last episode ended, or nothing was stored "
                "yet): their next row must have is_first=True"
            )
        interrupted = envs[is_first & ~self._needs_start[envs]]
        self.truncated[(self.pos[interrupted] - 1) % self.capacity, interrupted] = True

        rows = self.pos[envs]
        if isinstance(self.observations, dict):
            for key, array in self.observations.items():
                array[rows, envs] = obs[key]
        else:
            self.observations[rows, envs] = obs
        self.prev_actions[rows, envs] = np.where(is_first[:, None], 0, prev_action)
        self.rewards[rows, envs] = np.where(is_first, 0.0, reward)
        self.terminated[rows, envs] = terminated
        self.truncated[rows, envs] = truncated
        self.is_first[rows, envs] = is_first

        self.pos[envs] = (rows + 1) % self.capacity
        self.n_stored[envs] = np.minimum(self.n_stored[envs] + 1, self.capacity)
        self._needs_start[envs] = terminated | truncated
        self.full = bool((self.n_stored == self.capacity).all())

    # ------------------------------------------------------------------ sampling

    def sample(  # type: ignore[override]
        self,
        batch_size: int,
        sequence_length: int,
        env: VecNormalize | None = None,
        terminal_share: float = 0.0,
    ) -> SequenceReplayBufferSamples:
        """Draw ``batch_size`` chunks of ``sequence_length`` consecutive rows, uniformly among all such windows.

        With ``terminal_share``, that share of the chunks (rounded) instead ends at a stored termination, drawn
        uniformly among the terminal rows that have ``sequence_length - 1`` stored rows before them (uniform chunks
        when there is none): rare terminations then stay in every batch. Such a chunk, too, never mixes envs nor
        straddles the write position. The uniform chunks come first in the batch.

        :param batch_size: number of chunks
        :param sequence_length: rows per chunk, at most ``buffer_size // n_envs``
        :param env: ``VecNormalize`` wrapper to normalise observations and rewards with, as in SB3
        :param terminal_share: share of the chunks that end at a termination, in ``[0, 1]``
        :return: tensors on the buffer's device, shaped ``(batch_size, sequence_length, ...)``
        :raises ValueError: if no stream holds ``sequence_length`` rows yet, or ``sequence_length`` exceeds a stream
        """
        for name, value in (("batch_size", batch_size), ("sequence_length", sequence_length)):
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
                raise ValueError(f"{name} must be an integer >= 1, got {name}={value!r}")
        if not 0.0 <= terminal_share <= 1.0:
            raise ValueError(f"terminal_share must be in [0, 1], got terminal_share={terminal_share!r}")
        if sequence_length > self.capacity:
            raise ValueError(
                f"sequence_length={sequence_length} exceeds the rows kept per env (buffer_size // n_envs = {self.capacity})"
            )
        windows = np.maximum(self.n_stored - sequence_length + 1, 0)  # valid chunk starts per stream
        total = int(windows.sum())
        if total == 0:
            raise ValueError(
                f"not enough data to sample chunks of sequence_length={sequence_length}: the longest env stream holds "
                f"{int(self.n_stored.max())} rows"
            )
        oldest = (self.pos - self.n_stored) % self.capacity
        terminal_starts = self._terminal_starts(sequence_length, oldest) if terminal_share > 0 else None
        n_terminal = 0 if terminal_starts is None else round(terminal_share * batch_size)
        draws = self._rng.integers(total, size=batch_size - n_terminal)
        ends = np.cumsum(windows)
        env_inds = np.searchsorted(ends, draws, side="right")
        offsets = draws - (ends - windows)[env_inds]  # position of the start among the stream's stored rows
        if n_terminal:
            assert terminal_starts is not None
            picked = terminal_starts[self._rng.integers(len(terminal_starts), size=n_terminal)]
            env_inds = np.concatenate([env_inds, picked % self.n_envs])
            offsets = np.concatenate([offsets, picked // self.n_envs])
        rows = (oldest[env_inds, None] + offsets[:, None] + np.arange(sequence_length)) % self.capacity
        return self._get_samples(rows * self.n_envs + env_inds[:, None], env=env)

    def _terminal_starts(self, sequence_length: int, oldest: np.ndarray) -> np.ndarray | None:
        """Chunks that end at a stored termination, as ``offset * n_envs + env`` (``offset``: the chunk's first row
        among the stream's stored rows), or ``None`` if there is none."""
        rows, envs = np.nonzero(self.terminated)
        offsets = (rows - oldest[envs]) % self.capacity  # of the terminal row among the stream's stored rows
        keep = (offsets < self.n_stored[envs]) & (offsets >= sequence_length - 1)
        if not keep.any():
            return None
        return (offsets[keep] - (sequence_length - 1)) * self.n_envs + envs[keep]

    def _get_samples(  # type: ignore[override]
        self, batch_inds: np.ndarray, env: VecNormalize | None = None
    ) -> SequenceReplayBufferSamples:
        """Gather rows by flat index ``row * n_envs + env`` (any index shape) and convert them to tensors."""

        def gather(array: np.ndarray) -> np.ndarray:
            return array.reshape(self.capacity * self.n_envs, *array.shape[2:])[batch_inds]

        def tensor(array: np.ndarray) -> th.Tensor:
            # Fancy indexing already copied the rows out of the buffer: share that copy instead of making another.
            return self.to_torch(array, copy=False)

        observations = self._normalize_obs(_map(gather, self.observations), env)  # type: ignore[arg-type]
        rewards = self._normalize_reward(gather(self.rewards), env).astype(np.float32, copy=False)
        return SequenceReplayBufferSamples(
            observations=_map(tensor, observations),
            prev_actions=tensor(gather(self.prev_actions)),
            rewards=tensor(rewards),
            terminated=tensor(gather(self.terminated).astype(np.float32)),
            truncated=tensor(gather(self.truncated).astype(np.float32)),
            is_first=tensor(gather(self.is_first).astype(np.float32)),
        )

    # ------------------------------------------------------------------ helpers

    def _as_obs(self, obs: Any, name: str, k: int | None = None) -> Any:
        k = self.n_envs if k is None else k
        if not isinstance(self.observations, dict):
            return _as_obs_array(obs, self.observations.dtype, self.observation_space, self.obs_shape, name, k)
        if not isinstance(obs, dict) or set(obs) != set(self.observations):
            got = sorted(obs) if isinstance(obs, dict) else type(obs).__name__
            raise ValueError(f"{name} must be a dict with the keys {sorted(self.observations)}, got {got}")
        shapes = cast("dict[str, tuple[int, ...]]", self.obs_shape)
        subspaces = cast(spaces.Dict, self.observation_space)
        return {
            key: _as_obs_array(obs[key], array.dtype, subspaces[key], shapes[key], f"{name}[{key!r}]", k)
            for key, array in self.observations.items()
        }

    def _as_flags(self, flags: np.ndarray, name: str, k: int | None = None) -> np.ndarray:
        k = self.n_envs if k is None else k
        array = np.asarray(flags).astype(bool)
        if array.size != k:
            raise ValueError(f"{name} must hold one flag per written env ({k}), got shape {array.shape}")
        return array.reshape(k)

    def _as_action_reward(self, action: np.ndarray, reward: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        action = np.asarray(action, dtype=self.action_dtype)
        reward = np.asarray(reward, dtype=np.float32)
        if action.size != k * self.action_dim:
            raise ValueError(
                f"actions must hold {k} action(s) of {self.action_dim} component(s) each, got shape {action.shape}"
            )
        if reward.size != k:
            raise ValueError(f"rewards must hold one reward per written env ({k}), got shape {reward.shape}")
        return action.reshape(k, self.action_dim), reward.reshape(k)

    @staticmethod
    def _rows_equal(a: Any, b: Any) -> np.ndarray:
        """Per-row exact equality (of every key for dict observations), counting NaN equal to NaN."""
        if isinstance(a, dict):
            return np.all([SequenceReplayBuffer._rows_equal(a[key], b[key]) for key in a], axis=0)
        equal = a == b
        if np.issubdtype(a.dtype, np.floating):
            equal |= np.isnan(a) & np.isnan(b)
        return equal.reshape(len(a), -1).all(axis=1)


def _map(fn: Callable[[np.ndarray], Any], obs: Any) -> Any:
    """``fn`` on an observation array, or on each array of a dict of them."""
    return {key: fn(value) for key, value in obs.items()} if isinstance(obs, dict) else fn(obs)


def _arrays(obs: Any) -> list[np.ndarray]:
    return list(obs.values()) if isinstance(obs, dict) else [obs]


def _as_obs_array(obs: Any, dtype: np.dtype, space: spaces.Space, shape: tuple[int, ...], name: str, k: int) -> np.ndarray:
    array = np.asarray(obs, dtype=dtype)
    if isinstance(space, spaces.Discrete) and array.shape == (k,):
        array = array.reshape(k, 1)  # a VecEnv's Discrete observations are (n_envs,); SB3 stores them as (n, 1)
    if array.shape != (k, *shape):
        raise ValueError(f"{name} must have shape {(k, *shape)}, got {array.shape}")
    return array
