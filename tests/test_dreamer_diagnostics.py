"""Dreamer's continue diagnostics read the model's own heads on replayed data, and change nothing."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch as th

from rrl_sb3 import Dreamer
from rrl_sb3.dreamer.diagnostics import (
    ContinueDiagnosticsCallback,
    cartpole_regions,
    continue_diagnostics,
    ends_and_others,
)
from tests.checks import DREAMER_TINY


def model_with_episodes(episode_length: int, n_episodes: int, n_envs: int = 1) -> Dreamer:
    """A CartPole Dreamer whose buffer holds ``n_episodes`` hand-made episodes per env, each of ``episode_length``
    steps ending in a termination (``episode_length + 1`` rows: a termination every that many rows); the cart is at
    ``x = 2.5`` (beyond the bound) in terminal rows, at 0 elsewhere."""
    model = Dreamer("MlpPolicy", "CartPole-v1", **{**DREAMER_TINY, "seed": 0})
    from stable_baselines3.common.env_util import make_vec_env

    if n_envs > 1:
        model = Dreamer("MlpPolicy", make_vec_env("CartPole-v1", n_envs=n_envs), **{**DREAMER_TINY, "seed": 0})
    buffer = model.replay_buffer
    for _ in range(n_episodes):
        for t in range(episode_length + 1):
            obs = np.zeros((n_envs, 4), dtype=np.float32)
            obs[:, 0] = 2.5 if t == episode_length else 0.0
            obs[:, 2] = 0.01 * t
            buffer.add_rows(
                obs,
                np.ones((n_envs, 1), dtype=np.int64),
                np.ones(n_envs, dtype=np.float32),
                np.full(n_envs, t == episode_length),
                np.zeros(n_envs, dtype=bool),
                np.full(n_envs, t == 0),
            )
    return model


def set_continue_probability(model: Dreamer, p: float) -> None:
    out = model.policy.world_model.continue_head[-1]
    with th.no_grad():
        out.weight.zero_()
        out.bias.fill_(math.log(p / (1 - p)))


@pytest.mark.parametrize("n_envs", [1, 2])
def test_terminal_share_and_groups_on_a_known_buffer(n_envs: int) -> None:
    model = model_with_episodes(episode_length=9, n_episodes=30, n_envs=n_envs)  # a termination every 10 rows
    set_continue_probability(model, 0.3)
    with th.no_grad():  # the decoder reconstructs every observation as 0: its error is |observation|
        for parameter in model.policy.world_model.decoder[-1].parameters():
            parameter.zero_()
    result = continue_diagnostics(model, recent=100 * n_envs, regions=cartpole_regions)
    assert result.rows == 100 * n_envs
    assert result.terminal_share == pytest.approx(0.1)
    assert result.terminal_share_all == pytest.approx(0.1)
    ends = result.groups["end: position"]
    assert ends.count == 10 * n_envs  # every terminal row of the recent window, read once
    assert set(result.groups) <= {"end: position", "inside"}
    for group in result.groups.values():  # the head's own output
        assert group.p_continue == pytest.approx(0.3, abs=1e-6)
    assert ends.recon_error[0] == pytest.approx(2.5, abs=1e-5)  # |0 - 2.5| at every terminal row
    assert ends.recon_error[2] == pytest.approx(0.09, abs=1e-5)  # angle 0.01 * 9
    assert result.to_dict()["groups"]["end: position"]["count"] == 10 * n_envs


def test_max_windows_caps_terminal_rows_and_default_groups() -> None:
    model = model_with_episodes(episode_length=4, n_episodes=40)
    result = continue_diagnostics(model, recent=10_000, max_windows=7)
    assert result.groups["end"].count == 7
    assert result.groups["other"].count == 64  # drawn uniformly among the other rows
    assert result.terminal_share == pytest.approx(0.2)


def test_diagnostics_change_nothing() -> None:
    model = model_with_episodes(episode_length=9, n_episodes=10)
    before = {k: v.clone() for k, v in model.policy.state_dict().items()}
    torch_state, numpy_state = th.get_rng_state(), np.random.get_state()[1].copy()
    buffer_state = model.replay_buffer._rng.bit_generator.state
    continue_diagnostics(model)
    assert th.equal(th.get_rng_state(), torch_state)
    assert np.array_equal(np.random.get_state()[1], numpy_state)
    assert model.replay_buffer._rng.bit_generator.state == buffer_state
    for key, value in model.policy.state_dict().items():
        assert th.equal(value, before[key]), key


def test_bad_input_and_empty_buffer() -> None:
    model = Dreamer("MlpPolicy", "CartPole-v1", **{**DREAMER_TINY, "seed": 0})
    with pytest.raises(ValueError, match="no window"):
        continue_diagnostics(model)
    with pytest.raises(ValueError, match="recent"):
        continue_diagnostics(model, recent=0)
    with pytest.raises(ValueError, match="every"):
        ContinueDiagnosticsCallback(every=0)
    with pytest.raises(ValueError, match="4 observation components"):
        cartpole_regions(np.zeros((3, 2)), np.zeros(3, dtype=bool))
    assert ends_and_others(np.zeros((2, 1)), np.array([True, False])).tolist() == ["end", "other"]


def test_callback_measures_during_training_without_changing_it() -> None:
    kwargs = {**DREAMER_TINY, "seed": 0}
    plain = Dreamer("MlpPolicy", "CartPole-v1", **kwargs).learn(160)
    model = Dreamer("MlpPolicy", "CartPole-v1", **kwargs)
    callback = ContinueDiagnosticsCallback(every=50, regions=cartpole_regions)
    model.learn(160, callback=callback)
    assert [entry.env_steps for entry in callback.history] == [50, 100, 150]
    assert all(0 <= entry.terminal_share <= 1 for entry in callback.history)
    for key, value in model.policy.state_dict().items():  # training is the one it would have been
        assert th.equal(value, plain.policy.state_dict()[key]), key
    assert any(key.startswith("diagnostics/p_continue/") for key in model.logger.name_to_value)
