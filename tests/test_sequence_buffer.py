"""Sequence replay buffer: layout, chunk sampling, wrap-around, SB3 collection loops, pickling, errors."""

from __future__ import annotations

import pickle
from typing import Any

import gymnasium as gym
import numpy as np
import pytest
import torch as th
from gymnasium import spaces
from gymnasium.wrappers import TimeLimit
from stable_baselines3 import DQN, SAC
from stable_baselines3.common.env_util import make_vec_env
from stable_baselines3.common.vec_env import DummyVecEnv, VecNormalize

from rrl_sb3.common.buffers import SequenceReplayBuffer, SequenceReplayBufferSamples, final_observations
from rrl_sb3.envs import MemoryCueContinuous, MemoryCueDiscrete

ENV_ID, COUNTER, T, LAST_ACTION, END = range(5)  # components of a CounterEnv observation
NOT_ENDED, TERMINATED, TRUNCATED = 0.0, 1.0, 2.0


class CounterEnv(gym.Env):
    """Observation ``[env_id, counter, t, last action, end]``: everything a stored row should hold, in the observation.

    ``counter`` goes up by one with every observation, across episodes, so the rows of one env stream carry
    consecutive counters. The reward of a step is the new counter. Episode ``k`` lasts ``lengths[k % len(lengths)]``
    steps and ends terminated when ``k`` is even, truncated when it is odd; ``end`` says which (0 while running).
    """

    def __init__(self, env_id: int = 0, lengths: tuple[int, ...] = (3, 5), action: str = "discrete", obs_shape=(5,)):
        self.env_id = env_id
        self.lengths = lengths
        self.obs_shape = obs_shape
        self.observation_space = spaces.Box(-np.inf, np.inf, shape=obs_shape, dtype=np.float32)
        self.action_space = spaces.Discrete(5) if action == "discrete" else spaces.Box(-1.0, 1.0, shape=(2,), dtype=np.float32)
        self.counter, self.episode, self.t = -1, -1, 0

    def _obs(self, last_action: float, end: float) -> np.ndarray:
        return np.array([self.env_id, self.counter, self.t, last_action, end], dtype=np.float32).reshape(self.obs_shape)

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        super().reset(seed=seed)
        self.counter += 1
        self.episode += 1
        self.t = 0
        return self._obs(0.0, NOT_ENDED), {}

    def step(self, action):
        self.counter += 1
        self.t += 1
        ended = self.t >= self.lengths[self.episode % len(self.lengths)]
        terminated = ended and self.episode % 2 == 0
        truncated = ended and not terminated
        end = TERMINATED if terminated else TRUNCATED if truncated else NOT_ENDED
        last_action = float(np.asarray(action).reshape(-1)[0])
        return self._obs(last_action, end), float(self.counter), terminated, truncated, {}


def counter_vec_env(n_envs: int, action: str = "discrete", obs_shape=(5,)) -> DummyVecEnv:
    """Envs with different episode lengths, so their streams advance at different paces."""
    lengths = [(3, 5), (1, 4, 2), (6,), (2, 2, 7)]
    return DummyVecEnv(
        [lambda i=i: CounterEnv(i, lengths[i % len(lengths)], action, obs_shape) for i in range(n_envs)]  # type: ignore[misc]
    )


def make_buffer(venv, buffer_size: int, seed: int | None = 0, **kwargs) -> SequenceReplayBuffer:
    spaces_ = (venv.observation_space, venv.action_space)
    return SequenceReplayBuffer(buffer_size, *spaces_, n_envs=venv.num_envs, seed=seed, **kwargs)


def collect(venv, buffer: SequenceReplayBuffer, n_steps: int, seed: int = 0, obs=None, callback=None):
    """A hand-written SB3-style collection loop; returns the last observations."""
    venv.action_space.seed(seed)
    obs = venv.reset() if obs is None else obs
    for step in range(n_steps):
        actions = np.array([venv.action_space.sample() for _ in range(venv.num_envs)])
        new_obs, rewards, dones, infos = venv.step(actions)
        buffer.add(obs, final_observations(new_obs, dones, infos), actions, rewards, dones, infos)
        obs = new_obs
        if callback is not None:
            callback(step)
    return obs


def stream(buffer: SequenceReplayBuffer, env: int) -> SequenceReplayBufferSamples:
    """All rows of one env stream, oldest first, as a batch of one chunk."""
    n = int(buffer.n_stored[env])
    rows = (buffer.pos[env] - n + np.arange(n)) % buffer.capacity
    return buffer._get_samples((rows * buffer.n_envs + env)[None])


def check_chunks(samples: SequenceReplayBufferSamples) -> None:
    """Every chunk is a run of consecutive rows of one CounterEnv stream, and every stored field matches the observation."""
    obs = samples.observations.numpy()
    obs = obs.reshape(*obs.shape[:2], 5)
    first = samples.is_first.numpy().astype(bool)
    assert (obs[..., ENV_ID] == obs[:, :1, ENV_ID]).all(), "a chunk mixes envs"
    assert (np.diff(obs[..., COUNTER], axis=1) == 1).all(), "a chunk skips or repeats rows"
    assert np.array_equal(first, obs[..., T] == 0)
    assert np.array_equal(samples.prev_actions.numpy()[..., 0], np.where(first, 0, obs[..., LAST_ACTION]))
    assert np.array_equal(samples.rewards.numpy(), np.where(first, 0, obs[..., COUNTER]))
    assert np.array_equal(samples.terminated.numpy(), (obs[..., END] == TERMINATED).astype(np.float32))
    assert np.array_equal(samples.truncated.numpy(), (obs[..., END] == TRUNCATED).astype(np.float32))
    # A new episode starts right after an episode end, and nowhere else.
    assert np.array_equal(obs[:, :-1, END] != NOT_ENDED, first[:, 1:])


# ---------------------------------------------------------------------------------------------- layout


@pytest.mark.parametrize("action", ["discrete", "box"])
@pytest.mark.parametrize("obs_shape", [(5,), (1, 5)])
@pytest.mark.parametrize("n_envs", [1, 3])
def test_layout_from_a_dummy_vec_env_loop(action, obs_shape, n_envs):
    venv = counter_vec_env(n_envs, action, obs_shape)
    buffer = make_buffer(venv, buffer_size=1000 * n_envs)
    collect(venv, buffer, n_steps=40)
    for env in range(n_envs):
        rows = stream(buffer, env)
        check_chunks(rows)
        counters = rows.observations.reshape(-1, 5)[:, COUNTER]
        assert counters[0] == 0 and counters[-1] == int(buffer.n_stored[env]) - 1  # every observation stored once
        # One start row per episode begun, except one that began on the last step: its first observation is written
        # by the next add, together with the step taken from it.
        just_reset = venv.envs[env].t == 0
        assert rows.is_first.sum() == venv.envs[env].episode + 1 - just_reset
        assert rows.terminated.sum() > 0 and rows.truncated.sum() > 0
    samples = buffer.sample(8, 4)
    assert samples.observations.shape == (8, 4, *obs_shape) and samples.observations.dtype == th.float32
    if action == "discrete":
        assert samples.prev_actions.shape == (8, 4, 1) and samples.prev_actions.dtype == th.int64
    else:
        assert samples.prev_actions.shape == (8, 4, 2) and samples.prev_actions.dtype == th.float32
    for name in ("rewards", "terminated", "truncated", "is_first"):
        tensor = getattr(samples, name)
        assert tensor.shape == (8, 4) and tensor.dtype == th.float32
    assert all(t.device == buffer.device for t in samples)


def test_real_envs_store_terminated_and_truncated_apart():
    delay = 2
    # Env 0 terminates after answering the query (4 rows per episode); a TimeLimit cuts env 1 at the query (3 rows).
    venv = DummyVecEnv([lambda: MemoryCueDiscrete(delay=delay), lambda: TimeLimit(MemoryCueDiscrete(delay=delay), 2)])
    buffer = make_buffer(venv, buffer_size=400)
    collect(venv, buffer, n_steps=36)
    for env, episode_rows, ending in ((0, delay + 2, "terminated"), (1, 3, "truncated")):
        rows = stream(buffer, env)
        n = int(buffer.n_stored[env])
        position = np.arange(n) % episode_rows
        assert np.array_equal(rows.is_first[0].numpy(), (position == 0).astype(np.float32))
        ended = getattr(rows, ending)[0].numpy()
        other = rows.truncated if ending == "terminated" else rows.terminated
        assert np.array_equal(ended, (position == episode_rows - 1).astype(np.float32))
        assert other.sum() == 0
        obs = rows.observations[0].numpy()
        assert (obs[position == 0, :2].sum(axis=1) == 1).all()  # the cue is visible in every first row
        # Env 0's episode ends on the blank observation after the query; env 1's is cut on the query observation.
        assert (obs[position == episode_rows - 1, -1] == env).all()
        rewards = rows.rewards[0].numpy()
        if env == 0:
            assert set(np.abs(rewards[position == episode_rows - 1]).tolist()) == {1.0}
        assert (rewards[position != episode_rows - 1] == 0).all()


def test_time_limited_box_env():
    venv = DummyVecEnv([lambda: gym.make("Pendulum-v1", max_episode_steps=5)])
    buffer = make_buffer(venv, buffer_size=100)
    collect(venv, buffer, n_steps=17)
    rows = stream(buffer, 0)
    position = np.arange(int(buffer.n_stored[0])) % 6
    assert np.array_equal(rows.truncated[0].numpy(), (position == 5).astype(np.float32))
    assert rows.terminated.sum() == 0
    assert np.array_equal(rows.is_first[0].numpy(), (position == 0).astype(np.float32))
    assert rows.prev_actions.shape == (1, 21, 1) and (rows.prev_actions[0, position == 0] == 0).all()


# ---------------------------------------------------------------------------------------------- sampling


def test_chunks_never_mix_envs_nor_straddle_the_write_position():
    venv = counter_vec_env(3)
    buffer = make_buffer(venv, buffer_size=3 * 23)

    def sample_and_check(step: int) -> None:
        # Check at every step while the streams fill and wrap at different paces.
        if buffer.n_stored.max() >= 7:
            check_chunks(buffer.sample(32, 7))

    collect(venv, buffer, n_steps=150, callback=sample_and_check)
    assert buffer.full
    check_chunks(buffer.sample(512, 23))  # a chunk as long as a whole stream must start exactly at its oldest row
    for env in range(3):
        check_chunks(stream(buffer, env))


@pytest.mark.parametrize("terminal_share", [0.25, 1.0])
def test_terminal_share_keeps_terminations_in_every_batch(terminal_share: float) -> None:
    venv = counter_vec_env(3)
    buffer = make_buffer(venv, buffer_size=3 * 23)
    reserved = round(terminal_share * 8)
    checked = 0

    def sample_and_check(step: int) -> None:
        nonlocal checked
        if buffer.n_stored.max() < 7:
            return
        samples = buffer.sample(8, 7, terminal_share=terminal_share)
        check_chunks(samples)  # one env's consecutive rows, never across the write position, while streams wrap
        ends = samples.terminated.numpy()[:, -1]
        any_terminal = buffer._terminal_starts(7, (buffer.pos - buffer.n_stored) % buffer.capacity) is not None
        assert ends[8 - reserved :].all() if any_terminal else True
        checked += any_terminal

    collect(venv, buffer, n_steps=150, callback=sample_and_check)
    assert checked > 100


def test_terminal_share_zero_is_the_uniform_sampler_and_bad_values_fail() -> None:
    venv = counter_vec_env(2)
    a, b = make_buffer(venv, buffer_size=200), make_buffer(venv, buffer_size=200)
    collect(venv, a, n_steps=60)
    collect(counter_vec_env(2), b, n_steps=60)
    assert th.equal(a.sample(16, 5).observations, b.sample(16, 5, terminal_share=0.0).observations)
    with pytest.raises(ValueError, match=r"terminal_share=1\.5"):
        a.sample(4, 5, terminal_share=1.5)
    fresh = make_buffer(counter_vec_env(1), buffer_size=50)
    collect(counter_vec_env(1), fresh, n_steps=2)  # CounterEnv 0 ends its first episode (terminated) after 3 steps
    assert fresh.sample(4, 2, terminal_share=0.5).terminated.shape == (4, 2)  # no termination yet: uniform chunks


def test_chunk_starts_are_uniform_over_valid_windows():
    venv = counter_vec_env(3)
    buffer = make_buffer(venv, buffer_size=3 * 30)
    collect(venv, buffer, n_steps=100)  # wrapped: every stream holds its newest 30 rows
    length = 10
    samples = buffer.sample(30_000, length)
    check_chunks(samples)
    starts = samples.observations.reshape(30_000, length, 5)[:, 0].numpy()
    for env in range(3):
        newest = buffer.observations[(buffer.pos[env] - 1) % buffer.capacity, env, COUNTER]
        valid = np.arange(newest - 29, newest - length + 2)  # starts from the oldest row to newest - length + 1
        drawn = starts[starts[:, ENV_ID] == env, COUNTER]
        values, counts = np.unique(drawn, return_counts=True)
        assert np.array_equal(values, valid)
        expected = 30_000 / (3 * len(valid))
        assert counts.min() > 0.7 * expected and counts.max() < 1.3 * expected


def test_capacity_is_fixed():
    venv = counter_vec_env(2)
    buffer = make_buffer(venv, buffer_size=41)  # 20 rows per env; one row of the total unused
    arrays = [buffer.observations, buffer.prev_actions, buffer.rewards, buffer.terminated, buffer.truncated, buffer.is_first]
    nbytes = buffer.nbytes
    assert buffer.capacity == 20 and buffer.observations.shape == (20, 2, 5)
    written = np.zeros(2, dtype=int)

    def count(step: int) -> None:
        # Rows written so far per env: all its observations but a reset one handed over on this step.
        written[:] = [venv.envs[i].counter + 1 - (venv.envs[i].t == 0) for i in range(2)]
        assert buffer.size() == np.minimum(written, 20).sum() <= 41
        assert buffer.full == bool((written >= 20).all())

    collect(venv, buffer, n_steps=60, callback=count)
    assert buffer.full and buffer.size() == 40
    assert buffer.nbytes == nbytes
    current = [buffer.observations, buffer.prev_actions, buffer.rewards, buffer.terminated, buffer.truncated, buffer.is_first]
    assert all(a is b for a, b in zip(arrays, current, strict=True))


def test_sampling_is_seeded_and_survives_pickling(tmp_path):
    venv = counter_vec_env(2)
    buffer = make_buffer(venv, buffer_size=60, seed=3)
    obs = collect(venv, buffer, n_steps=50)
    copy = pickle.loads(pickle.dumps(buffer))
    for _ in range(3):  # the generator state travels with the buffer
        for a, b in zip(buffer.sample(16, 8), copy.sample(16, 8), strict=True):
            assert th.equal(a, b)
    buffer.seed(7)
    copy.seed(7)
    assert th.equal(buffer.sample(16, 8).observations, copy.sample(16, 8).observations)
    copy.seed(8)
    assert not th.equal(buffer.sample(16, 8).observations, copy.sample(16, 8).observations)
    # Writing continues where it left off after unpickling.
    restored = pickle.loads(pickle.dumps(buffer))
    collect(venv, restored, n_steps=30, obs=obs)
    for env in range(2):
        check_chunks(stream(restored, env))


def test_unseeded_buffer_follows_numpy_global_seed():
    draws = []
    for _ in range(2):
        venv = counter_vec_env(1)
        np.random.seed(123)  # what SB3's set_random_seed does before an algorithm builds its buffer
        buffer = make_buffer(venv, buffer_size=50, seed=None)
        collect(venv, buffer, n_steps=20)
        draws.append(buffer.sample(8, 3).observations[:, :, T])
    assert th.equal(*draws)


def test_sampling_too_early_or_too_long_is_an_error():
    venv = counter_vec_env(2)
    buffer = make_buffer(venv, buffer_size=20)
    with pytest.raises(ValueError, match=r"not enough data.*sequence_length=4.*holds 0 rows"):
        buffer.sample(4, 4)
    collect(venv, buffer, n_steps=2)  # 3 rows per stream at most
    with pytest.raises(ValueError, match="not enough data"):
        buffer.sample(4, 5)
    assert buffer.sample(4, 3).observations.shape[:2] == (4, 3)
    with pytest.raises(ValueError, match=r"sequence_length=11 exceeds"):
        buffer.sample(4, 11)
    for kwargs in ({"batch_size": 0, "sequence_length": 2}, {"batch_size": 2, "sequence_length": 0}):
        with pytest.raises(ValueError, match=next(k for k, v in kwargs.items() if v == 0)):
            buffer.sample(**kwargs)
    buffer.reset()
    assert buffer.size() == 0 and not buffer.full
    with pytest.raises(ValueError, match="not enough data"):
        buffer.sample(1, 1)
    collect(venv, buffer, n_steps=5)
    check_chunks(buffer.sample(8, 3))


def test_vec_normalize_is_applied_when_sampling():
    venv = VecNormalize(counter_vec_env(2), gamma=0.9)
    buffer = make_buffer(venv, buffer_size=100)
    venv.reset()
    venv.action_space.seed(0)
    original = venv.get_original_obs()
    for _ in range(20):
        actions = np.array([venv.action_space.sample() for _ in range(2)])
        _, _, dones, infos = venv.step(actions)
        new_original = venv.get_original_obs()
        next_obs = new_original.copy()
        for i in np.flatnonzero(dones):
            next_obs[i] = venv.unnormalize_obs(infos[i]["terminal_observation"])
        buffer.add(original, next_obs, actions, venv.get_original_reward(), dones, infos)
        original = new_original
    buffer.seed(0)
    raw = buffer.sample(8, 4)
    buffer.seed(0)
    normalized = buffer.sample(8, 4, env=venv)
    assert np.allclose(normalized.observations.numpy(), venv.normalize_obs(raw.observations.numpy()), atol=1e-6)
    assert np.allclose(normalized.rewards.numpy(), venv.normalize_reward(raw.rewards.numpy()), atol=1e-6)
    assert th.equal(normalized.is_first, raw.is_first)


# ---------------------------------------------------------------------------------------------- episode bookkeeping


def test_a_reset_behind_the_buffers_back_ends_the_episode_as_truncated():
    venv = counter_vec_env(2)
    buffer = make_buffer(venv, buffer_size=200)
    obs = collect(venv, buffer, n_steps=2)  # both envs are mid-episode (env 1's first episode lasted one step)
    assert not buffer._needs_start.any() and not buffer.truncated.any()
    fresh = obs.copy()
    fresh[:, COUNTER] += 1000.0  # what a reset of the VecEnv would hand over instead of the last observation
    before = buffer.pos.copy()
    buffer.add(fresh, fresh + 1, np.zeros(2), np.zeros(2), np.zeros(2, dtype=bool), [{}, {}])
    envs = np.arange(2)
    assert buffer.truncated[before - 1, envs].all()  # the interrupted episodes end as truncated
    assert buffer.is_first[before, envs].all() and (buffer.observations[before, envs] == fresh).all()
    assert not buffer.is_first[before + 1, envs].any() and (buffer.pos == before + 2).all()
    # An unchanged observation continues the episode.
    buffer.add(fresh + 1, fresh + 2, np.zeros(2), np.zeros(2), np.zeros(2, dtype=bool), [{}, {}])
    assert (buffer.pos == before + 3).all() and not buffer.is_first[before + 2, envs].any()
    buffer.truncate_last_episodes()
    assert buffer.truncated[before + 2, envs].all() and buffer._needs_start.all()


def test_add_rows_requires_an_episode_start():
    buffer = SequenceReplayBuffer(10, spaces.Box(-1, 1, (2,)), spaces.Discrete(3), n_envs=2)
    zeros = np.zeros(2)
    with pytest.raises(ValueError, match=r"envs \[0, 1\].*is_first=True"):
        buffer.add_rows(np.zeros((2, 2)), zeros, zeros, zeros, zeros, is_first=np.zeros(2))
    buffer.add_rows(np.zeros((1, 2)), [2], [5.0], [0], [0], is_first=[1], env_indices=[1])
    assert buffer.n_stored.tolist() == [0, 1]
    assert buffer.prev_actions[0, 1, 0] == 0 and buffer.rewards[0, 1] == 0  # start rows carry no action or reward
    with pytest.raises(ValueError, match="env_indices"):
        buffer.add_rows(np.zeros((2, 2)), zeros, zeros, zeros, zeros, np.ones(2), env_indices=[1, 1])
    with pytest.raises(ValueError, match=r"obs must have shape \(2, 2\)"):
        buffer.add(np.zeros((2, 3)), np.zeros((2, 2)), zeros, zeros, zeros, [{}, {}])
    with pytest.raises(ValueError, match="infos"):
        buffer.add(np.zeros((2, 2)), np.zeros((2, 2)), zeros, zeros, zeros, [{}])
    with pytest.raises(ValueError, match="actions"):
        buffer.add(np.zeros((2, 2)), np.zeros((2, 2)), np.zeros(3), zeros, zeros, [{}, {}])
    assert buffer.n_stored.tolist() == [0, 1]  # rejected calls write nothing


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"buffer_size": 3, "n_envs": 2}, ValueError, r"buffer_size.*got buffer_size=3"),
        ({"buffer_size": 10.5}, ValueError, "buffer_size=10.5"),
        ({"n_envs": 0}, ValueError, "n_envs=0"),
        ({"observation_space": spaces.Tuple([spaces.Discrete(4)])}, TypeError, r"observation_space=Tuple"),
        ({"observation_space": spaces.Dict({"a": spaces.Text(3)})}, TypeError, "observation_space"),
        ({"action_space": spaces.Tuple([spaces.Discrete(3)])}, TypeError, r"action_space=Tuple"),
        ({"optimize_memory_usage": True}, ValueError, "optimize_memory_usage"),
    ],
)
def test_bad_arguments_are_rejected(kwargs, error, match):
    arguments = {
        "buffer_size": 100,
        "observation_space": spaces.Box(-1, 1, (3,)),
        "action_space": spaces.Box(-1, 1, (2,)),
        "n_envs": 1,
    } | kwargs
    with pytest.raises(error, match=match):
        SequenceReplayBuffer(**arguments)


# ---------------------------------------------------------------------------------------------- SB3 integration


@pytest.mark.parametrize("algo", [DQN, SAC])
def test_sb3_off_policy_collection_fills_the_buffer(algo, tmp_path):
    delay = 2
    env_class = MemoryCueDiscrete if algo is DQN else MemoryCueContinuous
    venv = make_vec_env(lambda: TimeLimit(env_class(delay=delay), delay + 1 if algo is DQN else 2), n_envs=2, seed=0)
    model = algo(
        "MlpPolicy",
        venv,
        buffer_size=200,
        learning_starts=10_000,  # collect only: training needs an algorithm that samples sequences
        replay_buffer_class=SequenceReplayBuffer,
        replay_buffer_kwargs={"seed": 0},
        policy_kwargs={"net_arch": [8]},
        seed=0,
    )
    model.learn(26)  # 13 steps per env: both envs are mid-episode at the end
    buffer = model.replay_buffer
    assert isinstance(buffer, SequenceReplayBuffer)
    # DQN's env terminates after the query, on the step where its TimeLimit also runs out: that counts as terminated
    # (4 rows an episode). SAC's env is cut by its TimeLimit at the query (3 rows).
    episode_rows, ending = (delay + 2, "terminated") if algo is DQN else (3, "truncated")
    for env in range(2):
        rows = stream(buffer, env)
        position = np.arange(int(buffer.n_stored[env])) % episode_rows
        assert np.array_equal(rows.is_first[0].numpy(), (position == 0).astype(np.float32))
        assert np.array_equal(getattr(rows, ending)[0].numpy(), (position == episode_rows - 1).astype(np.float32))
        assert rows.terminated.sum() + rows.truncated.sum() == (position == episode_rows - 1).sum()

    # A second learn call resets the VecEnv mid-episode: the interrupted episodes end as truncated.
    before = buffer.n_stored.copy()
    model.learn(20, reset_num_timesteps=True)
    for env in range(2):
        rows = stream(buffer, env)
        assert rows.truncated[0, before[env] - 1] == 1 and rows.is_first[0, before[env]] == 1
        ends = (rows.terminated + rows.truncated)[0].numpy()
        assert np.array_equal(ends[:-1], rows.is_first[0, 1:].numpy())  # episodes start right after ends, only there

    path = tmp_path / "buffer.pkl"
    model.save_replay_buffer(path)
    expected = buffer.sample(16, 3)
    model.replay_buffer = None
    model.load_replay_buffer(path)
    # The generator was saved before `expected` was drawn, so the loaded buffer draws the same chunks.
    for a, b in zip(expected, model.replay_buffer.sample(16, 3), strict=True):
        assert th.equal(a, b)


def test_discrete_observations_are_stored_as_indices() -> None:
    buffer = SequenceReplayBuffer(20, spaces.Discrete(4), spaces.Discrete(2), n_envs=2, seed=0)
    infos = [{}, {}]
    buffer.add(np.array([0, 1]), np.array([2, 3]), np.array([1, 0]), np.zeros(2), np.zeros(2), infos)
    assert buffer.observations.shape == (10, 2, 1) and buffer.observations.dtype == np.int64
    assert buffer.observations[:2, :, 0].tolist() == [[0, 1], [2, 3]]
    assert tuple(buffer.sample(3, 2).observations.shape) == (3, 2, 1)


def test_dict_observations_are_stored_per_key_and_survive_pickling() -> None:
    space = spaces.Dict({"image": spaces.Box(0, 255, (2, 3, 3), np.uint8), "cue": spaces.Discrete(4)})
    buffer = SequenceReplayBuffer(20, space, spaces.Discrete(2), n_envs=2, seed=0)
    assert buffer.observations["image"].shape == (10, 2, 2, 3, 3) and buffer.observations["cue"].dtype == np.int64
    infos = [{}, {}]

    def obs(value: int) -> dict[str, np.ndarray]:
        return {"image": np.full((2, 2, 3, 3), value, np.uint8), "cue": np.array([value, value + 1])}

    buffer.add(obs(0), obs(1), np.array([1, 0]), np.ones(2), np.zeros(2), infos)
    buffer.add(obs(1), obs(2), np.array([0, 1]), np.ones(2), np.zeros(2), infos)
    assert buffer.is_first[:3, 0].tolist() == [True, False, False]  # same observation per key: the episode goes on
    buffer.add(obs(3), obs(4), np.array([0, 1]), np.ones(2), np.zeros(2), infos)  # a reset behind its back
    assert buffer.truncated[2, 0] and buffer.is_first[3, 0]
    assert buffer.observations["cue"][:5, 1, 0].tolist() == [1, 2, 3, 4, 5]
    batch = buffer.sample(4, 3)
    assert set(batch.observations) == {"image", "cue"}
    assert tuple(batch.observations["image"].shape) == (4, 3, 2, 3, 3) and batch.observations["image"].dtype == th.uint8
    assert tuple(batch.observations["cue"].shape) == (4, 3, 1)
    # rows of one chunk come from one env: its cue is its image value plus the env index, on every row
    offset = batch.observations["cue"][..., 0] - batch.observations["image"][:, :, 0, 0, 0].long()
    assert ((offset == offset[:, :1]) & ((offset == 0) | (offset == 1))).all()
    restored = pickle.loads(pickle.dumps(buffer))
    for key in ("image", "cue"):
        assert np.array_equal(restored.observations[key], buffer.observations[key])
    with pytest.raises(ValueError, match=r"obs must be a dict with the keys \['cue', 'image'\], got \['image'\]"):
        buffer.add({"image": obs(5)["image"]}, obs(6), np.array([0, 1]), np.ones(2), np.zeros(2), infos)
    with pytest.raises(ValueError, match=r"next_obs\['cue'\] must have shape"):
        buffer.add(obs(5), {**obs(6), "cue": np.zeros((2, 2))}, np.array([0, 1]), np.ones(2), np.zeros(2), infos)
