"""POMDP wrappers: checkers, masking, seeding, noise statistics, argument validation, copies."""

from __future__ import annotations

import copy
import pickle

import gymnasium as gym
import numpy as np
import pytest
from gymnasium import spaces
from hypothesis import given, settings
from hypothesis import strategies as st
from stable_baselines3.common.env_util import make_vec_env
from stable_baselines3.common.vec_env import SubprocVecEnv

from rrl_sb3.wrappers import FlickerObservation, MaskObservation, MaskVelocity, ObservationNoise
from tests.checks import assert_checkers_pass

WRAPPERS = {
    "mask-zero": lambda env: MaskVelocity(env),
    "mask-drop": lambda env: MaskVelocity(env, mode="drop"),
    "noise": lambda env: ObservationNoise(env, std=0.1),
    "noise-clip": lambda env: ObservationNoise(env, std=0.1, clip=True),
    "flicker": lambda env: FlickerObservation(env, p=0.3),
}


class BoxEnv(gym.Env):
    """Deterministic toy env with an arbitrary flat Box observation; its state evolves with its own np_random."""

    def __init__(self, size: int = 3, low: float = -2.0, high: float = 2.0) -> None:
        self.observation_space = spaces.Box(low, high, shape=(size,), dtype=np.float32)
        self.action_space = spaces.Discrete(2)
        self._state = np.zeros(size, dtype=np.float32)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self._state = self.np_random.uniform(-1, 1, self.observation_space.shape).astype(np.float32)
        return self._state.copy(), {}

    def step(self, action):
        drift = self.np_random.uniform(-0.1, 0.1, self._state.shape).astype(np.float32)
        self._state = np.clip(self._state + drift, -1, 1).astype(np.float32)
        return self._state.copy(), 0.0, False, False, {}


def rollout(env: gym.Env, seed: int, n_steps: int = 100, action_seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Observations and unwrapped-env states over ``n_steps`` (several episodes), with seeded random actions."""
    env.action_space.seed(action_seed)
    obs, _ = env.reset(seed=seed)
    observations, states = [obs], [np.array(env.unwrapped.state, dtype=np.float64).copy()]
    for _ in range(n_steps):
        obs, _, terminated, truncated, _ = env.step(env.action_space.sample())
        if terminated or truncated:
            obs, _ = env.reset()
        observations.append(obs)
        states.append(np.array(env.unwrapped.state, dtype=np.float64).copy())
    return np.array(observations), np.array(states)


@pytest.mark.parametrize("env_id", ["CartPole-v1", "Pendulum-v1"])
@pytest.mark.parametrize("name", list(WRAPPERS))
def test_checkers_pass(env_id: str, name: str) -> None:
    assert_checkers_pass(lambda: WRAPPERS[name](gym.make(env_id)))


@pytest.mark.parametrize("env_id, hidden", [("CartPole-v1", [1, 3]), ("Pendulum-v1", [2])])
def test_mask_zero_and_drop_against_base(env_id: str, hidden: list[int]) -> None:
    base_obs, base_states = rollout(gym.make(env_id), seed=3)
    zero_obs, zero_states = rollout(MaskVelocity(gym.make(env_id)), seed=3)
    drop_obs, _ = rollout(MaskVelocity(gym.make(env_id), mode="drop"), seed=3)
    keep = [i for i in range(base_obs.shape[1]) if i not in hidden]
    assert np.all(zero_obs[:, hidden] == 0.0)
    np.testing.assert_array_equal(zero_obs[:, keep], base_obs[:, keep])  # bit-identical
    np.testing.assert_array_equal(drop_obs, base_obs[:, keep])
    np.testing.assert_array_equal(zero_states, base_states)
    assert zero_obs.dtype == base_obs.dtype == drop_obs.dtype


def test_mask_drop_space_keeps_bounds_and_dtype() -> None:
    base = gym.make("CartPole-v1")
    env = MaskObservation(base, indices=[-1, 1], mode="drop")
    assert env.indices.tolist() == [1, 3]
    np.testing.assert_array_equal(env.observation_space.low, base.observation_space.low[[0, 2]])
    np.testing.assert_array_equal(env.observation_space.high, base.observation_space.high[[0, 2]])
    assert env.observation_space.dtype == base.observation_space.dtype


def test_mask_zero_widens_bounds_that_exclude_zero() -> None:
    env = MaskObservation(BoxEnv(size=3, low=0.5, high=2.0), indices=[0])
    assert env.observation_space.low[0] == 0.0 and env.observation_space.low[1] == 0.5
    obs, _ = env.reset(seed=0)
    assert env.observation_space.contains(env.observation(np.full(3, 1.0, dtype=np.float32)))
    assert obs[0] == 0.0


@pytest.mark.parametrize("name", ["noise", "flicker"])
def test_same_seed_same_trajectory_different_seed_different_noise(name: str) -> None:
    make = WRAPPERS[name]
    first, _ = rollout(make(gym.make("Pendulum-v1")), seed=7, n_steps=450)  # 3 episodes of 200 steps
    second, _ = rollout(make(gym.make("Pendulum-v1")), seed=7, n_steps=450)
    np.testing.assert_array_equal(first, second)
    other, _ = rollout(make(gym.make("Pendulum-v1")), seed=8, n_steps=450)
    assert not np.array_equal(first, other)


@pytest.mark.parametrize("name", ["noise", "flicker"])
@pytest.mark.parametrize("env_id", ["CartPole-v1", "Pendulum-v1"])
def test_base_dynamics_unchanged(name: str, env_id: str) -> None:
    _, base_states = rollout(gym.make(env_id), seed=11, n_steps=300)
    _, wrapped_states = rollout(WRAPPERS[name](gym.make(env_id)), seed=11, n_steps=300)
    np.testing.assert_array_equal(base_states, wrapped_states)


def test_reseeding_only_on_explicit_seed() -> None:
    env = ObservationNoise(gym.make("Pendulum-v1"), std=0.5)
    a, _ = env.reset(seed=1)
    b, _ = env.reset()  # continues the stream: new noise on a new episode
    c, _ = env.reset(seed=1)
    np.testing.assert_array_equal(a, c)
    assert not np.array_equal(a, b)


@pytest.mark.parametrize("std", [0.05, np.array([0.1, 0.5, 2.0])])
def test_noise_statistics(std: float | np.ndarray) -> None:
    env = ObservationNoise(BoxEnv(size=3), std=std)
    env.reset(seed=0)
    clean = np.zeros((20_000, 3), dtype=np.float32)
    noise = np.array([env.observation(row) - row for row in clean], dtype=np.float64)
    expected = np.broadcast_to(std, (3,))
    # Standard errors: mean std/sqrt(n) ~ 0.7% of std, std ~ 0.5% of std; 5% tolerances cannot pass by accident
    # (a noise scale off by 5% or a biased mean of 5% of std fails).
    np.testing.assert_allclose(noise.std(axis=0), expected, rtol=0.05)
    assert np.all(np.abs(noise.mean(axis=0)) < 0.05 * expected)
    wrong = ObservationNoise(BoxEnv(size=3), std=np.asarray(std) * 1.1)
    wrong.reset(seed=0)
    wrong_noise = np.array([wrong.observation(row) for row in clean[:20_000]], dtype=np.float64)
    assert not np.allclose(wrong_noise.std(axis=0), expected, rtol=0.05)


def test_noise_space_unbounded_unless_clipped() -> None:
    env = ObservationNoise(gym.make("Pendulum-v1"), std=[0.0, 0.0, 3.0])
    assert np.isinf(env.observation_space.high[2]) and env.observation_space.high[0] == 1.0
    clipped = ObservationNoise(gym.make("Pendulum-v1"), std=100.0, clip=True)
    obs, _ = clipped.reset(seed=0)
    for _ in range(50):
        assert clipped.observation_space.contains(obs)
        obs, *_ = clipped.step(clipped.action_space.sample())


def test_flicker_rate() -> None:
    env = FlickerObservation(BoxEnv(size=2), p=0.3)
    env.reset(seed=0)
    ones = np.ones(2, dtype=np.float32)
    blanked = np.mean([not env.observation(ones).any() for _ in range(20_000)])
    assert abs(blanked - 0.3) < 0.015  # standard error 0.0032
    assert FlickerObservation(BoxEnv(), p=0.0).observation(ones).sum() != 0


@settings(max_examples=40, deadline=None)
@given(
    size=st.integers(1, 12),
    std=st.floats(0.0, 10.0, allow_nan=False),
    seed=st.integers(0, 2**31 - 1),
    p=st.floats(0.0, 1.0),
    data=st.data(),
)
def test_wrapper_properties(size: int, std: float, seed: int, p: float, data: st.DataObject) -> None:
    noisy = ObservationNoise(BoxEnv(size), std=std)
    a, _ = noisy.reset(seed=seed)
    b, _ = ObservationNoise(BoxEnv(size), std=std).reset(seed=seed)
    np.testing.assert_array_equal(a, b)
    assert a.shape == (size,) and a.dtype == np.float32 and noisy.observation_space.contains(a)

    flicker = FlickerObservation(BoxEnv(size), p=p)
    obs, _ = flicker.reset(seed=seed)
    assert obs.shape == (size,) and flicker.observation_space.contains(obs)

    if size > 1:
        hidden = data.draw(st.lists(st.integers(0, size - 1), min_size=1, max_size=size - 1, unique=True))
        base_obs, _ = BoxEnv(size).reset(seed=seed)
        zero = MaskObservation(BoxEnv(size), indices=hidden)
        drop = MaskObservation(BoxEnv(size), indices=hidden, mode="drop")
        z, _ = zero.reset(seed=seed)
        d, _ = drop.reset(seed=seed)
        keep = [i for i in range(size) if i not in hidden]
        assert np.all(z[hidden] == 0) and np.array_equal(z[keep], base_obs[keep]) and np.array_equal(d, base_obs[keep])
        assert drop.observation_space.shape == (len(keep),) and drop.observation_space.contains(d)


@pytest.mark.parametrize(
    "make, error, match",
    [
        (lambda e: ObservationNoise(e, std=-0.1), ValueError, "std"),
        (lambda e: ObservationNoise(e, std=float("nan")), ValueError, "std=nan"),
        (lambda e: ObservationNoise(e, std=float("inf")), ValueError, "std=inf"),
        (lambda e: ObservationNoise(e, std=[0.1, 0.2]), ValueError, "std"),
        (lambda e: ObservationNoise(e, std="big"), TypeError, "std='big'"),
        (lambda e: FlickerObservation(e, p=1.5), ValueError, "p=1.5"),
        (lambda e: FlickerObservation(e, p=-0.1), ValueError, "p=-0.1"),
        (lambda e: FlickerObservation(e, p=float("nan")), ValueError, "p=nan"),
        (lambda e: FlickerObservation(e, p="0.5"), TypeError, "p='0.5'"),
        (lambda e: MaskObservation(e, indices=[5]), ValueError, "indices"),
        (lambda e: MaskObservation(e, indices=[-6]), ValueError, "indices"),
        (lambda e: MaskObservation(e, indices=[1, 1]), ValueError, "indices"),
        (lambda e: MaskObservation(e, indices=[2, -1]), ValueError, "unique"),
        (lambda e: MaskObservation(e, indices=[]), ValueError, "indices"),
        (lambda e: MaskObservation(e, indices=[0, 1, 2]), ValueError, "indices"),
        (lambda e: MaskObservation(e, indices=[0.5]), TypeError, "indices"),
        (lambda e: MaskObservation(e, indices=[True]), TypeError, "indices"),
        (lambda e: MaskObservation(e, indices=[0], mode="blank"), ValueError, "mode='blank'"),
        (lambda e: MaskVelocity(e), ValueError, "env.spec is None"),
        (lambda e: MaskVelocity(e, env_id="Foo-v0"), ValueError, "MaskObservation"),
    ],
)
def test_bad_arguments(make, error: type[Exception], match: str) -> None:
    with pytest.raises(error, match=match.replace("[", r"\[").replace("(", r"\(")):
        make(BoxEnv(size=3))


@pytest.mark.parametrize("wrapper", [MaskVelocity, lambda e: ObservationNoise(e, 0.1), lambda e: FlickerObservation(e, 0.5)])
@pytest.mark.parametrize(
    "space",
    [spaces.Discrete(3), spaces.Box(0, 1, shape=(2, 2)), spaces.Dict({"a": spaces.Box(0, 1, shape=(2,))})],
)
def test_unsupported_observation_spaces(wrapper, space: spaces.Space) -> None:
    env = BoxEnv()
    env.observation_space = space
    with pytest.raises(TypeError, match="observation_space"):
        wrapper(env) if wrapper is not MaskVelocity else MaskVelocity(env, env_id="CartPole-v1")


def test_unknown_env_id_lists_supported() -> None:
    with pytest.raises(ValueError, match=r"Supported ids: .*CartPole-v1.*MaskObservation"):
        MaskVelocity(gym.make("Acrobot-v1"), env_id="Taxi-v3")


@pytest.mark.parametrize("name", list(WRAPPERS))
def test_pickle_and_deepcopy(name: str) -> None:
    env = WRAPPERS[name](gym.make("Pendulum-v1"))
    env.reset(seed=5)
    clones = [pickle.loads(pickle.dumps(env)), copy.deepcopy(env)]
    action = np.array([0.3], dtype=np.float32)
    for _ in range(5):  # the clones carry the env state and the wrapper's generator: they continue identically
        expected = env.step(action)[0]
        for clone in clones:
            np.testing.assert_array_equal(clone.step(action)[0], expected)


def test_spec_round_trip_rebuilds_wrapper() -> None:
    env = MaskVelocity(gym.make("CartPole-v1"), mode="drop")
    rebuilt = gym.make(env.spec)
    assert rebuilt.observation_space == env.observation_space
    assert rebuilt.spec.additional_wrappers[-1].name == "MaskVelocity"


@pytest.mark.parametrize(
    ("env_id", "kwargs", "base_id"),
    [("rrl_sb3/PendulumNoVel-v1", {}, "Pendulum-v1"), ("rrl_sb3/CartPoleNoVel-v1", {"mode": "drop"}, "CartPole-v1")],
)
def test_registered_id_spec_round_trip(env_id: str, kwargs: dict, base_id: str) -> None:
    env = gym.make(env_id, **kwargs)
    assert env.spec.kwargs == {"base_id": base_id, "kind": "novel", **kwargs}
    # MaskVelocity records its own constructor arguments (not MaskObservation's indices)
    (wrapper,) = env.spec.additional_wrappers
    assert (wrapper.name, wrapper.kwargs) == ("MaskVelocity", {"mode": kwargs.get("mode", "zero"), "env_id": base_id})
    rebuilt = gym.make(env.spec)
    assert rebuilt.spec == env.spec and rebuilt.spec.kwargs == env.spec.kwargs
    assert rebuilt.observation_space == env.observation_space
    np.testing.assert_array_equal(rebuilt.reset(seed=4)[0], env.reset(seed=4)[0])


def test_mask_velocity_records_its_own_arguments() -> None:
    env = MaskVelocity(gym.make("Pendulum-v1"), mode="drop")
    assert env._saved_kwargs == {"mode": "drop", "env_id": None}
    assert MaskObservation(gym.make("Pendulum-v1"), indices=[2])._saved_kwargs == {"indices": [2], "mode": "zero"}


def test_subproc_vec_env() -> None:
    vec = make_vec_env(
        "Pendulum-v1", n_envs=2, seed=0, vec_env_cls=SubprocVecEnv, wrapper_class=ObservationNoise, wrapper_kwargs={"std": 0.1}
    )
    try:
        obs = vec.reset()
        assert obs.shape == (2, 3)
        obs, *_ = vec.step(np.zeros((2, 1), dtype=np.float32))
        assert np.isfinite(obs).all()
    finally:
        vec.close()


class IntBoxEnv(BoxEnv):
    """BoxEnv with an integer observation space (noise has no faithful integer value)."""

    def __init__(self) -> None:
        super().__init__()
        self.observation_space = spaces.Box(-5, 5, shape=(3,), dtype=np.int64)


#: (wrapper call on a fresh BoxEnv(size=3), error type, parameter, value as the message shows it)
BAD_WRAPPER_ARGUMENTS = [
    (lambda e: ObservationNoise(e, std=0.1, clip="no"), TypeError, "clip", "'no'"),
    (lambda e: ObservationNoise(e, std=0.1, clip="False"), TypeError, "clip", "'False'"),
    (lambda e: ObservationNoise(e, std=0.1, clip=1), TypeError, "clip", "1"),
    (lambda e: ObservationNoise(e, std=0.1, clip=None), TypeError, "clip", "None"),
    (lambda e: ObservationNoise(e, std="0.1"), TypeError, "std", "'0.1'"),
    (lambda e: ObservationNoise(e, std=True), TypeError, "std", "True"),
    (lambda e: ObservationNoise(e, std=None), TypeError, "std", "None"),
    (lambda e: ObservationNoise(e, std=[0.1, "a", 0.2]), TypeError, "std", "'a'"),
    (lambda e: ObservationNoise(e, std=[[0.1, 0.1, 0.1]]), ValueError, "std", "[[0.1, 0.1, 0.1]]"),
    (lambda e: ObservationNoise(e, std=[0.1, -0.1, 0.1]), ValueError, "std", "-0.1"),
    (lambda e: ObservationNoise(e, std=-np.inf), ValueError, "std", "-inf"),
    (lambda e: ObservationNoise(IntBoxEnv(), std=0.1), TypeError, "observation_space.dtype", "int64"),
    (lambda e: FlickerObservation(e, p=True), TypeError, "p", "True"),
    (lambda e: FlickerObservation(e, p=None), TypeError, "p", "None"),
    (lambda e: FlickerObservation(e, p=float("inf")), ValueError, "p", "inf"),
    (lambda e: FlickerObservation(e, p=[0.5]), TypeError, "p", "[0.5]"),
    (lambda e: MaskObservation(e, indices=1), TypeError, "indices", "1"),
    (lambda e: MaskObservation(e, indices="01"), TypeError, "indices", "'01'"),
    (lambda e: MaskObservation(e, indices=None), TypeError, "indices", "None"),
    (lambda e: MaskObservation(e, indices=[np.float64(1.0)]), TypeError, "indices", "1.0"),
    (lambda e: MaskObservation(e, indices=[0], mode=None), ValueError, "mode", "None"),
    (lambda e: MaskObservation(e, indices=[0], mode=["zero"]), ValueError, "mode", "['zero']"),
    (lambda e: MaskObservation(e, indices=[0], mode="ZERO"), ValueError, "mode", "'ZERO'"),
    (lambda e: MaskVelocity(gym.make("Acrobot-v1"), env_id="CartPole-v1"), ValueError, "env_id", "'CartPole-v1'"),
    (lambda e: MaskVelocity(gym.make("Pendulum-v1"), env_id="MountainCar-v0"), ValueError, "env_id", "'MountainCar-v0'"),
    (lambda e: MaskVelocity(e, env_id="CartPole-v1"), ValueError, "env_id", "'CartPole-v1'"),
    (lambda e: MaskVelocity(gym.make("CartPole-v1"), env_id=3), TypeError, "env_id", "3"),
    (lambda e: MaskVelocity(gym.make("CartPole-v1"), mode="none"), ValueError, "mode", "'none'"),
]


@pytest.mark.parametrize(("make", "error", "parameter", "value"), BAD_WRAPPER_ARGUMENTS)
def test_bad_wrapper_arguments_name_the_parameter_and_value(make, error: type[Exception], parameter: str, value: str) -> None:
    with pytest.raises(error) as raised:
        make(BoxEnv(size=3))
    assert type(raised.value) is error
    assert parameter in str(raised.value) and value in str(raised.value)


def test_mask_velocity_accepts_its_own_id_and_a_class_registered_under_another_id() -> None:
    assert MaskVelocity(gym.make("CartPole-v1"), env_id="CartPole-v1").indices.tolist() == [1, 3]
    # LunarLanderContinuous-v3 is LunarLander(continuous=True): the same class, the same observation
    pytest.importorskip("Box2D")
    env = gym.make("LunarLanderContinuous-v3")
    assert MaskVelocity(env, env_id="LunarLander-v3").indices.tolist() == [2, 3, 5]


def test_noise_accepts_numpy_booleans_and_numbers() -> None:
    env = ObservationNoise(BoxEnv(), std=np.float32(0.1), clip=np.True_)
    assert env.clip is True and np.all(env.std == np.float32(0.1))
