"""The report of a results directory: markdown tables on two axes and a learning-curve plot per environment.

Every comparison is shown on the two axes of the evaluation protocol (DESIGN.md): env steps (sample efficiency) and
training CPU seconds (compute efficiency). For every env and algorithm label, over the finished runs (seeds):

At equal env steps (each algorithm at its own budget; the "env steps" column gives it):

- **final return**: the mean return of each run's last evaluation (at the end of its budget), as mean ± std over
  seeds (``np.std``, ``ddof=0``);
- **IQM [95% CI]**: interquartile mean of those final returns with its 95% stratified-bootstrap percentile interval
  (:mod:`rrl_sb3.benchmark.stats`; one stratum, the seeds; 10,000 resamples, fixed generator seed);
- **steps to threshold**: per run, the first evaluation at or above the env's threshold (:data:`THRESHOLDS`, else
  the env spec's ``reward_threshold``); shown as the median over seeds, a seed that never got there counting as
  never, with how many seeds got there;
- **training wall clock per run**: training time without evaluations, mean ± std over seeds, in seconds;
- **training CPU time per run**: the process's CPU time over the same span (``time.process_time``), which a machine
  shared with other work inflates less than the wall clock; over the seeds whose records carry it.

At equal CPU time (one budget of training CPU seconds per env, the same for every algorithm):

- **return at the budget**: each run's last evaluation at or before the budget, mean ± std over seeds, and its IQM
  [95% CI] as above. The default budget is the smallest final training CPU time of the finished runs on the env, so
  that every run has used that much; ``rrl-bench report --cpu-budget ENV_ID=SECONDS`` sets another (a run that ended
  before it counts with its final evaluation). A run without an evaluation by then, or whose records carry no CPU
  time (written before it was measured), is left out, and the cell says of how many seeds it is;
- **env steps by then**: the env steps of those evaluations;
- **CPU seconds to threshold**: as steps to threshold, with the training CPU time of that evaluation.

Which agent reaches the threshold first in wall-clock time depends on what an env step costs: with ``c`` seconds per
env step, a run that needs ``S`` env steps and ``C`` training CPU seconds gets there after ``C + S c``. Per env, every
pair of algorithms that both reached the threshold gets its **break-even env-step cost** (medians over seeds; above
it the more sample-efficient one is first, see :func:`~rrl_sb3.benchmark.stats.break_even_cost`), and a plot of each
algorithm's time to the threshold against the env-step cost (0.01 to 100 ms, log axes).

An overview above the per-env sections gives each algorithm's IQM on every env, once per axis ("n/a: <Space>
actions" where a suite skipped the pair because the algorithm cannot act in the env, as the directory's
``skipped.json`` says; "not run" where it has no finished run).

The plot shows the mean evaluation return across seeds against env steps and against training wall clock, with a
95% percentile-bootstrap band of that mean where there are two or more seeds.
"""

from __future__ import annotations

import datetime
import json
import warnings
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import gymnasium as gym
import numpy as np

import rrl_sb3  # noqa: F401  (registers the rrl_sb3/ ids, whose specs hold thresholds)
from rrl_sb3.benchmark.errors import ConfigError
from rrl_sb3.benchmark.records import RunData  # defined in records.py, importable from here
from rrl_sb3.benchmark.stats import (
    break_even_cost,
    first_reaching,
    holding_share,
    iqm,
    iqm_interval,
    last_at_or_before,
    mean_interval,
    median_steps,
    steps_to_threshold,
)
from rrl_sb3.benchmark.store import (
    CHECKPOINT_PREFIX,
    CHECKPOINTS_SUFFIX,
    DONE_SUFFIX,
    ERROR_SUFFIX,
    RECORDS_SUFFIX,
    ResultStore,
    env_slug,
)
from rrl_sb3.common.checkpoints import checkpoint_steps, latest_checkpoint

#: Return an evaluation must reach for an env to count as solved, where the env spec has no reward_threshold.
#: Pendulum: -200, the level rl-zoo3's tuned agents reach and the target of DESIGN.md.
THRESHOLDS: dict[str, float] = {
    "Pendulum-v1": -200.0,
    "rrl_sb3/PendulumNoVel-v1": -200.0,
    "rrl_sb3/PendulumNoisy-v1": -200.0,
    "rrl_sb3/PendulumFlicker-v1": -200.0,
}

Log = Callable[[str], None]


def threshold_for(env_id: str, overrides: Mapping[str, float] | None = None) -> float | None:
    """The env's threshold: ``overrides``, then :data:`THRESHOLDS`, then the spec's ``reward_threshold`` (CartPole: 475)."""
    if overrides and env_id in overrides:
        return float(overrides[env_id])
    if env_id in THRESHOLDS:
        return THRESHOLDS[env_id]
    try:
        threshold = gym.spec(env_id).reward_threshold
    except gym.error.Error:
        return None
    return None if threshold is None else float(threshold)


@dataclass
class Results:
    finished: list[RunData]
    failed: list[RunData]
    unfinished: list[RunData]


class GarbledResultWarning(RuntimeWarning):
    """A line of a records file, or a completion marker, that cannot be read: it is skipped, the rest is kept."""


_REQUIRED_FIELDS = ("env_steps", "mean_return")


def _warn_garbled(where: str, why: str) -> None:
    warnings.warn(f"{where}: skipped, {why}", GarbledResultWarning, stacklevel=3)


def read_records(path: Path) -> list[dict[str, Any]]:
    """The records of a ``seed_<s>.jsonl`` file, sorted by env steps.

    A line that is not a JSON object with numeric ``env_steps`` and ``mean_return`` (a run killed while writing, a file
    edited by hand) is skipped with a :class:`GarbledResultWarning` naming the file and the line number; the other
    records are kept.
    """
    records = []
    for number, line in enumerate(path.read_text(errors="replace").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as error:
            _warn_garbled(f"{path}:{number}", f"not JSON ({error.msg}): {line[:80]!r}")
            continue
        if not isinstance(record, dict):
            _warn_garbled(f"{path}:{number}", f"a record is a JSON object, got {line[:80]!r}")
            continue
        missing = [
            key
            for key in _REQUIRED_FIELDS
            if isinstance(record.get(key), bool) or not isinstance(record.get(key), (int, float))
        ]
        if missing:
            _warn_garbled(f"{path}:{number}", f"no number for {missing}: {line[:80]!r}")
            continue
        records.append(record)
    records.sort(key=lambda r: r["env_steps"])
    return records


def _read_json(path: Path) -> dict[str, Any] | None:
    """A completion marker; ``None``, with a :class:`GarbledResultWarning`, if it is not a JSON object."""
    try:
        data = json.loads(path.read_text(errors="replace"))
    except json.JSONDecodeError as error:
        _warn_garbled(str(path), f"not JSON ({error.msg} at line {error.lineno}); the run counts as unfinished")
        return None
    if not isinstance(data, dict):
        _warn_garbled(str(path), "a completion marker is a JSON object; the run counts as unfinished")
        return None
    return data


def load_results(results_dir: str | Path) -> Results:
    """Every run under ``results_dir``: finished (with a completion marker), failed (with an error) or unfinished.

    Garbled lines and markers are skipped with a :class:`GarbledResultWarning` naming the file (and line), never
    losing the other records (see :func:`read_records`).
    """
    root = Path(results_dir)
    if not root.is_dir():
        raise FileNotFoundError(f"results directory {str(root)!r} does not exist")
    results = Results([], [], [])
    for path in sorted(root.rglob(f"*{RECORDS_SUFFIX}")):
        stem = path.name[: -len(RECORDS_SUFFIX)]
        records = read_records(path)
        done, error = path.with_name(stem + DONE_SUFFIX), path.with_name(stem + ERROR_SUFFIX)
        marker = _read_json(done) if done.is_file() else None
        if marker is not None:
            config = marker.get("config", {})
            config = config if isinstance(config, dict) else {}
            first = records[0] if records else {}
            # ResultStore.save writes the run's names into the marker's config (else: its first record's)
            algo, env, seed = (cast(Any, config.get(key, first.get(key))) for key in ("algo", "env", "seed"))
            results.finished.append(RunData(algo, env, seed, records, marker))
        elif error.is_file():
            text = error.read_text()
            header: dict[str, Any] = {}
            if text.startswith("# "):
                try:
                    header = json.loads(text.splitlines()[0][2:])
                except json.JSONDecodeError:
                    _warn_garbled(f"{error}:1", "its header is not JSON; the run is listed without its name")
                header = header if isinstance(header, dict) else {}
            run = RunData(header.get("algo", "?"), header.get("env", "?"), header.get("seed", -1), records, error=text)
            results.failed.append(run)
        elif records:
            first = records[0]
            results.unfinished.append(RunData(first.get("algo", "?"), first.get("env", "?"), first.get("seed", -1), records))
    return results


@dataclass
class Row:
    """One algorithm on one env, over its finished seeds, on both axes.

    The ``cpu_*`` fields are per seed at the env's common CPU budget ``cpu_budget`` (``nan`` when no run on the env
    carries CPU time): ``cpu_returns`` is ``nan`` and ``cpu_steps`` ``None`` for a seed without an evaluation by then or
    without CPU time; ``cpu_to_threshold`` is ``None`` for a seed that never reached the threshold and ``nan`` for one
    that did, but whose records carry no CPU time.
    """

    algo: str
    seeds: list[int]
    final_steps: list[int]
    final_returns: np.ndarray
    iqm: float
    iqm_low: float
    iqm_high: float
    to_threshold: list[int | None]
    train_seconds: np.ndarray
    train_cpu_seconds: np.ndarray
    cpu_budget: float = float("nan")
    cpu_returns: np.ndarray = field(default_factory=lambda: np.array([]))
    cpu_steps: list[int | None] = field(default_factory=list)
    cpu_iqm: float = float("nan")
    cpu_iqm_low: float = float("nan")
    cpu_iqm_high: float = float("nan")
    cpu_to_threshold: list[float | None] = field(default_factory=list)
    #: whether each seed's records carry CPU time
    timed: list[bool] = field(default_factory=list)
    #: per seed, the share of its evaluations at or above the threshold from its first such evaluation to its last
    #: (:func:`~rrl_sb3.benchmark.stats.holding_share`; ``None``: never reached, or no threshold)
    holding: list[float | None] = field(default_factory=list)


def common_cpu_budget(runs: Sequence[RunData]) -> float:
    """The default CPU budget of an env: the smallest final training CPU time of ``runs`` (every run has used that
    much); ``nan`` when no run carries CPU time."""
    finals = [run.cpu_seconds[-1] for run in runs if run.cpu_seconds]
    return min(finals) if finals else float("nan")


def _at_budget(run: RunData, budget: float) -> tuple[float, int | None]:
    """The return and env steps of ``run``'s last evaluation at or before ``budget`` CPU seconds; ``(nan, None)``
    without one."""
    cpu = run.cpu_seconds
    index = None if cpu is None or not np.isfinite(budget) else last_at_or_before(cpu, budget)
    return (float("nan"), None) if index is None else (run.returns[index], run.steps[index])


def _cpu_to_threshold(run: RunData, threshold: float) -> float | None:
    if steps_to_threshold(run.steps, run.returns, threshold) is None:
        return None  # never reached: known without CPU time
    cpu = run.cpu_seconds
    return float("nan") if cpu is None else first_reaching(cpu, run.returns, threshold)


def summarize(
    runs: Sequence[RunData], threshold: float | None, n_resamples: int = 10_000, cpu_budget: float | None = None
) -> list[Row]:
    """One :class:`Row` per algorithm label among ``runs`` (all of one env), sorted by label.

    :param cpu_budget: training CPU seconds at which runs are compared (``None``: :func:`common_cpu_budget` of
        ``runs``)
    """
    by_algo: dict[str, list[RunData]] = defaultdict(list)
    for run in runs:
        if run.records:
            by_algo[run.algo].append(run)
    budget = common_cpu_budget([run for group in by_algo.values() for run in group]) if cpu_budget is None else cpu_budget
    rows = []
    for algo, group in sorted(by_algo.items()):
        group.sort(key=lambda r: r.seed)
        finals = np.array([r.returns[-1] for r in group])
        low, high = iqm_interval([finals], n_resamples=n_resamples)
        at_budget = [_at_budget(r, budget) for r in group]
        cpu_returns = np.array([value for value, _ in at_budget])
        evaluated = cpu_returns[np.isfinite(cpu_returns)]
        cpu_low, cpu_high = iqm_interval([evaluated], n_resamples=n_resamples) if evaluated.size else (np.nan, np.nan)
        rows.append(
            Row(
                algo=algo,
                seeds=[r.seed for r in group],
                final_steps=[r.steps[-1] for r in group],
                final_returns=finals,
                iqm=iqm(finals),
                iqm_low=low,
                iqm_high=high,
                to_threshold=[None if threshold is None else steps_to_threshold(r.steps, r.returns, threshold) for r in group],
                train_seconds=np.array([r.train_seconds for r in group]),
                train_cpu_seconds=np.array([r.train_cpu_seconds for r in group]),
                cpu_budget=budget,
                cpu_returns=cpu_returns,
                cpu_steps=[steps for _, steps in at_budget],
                cpu_iqm=iqm(evaluated),
                cpu_iqm_low=cpu_low,
                cpu_iqm_high=cpu_high,
                cpu_to_threshold=[None if threshold is None else _cpu_to_threshold(r, threshold) for r in group],
                holding=[None if threshold is None else holding_share(r.returns, threshold) for r in group],
                timed=[r.cpu_seconds is not None for r in group],
            )
        )
    return rows


def _steps_cell(per_run: list[int | None], threshold: float | None) -> str:
    if threshold is None:
        return "n/a"
    reached = sum(s is not None for s in per_run)
    median = median_steps(per_run)
    shown = f"{median:,.0f}" if np.isfinite(median) else "not reached"
    return f"{shown} ({reached}/{len(per_run)})"


def format_table(env_id: str, rows: Sequence[Row], threshold: float | None) -> str:
    """The markdown table of one env."""
    target = f"steps to ≥ {threshold:g} (median; seeds there)" if threshold is not None else "steps to threshold"
    lines = [
        f"| algorithm | seeds | env steps | final return (mean ± std) | IQM [95% CI] | {target} "
        "| training wall clock per run (s) | training CPU time per run (s) |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for row in rows:
        low, high = min(row.final_steps), max(row.final_steps)
        steps = f"{low:,}" if low == high else f"{low:,} to {high:,}"
        interval = f"[{row.iqm_low:.1f}, {row.iqm_high:.1f}]" if np.isfinite(row.iqm_low) else "[n/a: 1 seed]"
        lines.append(
            f"| {row.algo} | {len(row.seeds)} | {steps} | {row.final_returns.mean():.1f} ± {row.final_returns.std():.1f} | "
            f"{row.iqm:.1f} {interval} | {_steps_cell(row.to_threshold, threshold)} | "
            f"{_seconds(row.train_seconds)} | {_seconds(row.train_cpu_seconds)} |"
        )
    return "\n".join(lines)


#: Env-step costs of the break-even plot, seconds (0.01 ms to 100 ms)
STEP_COSTS = np.logspace(-5, -1, 81)


def time_to_threshold(row: Row) -> tuple[float, float]:
    """Median env steps and median training CPU seconds to the threshold over the row's seeds (``inf`` when fewer
    than half got there, ``nan`` without CPU time)."""
    cpu = [None if c is None else float(c) for c in row.cpu_to_threshold]
    return median_steps(row.to_threshold), median_steps(cpu)


def format_break_even(rows: Sequence[Row], threshold: float | None) -> str | None:
    """The markdown table of break-even env-step costs of every pair of algorithms on one env (``None`` without a
    threshold or with fewer than two algorithms)."""
    if threshold is None or len(rows) < 2:
        return None
    lines = [
        f"| algorithms | env steps to ≥ {threshold:g} (median) | CPU s to ≥ {threshold:g} (median) | first in wall clock |",
        "| --- | --- | --- | --- |",
    ]
    medians = {row.algo: time_to_threshold(row) for row in rows}
    for i, a in enumerate(rows):
        for b in rows[i + 1 :]:
            (steps_a, cpu_a), (steps_b, cpu_b) = medians[a.algo], medians[b.algo]
            pair = f"{a.algo} vs {b.algo}"
            numbers = f"| {_median_text(steps_a, '{:,.0f}')} vs {_median_text(steps_b, '{:,.0f}')} | "
            numbers += f"{_median_text(cpu_a, '{:.0f}')} vs {_median_text(cpu_b, '{:.0f}')} |"
            lines.append(f"| {pair} {numbers} {_first_text(a.algo, steps_a, cpu_a, b.algo, steps_b, cpu_b)} |")
    return "\n".join(lines)


def format_holding(rows: Sequence[Row], threshold: float | None) -> str | None:
    """The markdown table of how each algorithm holds the threshold once reached (``None`` without a threshold)."""
    if threshold is None:
        return None
    lines = [
        f"| algorithm | share of evaluations ≥ {threshold:g} from the first to the last, per seed | median | seeds at ≥ 0.9 |",
        "| --- | --- | --- | --- |",
    ]
    for row in rows:
        cells = " / ".join("never" if h is None else f"{h:.2f}" for h in row.holding)
        shown = f"{np.median([0.0 if h is None else h for h in row.holding]):.2f}" if row.holding else "n/a"
        held = sum(h is not None and h >= 0.9 for h in row.holding)
        lines.append(f"| {row.algo} | {cells} | {shown} | {held}/{len(row.holding)} |")
    return "\n".join(lines)


def _median_text(value: float, fmt: str) -> str:
    return "never" if value == np.inf else ("n/a" if not np.isfinite(value) else fmt.format(value))


def _first_text(a: str, steps_a: float, cpu_a: float, b: str, steps_b: float, cpu_b: float) -> str:
    """Who reaches the threshold first, as a function of the env-step cost."""
    if any(np.isnan(v) for v in (steps_a, cpu_a, steps_b, cpu_b)):
        return "n/a (no CPU time in the records)"
    never = [name for name, steps in ((a, steps_a), (b, steps_b)) if steps == np.inf]
    if never:
        return "neither reached it" if len(never) == 2 else f"{b if never[0] == a else a} ({never[0]} never reached it)"
    cost = break_even_cost(steps_a, cpu_a, steps_b, cpu_b)
    if cost is None:
        if (steps_a, cpu_a) == (steps_b, cpu_b):
            return "the same at every cost"
        return f"{a if steps_a <= steps_b and cpu_a <= cpu_b else b} at every env-step cost"
    sample_efficient, cheap = (a, b) if steps_a < steps_b else (b, a)
    return f"{sample_efficient} above **{1000 * cost:.3g} ms** per env step, {cheap} below"


def plot_break_even(env_id: str, rows: Sequence[Row], threshold: float, path: Path, colors: Mapping[str, Any]) -> bool:
    """Time to the threshold (training CPU + env steps x cost) against the env-step cost, one line per algorithm that
    reached it; returns whether there was anything to plot."""
    lines = {row.algo: time_to_threshold(row) for row in rows}
    lines = {algo: v for algo, v in lines.items() if all(np.isfinite(x) for x in v)}
    if not lines:
        return False
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.8))
    for algo, (steps, cpu) in sorted(lines.items()):
        ax.plot(1000 * STEP_COSTS, (cpu + steps * STEP_COSTS) / 60.0, color=colors[algo], lw=2, label=algo)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("cost of one env step (ms)")
    ax.set_ylabel(f"minutes to ≥ {threshold:g} (median CPU + steps x cost)")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8)
    ax.set_title(f"{env_id}: who reaches the threshold first, by env-step cost", fontsize=10)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True


def _cpu(seconds: float) -> str:
    """CPU seconds as the tables show them: one decimal below 10 s, none above."""
    return f"{seconds:.1f}" if seconds < 10 else f"{seconds:.0f}"


def _step_range(steps: Sequence[int]) -> str:
    low, high = min(steps), max(steps)
    return f"{low:,}" if low == high else f"{low:,} to {high:,}"


def _cpu_threshold_cell(per_run: Sequence[float | None], threshold: float | None) -> str:
    if threshold is None:
        return "n/a"
    known = [s for s in per_run if s is None or np.isfinite(s)]  # nan: reached, but no CPU time recorded
    if not known:
        return "n/a"
    reached = sum(s is not None for s in known)
    median = median_steps(known)
    shown = _cpu(median) if np.isfinite(median) else "not reached"
    missing = len(per_run) - len(known)
    untimed = f"; {missing} of {len(per_run)} seeds without CPU time" if missing else ""
    return f"{shown} ({reached}/{len(known)}{untimed})"


def _budget_text(budget: float) -> str:
    return f"{_cpu(budget)} CPU s" if np.isfinite(budget) else "equal CPU time (n/a: no CPU time recorded)"


def format_cpu_table(env_id: str, rows: Sequence[Row], threshold: float | None) -> str:
    """The markdown table of one env at equal CPU time: the rows' common budget ``cpu_budget`` (:func:`summarize`)."""
    budget = rows[0].cpu_budget if rows else float("nan")
    target = f"CPU s to ≥ {threshold:g} (median; seeds there)" if threshold is not None else "CPU s to threshold"
    lines = [
        f"| algorithm | seeds | return at {_budget_text(budget)} (mean ± std) | IQM [95% CI] | env steps by then | {target} |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for row in rows:
        values = row.cpu_returns[np.isfinite(row.cpu_returns)]
        if not any(row.timed):
            value = score = steps = "n/a"
        elif values.size == 0:
            value, score, steps = "no evaluation by then", "n/a", "n/a"
        else:
            value = f"{values.mean():.1f} ± {values.std():.1f}"
            if values.size < len(row.seeds):
                value += f" ({values.size} of {len(row.seeds)} seeds)"
            interval = f"[{row.cpu_iqm_low:.1f}, {row.cpu_iqm_high:.1f}]" if np.isfinite(row.cpu_iqm_low) else "[n/a: 1 seed]"
            score = f"{row.cpu_iqm:.1f} {interval}"
            steps = _step_range([s for s in row.cpu_steps if s is not None])
        to_threshold = _cpu_threshold_cell(row.cpu_to_threshold, threshold)
        lines.append(f"| {row.algo} | {len(row.seeds)} | {value} | {score} | {steps} | {to_threshold} |")
    return "\n".join(lines)


def format_overview(
    rows_by_env: Mapping[str, Sequence[Row]],
    unsupported: Mapping[tuple[str, str], str] | None = None,
    at_cpu_budget: bool = False,
) -> str:
    """One markdown table of every env: a row per algorithm, an IQM [95% CI] per env.

    :param rows_by_env: env id -> its rows (:func:`summarize`)
    :param unsupported: ``(algorithm label, env id)`` -> the cell of a pair the algorithm cannot run (a suite
        skips it); other pairs without runs read "not run"
    :param at_cpu_budget: the IQM of the returns at each env's common CPU budget (its column says which) instead of
        that of the final returns
    """
    unsupported = unsupported or {}
    envs = sorted(rows_by_env)
    cells: dict[str, dict[str, str]] = defaultdict(dict)
    most = max((len(row.seeds) for rows in rows_by_env.values() for row in rows), default=0)
    headers = list(envs)
    for i, env_id in enumerate(envs):
        for row in rows_by_env[env_id]:
            if at_cpu_budget:
                headers[i] = f"{env_id} (at {_cpu(row.cpu_budget)} CPU s)" if np.isfinite(row.cpu_budget) else env_id
                n = int(np.isfinite(row.cpu_returns).sum())
                value, low, high = row.cpu_iqm, row.cpu_iqm_low, row.cpu_iqm_high
                if not any(row.timed) or n == 0:
                    cells[row.algo][env_id] = "no evaluation by then" if any(row.timed) else "n/a (no CPU time recorded)"
                    continue
            else:
                n, value, low, high = len(row.seeds), row.iqm, row.iqm_low, row.iqm_high
            interval = f" [{low:.1f}, {high:.1f}]" if np.isfinite(low) else ""
            fewer = f" ({n} seed{'s' if n > 1 else ''})" if n < most else ""
            cells[row.algo][env_id] = f"{value:.1f}{interval}{fewer}"
    lines = ["| algorithm | " + " | ".join(headers) + " |", "| --- |" + " --- |" * len(envs)]
    for algo in sorted(cells):
        line = [cells[algo].get(env_id, unsupported.get((algo, env_id), "not run")) for env_id in envs]
        lines.append(f"| {algo} | " + " | ".join(line) + " |")
    return "\n".join(lines)


def _seconds(values: np.ndarray) -> str:
    """Mean ± std over the finite values, with how many when some are missing; "n/a" when none is."""
    known = values[np.isfinite(values)]
    if known.size == 0:
        return "n/a"
    digits = 1 if known.mean() < 10 else 0
    text = f"{known.mean():.{digits}f} ± {known.std():.{digits}f}"
    return text if known.size == values.size else f"{text} ({known.size} of {values.size} seeds)"


def _curve(runs: Sequence[RunData]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Steps grid, returns ``(n_runs, n_steps)`` and training seconds ``(n_runs, n_steps)``; ``nan`` where missing."""
    steps = np.array(sorted({s for run in runs for s in run.steps}))
    index = {s: i for i, s in enumerate(steps)}
    returns = np.full((len(runs), len(steps)), np.nan)
    seconds = np.full((len(runs), len(steps)), np.nan)
    for i, run in enumerate(runs):
        for record in run.records:
            returns[i, index[int(record["env_steps"])]] = record["mean_return"]
            seconds[i, index[int(record["env_steps"])]] = record["wall_seconds"]
    return steps, returns, seconds


def plot_env(env_id: str, runs: Sequence[RunData], threshold: float | None, path: Path, colors: Mapping[str, Any]) -> None:
    """Learning curves of every algorithm on one env: return vs env steps and vs training wall clock."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    by_algo: dict[str, list[RunData]] = defaultdict(list)
    for run in runs:
        if run.records:
            by_algo[run.algo].append(run)
    fig, (ax_steps, ax_time) = plt.subplots(1, 2, figsize=(13, 4.8))
    n_seeds = sorted({len(group) for group in by_algo.values()})
    for algo, group in sorted(by_algo.items()):
        steps, returns, seconds = _curve(group)
        with np.errstate(all="ignore"):
            mean = np.nanmean(returns, axis=0)
            minutes = np.nanmean(seconds, axis=0) / 60.0
        low, high = mean_interval(returns)
        label = f"{algo} ({len(group)} seed{'s' if len(group) > 1 else ''})"
        for ax, x in ((ax_steps, steps), (ax_time, minutes)):
            ax.plot(x, mean, color=colors[algo], lw=2, label=label)
            if np.isfinite(low).any():
                ax.fill_between(x, low, high, color=colors[algo], alpha=0.2, lw=0)
    for ax, xlabel in ((ax_steps, "environment steps"), (ax_time, "training wall clock (minutes, evaluation excluded)")):
        if threshold is not None:
            ax.axhline(threshold, color="0.4", ls="--", lw=1, label=f"threshold {threshold:g}")
        ax.set_xlabel(xlabel)
        ax.set_ylabel("evaluation return (mean over deterministic episodes)")
        ax.grid(alpha=0.3)
    ax_steps.legend(fontsize=8, loc="best")
    seeds = "/".join(map(str, n_seeds))
    fig.suptitle(f"{env_id}: mean evaluation return across seeds ({seeds} per algorithm), band = 95% bootstrap CI of the mean")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def format_resumed(runs: Sequence[RunData]) -> list[str]:
    """A line per finished run that was resumed from checkpoints (its marker's ``resumed``), saying from where."""
    lines = []
    for run in runs:
        entries = (run.marker or {}).get("resumed") or []
        if entries:
            where = ", ".join(f"{entry['env_steps']:,} env steps ({entry['checkpoint']})" for entry in entries)
            times = "once" if len(entries) == 1 else f"{len(entries)} times"
            lines.append(f"- {run.algo} on {run.env}, seed {run.seed}: resumed {times}, from {where}")
    return lines


def resumable_runs(root: Path) -> list[str]:
    """The unfinished runs under ``root`` that a re-run resumes from a checkpoint: ``"<path>: checkpoint at N env
    steps"`` for each checkpoint directory (``seed_<s>.checkpoints``) without a completion marker beside it."""
    found = []
    for directory in sorted(root.rglob(f"*{CHECKPOINTS_SUFFIX}")):
        stem = directory.name[: -len(CHECKPOINTS_SUFFIX)]
        if not directory.is_dir() or directory.with_name(stem + DONE_SUFFIX).is_file():
            continue
        latest = latest_checkpoint(directory, CHECKPOINT_PREFIX)
        if latest is not None:
            found.append(f"{directory.parent.relative_to(root)}/{stem}: checkpoint at {checkpoint_steps(latest):,} env steps")
    return found


def _last_line(text: str | None) -> str:
    lines = (text or "").strip().splitlines()
    return lines[-1] if lines else "unknown error"


def _machine_lines(runs: Sequence[RunData]) -> list[str]:
    seen = []
    for run in runs:
        marker = run.marker or {}
        if "versions" not in marker:
            continue
        versions = ", ".join(f"{k} {v}" for k, v in marker["versions"].items() if v)
        line = (
            f"- {marker.get('cpu_count')} cores, {marker.get('torch_threads')} torch thread(s) per run, "
            f"Python {marker.get('python')}; {versions}"
        )
        if line not in seen:
            seen.append(line)
    return seen


def write_report(
    results_dir: str | Path,
    thresholds: Mapping[str, float] | None = None,
    n_resamples: int = 10_000,
    log: Log | None = print,
    cpu_budgets: Mapping[str, float] | None = None,
) -> Path:
    """Write ``report.md`` and one ``<env>.png`` per env into ``results_dir``, and print the tables.

    :param results_dir: a results directory written by :func:`rrl_sb3.benchmark.run_suite`
    :param thresholds: env id -> threshold, over :func:`threshold_for`'s
    :param n_resamples: bootstrap samples of the IQM interval
    :param log: where the tables go (``None``: nowhere)
    :param cpu_budgets: env id -> training CPU seconds at which its runs are compared, over the default
        (:func:`common_cpu_budget`: the smallest final training CPU time of the finished runs on the env)
    :return: the path of ``report.md``
    :raises ConfigError: for a CPU budget that is not a positive number, or of an env without finished runs
    """
    root = Path(results_dir)
    results = load_results(root)
    if not (results.finished or results.failed or results.unfinished):
        raise FileNotFoundError(f"no run records (*{RECORDS_SUFFIX}) under {str(root)!r}")
    labels = sorted({run.algo for run in results.finished})
    palette = [f"C{i}" for i in range(10)]
    colors = {label: palette[i % len(palette)] for i, label in enumerate(labels)}
    by_env: dict[str, list[RunData]] = defaultdict(list)
    for run in results.finished:
        by_env[run.env].append(run)
    cpu_budgets = dict(cpu_budgets or {})
    for env_id, seconds in cpu_budgets.items():
        if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or not 0 < seconds < float("inf"):
            raise ConfigError(f"a CPU budget must be a positive number of seconds, got cpu_budgets[{env_id!r}]={seconds!r}")
        if env_id not in by_env:
            raise ConfigError(
                f"CPU budget for env id {env_id!r}, which has no finished runs in {str(root)!r}: {sorted(by_env)}"
            )

    configs = [(run.marker or {}).get("config", {}) for run in results.finished]
    periodic = [config.get("n_eval_episodes", 10) for config in configs]
    episodes = sorted(set(periodic))
    # runs older than the separate final evaluation evaluated their last step like the others
    final_episodes = sorted({config.get("final_n_eval_episodes", n) for config, n in zip(configs, periodic, strict=True)})
    command = " ".join([f"rrl-bench report {root}", *(f"--cpu-budget {e}={b:g}" for e, b in sorted(cpu_budgets.items()))])
    sections = [
        f"# Benchmark report: {root.name}",
        "",
        f"Generated {datetime.date.today().isoformat()} by `{command}` from {len(results.finished)} finished "
        f"runs. Evaluation: every `eval_freq` env steps {'/'.join(map(str, episodes))} deterministic episodes, and at the "
        f"end of the budget {'/'.join(map(str, final_episodes))}, through SB3's `evaluate_policy` on a separate env "
        "seeded `1000 + seed`; the wall clock and the CPU time are training time without evaluation.",
        "",
        "Each env is compared on two axes. **At equal env steps** (sample efficiency): final return: each seed's last "
        "evaluation, at the end of its algorithm's budget, mean ± std over seeds. IQM: interquartile mean of the final "
        f"returns with a 95% stratified-bootstrap percentile interval (seeds resampled; {n_resamples:,} resamples). "
        "Steps to threshold: the first evaluation at or above it, median over seeds (a seed that never got there counts "
        "as never), and how many seeds got there.",
        "",
        "**At equal CPU time** (compute efficiency): one budget of training CPU seconds per env, by default the "
        "smallest final training CPU time of the runs on it, so that every run has used that much (`--cpu-budget "
        "ENV_ID=SECONDS` sets another; a run that ended before it counts with its final evaluation). Return at the "
        "budget: each seed's last evaluation at or before it, mean ± std and IQM [95% CI] as above; a seed without an "
        "evaluation by then, or whose records carry no CPU time, is left out, and the cell says of how many seeds it "
        "is. CPU s to threshold: the training CPU time of the first evaluation at or above it, median as above.",
    ]
    machines = _machine_lines(results.finished)
    if machines:
        sections += ["", "Machines and versions:", *machines]
    env_thresholds = {env_id: threshold_for(env_id, thresholds) for env_id in by_env}
    rows_by_env = {
        env_id: summarize(runs, env_thresholds[env_id], n_resamples, cpu_budgets.get(env_id))
        for env_id, runs in by_env.items()
    }
    if rows_by_env:
        # pairs a suite skipped, as saved with the results (none for directories written before skipped.json)
        unsupported = {(pair.algo, pair.env): pair.cell for pair in ResultStore(root).skipped()}
        overview = format_overview(rows_by_env, unsupported)
        cpu_overview = format_overview(rows_by_env, unsupported, at_cpu_budget=True)
        sections += [
            "",
            "## Overview",
            "",
            "At equal env steps: IQM of the final returns [95% CI] of each algorithm on each env, at the end of its budget "
            "(the per-env tables give the budgets).",
            "",
            overview,
            "",
            "At equal CPU time: IQM of the returns [95% CI] at each env's common budget of training CPU seconds (in its "
            "column), each seed's last evaluation by then.",
            "",
            cpu_overview,
        ]
        if log is not None:
            log(f"\noverview at equal env steps (IQM of the final returns)\n\n{overview}")
            log(f"\noverview at equal CPU time (IQM of the returns at the CPU budget)\n\n{cpu_overview}")
    for env_id in sorted(by_env):
        threshold = env_thresholds[env_id]
        table = format_table(env_id, rows_by_env[env_id], threshold)
        cpu_table = format_cpu_table(env_id, rows_by_env[env_id], threshold)
        png = f"{env_slug(env_id)}.png"
        plot_env(env_id, by_env[env_id], threshold, root / png, colors)
        sections += [
            "",
            f"## {env_id}",
            "",
            f"![learning curves on {env_id}]({png})",
            "",
            "At equal env steps (each algorithm's final evaluation, at its own budget):",
            "",
            table,
            "",
            "At equal CPU time (each seed's last evaluation within the env's common budget of training CPU seconds):",
            "",
            cpu_table,
        ]
        holding = format_holding(rows_by_env[env_id], threshold)
        if holding is not None:
            sections += ["", "Holding the threshold once reached (a seed that never reached it counts as 0):", "", holding]
        if log is not None:
            log(f"\n{env_id}\n\nat equal env steps\n\n{table}\n\nat equal CPU time\n\n{cpu_table}")
            if holding is not None:
                log(f"\nholding the threshold\n\n{holding}")
        break_even = format_break_even(rows_by_env[env_id], threshold)
        if break_even is not None and threshold is not None:
            sections += ["", "Break-even env-step cost (who reaches the threshold first in wall-clock time):", "", break_even]
            plot = f"{env_slug(env_id)}_break_even.png"
            if plot_break_even(env_id, rows_by_env[env_id], threshold, root / plot, colors):
                sections += ["", f"![time to threshold against env-step cost on {env_id}]({plot})"]
            if log is not None:
                log(f"\nbreak-even env-step cost\n\n{break_even}")
    resumed = format_resumed(results.finished)
    if resumed:
        sections += ["", "## Resumed runs", "", "Runs interrupted and resumed from their checkpoints:", "", *resumed]
        if log is not None:
            log("\nresumed runs\n\n" + "\n".join(resumed))
    problems = [f"- failed: {r.algo} on {r.env}, seed {r.seed}: {_last_line(r.error)}" for r in results.failed]
    problems += [
        f"- unfinished (interrupted?): {r.algo} on {r.env}, seed {r.seed}, last record at {r.steps[-1]} steps"
        for r in results.unfinished
    ]
    problems += [f"- unfinished, resumable: {where}" for where in resumable_runs(root)]
    if problems:
        sections += ["", "## Runs not in the tables", "", *problems]
        if log is not None:
            log("\n" + "\n".join(problems))
    report = root / "report.md"
    report.write_text("\n".join(sections) + "\n")
    if log is not None:
        log(f"\nreport: {report} (plots: {', '.join(f'{env_slug(e)}.png' for e in sorted(by_env))})")
    return report
