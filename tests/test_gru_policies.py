"""GRU policies for sb3-contrib's RecurrentPPO: the masked unroll, critic variants, other inputs, names, errors.

What every algorithm must do (SB3 contract, save/load, seeding, memory probes) is in test_contract.py.
"""

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
from stable_baselines3.common.env_util import make_vec_env
from stable_baselines3.common.envs import FakeImageEnv, SimpleMultiObsEnv
from torch import nn

import rrl_sb3  # noqa: F401  (registers the rrl_sb3/ ids)
from rrl_sb3.envs import MemoryCueContinuous, MemoryCueDiscrete
from rrl_sb3.policies import (
    CnnGruPolicy,
    MlpGruPolicy,
    MultiInputGruPolicy,
    gru_unroll,
    resolve_recurrent_policy,
)
from tests.checks import ACTION_SPACES, CRITIC_VARIANTS, OBSERVATION_SPACES, SpaceEnv, assert_carries_state_and_round_trips

TINY = {"gru_hidden_size": 8, "net_arch": [8]}


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
def test_carried_state_changes_the_action_distribution(variant: str) -> None:
    # (the state layout, its zero placeholder, carrying and resets per env: test_contract.py)
    env = make_vec_env(MemoryCueDiscrete, n_envs=2, seed=0)
    model = tiny_model(env, n_gru_layers=2, **CRITIC_VARIANTS[variant])
    policy = model.policy
    obs = env.reset()
    _, fresh = model.predict(obs, state=None, episode_start=np.array([True, True]), deterministic=True)
    obs_t = policy.obs_to_tensor(obs)[0]
    with th.no_grad():
        as_tensors = tuple(th.as_tensor(s) for s in fresh)
        # (SB3 reuses one distribution object per policy: read the logits before the next call.)
        logits_reset = policy.get_distribution(obs_t, as_tensors, th.ones(2))[0].distribution.logits
        logits_carried = policy.get_distribution(obs_t, as_tensors, th.zeros(2))[0].distribution.logits
    # (Untrained: the action head starts near uniform, so the difference is small but must exist.)
    assert not th.allclose(logits_reset, logits_carried, rtol=0.0, atol=1e-5)


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


# --- critic variants, other inputs, names --------------------------------------------------------------------------


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


@pytest.mark.parametrize("action", sorted(ACTION_SPACES))
@pytest.mark.parametrize("observation", sorted(OBSERVATION_SPACES))
def test_every_observation_and_action_space(observation: str, action: str, tmp_path: Any) -> None:
    """Construct, learn, predict with a carried state, save/load round trip and evaluate, for every space SB3's
    policies accept (MlpGruPolicy for vectors and discrete spaces, CnnGruPolicy for images, MultiInputGruPolicy for
    Dict)."""
    space = OBSERVATION_SPACES[observation]
    policy = {"image": CnnGruPolicy, "image-channel-first": CnnGruPolicy, "Dict": MultiInputGruPolicy}.get(
        observation, MlpGruPolicy
    )
    extractor = {CnnGruPolicy: {"features_dim": 8}, MultiInputGruPolicy: {"cnn_output_dim": 8}}.get(policy, {})
    env = make_vec_env(lambda: SpaceEnv(space, ACTION_SPACES[action]), n_envs=2, seed=0)
    kwargs = {**TINY, "features_extractor_kwargs": extractor}
    model = RecurrentPPO(policy, env, n_steps=8, batch_size=16, n_epochs=1, policy_kwargs=kwargs, seed=0, device="cpu")
    model.learn(32)
    assert_carries_state_and_round_trips(model, env, tmp_path)


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
        ({"shared_gru": "no"}, ValueError, "shared_gru must be True or False, got shared_gru='no'"),
        ({"enable_critic_gru": 0}, ValueError, "enable_critic_gru must be True or False"),
        ({"share_features_extractor": "yes"}, ValueError, "share_features_extractor must be True or False"),
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
