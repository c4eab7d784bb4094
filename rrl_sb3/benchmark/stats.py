"""Statistics of the benchmark report: interquartile mean, its stratified-bootstrap interval, steps to a threshold.

The method is rliable's (Agarwal et al., 2021, "Deep RL at the Edge of the Statistical Precipice"), computed with
SciPy instead of rliable itself (rliable's pinned ``arch`` does not import next to pandas 3):

- **IQM** (interquartile mean): the mean of the middle 50% of the scores, ``scipy.stats.trim_mean(x, 0.25)``: a
  quarter of the scores is cut from each end (``int(0.25 * n)`` of them, rounded down, as SciPy and rliable do),
  so with fewer than four scores it is the plain mean.
- **Stratified bootstrap**: the scores come in strata (one per task, i.e. per environment); each bootstrap sample
  draws, with replacement, as many runs from each stratum as it holds, independently across strata, and takes the
  IQM of their union. ``scipy.stats.bootstrap`` does exactly this when given one sample per stratum with
  ``paired=False``. The interval is the percentile interval (rliable's default) of ``n_resamples`` such IQMs.
  A per-environment table has one stratum whose runs are the seeds.
- **Steps to a threshold**: following the evaluation protocol, a run "reaches X by N steps" when the evaluation at
  N steps (not the best one before it) is at least X; its steps to X are the first evaluation step that is. The
  same holds on the other axis of the protocol, training CPU seconds (:func:`first_reaching`).
- **Return at a budget**: the return of a run's last evaluation at or before the budget, on either axis
  (:func:`return_at`): at equal CPU seconds, each run is compared by the policy it had when it had used that much.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy import stats


def iqm(scores: Sequence[float] | np.ndarray) -> float:
    """Interquartile mean of ``scores``: ``scipy.stats.trim_mean(scores, 0.25)`` over all values.

    :param scores: one score per run (any shape; flattened)
    :return: the IQM (``nan`` for no scores)
    """
    values = np.asarray(scores, dtype=np.float64).ravel()
    if values.size == 0:
        return float("nan")
    return float(stats.trim_mean(values, 0.25))


def iqm_interval(
    strata: Sequence[Sequence[float] | np.ndarray],
    confidence_level: float = 0.95,
    n_resamples: int = 10_000,
    seed: int = 0,
) -> tuple[float, float]:
    """Percentile interval of the IQM under a stratified bootstrap (runs resampled within each stratum).

    :param strata: the scores of each stratum (task), e.g. ``[final_returns_of_the_seeds]`` for one environment
    :param confidence_level: coverage of the interval
    :param n_resamples: bootstrap samples
    :param seed: seed of the resampling generator (the interval is reproducible)
    :return: ``(low, high)``; ``(nan, nan)`` when a stratum has fewer than two runs (nothing to resample)
    """
    samples = tuple(np.asarray(s, dtype=np.float64).ravel() for s in strata)
    if not samples:
        raise ValueError("strata must hold at least one stratum, got strata=[]")
    if not 0.0 < confidence_level < 1.0:
        raise ValueError(f"confidence_level must be in (0, 1), got confidence_level={confidence_level!r}")
    if min(s.size for s in samples) < 2:
        return float("nan"), float("nan")

    def statistic(*resampled: np.ndarray, axis: int = -1) -> np.ndarray:
        return stats.trim_mean(np.concatenate(resampled, axis=axis), 0.25, axis=axis)

    result = stats.bootstrap(
        samples,
        statistic,
        n_resamples=n_resamples,
        vectorized=True,
        paired=False,
        confidence_level=confidence_level,
        method="percentile",
        rng=np.random.default_rng(seed),
    )
    return float(result.confidence_interval.low), float(result.confidence_interval.high)


def mean_interval(
    values: np.ndarray, confidence_level: float = 0.95, n_resamples: int = 2_000, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Percentile bootstrap interval of the mean over the first axis, for every column (the band of a learning curve).

    :param values: ``(n_runs, n_points)``; ``nan`` where a run has no value at a point
    :return: ``(low, high)`` of shape ``(n_points,)``; ``nan`` at points with fewer than two runs
    """
    values = np.asarray(values, dtype=np.float64)
    low = np.full(values.shape[1], np.nan)
    high = np.full(values.shape[1], np.nan)
    rng = np.random.default_rng(seed)
    for j in range(values.shape[1]):
        column = values[:, j][~np.isnan(values[:, j])]
        if column.size < 2:
            continue
        if np.all(column == column[0]):  # a degenerate sample: the interval is the point
            low[j] = high[j] = column[0]
            continue
        result = stats.bootstrap(
            (column,), np.mean, n_resamples=n_resamples, confidence_level=confidence_level, method="percentile", rng=rng
        )
        low[j], high[j] = result.confidence_interval.low, result.confidence_interval.high
    return low, high


def first_reaching(axis: Sequence[float], returns: Sequence[float], threshold: float) -> float | None:
    """Where on ``axis`` (env steps, CPU seconds) the first evaluation at or above ``threshold`` is; ``None`` if none is.

    >>> first_reaching([12.5, 30.0, 61.0], [-900.0, -150.0, -300.0], -200.0)
    30.0

    :param axis: the position of each evaluation, increasing
    :param returns: the mean return of each evaluation
    :param threshold: the return to reach
    """
    if len(axis) != len(returns):
        raise ValueError(f"axis and returns must have the same length, got {len(axis)} and {len(returns)}")
    for position, value in zip(axis, returns, strict=True):
        if value >= threshold:
            return float(position)
    return None


def steps_to_threshold(steps: Sequence[int], returns: Sequence[float], threshold: float) -> int | None:
    """The first evaluation step whose return is at least ``threshold``, or ``None`` if no evaluation reaches it.

    >>> steps_to_threshold([2000, 4000, 6000], [-900.0, -150.0, -300.0], -200.0)
    4000

    (:func:`first_reaching` on the env-step axis.)
    """
    step = first_reaching(steps, returns, threshold)
    return None if step is None else int(step)


def holding_share(returns: Sequence[float], threshold: float) -> float | None:
    """How well a run holds a threshold once it got there: the share of its evaluations at or above ``threshold`` from
    the first such evaluation to the last evaluation (``None`` if it never got there).

    >>> holding_share([10.0, 500.0, 300.0, 500.0, 480.0], 475.0)
    0.75
    """
    first = next((i for i, value in enumerate(returns) if value >= threshold), None)
    if first is None:
        return None
    after = np.asarray(returns[first:], dtype=np.float64)
    return float((after >= threshold).mean())


def last_at_or_before(axis: Sequence[float], budget: float) -> int | None:
    """Index of the last evaluation at or before ``budget`` on ``axis`` (increasing); ``None`` if the first is after it.

    >>> last_at_or_before([12.5, 30.0, 61.0], 45.0)
    1
    """
    before = [i for i, position in enumerate(axis) if position <= budget]
    return before[-1] if before else None


def return_at(axis: Sequence[float], returns: Sequence[float], budget: float) -> float | None:
    """The return of the last evaluation at or before ``budget`` on ``axis``; ``None`` if there is none.

    A run that ended before the budget counts with its final evaluation.

    >>> return_at([12.5, 30.0, 61.0], [-900.0, -150.0, -300.0], 45.0)
    -150.0
    >>> return_at([12.5, 30.0, 61.0], [-900.0, -150.0, -300.0], 10.0) is None
    True
    """
    if len(axis) != len(returns):
        raise ValueError(f"axis and returns must have the same length, got {len(axis)} and {len(returns)}")
    index = last_at_or_before(axis, budget)
    return None if index is None else float(returns[index])


def reaches(steps: Sequence[int], returns: Sequence[float], threshold: float, by: int) -> bool:
    """Whether a run "reaches ``threshold`` by ``by`` steps": its evaluation at ``by`` steps is at least ``threshold``.

    The evaluation at ``by`` counts, not the best one before it (a run that got there and fell back does not reach
    it). Without an evaluation at exactly ``by`` steps, the last one before it is used.

    >>> reaches([2000, 4000, 6000], [-900.0, -150.0, -300.0], -200.0, by=6000)
    False

    :raises ValueError: if no evaluation happened by ``by`` steps
    """
    before = [i for i, step in enumerate(steps) if step <= by]
    if not before:
        raise ValueError(f"no evaluation at or before by={by} (first at {steps[0] if len(steps) else None})")
    return bool(returns[before[-1]] >= threshold)


def median_steps(per_run: Sequence[float | None]) -> float:
    """Median over runs of the steps (or CPU seconds) to a threshold, a run that never reached it counting as infinitely
    many.

    >>> median_steps([4000, None, 8000])
    8000.0
    >>> median_steps([4000, None, None])
    inf
    """
    if not per_run:
        return float("nan")
    return float(np.median([np.inf if s is None else float(s) for s in per_run]))


def break_even_cost(steps_a: float, cpu_a: float, steps_b: float, cpu_b: float) -> float | None:
    """The env-step cost (seconds per env step) at which two agents reach a threshold at the same time.

    With an env step that costs ``c`` seconds, an agent that needs ``S`` env steps and ``C`` CPU seconds of training to
    reach the threshold gets there after ``C + S * c`` seconds. For two agents the times are equal at
    ``c* = (C_a - C_b) / (S_b - S_a)``: above ``c*`` the one that needs fewer env steps is first, below it the one that
    needs less compute. ``None`` when there is no such cost: one agent needs no more of either (it is first at every
    cost; equal at every cost when both are equal), or either never reached the threshold (``inf``).

    >>> break_even_cost(12_000, 480.0, 70_000, 350.0)  # fewer steps, more CPU: first above 2.2 ms per env step
    0.0022413793103448275
    >>> break_even_cost(12_000, 200.0, 70_000, 350.0) is None  # fewer steps and less CPU: first at every cost
    True
    """
    values = (steps_a, cpu_a, steps_b, cpu_b)
    if not all(np.isfinite(v) for v in values) or steps_a == steps_b:
        return None
    cost = (cpu_a - cpu_b) / (steps_b - steps_a)
    return cost if cost > 0 else None
