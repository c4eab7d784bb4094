"""Registered rrl_sb3/ ids, velocity tables against the simulators, and the memory-probe envs."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.error import DependencyNotInstalled
from stable_baselines3.common.env_util import make_vec_env
from stable_baselines3.common.preprocessing import is_image_space

import rrl_sb3
from rrl_sb3.envs import MemoryCueContinuous, MemoryCueDiscrete, list_env_ids, pomdp_id
from rrl_sb3.wrappers import MUJOCO_VELOCITY_INDICES, VELOCITY_INDICES, FlickerObservation, MaskVelocity, ObservationNoise
from tests.checks import assert_checkers_pass

AVAILABLE_IDS = list_env_ids(available_only=True)


def test_registered_ids() -> None:
    ids = list_env_ids()
    for base in [*VELOCITY_INDICES, *MUJOCO_VELOCITY_INDICES]:
        assert pomdp_id("novel", base) in ids
    assert {
        "rrl_sb3/PendulumNoVel-v1",
        "rrl_sb3/CartPoleNoVel-v1",
        "rrl_sb3/PendulumNoisy-v1",
        "rrl_sb3/CartPoleNoisy-v1",
        "rrl_sb3/PendulumFlicker-v1",
        "rrl_sb3/CartPoleFlicker-v1",
        "rrl_sb3/MemoryCue-v0",
        "rrl_sb3/MemoryCueContinuous-v0",
        "rrl_sb3/MiniGrid-MemoryS7Pixels-v0",
    } <= set(ids)
    assert all(i.startswith("rrl_sb3/") for i in ids)
    assert list_env_ids("flicker") == ["rrl_sb3/CartPoleFlicker-v1", "rrl_sb3/PendulumFlicker-v1"]
    assert list_env_ids("memory") == ["rrl_sb3/MemoryCue-v0", "rrl_sb3/MemoryCueContinuous-v0"]
    assert len(list_env_ids("pixels")) == 6
    with pytest.raises(ValueError, match="kind='velocity'"):
        list_env_ids("velocity")
    rrl_sb3.register_envs()  # idempotent
    assert list_env_ids() == ids


@pytest.mark.parametrize("env_id", AVAILABLE_IDS)
def test_every_id_passes_checkers(env_id: str) -> None:
    assert_checkers_pass(lambda: gym.make(env_id))


@pytest.mark.parametrize("env_id", [i for i in AVAILABLE_IDS if "Memory" not in i])
def test_spec_carried_over_from_base(env_id: str) -> None:
    env = gym.make(env_id)  # first: MiniGrid's base ids exist once the pixel id has imported minigrid
    spec = gym.spec(env_id)
    base = gym.spec(spec.kwargs["base_id"])
    assert spec.max_episode_steps == base.max_episode_steps
    assert spec.reward_threshold == base.reward_threshold
    assert env.spec.id == env_id
    rebuilt = gym.make(env.spec)
    assert rebuilt.observation_space == env.observation_space


def test_time_limit_applied_once_outside_the_wrapper() -> None:
    env = gym.make("rrl_sb3/PendulumNoVel-v1")
    assert isinstance(env, gym.wrappers.TimeLimit)
    inner = env.env
    while isinstance(inner, gym.Wrapper):
        assert not isinstance(inner, gym.wrappers.TimeLimit)
        inner = inner.env
    env.reset(seed=0)
    for t in range(200):
        _, _, terminated, truncated, _ = env.step(env.action_space.sample())
        assert not terminated and truncated == (t == 199)


def test_make_kwargs_reach_wrapper_and_base_env() -> None:
    noisy = gym.make("rrl_sb3/PendulumNoisy-v1", noise_std=0.3, render_mode="rgb_array")
    assert np.all(noisy.get_wrapper_attr("std") == 0.3)
    noisy.reset(seed=0)
    assert noisy.render().ndim == 3
    dropped = gym.make("rrl_sb3/CartPoleNoVel-v1", mode="drop")
    assert dropped.observation_space.shape == (2,)
    flicker = gym.make("rrl_sb3/CartPoleFlicker-v1", flicker_p=0.25)
    assert flicker.get_wrapper_attr("p") == 0.25
    assert gym.make("rrl_sb3/PendulumNoVel-v1", g=5.0).unwrapped.g == 5.0
    with pytest.raises(TypeError, match="noise_std"):
        gym.make("rrl_sb3/PendulumNoVel-v1", noise_std=0.1)
    with pytest.raises(ValueError, match="std=-1"):
        gym.make("rrl_sb3/PendulumNoisy-v1", noise_std=-1)


def test_default_variants() -> None:
    assert isinstance(gym.make("rrl_sb3/PendulumNoisy-v1").env.env.env, ObservationNoise)
    assert isinstance(gym.make("rrl_sb3/CartPoleFlicker-v1").env.env.env, FlickerObservation)
    assert isinstance(gym.make("rrl_sb3/CartPoleNoVel-v1").env.env.env, MaskVelocity)


def test_module_prefixed_id_in_fresh_interpreter() -> None:
    code = (
        "import gymnasium as gym\n"
        "from stable_baselines3.common.env_util import make_vec_env\n"
        "env = gym.make('rrl_sb3:rrl_sb3/PendulumNoVel-v1')\n"
        "obs, _ = env.reset(seed=0)\n"
        "assert obs[2] == 0.0 and env.spec.id == 'rrl_sb3/PendulumNoVel-v1'\n"
        "vec = make_vec_env('rrl_sb3:rrl_sb3/CartPoleNoVel-v1', n_envs=2)\n"
        "assert (vec.reset()[:, [1, 3]] == 0).all()\n"
        "print('ok')\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0 and result.stdout.strip() == "ok", result.stderr


def test_sb3_string_id() -> None:
    vec = make_vec_env("rrl_sb3/PendulumNoisy-v1", n_envs=2, seed=0)
    assert vec.reset().shape == (2, 3)


def test_missing_dependency_gives_install_hint(monkeypatch: pytest.MonkeyPatch) -> None:
    real = gym.envs.registration.load_env_creator

    def missing_simulators(entry_point):
        if "box2d" in entry_point or "mujoco" in entry_point:
            raise DependencyNotInstalled("the simulator is not installed")
        return real(entry_point)

    monkeypatch.setattr(gym.envs.registration, "load_env_creator", missing_simulators)
    with pytest.raises(DependencyNotInstalled, match=r"rrl_sb3/LunarLanderNoVel-v3 .*rrl-sb3\[box2d\]"):
        gym.make("rrl_sb3/LunarLanderNoVel-v3")
    with pytest.raises(DependencyNotInstalled, match=r"rrl-sb3\[mujoco\]"):
        gym.make("rrl_sb3/HopperNoVel-v5")
    assert "rrl_sb3/HopperNoVel-v5" not in list_env_ids(available_only=True)
    assert "rrl_sb3/HopperNoVel-v5" in list_env_ids()


def test_minigrid_pixels() -> None:
    pytest.importorskip("minigrid")
    env = gym.make("rrl_sb3/MiniGrid-MemoryS7Pixels-v0")
    assert env.observation_space == gym.spaces.Box(0, 255, (56, 56, 3), np.uint8) and is_image_space(env.observation_space)
    obs, _ = env.reset(seed=3)
    # the observation is the agent's partial view, not the whole grid
    assert np.array_equal(obs, env.unwrapped.get_frame(tile_size=8, agent_pov=True))
    assert not np.array_equal(obs, env.unwrapped.get_frame(tile_size=8, agent_pov=False)[:56, :56])
    again, _ = gym.make("rrl_sb3/MiniGrid-MemoryS7Pixels-v0").reset(seed=3)
    assert np.array_equal(obs, again)
    # the cue object sits in the start room, behind the agent at reset (it must turn to see it)
    grid = env.unwrapped.grid
    cue = grid.get(1, env.unwrapped.height // 2 - 1)
    assert cue is not None and cue.type in ("key", "ball")
    assert gym.make("rrl_sb3/MiniGrid-MemoryS7Pixels-v0", tile_size=4).observation_space.shape == (28, 28, 3)
    for bad in (0, 2.5, True):
        with pytest.raises(ValueError, match=rf"tile_size={bad!r}"):
            gym.make("rrl_sb3/MiniGrid-MemoryS7Pixels-v0", tile_size=bad)


def test_minigrid_missing_gives_install_hint(monkeypatch: pytest.MonkeyPatch) -> None:
    import rrl_sb3.envs.minigrid as pixels

    real = pixels.importlib.import_module

    def no_minigrid(name: str, *args: Any) -> Any:
        if name == "minigrid":
            raise ImportError(f"No module named {name!r}")
        return real(name, *args)

    monkeypatch.setattr(pixels.importlib, "import_module", no_minigrid)
    with pytest.raises(DependencyNotInstalled, match=r"rrl_sb3/MiniGrid-MemoryS7Pixels-v0: .*rrl-sb3\[minigrid\]"):
        gym.make("rrl_sb3/MiniGrid-MemoryS7Pixels-v0")
    assert "rrl_sb3/MiniGrid-MemoryS7Pixels-v0" not in list_env_ids(available_only=True)
    assert "rrl_sb3/MiniGrid-MemoryS7Pixels-v0" in list_env_ids()


# --- velocity indices against the simulators ------------------------------------------------------------------------

CLIPPED_QVEL = {"Hopper-v5", "Walker2d-v5", "InvertedDoublePendulum-v5"}  # these envs clip qvel to [-10, 10]


@pytest.mark.parametrize("base_id", sorted(MUJOCO_VELOCITY_INDICES))
def test_mujoco_velocity_indices_match_qvel(base_id: str) -> None:
    pytest.importorskip("mujoco")
    env = gym.make(base_id)
    env_id = pomdp_id("novel", base_id)
    indices = MaskVelocity(env).indices
    obs, _ = env.reset(seed=0)
    env.action_space.seed(0)
    for _ in range(5):
        obs, *_ = env.step(env.action_space.sample())
    data = env.unwrapped.data
    qvel = np.clip(data.qvel, -10, 10) if base_id in CLIPPED_QVEL else data.qvel
    nv = env.unwrapped.model.nv
    np.testing.assert_allclose(obs[indices[:nv]], qvel)
    assert not np.allclose(qvel, 0)  # a nontrivial check: the bodies move
    if base_id.startswith("Humanoid"):
        np.testing.assert_allclose(obs[indices[nv:]], data.cvel[1:].ravel())
    else:
        assert len(indices) == nv
    masked, _ = gym.make(env_id).reset(seed=0)
    assert np.all(masked[indices] == 0)


def test_mujoco_indices_follow_observation_options() -> None:
    pytest.importorskip("mujoco")
    env = gym.make("HalfCheetah-v5", exclude_current_positions_from_observation=False)
    indices = MaskVelocity(env).indices
    env.reset(seed=0)
    obs, *_ = env.step(env.action_space.sample())
    np.testing.assert_allclose(obs[indices], env.unwrapped.data.qvel)


def test_classic_velocity_indices_match_state() -> None:
    # classic-control envs expose their state: the masked components are exactly the velocities
    for base_id, velocity_in_state in [("CartPole-v1", [1, 3]), ("MountainCar-v0", [1]), ("Acrobot-v1", [2, 3])]:
        env = gym.make(base_id)
        obs, _ = env.reset(seed=0)
        obs, *_ = env.step(1)
        np.testing.assert_allclose(
            obs[list(VELOCITY_INDICES[base_id])], np.asarray(env.unwrapped.state)[velocity_in_state], rtol=1e-6
        )


# --- memory probes ----------------------------------------------------------------------------------------------------


def run_episodes(env: gym.Env, policy, n_episodes: int, seed: int = 0) -> np.ndarray:
    """Returns of ``policy(obs, first_obs) -> action`` over ``n_episodes``; ``first_obs`` is the episode's first
    observation, which only a policy with memory may use."""
    returns = []
    obs, _ = env.reset(seed=seed)
    for _ in range(n_episodes):
        first, total, done = obs, 0.0, False
        while not done:
            obs, reward, terminated, truncated, _ = env.step(policy(obs, first))
            total += reward
            done = terminated or truncated
        returns.append(total)
        obs, _ = env.reset()
    return np.array(returns)


@pytest.mark.parametrize("n_cues, delay", [(2, 1), (2, 4), (4, 8)])
def test_memory_cue_discrete_returns(n_cues: int, delay: int) -> None:
    env = MemoryCueDiscrete(n_cues=n_cues, delay=delay)
    with_memory = run_episodes(env, lambda obs, first: int(np.argmax(first[:n_cues])), 500)
    assert env.best_memory_return == 1.0
    assert np.all(with_memory == 1.0)
    memoryless = run_episodes(env, lambda obs, first: 0, 4000)  # every memoryless policy is no better than chance
    assert abs(memoryless.mean() - env.best_memoryless_return) < 0.05  # standard error ~0.016
    # the query observation carries no information about the cue
    env.reset(seed=1)
    queries = set()
    for _ in range(20):
        obs, _ = env.reset()
        for _ in range(delay):
            obs, *_ = env.step(0)
        queries.add(tuple(obs))
    assert len(queries) == 1


def test_memory_cue_continuous_returns() -> None:
    env = MemoryCueContinuous(delay=3)
    with_memory = run_episodes(env, lambda obs, first: [1.0 if first[1] == 1.0 else -1.0], 200)
    assert env.best_memory_return == 1.0
    assert np.all(with_memory == 1.0)
    zero = run_episodes(env, lambda obs, first: [0.0], 200)
    assert env.best_memoryless_return == 0.0
    assert np.all(zero == 0.0)
    rng = np.random.default_rng(0)
    random_policy = run_episodes(env, lambda obs, first: rng.uniform(-1, 1, 1), 4000)
    assert abs(random_policy.mean() + 1 / 3) < 0.05
    for a in (-1.0, -0.5, 0.5, 1.0):  # any constant action does worse without memory
        assert run_episodes(env, lambda obs, first, a=a: [a], 2000).mean() < -0.2


def test_memory_cue_episode_structure_and_errors() -> None:
    env = gym.make("rrl_sb3/MemoryCue-v0", delay=2)
    obs, info = env.reset(seed=0)
    assert obs.shape == (3,) and obs[info["cue"]] == 1.0
    steps = 0
    done = False
    while not done:
        obs, _, terminated, truncated, _ = env.step(0)
        steps += 1
        done = terminated or truncated
        assert truncated is False
    assert steps == 3 and terminated
    with pytest.raises(ValueError, match="delay=0"):
        MemoryCueDiscrete(delay=0)
    with pytest.raises(ValueError, match="n_cues=1"):
        MemoryCueDiscrete(n_cues=1)
    raw = MemoryCueDiscrete()
    raw.reset(seed=0)
    with pytest.raises(ValueError, match="action 5"):
        raw.step(5)


@pytest.mark.parametrize("cls", [MemoryCueDiscrete, MemoryCueContinuous])
@pytest.mark.parametrize("observation", ["discrete", "image"])
def test_memory_cue_other_observation_kinds(cls: type, observation: str) -> None:
    """The cue through a Discrete observation or an image: visible at the first step only, and the query looks the
    same whatever the cue (so only memory can answer it)."""
    env = cls(delay=2, observation=observation)
    assert_checkers_pass(lambda: cls(delay=2, observation=observation))
    seen: dict[int, list[Any]] = {}
    for seed in range(8):
        obs, info = env.reset(seed=seed)
        episode = [obs]
        for _ in range(2):
            obs, *_ = env.step(env.action_space.sample())
            episode.append(obs)
        seen.setdefault(info["cue"], episode)
    assert sorted(seen) == [0, 1]
    first = [np.asarray(episode[0]) for episode in seen.values()]
    assert not np.array_equal(first[0], first[1])  # the cue is shown
    for step in (1, 2):  # the blank step and the query are the same for both cues
        np.testing.assert_array_equal(np.asarray(seen[0][step]), np.asarray(seen[1][step]))
    assert not np.array_equal(np.asarray(seen[0][1]), np.asarray(seen[0][2]))  # the query differs from a blank step
    if observation == "discrete":
        assert env.observation_space == gym.spaces.Discrete(4) and [seen[0][0], seen[0][1], seen[0][2]] == [0, 2, 3]
    else:
        assert env.observation_space.shape == (36, 36, 1) and env.observation_space.dtype == np.uint8
        assert is_image_space(env.observation_space)
    with pytest.raises(ValueError, match="observation='pixels'"):
        cls(observation="pixels")
    with pytest.raises(ValueError, match="image_size=2"):
        cls(observation="image", image_size=2)


def test_memory_cue_render() -> None:
    env = gym.make("rrl_sb3/MemoryCue-v0", render_mode="rgb_array")
    _, info = env.reset(seed=0)
    frame = env.render()
    assert frame.shape == (16, 48, 3) and frame.dtype == np.uint8
    assert frame[:, 16 * info["cue"] :].max() == 255 and frame[:, 32:].max() == 0
    ansi = MemoryCueContinuous(render_mode="ansi")
    ansi.reset(seed=0)
    assert ansi.render().startswith("t=0 obs=")
    with pytest.raises(ValueError, match="render_mode='human'"):
        MemoryCueDiscrete(render_mode="human")


#: (registered id, gym.make keyword arguments, error type, the keyword named in the message, the value as shown)
BAD_MAKE_KWARGS = [
    ("rrl_sb3/PendulumNoisy-v1", {"noise_clip": "no"}, TypeError, "noise_clip", "'no'"),
    ("rrl_sb3/PendulumNoisy-v1", {"noise_clip": "yes"}, TypeError, "noise_clip", "'yes'"),
    ("rrl_sb3/CartPoleNoisy-v1", {"noise_clip": 0}, TypeError, "noise_clip", "0"),
    ("rrl_sb3/PendulumNoisy-v1", {"noise_std": "0.1"}, TypeError, "noise_std", "'0.1'"),
    ("rrl_sb3/PendulumNoisy-v1", {"noise_std": float("nan")}, ValueError, "noise_std", "nan"),
    ("rrl_sb3/PendulumNoisy-v1", {"noise_std": [0.1, 0.2]}, ValueError, "noise_std", "[0.1, 0.2]"),
    ("rrl_sb3/CartPoleNoisy-v1", {"noise_std": -0.5}, ValueError, "noise_std", "-0.5"),
    ("rrl_sb3/CartPoleFlicker-v1", {"flicker_p": 2}, ValueError, "flicker_p", "2"),
    ("rrl_sb3/CartPoleFlicker-v1", {"flicker_p": "half"}, TypeError, "flicker_p", "'half'"),
    ("rrl_sb3/PendulumFlicker-v1", {"flicker_p": float("inf")}, ValueError, "flicker_p", "inf"),
    ("rrl_sb3/CartPoleNoVel-v1", {"mode": "blank"}, ValueError, "mode", "'blank'"),
    ("rrl_sb3/PendulumNoVel-v1", {"mode": 0}, ValueError, "mode", "0"),
    ("rrl_sb3/PendulumNoVel-v1", {"flicker_p": 0.5}, TypeError, "flicker_p", "flicker_p"),
    ("rrl_sb3/CartPoleFlicker-v1", {"noise_clip": True}, TypeError, "noise_clip", "noise_clip"),
    ("rrl_sb3/PendulumNoVel-v1", {"gravity": 1.0}, TypeError, "gravity", "gravity"),
]


@pytest.mark.parametrize(("env_id", "kwargs", "error", "keyword", "value"), BAD_MAKE_KWARGS)
def test_bad_make_kwargs_name_the_keyword_and_value(
    env_id: str, kwargs: dict, error: type[Exception], keyword: str, value: str
) -> None:
    with pytest.raises(error) as raised:
        gym.make(env_id, **kwargs)
    assert keyword in str(raised.value) and value in str(raised.value)


def test_make_pomdp_checks_its_own_arguments() -> None:
    from rrl_sb3.envs.registration import make_pomdp

    with pytest.raises(ValueError, match="kind='masked'"):
        make_pomdp("Pendulum-v1", "masked")
    with pytest.raises(ValueError, match="base_id='Pendulum-v9'"):
        make_pomdp("Pendulum-v9", "novel")
    assert make_pomdp("Pendulum-v1", "noisy", noise_std=0.1, noise_clip=True).clip is True
