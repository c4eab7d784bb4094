"""Numerical pieces of DreamerV3-style learning: symlog, two-hot regression, lambda-returns, return scaling.

All functions work on tensors of any batch shape and keep the autograd graph unless stated otherwise.
"""

from __future__ import annotations

import torch as th
from torch import nn


def symlog(x: th.Tensor) -> th.Tensor:
    """Symmetric logarithm ``sign(x) * log(1 + |x|)``.

    Compresses large magnitudes while staying close to the identity around zero, so targets of very
    different scales (rewards, values, observations) can be regressed with one loss.

    :param x: input tensor
    :return: ``symlog(x)``, same shape and dtype

    Example:
        >>> import torch as th
        >>> from rrl_sb3.common.math import symexp, symlog
        >>> x = th.tensor([-1000.0, -1.0, 0.0, 0.5, 1e6])
        >>> symlog(x)[2].item(), th.allclose(symexp(symlog(x)), x)
        (0.0, True)
    """
    return th.sign(x) * th.log1p(th.abs(x))


def symexp(x: th.Tensor) -> th.Tensor:
    """Inverse of :func:`symlog`: ``sign(x) * (exp(|x|) - 1)``.

    :param x: input tensor
    :return: ``symexp(x)``, same shape and dtype
    """
    return th.sign(x) * th.expm1(th.abs(x))


class TwoHotBins(nn.Module):
    """Two-hot regression over bins spaced uniformly in symlog space (DreamerV3's reward and value heads).

    A head outputs ``num_bins`` logits; its prediction is the expectation of the bins under
    ``softmax(logits)``, and it is trained with the cross-entropy between the logits and the two-hot encoding
    of the target: the target is split between its two neighbouring bins in proportion to its distance from each
    (a bin hit exactly gets all the mass; targets beyond the outer bins are clamped to them). ``space`` says where
    the interpolation and the expectation happen:

    - ``"symlog"``: bins at ``linspace(low, high)`` in symlog space; the target is ``symlog(y)`` and the prediction
      ``symexp(E[bin])``. A head trained on a spread of targets then predicts *less* than their mean (Jensen: for
      targets 10 and 100 in equal parts, 32.3 rather than 55).
    - ``"raw"``: bins at ``symexp(linspace(low, high))``, interpolation and expectation in the original scale, as
      DreamerV3's current code does: the prediction of a head trained on a spread of targets is their mean. With
      symmetric bounds (``low == -high``) the bins are exactly antisymmetric and the expectation is summed in pairs
      of opposite bins, so uniform probabilities (a zero-initialised head) predict exactly 0 despite bins up to
      ``symexp(20)`` (about ``5e8``).

    The bin values (in the space of ``space``) are a buffer: ``.to(device)`` moves them and they are in the
    ``state_dict``.

    :param low: lowest bin, in symlog space (``-20`` covers returns down to about ``-5e8``)
    :param high: highest bin, in symlog space
    :param num_bins: number of bins, at least 2
    :param space: ``"symlog"`` or ``"raw"`` (see above)

    Example:
        >>> import torch as th
        >>> from rrl_sb3.common.math import TwoHotBins
        >>> bins = TwoHotBins(low=-2.0, high=2.0, num_bins=5)
        >>> bins.bins.tolist()
        [-2.0, -1.0, 0.0, 1.0, 2.0]
        >>> bins.encode(th.tensor([0.0])).tolist()  # symlog(0) = 0 falls exactly on a bin
        [[0.0, 0.0, 1.0, 0.0, 0.0]]
        >>> bins.encode(th.tensor([100.0])).tolist()  # symlog(100) = 4.6 is clamped to the last bin
        [[0.0, 0.0, 0.0, 0.0, 1.0]]
        >>> raw = TwoHotBins(space="raw")  # the mean of a spread of targets, not below it
        >>> probs = raw.encode(th.tensor([10.0, 100.0])).mean(0)
        >>> round(raw.decode(probs.log()).item(), 3), round(TwoHotBins().decode(TwoHotBins().encode(
        ...     th.tensor([10.0, 100.0])).mean(0).log()).item(), 1)
        (55.0, 32.3)
    """

    bins: th.Tensor

    def __init__(self, low: float = -20.0, high: float = 20.0, num_bins: int = 255, space: str = "symlog") -> None:
        super().__init__()
        if isinstance(num_bins, bool) or not isinstance(num_bins, int) or num_bins < 2:
            raise ValueError(f"num_bins must be an integer >= 2, got num_bins={num_bins!r}")
        if not float(low) < float(high):
            raise ValueError(f"low must be smaller than high, got low={low!r}, high={high!r}")
        if space not in ("symlog", "raw"):
            raise ValueError(f"space must be 'symlog' or 'raw', got space={space!r}")
        self.low = float(low)
        self.high = float(high)
        self.num_bins = num_bins
        self.space = space
        # symexp in float64 before rounding the raw bins; the symlog bins are float32's linspace
        points = th.linspace(self.low, self.high, num_bins, dtype=th.float64 if space == "raw" else th.float32)
        self.symmetric = space == "raw" and self.low == -self.high
        if space == "raw":
            points = symexp(points)
            if self.symmetric:  # exactly antisymmetric, whatever the rounding of linspace and expm1
                half = points[: num_bins // 2]
                middle = th.zeros(num_bins % 2, dtype=th.float64)
                points = th.cat([half, middle, -half.flip(0)])
        self.register_buffer("bins", points.to(th.float32))

    def _to_space(self, y: th.Tensor) -> th.Tensor:
        return symlog(y) if self.space == "symlog" else y

    def encode(self, y: th.Tensor) -> th.Tensor:
        """Two-hot distribution of ``y`` over the bins (of ``symlog(y)`` in symlog space).

        :param y: targets of any shape ``(...)``, in the original (not symlog) scale
        :return: probabilities of shape ``(..., num_bins)``; each row sums to 1 and has at most two
            non-zero entries, at neighbouring bins. No gradient flows to ``y``.
        """
        below, weight_above = self._neighbours(y)
        probs = th.zeros((*y.shape, self.num_bins), dtype=y.dtype, device=y.device)
        probs.scatter_(-1, below.unsqueeze(-1), (1.0 - weight_above).unsqueeze(-1))
        probs.scatter_add_(-1, (below + 1).unsqueeze(-1), weight_above.unsqueeze(-1))
        return probs

    def _neighbours(self, y: th.Tensor) -> tuple[th.Tensor, th.Tensor]:
        """The index of the bin at or below each target (the last bin pairs with the one before it) and the weight of
        the bin above it in the two-hot encoding."""
        y = y.detach()
        bins = self.bins.to(y.dtype)
        x = th.minimum(th.maximum(self._to_space(y), bins[0]), bins[-1])
        below = (th.searchsorted(bins, x.contiguous(), right=True) - 1).clamp(0, self.num_bins - 2)
        weight_above = ((x - bins[below]) / (bins[below + 1] - bins[below])).clamp(0.0, 1.0)
        return below, weight_above

    def decode(self, logits: th.Tensor) -> th.Tensor:
        """Prediction of a two-hot head: the expected bin under ``softmax(logits)``, in the original scale.

        :param logits: unnormalised scores of shape ``(..., num_bins)``
        :return: predictions of shape ``(...)``, in the original scale
        """
        self._check_logits(logits)
        probs = th.softmax(logits, dim=-1)
        bins = self.bins.to(probs.dtype)
        if self.space == "symlog":
            return symexp((probs * bins).sum(dim=-1))
        if not self.symmetric:
            return (probs * bins).sum(dim=-1)
        # Bins i and n-1-i are opposite: sum (p_upper - p_lower) * b_upper, exactly 0 for a uniform distribution.
        n = self.num_bins
        upper = bins[(n + 1) // 2 :]
        difference = probs[..., (n + 1) // 2 :] - probs[..., : n // 2].flip(-1)
        return (difference * upper).sum(dim=-1)

    def loss(self, logits: th.Tensor, target: th.Tensor) -> th.Tensor:
        """Cross-entropy between the head's logits and the two-hot encoding of ``target``.

        :param logits: unnormalised scores of shape ``(..., num_bins)``
        :param target: targets of shape ``(...)``, in the original scale (treated as constants)
        :return: per-element loss of shape ``(...)``, not reduced, so callers can mask or weight it
        """
        self._check_logits(logits)
        if logits.shape[:-1] != target.shape:
            raise ValueError(
                f"logits of shape {tuple(logits.shape)} do not match target of shape {tuple(target.shape)}: "
                f"expected logits of shape {(*target.shape, self.num_bins)}"
            )
        log_probs = th.log_softmax(logits, dim=-1)
        # The two non-zero terms of the encoding's dot product, gathered: no dense (..., num_bins) target to build.
        below, weight_above = self._neighbours(target.to(log_probs.dtype))
        pair = log_probs.gather(-1, th.stack([below, below + 1], dim=-1))
        return -((1.0 - weight_above) * pair[..., 0] + weight_above * pair[..., 1])

    def _check_logits(self, logits: th.Tensor) -> None:
        if logits.ndim == 0 or logits.shape[-1] != self.num_bins:
            raise ValueError(
                f"logits must have a last dimension of size num_bins={self.num_bins}, got shape {tuple(logits.shape)}"
            )

    def extra_repr(self) -> str:
        return f"low={self.low}, high={self.high}, num_bins={self.num_bins}, space={self.space!r}"


def lambda_returns(
    rewards: th.Tensor,
    values: th.Tensor,
    continues: th.Tensor,
    bootstrap: th.Tensor,
    gamma: float,
    lam: float | th.Tensor,
) -> th.Tensor:
    """TD(lambda) returns of a time-major trajectory ``s_0, s_1, ..., s_T``.

    Indexing (all tensors time-major, ``T`` steps, any batch shape ``(...)``): step ``t`` is the transition
    ``s_t -> s_{t+1}``.

    - ``rewards[t]``: reward received on that transition, ``r_t``;
    - ``continues[t]``: probability that ``s_{t+1}`` is not terminal, ``c_t`` (``1 - terminated``, or the
      world model's continue prediction for ``s_{t+1}``);
    - ``values[t]``: critic's value of ``s_t``, ``v_t``; ``values[0]`` does not enter the returns (it is taken
      so the tensor that the returns are targets for can be passed as is);
    - ``bootstrap``: value of the state after the last step, ``v_T``, shape ``(...)``.

    The returns are, for ``t = T-1`` down to ``0``, with ``R_T = v_T``::

        R_t = r_t + gamma * c_t * ((1 - lam) * v_{t+1} + lam * R_{t+1})

    so ``lam = 1`` gives the discounted sum of rewards bootstrapped with ``v_T`` and ``lam = 0`` the
    one-step TD target ``r_t + gamma * c_t * v_{t+1}``; ``c_t = 0`` cuts off everything after ``s_{t+1}``.

    In DreamerV3's imagination the reward and continue heads predict, for each imagined state ``s_k``, the
    reward received on arriving there and whether it continues. Pass ``rewards = reward_pred[1:]``,
    ``continues = continue_pred[1:]``, ``values = value_pred[:-1]`` and ``bootstrap = value_pred[-1]``.

    :param rewards: ``r_t``, shape ``(T, ...)``
    :param values: ``v_t``, shape ``(T, ...)``
    :param continues: ``c_t`` in ``[0, 1]``, shape ``(T, ...)``
    :param bootstrap: ``v_T``, shape ``(...)``
    :param gamma: discount factor in ``[0, 1]``
    :param lam: lambda in ``[0, 1]``, the weight of the longer returns; or one per step, ``lam_t``, shape ``(T, ...)``
        (a step with ``lam_t = 0`` bootstraps with ``v_{t+1}`` only: where an episode's last step cuts the
        recursion, see :func:`replay_lambda_returns`)
    :return: ``R_0 ... R_{T-1}``, shape ``(T, ...)``; gradients flow to all inputs (detach what should not learn)

    Example:
        >>> import torch as th
        >>> from rrl_sb3.common.math import lambda_returns
        >>> ones = th.ones(2, 1)
        >>> lambda_returns(ones, th.zeros(2, 1), ones, th.tensor([10.0]), gamma=0.5, lam=1.0).flatten().tolist()
        [4.0, 6.0]
    """
    if rewards.ndim == 0 or rewards.shape[0] == 0:
        raise ValueError(f"rewards must have a non-empty leading time axis, got shape {tuple(rewards.shape)}")
    for name, tensor in (("values", values), ("continues", continues)):
        if tensor.shape != rewards.shape:
            raise ValueError(f"{name} must have the shape of rewards {tuple(rewards.shape)}, got {tuple(tensor.shape)}")
    if bootstrap.shape != rewards.shape[1:]:
        raise ValueError(
            f"bootstrap must have the shape of one time step of rewards {tuple(rewards.shape[1:])}, "
            f"got {tuple(bootstrap.shape)}"
        )
    if not 0.0 <= gamma <= 1.0:
        raise ValueError(f"gamma must be in [0, 1], got gamma={gamma!r}")
    if isinstance(lam, th.Tensor):
        if lam.shape != rewards.shape:
            raise ValueError(f"lam as a tensor must have the shape of rewards {tuple(rewards.shape)}, got {tuple(lam.shape)}")
    elif not 0.0 <= lam <= 1.0:
        raise ValueError(f"lam must be in [0, 1], got lam={lam!r}")

    discounts = gamma * continues.to(rewards.dtype)
    # v_{t+1} for every step: the next value in the sequence, then the bootstrap.
    next_values = th.cat([values[1:], bootstrap.unsqueeze(0)], dim=0)
    step_lam = lam.to(rewards.dtype) if isinstance(lam, th.Tensor) else None
    partial = rewards + discounts * (1.0 - (lam if step_lam is None else step_lam)) * next_values
    returns = []
    ret = bootstrap
    for t in reversed(range(rewards.shape[0])):
        ret = partial[t] + discounts[t] * (lam if step_lam is None else step_lam[t]) * ret
        returns.append(ret)
    # Built as a list (no in-place writes) so autograd works through the recursion.
    return th.stack(returns[::-1], dim=0)


def replay_lambda_returns(
    rewards: th.Tensor,
    terminated: th.Tensor,
    last: th.Tensor,
    bootstrap: th.Tensor,
    gamma: float,
    lam: float,
    carry: th.Tensor | None = None,
) -> th.Tensor:
    """TD(lambda) returns of replayed sequences, bootstrapped at every step with a value from imagination.

    DreamerV3's replay value loss: the critic also regresses, on the posterior states of real sequences, the
    lambda-returns of the real rewards and terminations, where the value of each next state is ``bootstrap``,
    the imagined return from it. Batch-major, in the replay buffer's layout (row ``t`` holds ``o_t``, the reward
    ``r_{t-1}`` received on arriving there, and whether ``o_t`` is terminal or the last of its episode)::

        R_t = r_t' + gamma * (1 - terminated_{t+1}) * ((1 - lam_t) * b_{t+1} + lam_t * R_{t+1}),   R_{L-1} = b_{L-1}
        r_t' = rewards[t + 1],   lam_t = lam * (1 - last_{t+1})

    so the recursion stops at the end of an episode (the return of its last transition is its reward plus the
    discounted bootstrap, zero if it terminated) and never reaches into the next episode. The return of a row
    that is itself the last of an episode is meaningless: callers mask it (weight ``1 - last_t``).

    With ``carry``, a row ``t + 1`` marked there has no value of its own to mix in: the return passes through it
    with ``lam_t = 1 - last_{t+1}``: the real rewards carry on to the next unmarked row. ``b`` is still used where
    the recursion has nothing else: at a row that ends an episode by truncation, and at the sequence's last row. So
    imagined returns from a few rows of each sequence can bootstrap the returns of all of them.

    :param rewards: ``(B, L)``, row ``t`` the reward received on arriving at ``o_t``
    :param terminated: ``(B, L)``, 1 where ``o_t`` is terminal
    :param last: ``(B, L)``, 1 where ``o_t`` ends its episode (terminal or truncated)
    :param bootstrap: ``(B, L)``, the value of each ``o_t`` (the imagined return from its posterior state)
    :param gamma: discount factor
    :param lam: lambda in ``[0, 1]``
    :param carry: ``(B, L)``, 1 where a row's ``bootstrap`` is not to be mixed in (``None``: every row's is)
    :return: ``R_0 ... R_{L-2}``, shape ``(B, L - 1)``, for the rows that have a next row
    """
    if rewards.ndim != 2 or rewards.shape[1] < 2:
        raise ValueError(f"rewards must be (batch, length >= 2), got shape {tuple(rewards.shape)}")
    named = (("terminated", terminated), ("last", last), ("bootstrap", bootstrap), ("carry", carry))
    for name, tensor in named:
        if tensor is not None and tensor.shape != rewards.shape:
            raise ValueError(f"{name} must have the shape of rewards {tuple(rewards.shape)}, got {tuple(tensor.shape)}")
    dtype = rewards.dtype
    step_lam = lam if carry is None else th.where(carry[:, 1:].bool(), 1.0, lam).to(dtype)
    step_lam = step_lam * (1.0 - last[:, 1:].to(dtype))
    returns = lambda_returns(
        rewards[:, 1:].T,
        bootstrap[:, :-1].T,  # "v_t" of lambda_returns; only v_1 ... (the next states' values) enter the returns
        (1.0 - terminated[:, 1:].to(dtype)).T,
        bootstrap[:, -1],
        gamma,
        step_lam.T,
    )
    return returns.T


class ReturnNormalizer(nn.Module):
    """DreamerV3's return scale: an exponential moving average of the spread of a batch of returns.

    Each :meth:`update` moves ``low`` and ``high`` towards the batch's ``low_quantile`` and ``high_quantile``
    (5th and 95th percentiles by default)::

        low  <- decay * low  + (1 - decay) * quantile(returns, low_quantile)
        high <- decay * high + (1 - decay) * quantile(returns, high_quantile)

    and ``scale = max(min_scale, high - low)``. Both start at 0, as in DreamerV3, so the scale stays at
    ``min_scale`` until the spread has built up: returns with a small spread are never scaled up, which would
    amplify noise when rewards are sparse. The quantiles use linear interpolation
    (:func:`torch.quantile`), so updates are deterministic.

    ``low`` and ``high`` are buffers: they follow ``.to(device)`` and are saved in the
    ``state_dict``.

    :param decay: EMA decay in ``[0, 1)``; 0 uses the last batch only
    :param low_quantile: lower quantile, in ``[0, 1)``
    :param high_quantile: upper quantile, in ``(low_quantile, 1]``
    :param min_scale: smallest scale returned, positive

    Example:
        >>> import torch as th
        >>> from rrl_sb3.common.math import ReturnNormalizer
        >>> norm = ReturnNormalizer(decay=0.0)
        >>> norm.update(th.arange(101.0))  # quantiles 5 and 95
        >>> float(norm.scale)
        90.0
    """

    low: th.Tensor
    high: th.Tensor

    def __init__(
        self, decay: float = 0.99, low_quantile: float = 0.05, high_quantile: float = 0.95, min_scale: float = 1.0
    ) -> None:
        super().__init__()
        if not 0.0 <= decay < 1.0:
            raise ValueError(f"decay must be in [0, 1), got decay={decay!r}")
        if not 0.0 <= low_quantile < high_quantile <= 1.0:
            raise ValueError(
                "need 0 <= low_quantile < high_quantile <= 1, "
                f"got low_quantile={low_quantile!r}, high_quantile={high_quantile!r}"
            )
        if not min_scale > 0.0:
            raise ValueError(f"min_scale must be positive, got min_scale={min_scale!r}")
        self.decay = float(decay)
        self.low_quantile = float(low_quantile)
        self.high_quantile = float(high_quantile)
        self.min_scale = float(min_scale)
        self.register_buffer("low", th.zeros((), dtype=th.float32))
        self.register_buffer("high", th.zeros((), dtype=th.float32))

    @th.no_grad()
    def update(self, returns: th.Tensor) -> None:
        """Move the moving quantiles towards those of ``returns``.

        :param returns: a batch of returns of any shape, at least one element (no gradient is taken)
        """
        if returns.numel() == 0:
            raise ValueError("returns must contain at least one element")
        flat = returns.detach().reshape(-1).to(device=self.low.device, dtype=th.float32)
        quantiles = th.quantile(flat, th.tensor([self.low_quantile, self.high_quantile], device=flat.device))
        self.low.mul_(self.decay).add_((1.0 - self.decay) * quantiles[0])
        self.high.mul_(self.decay).add_((1.0 - self.decay) * quantiles[1])

    @property
    def scale(self) -> th.Tensor:
        """``max(min_scale, high - low)`` as a 0-dim tensor on the normalizer's device (no host sync)."""
        return th.clamp(self.high - self.low, min=self.min_scale)

    def extra_repr(self) -> str:
        quantiles = f"low_quantile={self.low_quantile}, high_quantile={self.high_quantile}"
        return f"decay={self.decay}, {quantiles}, min_scale={self.min_scale}"
