"""REINFORCE: memory, returns and truncation, recurrent state, save/load, seeding, smoke runs, errors."""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
import pytest
import torch as th
from stable_baselines3.common.callbacks import EvalCallback
from stable_baselines3.common.env_util import make_vec_env
from stable_baselines3.common.envs import SimpleMultiObsEnv
from stable_baselines3.common.evaluation import evaluate_policy

import rrl_sb3  # noqa: F401  (registers the rrl_sb3/ ids)
from rrl_sb3.envs import MemoryCueDiscrete
from rrl_sb3.reinforce import REINFORCE, ReinforceGruPolicy, ReinforceLstmPolicy, ReinforcePolicy, monte_carlo_returns
from tests.checks import assert_nested_equal

TINY = {"rnn_hidden_size": 8, "net_arch": [8]}
RECURRENT = ("MlpGruPolicy", "MlpLstmPolicy")
POLICIES = ("MlpPolicy", *RECURRENT)


@pytest.fixture(autouse=True, scope="module")
def _one_torch_thread():
    previous = th.get_num_threads()
    th.set_num_threads(1)
    yield
    th.set_num_threads(previous)


def tiny_model(env: Any, policy: str = "MlpGruPolicy", seed: int = 0, **kwargs: Any) -> REINFORCE:
    kwargs = {"n_episodes": 2, "seed": seed, "device": "cpu", "policy_kwargs": TINY, **kwargs}
    return REINFORCE(policy, env, **kwargs)


# --- learning: memory is needed and used ---------------------------------------------------------------------------

# Same budget and settings for the recurrent policies and the memoryless control (best memoryless return: 0).
# Measured with this setup, seeds 0-2, 100 deterministic eval episodes: GRU and LSTM 1.0 on every seed; MLP -0.20 to
# 0.16. About 2-3 s per recurrent run on one CPU thread.
MEMORY_BUDGET = 8000
MEMORY_KWARGS = {"n_episodes": 8, "learning_rate": 1e-2, "policy_kwargs": {"rnn_hidden_size": 16, "net_arch": [16]}}
MEMORY_ENV = {"delay": 4}


def train_on_memory_cue(policy: str, seed: int = 0) -> tuple[REINFORCE, float]:
    env = make_vec_env(MemoryCueDiscrete, n_envs=4, seed=seed, env_kwargs=MEMORY_ENV)
    model = REINFORCE(policy, env, seed=seed, device="cpu", **MEMORY_KWARGS)
    model.learn(MEMORY_BUDGET)
    eval_env = make_vec_env(MemoryCueDiscrete, n_envs=1, seed=1000 + seed, env_kwargs=MEMORY_ENV)
    mean_return, _ = evaluate_policy(model, eval_env, n_eval_episodes=100, deterministic=True)
    return model, float(mean_return)


@pytest.mark.parametrize("policy", RECURRENT)
def test_recurrent_reinforce_solves_memory_cue(policy: str) -> None:
    model, mean_return = train_on_memory_cue(policy)
    assert MemoryCueDiscrete(**MEMORY_ENV).best_memoryless_return == 0.0
    assert mean_return >= 0.8, mean_return

    # The memory is in the carried state: at the query the observation is the same for both cues, the action is not.
    env = MemoryCueDiscrete(**MEMORY_ENV)
    for cue_seed in range(6):
        obs, info = env.reset(seed=cue_seed)
        state, start = None, True
        for _ in range(env.delay):
            action, state = model.predict(obs, state=state, episode_start=start, deterministic=True)
            obs, *_ = env.step(action)
            start = False
        query_action, _ = model.predict(obs, state=state, episode_start=False, deterministic=True)
        assert int(query_action) == info["cue"]


def test_memoryless_control_stays_near_zero() -> None:
    # Same env, budget and settings without recurrence: shows the test above measures memory.
    _, mean_return = train_on_memory_cue("MlpPolicy")
    assert abs(mean_return) <= 0.35, mean_return


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


@pytest.mark.parametrize("policy", POLICIES)
def test_state_layout_reset_and_carry(policy: str) -> None:
    env = make_vec_env(MemoryCueDiscrete, n_envs=2, seed=0)
    model = tiny_model(env, policy, policy_kwargs={**TINY, "n_rnn_layers": 2})
    obs = env.reset()
    _, fresh = model.predict(obs, state=None, episode_start=np.array([True, True]))
    if policy == "MlpPolicy":
        assert fresh is None
        return
    # A tuple of (n_layers, n_envs, hidden) arrays, env axis second: (h,) for a GRU, (h, c) for an LSTM.
    assert len(fresh) == (1 if policy == "MlpGruPolicy" else 2)
    assert all(s.shape == (2, 2, 8) for s in fresh)

    # Carrying the state changes the next state and the action distribution.
    _, carried = model.predict(obs, state=fresh, episode_start=np.array([False, False]))
    assert not np.allclose(carried[0], fresh[0])
    p = model.policy
    obs_t = th.as_tensor(obs)
    with th.no_grad():
        state_t = tuple(th.as_tensor(s) for s in fresh)
        logits_reset = p.action_net(p.step(obs_t, state_t, th.ones(2))[0])
        logits_carried = p.action_net(p.step(obs_t, state_t, th.zeros(2))[0])
    assert not th.allclose(logits_reset, logits_carried, rtol=0.0, atol=1e-7)

    # Resetting env 0 only: its state equals a fresh one, env 1 keeps its carried state.
    _, partly = model.predict(obs, state=carried, episode_start=np.array([True, False]))
    _, continued = model.predict(obs, state=carried, episode_start=np.array([False, False]))
    for i in range(len(fresh)):
        np.testing.assert_array_equal(partly[i][:, 0], fresh[i][:, 0])
        np.testing.assert_array_equal(partly[i][:, 1], continued[i][:, 1])
    # A reset equals passing state=None.
    _, none_state = model.predict(obs, state=None, episode_start=np.array([False, False]))
    _, reset_state = model.predict(obs, state=carried, episode_start=np.array([True, True]))
    for a, b in zip(none_state, reset_state, strict=True):
        np.testing.assert_array_equal(a, b)

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
            features, state = p.step(obs[t], state, th.tensor([1.0 if t == 0 else 0.0]))
            stepped.append(features)
    th.testing.assert_close(unrolled, th.stack(stepped), rtol=1e-5, atol=1e-6)


# --- save / load, seeding ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("policy", POLICIES)
def test_save_load_round_trip(policy: str, tmp_path) -> None:
    env = make_vec_env("Pendulum-v1", n_envs=2, seed=0)
    model = tiny_model(env, policy, n_episodes=2)
    model.learn(800)
    assert model._n_updates >= 1
    model.save(tmp_path / "model")
    loaded = REINFORCE.load(tmp_path / "model", device="cpu")
    assert type(loaded.policy) is type(model.policy)
    assert_nested_equal(model.policy.state_dict(), loaded.policy.state_dict(), "policy")
    assert_nested_equal(model.policy.optimizer.state_dict(), loaded.policy.optimizer.state_dict(), "optimizer")
    assert loaded.n_episodes == 2 and loaded.gamma == model.gamma and loaded.baseline is True

    obs = env.reset()
    state_a = state_b = None
    starts = np.array([True, True])
    for _ in range(5):
        action_a, state_a = model.predict(obs, state=state_a, episode_start=starts, deterministic=True)
        action_b, state_b = loaded.predict(obs, state=state_b, episode_start=starts, deterministic=True)
        np.testing.assert_array_equal(action_a, action_b)
        if state_a is not None:
            for a, b in zip(state_a, state_b, strict=True):
                np.testing.assert_array_equal(a, b)
        obs, _, _, _ = env.step(action_a)
        starts = np.array([False, False])

    # The loaded model keeps training.
    loaded.set_env(env)
    loaded.learn(400)


@pytest.mark.parametrize("policy", RECURRENT)
def test_same_seed_same_parameters(policy: str) -> None:
    params = []
    for _ in range(2):
        model = tiny_model("CartPole-v1", policy, n_episodes=2, seed=3)
        model.learn(300)
        params.append(model.policy.state_dict())
    assert_nested_equal(params[0], params[1])
    other = tiny_model("CartPole-v1", policy, n_episodes=2, seed=4).learn(300)
    assert any(not th.equal(a, b) for a, b in zip(params[0].values(), other.policy.state_dict().values(), strict=True))


# --- smoke runs ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("env_id", ["CartPole-v1", "Pendulum-v1"])
@pytest.mark.parametrize("n_envs", [1, 4])
@pytest.mark.parametrize("policy", POLICIES)
def test_smoke(env_id: str, n_envs: int, policy: str, tmp_path) -> None:
    env = make_vec_env(env_id, n_envs=n_envs, seed=0)
    model = tiny_model(env, policy, n_episodes=n_envs)
    eval_env = make_vec_env(env_id, n_envs=1, seed=100)
    callback = EvalCallback(eval_env, n_eval_episodes=2, eval_freq=max(200 // n_envs, 1), log_path=str(tmp_path))
    model.learn(900 if env_id == "Pendulum-v1" else 300, callback=callback)
    assert model._n_updates >= 1
    assert callback.evaluations_results, "EvalCallback did not evaluate"
    mean, _ = evaluate_policy(model, eval_env, n_eval_episodes=2)
    assert np.isfinite(mean)
    action, _ = model.predict(eval_env.reset(), deterministic=True)
    assert eval_env.action_space.contains(action[0])


def test_env_id_only_call_and_logging(tmp_path) -> None:
    from stable_baselines3.common.logger import configure

    model = REINFORCE("CartPole-v1", n_episodes=2, policy_kwargs=TINY, seed=0, device="cpu")
    assert isinstance(model.policy, ReinforceGruPolicy)
    assert model.policy.rnn_type == "gru" and model.get_env() is not None
    model.set_logger(configure(str(tmp_path), ["csv"]))
    model.learn(200, progress_bar=True)
    header = (tmp_path / "progress.csv").read_text().splitlines()[0].split(",")
    for key in ("train/policy_loss", "train/value_loss", "train/entropy", "rollout/ep_rew_mean"):
        assert key in header, key
    assert isinstance(tiny_model("CartPole-v1", "MlpLstmPolicy").policy, ReinforceLstmPolicy)
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


class _MultiDiscreteActions(_Constant):
    action_space = gym.spaces.MultiDiscrete([2, 2])


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
    with pytest.raises(ValueError, match="flat \\(1-D\\) Box observation"):
        REINFORCE("MlpGruPolicy", SimpleMultiObsEnv())
    with pytest.raises(ValueError, match="Box and Discrete action"):
        REINFORCE("MlpGruPolicy", _MultiDiscreteActions())
    with pytest.raises(ValueError, match="neither a REINFORCE policy"):
        REINFORCE("CnnLstmPolicy")
    with pytest.raises(ValueError, match="policy must be one of"):
        REINFORCE("GruPolicy", "CartPole-v1")
