"""Shared math: symlog/symexp, two-hot bins, lambda-returns, the return normalizer."""

from __future__ import annotations

import numpy as np
import pytest
import torch as th
from hypothesis import given, settings
from hypothesis import strategies as st

from rrl_sb3.common.math import ReturnNormalizer, TwoHotBins, lambda_returns, replay_lambda_returns, symexp, symlog

FAST = settings(max_examples=60, deadline=None)
finite = st.floats(min_value=-1e6, max_value=1e6, allow_nan=False, allow_infinity=False)


# ---------------------------------------------------------------------------------------------- symlog


@FAST
@given(st.lists(finite, min_size=1, max_size=20))
def test_symexp_inverts_symlog(values):
    x = th.tensor(values, dtype=th.float64)
    assert th.allclose(symexp(symlog(x)), x, rtol=1e-9, atol=1e-9)


@FAST
@given(st.lists(st.floats(min_value=-20, max_value=20), min_size=1, max_size=20))
def test_symlog_inverts_symexp(values):
    y = th.tensor(values, dtype=th.float64)
    assert th.allclose(symlog(symexp(y)), y, rtol=1e-9, atol=1e-9)


def test_symlog_is_odd_monotonic_and_identity_near_zero():
    x = th.linspace(-100, 100, 2001, dtype=th.float64)
    assert th.equal(symlog(-x), -symlog(x))
    assert (symlog(x).diff() > 0).all()
    small = th.tensor([-1e-4, 0.0, 1e-4], dtype=th.float64)
    assert th.allclose(symlog(small), small, atol=1e-8)
    assert symlog(th.tensor(np.e - 1, dtype=th.float64)).item() == pytest.approx(1.0)


# ---------------------------------------------------------------------------------------------- two-hot


@FAST
@given(st.lists(finite, min_size=1, max_size=20))
def test_two_hot_encode_is_a_distribution_on_two_neighbouring_bins(values):
    bins = TwoHotBins()
    probs = bins.encode(th.tensor(values))
    assert probs.shape == (len(values), 255)
    assert th.allclose(probs.sum(-1), th.ones(len(values)), atol=1e-6)
    assert (probs >= 0).all()
    for row in probs:
        nonzero = th.nonzero(row).flatten()
        assert 1 <= len(nonzero) <= 2
        if len(nonzero) == 2:
            assert nonzero[1] - nonzero[0] == 1


@FAST
@given(st.lists(finite, min_size=1, max_size=20))
def test_two_hot_round_trip_within_bin_resolution(values):
    bins = TwoHotBins()
    y = th.tensor(values)
    decoded = bins.decode(th.log(bins.encode(y)))
    # The expected bin interpolates linearly between the two bins, so the round trip is exact up to float32 rounding,
    # far below the bin width of 40 / 254 in symlog space.
    assert th.allclose(symlog(decoded), symlog(y), atol=1e-4)


def test_two_hot_places_mass_by_distance_and_clamps():
    bins = TwoHotBins(low=-2.0, high=2.0, num_bins=5)
    y = symexp(th.tensor([0.25, -1.5, 5.0, -7.0, 2.0]))
    probs = bins.encode(y)
    expected = th.tensor(
        [
            [0.0, 0.0, 0.75, 0.25, 0.0],  # 0.25 is a quarter of the way from bin 0 to bin 1
            [0.5, 0.5, 0.0, 0.0, 0.0],
            [0.0, 0.0, 0.0, 0.0, 1.0],  # beyond high: clamped to the last bin
            [1.0, 0.0, 0.0, 0.0, 0.0],  # beyond low: clamped to the first bin
            [0.0, 0.0, 0.0, 0.0, 1.0],  # exactly the last bin
        ]
    )
    assert th.allclose(probs, expected, atol=1e-6)
    assert bins.decode(th.log(probs[2])).item() == pytest.approx(symexp(th.tensor(2.0)).item(), rel=1e-5)


def test_two_hot_loss_is_cross_entropy_and_smallest_at_the_target():
    th.manual_seed(0)
    bins = TwoHotBins(num_bins=41)
    target = th.tensor([[-3.0, 0.0], [0.5, 250.0]])
    logits = th.randn(2, 2, 41, requires_grad=True)
    loss = bins.loss(logits, target)
    assert loss.shape == (2, 2)
    manual = -(bins.encode(target) * th.log_softmax(logits, -1)).sum(-1)
    assert th.allclose(loss, manual)
    loss.sum().backward()
    assert logits.grad is not None and th.isfinite(logits.grad).all()
    # The target's own log-probabilities minimise the cross-entropy (it then equals the two-hot's entropy).
    best = th.log(bins.encode(target).clamp_min(1e-12))
    assert (bins.loss(best, target) <= loss.detach() + 1e-6).all()


def test_two_hot_bins_are_a_buffer_and_arguments_are_checked():
    bins = TwoHotBins(num_bins=7)
    assert "bins" in bins.state_dict()
    assert bins.double().bins.dtype == th.float64
    assert bins.decode(th.zeros(3, 7, dtype=th.float64)).dtype == th.float64
    with pytest.raises(ValueError, match="num_bins"):
        TwoHotBins(num_bins=1)
    with pytest.raises(ValueError, match="low"):
        TwoHotBins(low=1.0, high=1.0)
    with pytest.raises(ValueError, match="num_bins=7"):
        bins.decode(th.zeros(3, 5))
    with pytest.raises(ValueError, match="target"):
        bins.loss(th.zeros(3, 7), th.zeros(4))


# ---------------------------------------------------------------------------------------------- lambda-returns


def column(values):
    return th.tensor(values, dtype=th.float64).reshape(-1, 1)


def test_raw_two_hot_predicts_the_mean_of_a_spread_of_targets():
    """Trained on a spread of targets, a two-hot head's optimum is the average of their encodings: in raw space its
    prediction is their mean; in symlog space it is below (Jensen), which left Dreamer's critic far under its targets."""
    targets = th.tensor([10.0, 100.0, -3.0, 2500.0])
    raw, symlog_bins = TwoHotBins(space="raw"), TwoHotBins()
    optimum = raw.encode(targets).mean(0)
    assert raw.decode(optimum.log()).item() == pytest.approx(targets.mean().item(), rel=1e-6)
    assert symlog_bins.decode(symlog_bins.encode(targets).mean(0).log()).item() < 0.5 * targets.mean().item()
    # and gradient descent on the cross-entropy gets there
    logits = th.zeros(255, requires_grad=True)
    optimizer = th.optim.Adam([logits], lr=0.1)
    for _ in range(500):
        optimizer.zero_grad()
        raw.loss(logits.expand(4, 255), targets).mean().backward()
        optimizer.step()
    assert raw.decode(logits.detach()).item() == pytest.approx(targets.mean().item(), rel=1e-2)


@FAST
@given(st.lists(finite, min_size=1, max_size=20))
def test_raw_two_hot_round_trip(values):
    bins = TwoHotBins(space="raw")
    y = th.tensor(values, dtype=th.float64)
    decoded = bins.double().decode(th.log(bins.encode(y)))
    assert th.allclose(decoded, y.clamp(bins.bins[0], bins.bins[-1]), rtol=1e-6, atol=1e-6)


def test_raw_two_hot_bins_are_antisymmetric_and_a_uniform_head_predicts_zero():
    for num_bins in (255, 256, 5):
        bins = TwoHotBins(space="raw", num_bins=num_bins)
        assert th.equal(bins.bins, -bins.bins.flip(0))
        assert bins.bins[-1].item() == pytest.approx(symexp(th.tensor(20.0, dtype=th.float64)).item(), rel=1e-6)
        assert bins.decode(th.zeros(3, num_bins)).tolist() == [0.0, 0.0, 0.0]  # exactly, despite bins of 5e8
    assert TwoHotBins(space="raw", low=-1.0, high=3.0).decode(th.zeros(255)).item() > 0.0  # asymmetric: plain sum
    with pytest.raises(ValueError, match="space must be 'symlog' or 'raw', got space='log'"):
        TwoHotBins(space="log")


def test_replay_lambda_returns_hand_computed():
    """One sequence of 6 rows: an episode ending in a termination at row 2, a new one starting at row 3 and cut by
    a time limit at row 4 (a truncation, which bootstraps), a third starting at row 5."""
    rewards = th.tensor([[0.0, 1.0, 2.0, 0.0, 3.0, 0.0]], dtype=th.float64)  # r_{t-1}, 0 at episode starts
    terminated = th.tensor([[0, 0, 1, 0, 0, 0]], dtype=th.float64)
    last = th.tensor([[0, 0, 1, 0, 1, 0]], dtype=th.float64)
    boot = th.tensor([[5.0, 6.0, 7.0, 8.0, 9.0, 10.0]], dtype=th.float64)  # imagined return from each row
    # gamma = 0.9, lam = 0.5:
    # R_4 (row 4 ends its episode; masked by the loss): r'=0, next row 5 is not last -> 0 + 0.9 * (0.5 * 10 + 0.5 * 10) = 9
    # R_3: r'=3, row 4 is last (truncated, not terminal) -> lam_3 = 0: 3 + 0.9 * 9 = 11.1
    # R_2 (masked): r'=0 + 0.9 * (0.5 * 8 + 0.5 * 11.1) = 8.595
    # R_1: r'=2, row 2 terminal -> 2 + 0 = 2
    # R_0: r'=1, row 1 continues -> 1 + 0.9 * (0.5 * 6 + 0.5 * 2) = 4.6
    returns = replay_lambda_returns(rewards, terminated, last, boot, gamma=0.9, lam=0.5)
    assert returns.shape == (1, 5)
    assert returns.flatten().tolist() == pytest.approx([4.6, 2.0, 8.595, 11.1, 9.0])
    with pytest.raises(ValueError, match="last must have the shape of rewards"):
        replay_lambda_returns(rewards, terminated, last[:, :3], boot, gamma=0.9, lam=0.5)
    # carrying no row is the same as no carry
    none = replay_lambda_returns(rewards, terminated, last, boot, gamma=0.9, lam=0.5, carry=th.zeros_like(rewards))
    assert th.equal(none, returns)
    with pytest.raises(ValueError, match="carry must have the shape of rewards"):
        replay_lambda_returns(rewards, terminated, last, boot, gamma=0.9, lam=0.5, carry=th.zeros(1, 3))


def test_replay_lambda_returns_carry_real_rewards_to_the_rows_with_a_value():
    """Values only at rows 3 and 5 of one episode of 6 rows (imagination started there): the rows before carry the
    real rewards on to them (lambda 1 into a carried row), and the last row's value ends the recursion."""
    rewards = th.tensor([[0.0, 1.0, 2.0, 3.0, 4.0, 5.0]], dtype=th.float64)
    terminated = th.zeros(1, 6, dtype=th.float64)
    last = th.zeros(1, 6, dtype=th.float64)
    boot = th.tensor([[-1.0, -1.0, -1.0, 10.0, -1.0, 20.0]], dtype=th.float64)  # -1: slow critic, never mixed in
    carry = th.tensor([[1, 1, 1, 0, 1, 0]], dtype=th.float64)
    # gamma = 0.5, lam = 0.5:
    # R_4 = 5 + 0.5 * 20 = 15 (row 5 is the last: its value)
    # R_3 = 4 + 0.5 * R_4 = 11.5 (row 4 carried: lambda 1)
    # R_2 = 3 + 0.5 * (0.5 * 10 + 0.5 * 11.5) = 8.375 (row 3 has a value: lambda 0.5)
    # R_1 = 2 + 0.5 * 8.375 = 6.1875;  R_0 = 1 + 0.5 * 6.1875 = 4.09375
    returns = replay_lambda_returns(rewards, terminated, last, boot, gamma=0.5, lam=0.5, carry=carry)
    assert returns.flatten().tolist() == pytest.approx([4.09375, 6.1875, 8.375, 11.5, 15.0])
    # a truncation at row 2 cuts the carried recursion there, with row 2's value (the slow critic's)
    cut = replay_lambda_returns(rewards, terminated, last.index_fill(1, th.tensor([2]), 1.0), boot, 0.5, 0.5, carry)
    assert cut[0, 1].item() == pytest.approx(2 + 0.5 * -1.0)
    with pytest.raises(ValueError, match="lam as a tensor must have the shape of rewards"):
        ones = th.ones(3, 1)
        lambda_returns(ones, ones, ones, th.ones(1), gamma=0.9, lam=th.ones(2, 1))


def test_lambda_returns_hand_computed():
    rewards = column([1.0, 2.0, 3.0])
    values = column([10.0, 4.0, 6.0])  # v_0 = 10 does not enter the returns
    continues = column([1.0, 1.0, 0.5])
    bootstrap = th.tensor([8.0], dtype=th.float64)
    # gamma = 0.9, lam = 0.5, R_3 = v_3 = 8:
    # R_2 = 3 + 0.9 * 0.5 * (0.5 * 8 + 0.5 * 8)      = 3 + 3.6           = 6.6
    # R_1 = 2 + 0.9 * 1.0 * (0.5 * 6 + 0.5 * 6.6)    = 2 + 0.9 * 6.3     = 7.67
    # R_0 = 1 + 0.9 * 1.0 * (0.5 * 4 + 0.5 * 7.67)   = 1 + 0.9 * 5.835   = 6.2515
    returns = lambda_returns(rewards, values, continues, bootstrap, gamma=0.9, lam=0.5)
    assert returns.flatten().tolist() == pytest.approx([6.2515, 7.67, 6.6])
    values_changed = values.clone()
    values_changed[0] = -100.0
    assert th.equal(lambda_returns(rewards, values_changed, continues, bootstrap, gamma=0.9, lam=0.5), returns)


def random_trajectory(seed: int, steps: int = 6, batch: int = 3):
    gen = th.Generator().manual_seed(seed)
    rewards = th.randn(steps, batch, generator=gen, dtype=th.float64)
    values = th.randn(steps, batch, generator=gen, dtype=th.float64)
    continues = th.rand(steps, batch, generator=gen, dtype=th.float64)
    bootstrap = th.randn(batch, generator=gen, dtype=th.float64)
    return rewards, values, continues, bootstrap


def test_lambda_one_is_discounted_monte_carlo_with_bootstrap():
    rewards, values, continues, bootstrap = random_trajectory(0)
    gamma = 0.95
    returns = lambda_returns(rewards, values, continues, bootstrap, gamma=gamma, lam=1.0)
    steps = rewards.shape[0]
    for t in range(steps):
        expected, discount = th.zeros_like(bootstrap), th.ones_like(bootstrap)
        for k in range(t, steps):
            expected = expected + discount * rewards[k]
            discount = discount * gamma * continues[k]
        expected = expected + discount * bootstrap
        assert th.allclose(returns[t], expected)


def test_lambda_zero_is_one_step_td():
    rewards, values, continues, bootstrap = random_trajectory(1)
    returns = lambda_returns(rewards, values, continues, bootstrap, gamma=0.9, lam=0.0)
    next_values = th.cat([values[1:], bootstrap[None]])
    assert th.allclose(returns, rewards + 0.9 * continues * next_values)


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**16), lam=st.floats(0.0, 1.0), gamma=st.floats(0.0, 1.0), steps=st.integers(1, 7))
def test_lambda_returns_are_the_lambda_weighted_average_of_n_step_returns(seed, lam, gamma, steps):
    rewards, values, continues, bootstrap = random_trajectory(seed, steps=steps, batch=2)
    returns = lambda_returns(rewards, values, continues, bootstrap, gamma=gamma, lam=lam)
    all_values = th.cat([values, bootstrap[None]])  # v_0 .. v_T
    for t in range(steps):
        horizon = steps - t
        n_step, partial, discount = [], th.zeros(2, dtype=th.float64), th.ones(2, dtype=th.float64)
        for n in range(1, horizon + 1):
            partial = partial + discount * rewards[t + n - 1]
            discount = discount * gamma * continues[t + n - 1]
            n_step.append(partial + discount * all_values[t + n])
        # Weights (1 - lam) * lam^(n-1) for n < horizon; the longest return gets the remaining lam^(horizon-1).
        shorter = sum((1 - lam) * lam ** (n - 1) * n_step[n - 1] for n in range(1, horizon))
        expected = shorter + lam ** (horizon - 1) * n_step[-1]
        assert th.allclose(returns[t], expected, atol=1e-9)


def test_zero_continue_cuts_the_bootstrap():
    rewards, values, continues, bootstrap = random_trajectory(2, steps=4)
    continues[1] = 0.0  # s_2 is terminal
    returns = lambda_returns(rewards, values, continues, bootstrap, gamma=0.99, lam=0.8)
    assert th.allclose(returns[1], rewards[1])
    later_rewards, later_values = rewards.clone(), values.clone()
    later_rewards[2:] += 100.0
    later_values[2:] *= 3.0
    changed = lambda_returns(later_rewards, later_values, continues, bootstrap + 50.0, gamma=0.99, lam=0.8)
    assert th.equal(changed[:2], returns[:2])
    assert th.allclose(returns[0], rewards[0] + 0.99 * continues[0] * (0.2 * values[1] + 0.8 * rewards[1]))


def test_lambda_returns_keep_gradients_and_check_shapes():
    rewards, values, continues, bootstrap = random_trajectory(3)
    values.requires_grad_(True)
    lambda_returns(rewards, values, continues, bootstrap, gamma=0.9, lam=0.5).sum().backward()
    assert values.grad is not None and values.grad[0].abs().sum() == 0 and values.grad[1:].abs().sum() > 0
    with pytest.raises(ValueError, match="values"):
        lambda_returns(rewards, values[:-1], continues, bootstrap, gamma=0.9, lam=0.5)
    with pytest.raises(ValueError, match="bootstrap"):
        lambda_returns(rewards, values, continues, bootstrap[None], gamma=0.9, lam=0.5)
    with pytest.raises(ValueError, match="gamma"):
        lambda_returns(rewards, values, continues, bootstrap, gamma=1.5, lam=0.5)
    with pytest.raises(ValueError, match="lam"):
        lambda_returns(rewards, values, continues, bootstrap, gamma=0.9, lam=-0.1)


# ---------------------------------------------------------------------------------------------- return normalizer


def test_return_normalizer_scale_on_a_known_batch():
    batch = th.arange(101.0)  # 5th percentile 5, 95th percentile 95
    norm = ReturnNormalizer()
    assert norm.scale.item() == 1.0
    norm.update(batch)
    assert norm.low.item() == pytest.approx(0.05)
    assert norm.high.item() == pytest.approx(0.95)
    assert norm.scale.item() == 1.0  # spread 0.9 < 1: never scaled up
    for _ in range(99):
        norm.update(batch)
    # After n updates from zero, both quantiles are (1 - 0.99**n) of the batch's.
    assert norm.scale.item() == pytest.approx(90.0 * (1 - 0.99**100), rel=1e-5)
    instant = ReturnNormalizer(decay=0.0)
    instant.update(th.tensor([[0.0, 10.0]]))  # linear interpolation: 0.5 and 9.5
    assert instant.scale.item() == pytest.approx(9.0)
    instant.update(th.full((7,), 3.0))
    assert instant.scale.item() == 1.0


def test_return_normalizer_is_deterministic_and_saved_in_state_dict():
    gen = th.Generator().manual_seed(0)
    batches = [th.randn(64, generator=gen) * 30 for _ in range(5)]
    first, second = ReturnNormalizer(), ReturnNormalizer()
    for batch in batches:
        first.update(batch)
        second.update(batch.clone().requires_grad_(True))
    assert th.equal(first.scale, second.scale)
    restored = ReturnNormalizer()
    restored.load_state_dict(first.state_dict())
    assert set(first.state_dict()) == {"low", "high"}
    assert th.equal(restored.scale, first.scale)


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"decay": 1.0}, "decay"),
        ({"decay": -0.1}, "decay"),
        ({"low_quantile": 0.9, "high_quantile": 0.1}, "low_quantile"),
        ({"min_scale": 0.0}, "min_scale"),
    ],
)
def test_return_normalizer_checks_arguments(kwargs, name):
    with pytest.raises(ValueError, match=name):
        ReturnNormalizer(**kwargs)
    with pytest.raises(ValueError, match="at least one"):
        ReturnNormalizer().update(th.zeros(0))
