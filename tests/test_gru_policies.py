"""GRU policies for sb3-contrib's RecurrentPPO: memory, state resets, save/load, seeding, smoke runs, errors."""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
import pytest
import torch as th
from hypothesis import given, settings
from hypothesis import strategies as st
from sb3_contrib import RecurrentPPO
from sb3_contrib.common.recurrent.type_aliases import RNNStates
from sb3_contrib.ppo_recurrent import MlpLstmPolicy
from stable_baselines3 import PPO
from stable_baselines3.common.callbacks import EvalCallback
from stable_baselines3.common.env_util import make_vec_env
from stable_baselines3.common.envs import FakeImageEnv, SimpleMultiObsEnv
from stable_baselines3.common.evaluation import evaluate_policy
from torch import nn

import rrl_sb3  # noqa: F401  (registers the rrl_sb3/ ids)
from rrl_sb3.envs import MemoryCueContinuous, MemoryCueDiscrete
from rrl_sb3.policies import (
    CnnGruPolicy,
    GruActorCriticPolicy,
    MlpGruPolicy,
    MultiInputGruPolicy,
    gru_unroll,
    resolve_recurrent_policy,
)
from tests.checks import assert_nested_equal

TINY = {"gru_hidden_size": 8, "net_arch": [8]}

# The critic variants: own GRU (default), reading the actor's GRU, no recurrence.
CRITIC_VARIANTS = {
    "critic-gru": {"enable_critic_gru": True, "shared_gru": False},
    "shared-gru": {"enable_critic_gru": False, "shared_gru": True},
    "no-critic-gru": {"enable_critic_gru": False, "shared_gru": False},
}


@pytest.fixture(autouse=True, scope="module")
def _one_torch_thread():
    # These networks are tiny: extra intra-op threads only contend on a small shared machine (a GRU backward pass
    # measured ~100x slower with 2 threads under load than with 1).
    previous = th.get_num_threads()
    th.set_num_threads(1)
    yield
    th.set_num_threads(previous)


def tiny_model(env: Any, seed: int = 0, n_steps: int = 16, **policy_kwargs: Any) -> RecurrentPPO:
    return RecurrentPPO(
        MlpGruPolicy,
        env,
        n_steps=n_steps,
        batch_size=16,
        n_epochs=2,
        policy_kwargs={**TINY, **policy_kwargs},
        seed=seed,
        device="cpu",
    )


# --- learning: memory is needed and used ---------------------------------------------------------------------------

# Same budget and PPO hyperparameters for the GRU and for the memoryless control (best memoryless return: 0).
# Measured with this exact setup, seeds 0-4, 100 deterministic eval episodes: GRU 1.0 on every seed and both envs;
# MLP PPO -0.20 to 0.16 (discrete) and -0.07 to 0.00 (continuous). About 2 s per GRU run on one CPU thread.
MEMORY_BUDGET = 3072
MEMORY_PPO = {"device": "cpu", "n_steps": 32, "batch_size": 64, "n_epochs": 4, "learning_rate": 3e-3}
MEMORY_ENVS = {
    "discrete": (MemoryCueDiscrete, {"delay": 4}),
    "continuous": (MemoryCueContinuous, {"delay": 3}),
}


def train_on_memory_cue(env_name: str, recurrent: bool, seed: int = 0) -> tuple[Any, float]:
    env_cls, env_kwargs = MEMORY_ENVS[env_name]
    env = make_vec_env(env_cls, n_envs=4, seed=seed, env_kwargs=env_kwargs)
    if recurrent:
        model = RecurrentPPO(
            MlpGruPolicy, env, policy_kwargs={"gru_hidden_size": 16, "net_arch": [16]}, seed=seed, **MEMORY_PPO
        )
    else:
        model = PPO("MlpPolicy", env, policy_kwargs={"net_arch": [16]}, seed=seed, **MEMORY_PPO)
    model.learn(MEMORY_BUDGET)
    eval_env = make_vec_env(env_cls, n_envs=1, seed=1000 + seed, env_kwargs=env_kwargs)
    mean_return, _ = evaluate_policy(model, eval_env, n_eval_episodes=100, deterministic=True)
    return model, float(mean_return)


@pytest.mark.parametrize("env_name", sorted(MEMORY_ENVS))
def test_gru_solves_memory_cue(env_name: str) -> None:
    model, mean_return = train_on_memory_cue(env_name, recurrent=True)
    env_cls, env_kwargs = MEMORY_ENVS[env_name]
    assert env_cls(**env_kwargs).best_memoryless_return == 0.0
    assert mean_return >= 0.8, mean_return

    # The memory is in the carried state: at the query the observation is the same for both cues, the action is not.
    env = env_cls(**env_kwargs)
    for cue_seed in range(6):
        obs, info = env.reset(seed=cue_seed)
        state, start = None, True
        for _ in range(env.delay):
            action, state = model.predict(obs, state=state, episode_start=start, deterministic=True)
            obs, *_ = env.step(action)
            start = False
        query_action, _ = model.predict(obs, state=state, episode_start=False, deterministic=True)
        if env_name == "discrete":
            assert int(query_action) == info["cue"]
        else:
            assert np.sign(query_action[0]) == (1.0 if info["cue"] == 1 else -1.0)


@pytest.mark.parametrize("env_name", sorted(MEMORY_ENVS))
def test_memoryless_control_stays_near_zero(env_name: str) -> None:
    # Same env, budget and PPO settings without recurrence: shows the GRU test above measures memory.
    _, mean_return = train_on_memory_cue(env_name, recurrent=False)
    assert abs(mean_return) <= 0.35, mean_return


# --- the recurrent state -------------------------------------------------------------------------------------------


def step_by_step(gru: nn.GRU, inputs: th.Tensor, hidden: th.Tensor, starts: th.Tensor) -> tuple[th.Tensor, th.Tensor]:
    """Reference: one GRU call per step, resetting by multiplication like sb3-contrib's LSTM loop."""
    outputs = []
    for x_t, start_t in zip(inputs, starts, strict=True):
        out, hidden = gru(x_t.unsqueeze(0), hidden * (1.0 - start_t).view(1, -1, 1))
        outputs.append(out)
    return th.cat(outputs), hidden


@settings(max_examples=30, deadline=None)
@given(
    seq_len=st.integers(1, 7),
    batch=st.integers(1, 3),
    n_layers=st.integers(1, 2),
    data=st.data(),
)
def test_gru_unroll_matches_step_by_step_loop(seq_len: int, batch: int, n_layers: int, data: st.DataObject) -> None:
    starts = th.tensor(data.draw(st.lists(st.booleans(), min_size=seq_len * batch, max_size=seq_len * batch)))
    starts = starts.view(seq_len, batch).float()
    th.manual_seed(0)
    gru = nn.GRU(3, 5, num_layers=n_layers)
    inputs = th.randn(seq_len, batch, 3)
    hidden = th.randn(n_layers, batch, 5)
    out, last = gru_unroll(gru, inputs, hidden, starts)
    ref_out, ref_last = step_by_step(gru, inputs, hidden, starts)
    assert out.shape == (seq_len, batch, 5)
    th.testing.assert_close(out, ref_out, rtol=1e-5, atol=1e-6)
    th.testing.assert_close(last, ref_last, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("variant", sorted(CRITIC_VARIANTS))
def test_state_shape_and_reset_in_predict(variant: str) -> None:
    env = make_vec_env(MemoryCueDiscrete, n_envs=2, seed=0)
    model = tiny_model(env, n_gru_layers=2, **CRITIC_VARIANTS[variant])
    policy = model.policy
    obs = env.reset()

    # Fresh state: a pair of (n_layers, n_envs, hidden) arrays; the second is the all-zero placeholder.
    _, fresh = model.predict(obs, state=None, episode_start=np.array([True, True]), deterministic=True)
    assert len(fresh) == 2
    assert all(s.shape == (2, 2, 8) for s in fresh)
    assert not np.any(fresh[1])
    assert np.any(fresh[0])

    # Carrying the state changes the next state and the action distribution (memory is used).
    _, carried = model.predict(obs, state=fresh, episode_start=np.array([False, False]), deterministic=True)
    assert not np.allclose(carried[0], fresh[0])
    obs_t = policy.obs_to_tensor(obs)[0]
    with th.no_grad():
        as_tensors = tuple(th.as_tensor(s) for s in fresh)
        # (SB3 reuses one distribution object per policy: read the logits before the next call.)
        logits_reset = policy.get_distribution(obs_t, as_tensors, th.ones(2))[0].distribution.logits
        logits_carried = policy.get_distribution(obs_t, as_tensors, th.zeros(2))[0].distribution.logits
    # (Untrained: the action head starts near uniform, so the difference is small but must exist.)
    assert not th.allclose(logits_reset, logits_carried, rtol=0.0, atol=1e-5)

    # Resetting env 0 only: its state equals a fresh one, env 1 keeps its carried state.
    _, state = model.predict(obs, state=carried, episode_start=np.array([True, False]), deterministic=True)
    _, again_fresh = model.predict(obs, state=None, episode_start=np.array([False, False]), deterministic=True)
    _, carried_twice = model.predict(obs, state=carried, episode_start=np.array([False, False]), deterministic=True)
    np.testing.assert_array_equal(state[0][:, 0], again_fresh[0][:, 0])
    np.testing.assert_array_equal(state[0][:, 1], carried_twice[0][:, 1])
    assert not np.any(state[1])


def test_reset_inside_training_sequences_equals_fresh_state() -> None:
    # evaluate_actions over one sequence with an episode start at t = 3 equals the prefix from the given state
    # followed by the suffix from the zero state: nothing leaks across the episode boundary.
    env = make_vec_env(MemoryCueContinuous, n_envs=1, seed=0)
    policy = tiny_model(env).policy
    th.manual_seed(1)
    obs = th.rand(6, 3)
    actions = th.rand(6, 1)
    starts = th.tensor([0.0, 0.0, 0.0, 1.0, 0.0, 0.0])
    start_state = (th.randn(1, 1, 8), th.zeros(1, 1, 8))
    zero_state = (th.zeros(1, 1, 8), th.zeros(1, 1, 8))
    with th.no_grad():
        values, log_prob, _ = policy.evaluate_actions(obs, actions, RNNStates(start_state, start_state), starts)
        v_head, lp_head, _ = policy.evaluate_actions(obs[:3], actions[:3], RNNStates(start_state, start_state), starts[:3])
        v_tail, lp_tail, _ = policy.evaluate_actions(obs[3:], actions[3:], RNNStates(zero_state, zero_state), th.zeros(3))
    th.testing.assert_close(values, th.cat([v_head, v_tail]))
    th.testing.assert_close(log_prob, th.cat([lp_head, lp_tail]))


def test_rollout_buffer_placeholder_stays_zero() -> None:
    env = make_vec_env(MemoryCueDiscrete, n_envs=2, seed=0)
    model = tiny_model(env).learn(32)
    buffer = model.rollout_buffer
    assert np.any(buffer.hidden_states_pi) and np.any(buffer.hidden_states_vf)
    assert not np.any(buffer.cell_states_pi) and not np.any(buffer.cell_states_vf)


# --- save / load, seeding -----------------------------------------------------------------------------------------


def test_save_load_round_trip(tmp_path) -> None:
    env = make_vec_env(MemoryCueContinuous, n_envs=2, seed=0)
    model = tiny_model(env, n_gru_layers=2, gru_kwargs={"dropout": 0.1}).learn(64)
    model.save(tmp_path / "gru_ppo.zip")
    loaded = RecurrentPPO.load(tmp_path / "gru_ppo.zip", env=env)

    assert type(loaded.policy) is MlpGruPolicy
    assert loaded.policy.n_gru_layers == 2 and loaded.policy.gru_kwargs == {"dropout": 0.1}
    assert_nested_equal(model.policy.state_dict(), loaded.policy.state_dict(), "params")
    assert_nested_equal(model.policy.optimizer.state_dict(), loaded.policy.optimizer.state_dict(), "optimizer")

    # Deterministic predictions with a carried state are identical for several steps.
    eval_env = make_vec_env(MemoryCueContinuous, n_envs=2, seed=7)
    obs = eval_env.reset()
    states: list[Any] = [None, None]
    starts = np.ones(2, dtype=bool)
    for _ in range(6):
        (a0, states[0]), (a1, states[1]) = (
            m.predict(obs, state=s, episode_start=starts, deterministic=True)
            for m, s in zip((model, loaded), states, strict=True)
        )
        np.testing.assert_array_equal(a0, a1)
        np.testing.assert_array_equal(states[0][0], states[1][0])
        obs, _, dones, _ = eval_env.step(a0)
        starts = dones

    # The policy alone also round-trips (constructor parameters include the GRU options).
    model.policy.save(tmp_path / "policy.pth")
    policy = GruActorCriticPolicy.load(tmp_path / "policy.pth")
    assert policy.n_gru_layers == 2 and policy.gru_hidden_size == 8
    assert_nested_equal(model.policy.state_dict(), policy.state_dict(), "policy params")


def test_same_seed_same_result() -> None:
    def run(seed: int) -> dict[str, th.Tensor]:
        env = make_vec_env("Pendulum-v1", n_envs=2, seed=seed)
        return tiny_model(env, seed=seed).learn(64).policy.state_dict()

    first, second, other = run(3), run(3), run(4)
    assert_nested_equal(first, second, "params")
    assert any(not th.equal(first[k], other[k]) for k in first)


# --- smoke runs ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("n_envs", [1, 4])
@pytest.mark.parametrize("env_id", ["CartPole-v1", "Pendulum-v1"])
def test_smoke_learn_evaluate(env_id: str, n_envs: int) -> None:
    # A short time limit makes episodes truncate, so RecurrentPPO's timeout bootstrap (which indexes the state pair)
    # runs too.
    env = make_vec_env(env_id, n_envs=n_envs, seed=0, env_kwargs={"max_episode_steps": 10})
    eval_env = make_vec_env(env_id, n_envs=1, seed=1000, env_kwargs={"max_episode_steps": 10})
    callback = EvalCallback(eval_env, eval_freq=16, n_eval_episodes=2, warn=False)
    model = tiny_model(env).learn(32 * n_envs, callback=callback)
    assert np.isfinite(callback.last_mean_reward)
    mean_return, _ = evaluate_policy(model, eval_env, n_eval_episodes=2)
    assert np.isfinite(mean_return)
    assert model.num_timesteps == 32 * n_envs


@pytest.mark.parametrize(
    ("variant", "share_features_extractor"),
    # A shared GRU with separate features extractors is invalid (see test_invalid_options).
    [(v, share) for v in sorted(CRITIC_VARIANTS) for share in (True, False) if share or v != "shared-gru"],
)
def test_critic_variants_learn(variant: str, share_features_extractor: bool) -> None:
    env = make_vec_env(MemoryCueContinuous, n_envs=2, seed=0)
    model = tiny_model(env, share_features_extractor=share_features_extractor, **CRITIC_VARIANTS[variant]).learn(32)
    policy = model.policy
    assert (policy.gru_critic is not None) == (variant == "critic-gru")
    assert (policy.critic_projection is not None) == (variant == "no-critic-gru")
    # RecurrentPPO reads the sizes through sb3-contrib's LSTM names.
    assert policy.lstm_actor is policy.gru_actor and policy.lstm_critic is policy.gru_critic
    assert not any("lstm" in name for name in policy.state_dict())


def test_gsde_on_pendulum() -> None:
    env = make_vec_env("Pendulum-v1", n_envs=2, seed=0)
    model = RecurrentPPO(
        MlpGruPolicy,
        env,
        n_steps=16,
        batch_size=16,
        n_epochs=1,
        use_sde=True,
        sde_sample_freq=4,
        policy_kwargs=TINY,
        seed=0,
        device="cpu",
    )
    model.learn(32)
    action, state = model.predict(env.reset(), deterministic=True)
    assert action.shape == (2, 1) and state[0].shape == (1, 2, 8)


def test_cnn_gru_policy_on_images() -> None:
    env = make_vec_env(lambda: FakeImageEnv(screen_height=36, screen_width=36, n_channels=1, action_dim=2), n_envs=1)
    model = RecurrentPPO(
        CnnGruPolicy,
        env,
        n_steps=8,
        batch_size=8,
        n_epochs=1,
        policy_kwargs={"gru_hidden_size": 8, "features_extractor_kwargs": {"features_dim": 16}},
        seed=0,
        device="cpu",
    )
    model.learn(8)
    action, state = model.predict(env.reset(), deterministic=True)
    assert action.shape == (1,) and state[0].shape == (1, 1, 8)


def test_multi_input_gru_policy_on_dict_obs() -> None:
    env = make_vec_env(SimpleMultiObsEnv, n_envs=1)
    model = RecurrentPPO(
        MultiInputGruPolicy,
        env,
        n_steps=8,
        batch_size=8,
        n_epochs=1,
        policy_kwargs={"gru_hidden_size": 8, "net_arch": [8], "features_extractor_kwargs": {"cnn_output_dim": 8}},
        seed=0,
        device="cpu",
    )
    model.learn(8)
    action, state = model.predict(env.reset(), deterministic=True)
    assert action.shape == (1,) and state[0].shape == (1, 1, 8)


def test_registered_env_id_and_policy_names() -> None:
    # The class is what RecurrentPPO takes; importing rrl_sb3 does not patch sb3-contrib's aliases.
    assert "MlpGruPolicy" not in RecurrentPPO.policy_aliases
    assert resolve_recurrent_policy("MlpGruPolicy") is MlpGruPolicy
    assert resolve_recurrent_policy("CnnGruPolicy") is CnnGruPolicy
    assert resolve_recurrent_policy("MultiInputGruPolicy") is MultiInputGruPolicy
    assert resolve_recurrent_policy("MlpLstmPolicy") is MlpLstmPolicy
    assert resolve_recurrent_policy(MlpGruPolicy) is MlpGruPolicy
    env = gym.make("rrl_sb3/MemoryCue-v0")
    model = RecurrentPPO(
        resolve_recurrent_policy("MlpGruPolicy"), env, n_steps=8, batch_size=8, policy_kwargs=TINY, device="cpu"
    )
    model.learn(8)


# --- errors -------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"shared_gru": True}, ValueError, "exclude each other"),
        (
            {"shared_gru": True, "enable_critic_gru": False, "share_features_extractor": False},
            ValueError,
            "share_features_extractor",
        ),
        ({"gru_hidden_size": 0}, ValueError, "gru_hidden_size must be an integer"),
        ({"n_gru_layers": True}, ValueError, "n_gru_layers must be an integer"),
        ({"gru_kwargs": {"hidden_size": 4}}, ValueError, "gru_hidden_size"),
        ({"gru_kwargs": {"batch_first": True}}, ValueError, "not supported"),
        ({"gru_kwargs": {"bidirectional": True}}, ValueError, "not supported"),
        ({"lstm_hidden_size": 16}, TypeError, "spell it 'gru_hidden_size'"),
        ({"enable_critic_lstm": False, "n_gru": 2}, TypeError, "unexpected keyword argument"),
    ],
)
def test_invalid_options(kwargs: dict[str, Any], error: type[Exception], match: str) -> None:
    with pytest.raises(error, match=match):
        RecurrentPPO(MlpGruPolicy, "CartPole-v1", policy_kwargs=kwargs)


def test_invalid_calls() -> None:
    env = make_vec_env("CartPole-v1", n_envs=2, seed=0)
    model = tiny_model(env)
    obs = env.reset()
    with pytest.raises(ValueError, match=r"\(n_gru_layers, n_envs, gru_hidden_size\) = \(1, 2, 8\)"):
        model.predict(obs, state=(np.zeros((2, 1, 8)), np.zeros((2, 1, 8))))
    with pytest.raises(ValueError, match="unknown recurrent policy"):
        resolve_recurrent_policy("MlpGRUPolicy")
    with pytest.raises(TypeError, match="not a RecurrentActorCriticPolicy"):
        resolve_recurrent_policy(type("NotRecurrent", (), {}))
    # RecurrentPPO itself only resolves its LSTM names: users pass the class.
    with pytest.raises(ValueError):
        RecurrentPPO("MlpGruPolicy", env)
