"""REINFORCE's own checks: returns and truncation, the recurrent policies, options, errors.

What every algorithm must do (SB3 contract, save/load, seeding, memory probes) is in test_contract.py.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
import pytest
import torch as th
from stable_baselines3.common.env_util import make_vec_env
from stable_baselines3.common.envs import SimpleMultiObsEnv

import rrl_sb3  # noqa: F401  (registers the rrl_sb3/ ids)
from rrl_sb3.envs import MemoryCueDiscrete
from rrl_sb3.reinforce import REINFORCE, ReinforcePolicy, monte_carlo_returns
from tests.checks import ACTION_SPACES, OBSERVATION_SPACES, SpaceEnv, assert_carries_state_and_round_trips

TINY = {"rnn_hidden_size": 8, "net_arch": [8]}
RECURRENT = ("MlpGruPolicy", "MlpLstmPolicy")


@pytest.fixture(autouse=True, scope="module")
def _one_torch_thread():
    previous = th.get_num_threads()
    th.set_num_threads(1)
    yield
    th.set_num_threads(previous)


def tiny_model(env: Any, policy: str = "MlpGruPolicy", seed: int = 0, **kwargs: Any) -> REINFORCE:
    kwargs = {"n_episodes": 2, "seed": seed, "device": "cpu", "policy_kwargs": TINY, **kwargs}
    return REINFORCE(policy, env, **kwargs)


# --- returns and truncation ----------------------------------------------------------------------------------------


def test_returns_bootstrap_truncation_only() -> None:
    gamma = 0.5
    # Two episodes of 3 and 2 steps, zero-padded; the final observations are worth 8 and 4.
    rewards = th.tensor([[1.0, 2.0], [1.0, 2.0], [1.0, 0.0]])
    lengths = th.tensor([3, 2])
    final_values = th.tensor([8.0, 4.0])

    terminated = monte_carlo_returns(rewards, lengths, gamma, th.tensor([False, False]), final_values)
    # Episode 0: G2 = 1, G1 = 1 + 0.5 * 1 = 1.5, G0 = 1 + 0.75 = 1.75; episode 1: G1 = 2, G0 = 2 + 1 = 3.
    th.testing.assert_close(terminated, th.tensor([[1.75, 3.0], [1.5, 2.0], [1.0, 0.0]]))

    truncated = monte_carlo_returns(rewards, lengths, gamma, th.tensor([True, True]), final_values)
    # Episode 0: G2 = 1 + 0.5 * 8 = 5, G1 = 1 + 2.5 = 3.5, G0 = 1 + 1.75 = 2.75; episode 1: G1 = 2 + 2 = 4, G0 = 4.
    th.testing.assert_close(truncated, th.tensor([[2.75, 4.0], [3.5, 4.0], [5.0, 0.0]]))

    # Mixed, and without a baseline (no value estimate): the truncated return is the plain discounted sum.
    mixed = monte_carlo_returns(rewards, lengths, gamma, th.tensor([False, True]), final_values)
    th.testing.assert_close(mixed, th.tensor([[1.75, 4.0], [1.5, 4.0], [1.0, 0.0]]))
    no_baseline = monte_carlo_returns(rewards, lengths, gamma, th.tensor([True, True]), None)
    th.testing.assert_close(no_baseline, terminated)


class _Constant(gym.Env):
    """Reward 1 per step; terminates after ``horizon`` steps when ``terminate``, else only a TimeLimit ends it."""

    observation_space = gym.spaces.Box(-1.0, 1.0, (1,), np.float32)
    action_space = gym.spaces.Discrete(2)

    def __init__(self, terminate: bool = True, horizon: int = 3) -> None:
        self.terminate, self.horizon, self.t = terminate, horizon, 0

    def reset(self, *, seed: int | None = None, options: dict | None = None) -> tuple[np.ndarray, dict]:
        super().reset(seed=seed)
        self.t = 0
        return np.zeros(1, np.float32), {}

    def step(self, action: Any) -> tuple[np.ndarray, float, bool, bool, dict]:
        self.t += 1
        return np.full(1, self.t / 10, np.float32), 1.0, self.terminate and self.t >= self.horizon, False, {}


@pytest.mark.parametrize("terminate", [True, False])
def test_collected_episodes_record_truncation(terminate: bool) -> None:
    env = make_vec_env(lambda: gym.wrappers.TimeLimit(_Constant(terminate), max_episode_steps=3), n_envs=2, seed=0)
    model = tiny_model(env, "MlpPolicy", n_episodes=5)
    model.learn(12)  # two episodes per env, fewer than n_episodes: no update, they stay collected
    assert model._n_updates == 0 and len(model._complete) == 4
    for episode in model._complete:
        assert episode.truncated is (not terminate)
        # The final observation (from info["terminal_observation"]) closes the sequence.
        np.testing.assert_allclose(episode.observations[:, 0], [0.0, 0.1, 0.2, 0.3], rtol=1e-6)
        np.testing.assert_array_equal(episode.rewards, [1.0, 1.0, 1.0])


# --- the recurrent state -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("policy", RECURRENT)
def test_carried_state_changes_the_action_distribution(policy: str) -> None:
    # (the state layout, carrying and resets per env: test_contract.py)
    env = make_vec_env(MemoryCueDiscrete, n_envs=2, seed=0)
    model = tiny_model(env, policy, policy_kwargs={**TINY, "n_rnn_layers": 2})
    obs = env.reset()
    _, fresh = model.predict(obs, state=None, episode_start=np.array([True, True]))
    p = model.policy
    obs_t = th.as_tensor(obs)
    with th.no_grad():
        state_t = tuple(th.as_tensor(s) for s in fresh)
        logits_reset = p.action_net(p.features(obs_t, state_t, th.ones(2))[0])
        logits_carried = p.action_net(p.features(obs_t, state_t, th.zeros(2))[0])
    assert not th.allclose(logits_reset, logits_carried, rtol=0.0, atol=1e-7)
    with pytest.raises(ValueError, match="env axis second"):
        model.predict(obs, state=tuple(s[:, :1] for s in fresh), episode_start=np.array([False, False]))


@pytest.mark.parametrize("policy", RECURRENT)
def test_training_unroll_matches_acting(policy: str) -> None:
    # The log-probs recomputed by unrolling a stored episode from the zero state equal those of step-by-step acting.
    env = make_vec_env(MemoryCueDiscrete, n_envs=1, seed=0)
    model = tiny_model(env, policy)
    p = model.policy
    obs = th.randn(6, 1, 3)
    with th.no_grad():
        unrolled = p.unroll(obs)
        state, stepped = p.initial_state(1), []
        for t in range(6):
            features, state = p.features(obs[t], state, th.tensor([1.0 if t == 0 else 0.0]))
            stepped.append(features)
    th.testing.assert_close(unrolled, th.stack(stepped), rtol=1e-5, atol=1e-6)


# --- policies and options ------------------------------------------------------------------------------------------


def test_policy_names_and_rnn_types() -> None:
    # (each name's policy class and the default one: test_contract.py)
    assert REINFORCE("CartPole-v1", n_episodes=2, policy_kwargs=TINY, seed=0, device="cpu").policy.rnn_type == "gru"
    assert tiny_model("CartPole-v1", "MlpPolicy").policy.rnn is None
    assert tiny_model("CartPole-v1", ReinforcePolicy, policy_kwargs={"rnn_type": "gru"}).policy.rnn_type == "gru"


@pytest.mark.parametrize("baseline", [True, False])
@pytest.mark.parametrize("normalize_returns", [True, False])
def test_options_train(baseline: bool, normalize_returns: bool) -> None:
    env = make_vec_env(lambda: gym.wrappers.TimeLimit(_Constant(False), max_episode_steps=5), n_envs=2, seed=0)
    model = tiny_model(env, baseline=baseline, normalize_returns=normalize_returns, ent_coef=0.01)
    model.learn(40)
    assert model._n_updates >= 2
    assert all(th.isfinite(p).all() for p in model.policy.parameters())


# --- every observation and action space ----------------------------------------------------------------------------


def policy_for(observation: str, memory: str = "Gru") -> str:
    """The policy name for an observation space of tests.checks.OBSERVATION_SPACES, as in SB3."""
    family = "Cnn" if observation.startswith("image") else "MultiInput" if observation == "Dict" else "Mlp"
    return f"{family}{memory}Policy"


@pytest.mark.parametrize("action", sorted(ACTION_SPACES))
@pytest.mark.parametrize("observation", sorted(OBSERVATION_SPACES))
def test_every_observation_and_action_space(observation: str, action: str, tmp_path: Any) -> None:
    """Construct, learn, predict with a carried state, save/load round trip and evaluate."""
    env = make_vec_env(lambda: SpaceEnv(OBSERVATION_SPACES[observation], ACTION_SPACES[action]), n_envs=2, seed=0)
    extractor = {"Cnn": {"features_dim": 8}, "Mul": {"cnn_output_dim": 8}}.get(policy_for(observation)[:3], {})
    kwargs = {**TINY, "features_extractor_kwargs": extractor}
    model = REINFORCE(policy_for(observation), env, n_episodes=2, policy_kwargs=kwargs, seed=0, device="cpu")
    model.learn(60)
    assert model._n_updates >= 2
    assert_carries_state_and_round_trips(model, env, tmp_path)


# --- errors --------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"n_episodes": 0}, "n_episodes"),
        ({"n_episodes": 1.5}, "n_episodes"),
        ({"gamma": 0.0}, "gamma"),
        ({"gamma": 1.5}, "gamma"),
        ({"learning_rate": -1.0}, "learning_rate"),
        ({"max_grad_norm": 0.0}, "max_grad_norm"),
        ({"ent_coef": -0.1}, "ent_coef"),
        ({"vf_coef": float("nan")}, "vf_coef"),
        ({"baseline": "yes"}, "baseline"),
        ({"policy_kwargs": {"rnn_hidden_size": 0}}, "rnn_hidden_size"),
        ({"policy_kwargs": {"rnn_type": "transformer"}}, "rnn_type"),
        ({"policy_kwargs": {"net_arch": [0]}}, "net_arch"),
    ],
)
def test_bad_hyperparameters(kwargs: dict[str, Any], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        REINFORCE("MlpGruPolicy", "CartPole-v1", device="cpu", **kwargs)


def test_unsupported_configurations() -> None:
    with pytest.raises(ValueError, match="Dict observations need a MultiInput policy"):
        REINFORCE("MlpGruPolicy", SimpleMultiObsEnv())
    with pytest.raises(ValueError, match=r"ReinforceCnnGruPolicy reads images .*use the Mlp policy"):
        REINFORCE("CnnGruPolicy", "CartPole-v1")
    tuple_obs = SpaceEnv(gym.spaces.Tuple([gym.spaces.Discrete(2), gym.spaces.Discrete(3)]), gym.spaces.Discrete(2))
    with pytest.raises(ValueError, match=r"observation_space=Tuple.*gymnasium.wrappers.FlattenObservation"):
        REINFORCE("MlpGruPolicy", tuple_obs)
    nested = SpaceEnv(gym.spaces.Dict({"a": gym.spaces.Dict({"b": gym.spaces.Discrete(2)})}), gym.spaces.Discrete(2))
    with pytest.raises(ValueError, match="nested Dict"):
        REINFORCE("MultiInputGruPolicy", nested)
    text_actions = SpaceEnv(gym.spaces.Discrete(2), gym.spaces.Tuple([gym.spaces.Discrete(2)]))
    with pytest.raises(ValueError, match="Box, Discrete, MultiDiscrete and MultiBinary action spaces"):
        REINFORCE("MlpGruPolicy", text_actions)
    with pytest.raises(ValueError, match="REINFORCE needs an env to build its networks"):
        REINFORCE("CnnLstmPolicy")
    with pytest.raises(ValueError, match="neither a REINFORCE policy"):
        REINFORCE("CnnLstmGruPolicy")
    with pytest.raises(ValueError, match="policy must be one of"):
        REINFORCE("GruPolicy", "CartPole-v1")
