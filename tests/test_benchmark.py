"""The benchmark runner: suites, hyperparameters, the evaluation protocol, backends, statistics and the report."""

from __future__ import annotations

import ast
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import yaml
from stable_baselines3 import PPO
from stable_baselines3.common.evaluation import evaluate_policy
from stable_baselines3.common.utils import LinearSchedule
from stable_baselines3.common.vec_env import VecNormalize, VecTransposeImage, sync_envs_normalization

from rrl_sb3.benchmark import (
    ALGORITHMS,
    AlgoEntry,
    AlgoSpec,
    ConfigError,
    EvalRecorder,
    Suite,
    errors,
    hyperparams,
    iqm,
    iqm_interval,
    load_results,
    reaches,
    register_algorithm,
    run_suite,
    steps_to_threshold,
    write_report,
)
from rrl_sb3.benchmark.algorithms import build_model, get_algorithm, make_env_pair, model_arguments
from rrl_sb3.benchmark.cli import build_parser, suite_from_args
from rrl_sb3.benchmark.cli import main as cli_main
from rrl_sb3.benchmark.hyperparams import PACKAGED_HYPERPARAMS_DIR, parse_number, parse_python_literal, prepare
from rrl_sb3.benchmark.report import (
    GarbledResultWarning,
    RunData,
    format_break_even,
    format_cpu_table,
    format_holding,
    format_overview,
    format_table,
    summarize,
)
from rrl_sb3.benchmark.stats import break_even_cost, first_reaching, mean_interval, median_steps, return_at
from rrl_sb3.benchmark.store import SKIPPED_FILE, ResultStore, SkippedPair
from rrl_sb3.benchmark.suite import unsupported_pairs

ROOT = Path(__file__).resolve().parents[1]
HYPERPARAMS = PACKAGED_HYPERPARAMS_DIR
CARTPOLE = "rrl_sb3/CartPoleNoVel-v1"


class ExplodingPPO(PPO):
    """A PPO whose first gradient update raises: a run that crashes after it has written a record."""

    def train(self) -> None:
        raise RuntimeError("exploding on purpose")


@pytest.fixture
def exploding_algo():
    spec = register_algorithm(
        AlgoSpec(
            "exploding_ppo", f"{ExplodingPPO.__module__}:ExplodingPPO", "MlpPolicy", on_policy=True, hyperparams_file="ppo"
        ),
        overwrite=True,
    )
    yield spec
    ALGORITHMS.pop(spec.name)


def write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def tiny_suite(**changes) -> Suite:
    base = dict(algos=["ppo", "recurrent_ppo_gru"], envs=[CARTPOLE], seeds=[0, 1], n_timesteps=256, eval_freq=128)
    return Suite(**{**base, "hyperparams_dir": HYPERPARAMS, **changes})


# --- statistics, against hand-computed cases ---------------------------------------------------------------------


def test_iqm_cuts_a_quarter_from_each_end() -> None:
    assert iqm([1, 2, 3, 4, 100, 200, 300, 400]) == pytest.approx((3 + 4 + 100 + 200) / 4)
    assert iqm([0, 10, 20, 1000]) == pytest.approx(15.0)  # int(0.25 * 4) = 1 cut from each end
    assert iqm([1, 2, 6]) == pytest.approx(3.0)  # int(0.25 * 3) = 0: the plain mean
    assert np.isnan(iqm([]))


def test_iqm_interval_hand_computed() -> None:
    # Every bootstrap sample of a constant is that constant.
    assert iqm_interval([[7.0, 7.0, 7.0]]) == (7.0, 7.0)
    # [1, 2, 3]: the IQM of 3 values is their mean; of the 27 equally likely resamples, (1, 1, 1) and (3, 3, 3) have
    # probability 1/27 = 3.7% each, more than the 2.5% in each tail: the 95% interval is exactly [1, 3].
    assert iqm_interval([[1.0, 2.0, 3.0]], n_resamples=20_000) == (1.0, 3.0)
    # Stratified: each resample keeps four runs of each stratum, so the IQM of (four 0s, four 10s) is always 5;
    # pooled in one stratum, resamples mix the two unevenly and the interval widens.
    assert iqm_interval([[0.0] * 4, [10.0] * 4]) == (5.0, 5.0)
    low, high = iqm_interval([[0.0] * 4 + [10.0] * 4])
    assert low < 5.0 < high
    assert all(np.isnan(iqm_interval([[3.0]])))  # one seed: nothing to resample
    assert iqm_interval([[1.0, 5.0, 2.0, 8.0]], seed=3) == iqm_interval([[1.0, 5.0, 2.0, 8.0]], seed=3)


def test_steps_to_threshold_and_reaches_follow_the_protocol() -> None:
    steps, returns = [2000, 4000, 6000, 8000], [-900.0, -200.0, -350.0, -150.0]
    assert steps_to_threshold(steps, returns, -200.0) == 4000  # at least the threshold counts
    assert steps_to_threshold(steps, returns, -100.0) is None
    # "reaches X by N": the evaluation at N, not the best one before it
    assert not reaches(steps, returns, -200.0, by=6000)
    assert reaches(steps, returns, -200.0, by=8000)
    assert median_steps([4000, None, 8000]) == 8000.0
    assert median_steps([4000, None, None]) == float("inf")


def test_mean_interval_band() -> None:
    values = np.array([[1.0, 5.0, 2.0], [3.0, 5.0, np.nan]])
    low, high = mean_interval(values)
    assert (low[0], high[0]) == (1.0, 3.0)  # resamples of two values: both low, mixed, both high
    assert (low[1], high[1]) == (5.0, 5.0)
    assert np.isnan(low[2]) and np.isnan(high[2])  # one run only


def _run(algo: str, env: str, seed: int, final: float, cpu: float | None) -> RunData:
    last = {"env_steps": 2000, "mean_return": final, "wall_seconds": 10.0 * (seed + 1)}
    if cpu is not None:
        last["cpu_seconds"] = cpu
    return RunData(algo, env, seed, [{"env_steps": 1000, "mean_return": -1000.0, "wall_seconds": 1.0}, last])


def test_tables_by_env_and_overview_hand_computed() -> None:
    pendulum = [_run("a", "P", s, f, c) for s, f, c in ((0, -100.0, 8.0), (1, -300.0, None), (2, -200.0, 12.0))]
    pendulum.append(_run("b", "P", 0, -900.0, None))
    rows = summarize(pendulum, threshold=-200.0, n_resamples=1000)
    assert [(r.algo, r.seeds, r.iqm) for r in rows] == [("a", [0, 1, 2], -200.0), ("b", [0], -900.0)]
    assert rows[0].to_threshold == [2000, None, 2000]
    table = format_table("P", rows, -200.0)
    # seeds 0 and 2 carry CPU time (8 and 12 s): 10 ± 2 over 2 of 3; the wall clock is 10, 20, 30 s
    assert "| a | 3 | 2,000 | -200.0 ± 81.6 |" in table and "| 2,000 (2/3) | 20 ± 8 | 10 ± 2 (2 of 3 seeds) |" in table
    assert table.splitlines()[-1].endswith("| not reached (0/1) | 10 ± 0 | n/a |")
    cartpole = summarize([_run("b", "C", s, 500.0, 1.0) for s in (0, 1, 2)], threshold=475.0, n_resamples=1000)
    overview = format_overview({"P": rows, "C": cartpole}).splitlines()
    assert overview[0] == "| algorithm | C | P |"
    assert overview[2].startswith("| a | not run | -200.0 [")  # not run on C
    assert overview[3] == "| b | 500.0 [500.0, 500.0] | -900.0 (1 seed) |"
    skipped = format_overview({"P": rows, "C": cartpole}, {("a", "C"): "n/a: Discrete actions"}).splitlines()
    assert skipped[2].startswith("| a | n/a: Discrete actions | -200.0 [")


def test_overview_tells_an_unsupported_action_space_from_a_missing_run() -> None:
    def run(label: str, algorithm: str) -> RunData:
        marker = {"config": {"algo": label, "algorithm": algorithm}}
        return RunData(label, "Pendulum-v1", 0, [{"env_steps": 10, "mean_return": -1.0, "wall_seconds": 1.0}], marker)

    runs = [run("sac", "sac"), run("my_sac", "sac"), run("ppo", "ppo"), run("custom", "not_registered_here")]
    pairs = unsupported_pairs(runs, ["Pendulum-v1", "CartPole-v1", "NoSuchEnv-v0"])
    # SAC (under any label) has no Discrete actions; PPO has both; unknown algorithms and env ids say nothing
    assert pairs == {("sac", "CartPole-v1"): "n/a: Discrete actions", ("my_sac", "CartPole-v1"): "n/a: Discrete actions"}


def test_return_at_a_budget_and_first_reaching() -> None:
    cpu, returns = [2.0, 4.0, 6.0], [-900.0, -150.0, -300.0]
    assert return_at(cpu, returns, 4.0) == -150.0  # at the budget counts
    assert return_at(cpu, returns, 100.0) == -300.0  # a run that ended before the budget: its final evaluation
    assert return_at(cpu, returns, 1.9) is None
    assert first_reaching(cpu, returns, -200.0) == 4.0 and first_reaching(cpu, returns, 0.0) is None


def _timed(algo: str, seed: int, points: list[tuple[int, float | None, float]]) -> RunData:
    """A run from ``(env steps, training CPU seconds or None, return)`` per evaluation."""
    records = []
    for steps, cpu, value in points:
        record = {"env_steps": steps, "mean_return": value, "wall_seconds": 2.0 * steps / 1000}
        if cpu is not None:
            record["cpu_seconds"] = cpu
        records.append(record)
    return RunData(algo, "P", seed, records)


def test_equal_cpu_tables_hand_computed() -> None:
    runs = [
        _timed("a", 0, [(1000, 2.0, -900.0), (2000, 4.0, -150.0), (3000, 6.0, -100.0)]),
        _timed("a", 1, [(1000, 3.0, -800.0), (2000, 6.0, -300.0), (3000, 9.0, -190.0)]),
        _timed("a", 2, [(1000, 1.0, -700.0), (2000, 2.0, -250.0), (3000, 3.0, -100.0)]),
        _timed("b", 0, [(500, 8.0, -400.0), (1000, 20.0, -120.0)]),
        _timed("b", 1, [(1000, None, -150.0)]),  # records written before CPU time was measured
        _timed("c", 0, [(1000, None, -500.0)]),
    ]
    rows = summarize(runs, threshold=-200.0, n_resamples=1000)
    # the default budget: the smallest final training CPU time, a2's 3.0 s (b1 and c0 carry none)
    assert [row.cpu_budget for row in rows] == [3.0, 3.0, 3.0]
    # a at 3.0 s: a0's evaluation at 2.0 s, a1's at 3.0 s (at the budget counts), a2's final one at 3.0 s
    a = rows[0]
    np.testing.assert_array_equal(a.cpu_returns, [-900.0, -800.0, -100.0])
    assert a.cpu_steps == [1000, 1000, 3000] and a.cpu_iqm == -600.0  # 3 values: the IQM is their mean
    # CPU seconds to -200: a0 at 4.0 (-150), a1 at 9.0 (-190), a2 at 3.0 (-100; -250 is below); median 4.0
    assert a.cpu_to_threshold == [4.0, 9.0, 3.0] and a.to_threshold == [2000, 3000, 3000]
    table = format_cpu_table("P", rows, -200.0).splitlines()
    assert table[0] == (
        "| algorithm | seeds | return at 3.0 CPU s (mean ± std) | IQM [95% CI] | env steps by then "
        "| CPU s to ≥ -200 (median; seeds there) |"
    )
    # std of (-900, -800, -100) around -600: sqrt((300² + 200² + 500²) / 3) = 355.9; with 3 seeds the 95% bootstrap
    # interval of the IQM is [min, max] (all-min and all-max resamples have probability 1/27 each, above 2.5%)
    assert table[2] == "| a | 3 | -600.0 ± 355.9 | -600.0 [-900.0, -100.0] | 1,000 to 3,000 | 4.0 (3/3) |"
    # b0's first evaluation is at 8.0 s, after the budget; b1 reached -200 (at 1,000 steps) but carries no CPU time
    assert table[3] == "| b | 2 | no evaluation by then | n/a | n/a | 20 (1/1; 1 of 2 seeds without CPU time) |"
    # c: no CPU time at all; that it never reached -200 is known all the same
    assert table[4] == "| c | 1 | n/a | n/a | n/a | not reached (0/1) |"

    # another budget: 9.0 s; a2 ended at 3.0 s and counts with its final evaluation
    rows = summarize(runs, threshold=-200.0, n_resamples=1000, cpu_budget=9.0)
    table = format_cpu_table("P", rows, -200.0).splitlines()
    # (-100, -190, -100): mean -130, std sqrt((30² + 60² + 30²) / 3) = 42.4
    assert table[0].startswith("| algorithm | seeds | return at 9.0 CPU s (mean ± std) |")
    assert table[2].startswith("| a | 3 | -130.0 ± 42.4 | -130.0 [-190.0, -100.0] | 3,000 |")
    assert table[3].startswith("| b | 2 | -400.0 ± 0.0 (1 of 2 seeds) | -400.0 [n/a: 1 seed] | 500 |")

    # the overview at equal CPU time names each env's budget; an env without CPU time says n/a
    rows = summarize(runs, threshold=-200.0, n_resamples=1000)
    untimed = summarize([_timed("a", 0, [(1000, None, 10.0)])], threshold=None, n_resamples=1000)
    overview = format_overview({"P": rows, "Q": untimed}, {("b", "Q"): "n/a: Discrete actions"}, at_cpu_budget=True)
    assert overview.splitlines() == [
        "| algorithm | P (at 3.0 CPU s) | Q |",
        "| --- | --- | --- |",
        "| a | -600.0 [-900.0, -100.0] | n/a (no CPU time recorded) |",
        "| b | no evaluation by then | n/a: Discrete actions |",
        "| c | n/a (no CPU time recorded) | not run |",
    ]
    assert format_cpu_table("Q", untimed, None).splitlines()[-1] == "| a | 1 | n/a | n/a | n/a | n/a |"


def test_skipped_pairs_are_saved_with_the_results_and_merged(tmp_path: Path) -> None:
    lines: list[str] = []
    variant = AlgoEntry("sac", label="sac_small", hyperparams={"learning_rate": 3e-3})
    suite = tiny_suite(algos=["sac", variant], seeds=[0])
    outcome = run_suite(suite, tmp_path, verbose=False, log=lines.append)  # nothing to run: both skip CartPole
    assert not outcome.finished and len(outcome.unsupported) == 2
    assert "skipped: sac on rrl_sb3/CartPoleNoVel-v1: sac supports Box actions, the env has Discrete" in lines
    sac = SkippedPair("sac", "sac", CARTPOLE, "Discrete", ("Box",))
    sac_small = SkippedPair("sac_small", "sac", CARTPOLE, "Discrete", ("Box",))
    store = ResultStore(tmp_path)
    assert store.skipped() == [sac, sac_small]
    # another suite into the same directory adds its pairs and keeps the others
    run_suite(tiny_suite(algos=["sac"], envs=["CartPole-v1"], seeds=[0]), tmp_path, verbose=False, log=lines.append)
    sac_cartpole = SkippedPair("sac", "sac", "CartPole-v1", "Discrete", ("Box",))
    assert store.skipped() == [sac_cartpole, sac, sac_small]
    # a pair a later suite runs is no longer skipped
    store.save_skipped([], planned=[("sac", "CartPole-v1")])
    assert store.skipped() == [sac, sac_small]
    assert json.loads((tmp_path / SKIPPED_FILE).read_text())["skipped"][1] == {
        "algo": "sac_small",
        "algorithm": "sac",
        "env": CARTPOLE,
        "action_space": "Discrete",
        "supported": ["Box"],
    }
    # a suite without skipped pairs writes no file into a directory that has none
    ResultStore(tmp_path / "other").save_skipped([], planned=[("ppo", CARTPOLE)])
    assert not (tmp_path / "other").exists()


def _write_finished_run(
    root: Path, label: str, env_id: str, seed: int, returns: list[float], cpu_per_1000_steps: float | None = None
) -> None:
    folder = root / label / env_id.replace("/", "-")
    folder.mkdir(parents=True, exist_ok=True)
    records = [
        {
            "algo": label,
            "env": env_id,
            "seed": seed,
            "env_steps": 1000 * (i + 1),
            "wall_seconds": 1.0 * (i + 1),
            "mean_return": r,
            **({} if cpu_per_1000_steps is None else {"cpu_seconds": cpu_per_1000_steps * (i + 1)}),
        }
        for i, r in enumerate(returns)
    ]
    (folder / f"seed_{seed}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    marker = {"config": {"algo": label, "algorithm": label, "env": env_id, "seed": seed}}
    (folder / f"seed_{seed}.done.json").write_text(json.dumps(marker))


def test_break_even_env_step_cost_on_hand_made_records(tmp_path: Path) -> None:
    """A sample-efficient but costly agent (2k steps and 40 CPU s to the threshold) against a cheap one (6k steps and
    6 CPU s): equal at (40 - 6) / (6000 - 2000) s = 8.5 ms per env step; one that never gets there; medians over
    seeds."""
    for seed in (0, 1, 2):
        _write_finished_run(tmp_path, "dreamer", "Pendulum-v1", seed, [-900.0, -150.0, -140.0], cpu_per_1000_steps=20.0)
        slow = [-900.0] * (5 + seed) + [-150.0] + [-140.0] * (2 - seed)  # 6k, 7k, 8k steps to -200: median 7k
        _write_finished_run(tmp_path, "ppo", "Pendulum-v1", seed, slow[:8], cpu_per_1000_steps=1.0)
        _write_finished_run(tmp_path, "random", "Pendulum-v1", seed, [-1200.0, -1200.0])
    assert break_even_cost(2000, 40.0, 7000, 7.0) == pytest.approx(33 / 5000)
    assert break_even_cost(2000, 5.0, 7000, 7.0) is None and break_even_cost(2000, 40.0, float("inf"), 7.0) is None
    text = write_report(tmp_path, n_resamples=100, log=None).read_text()
    assert "| dreamer vs ppo | 2,000 vs 7,000 | 40 vs 7 | dreamer above **6.6 ms** per env step, ppo below |" in text
    assert "| dreamer vs random | 2,000 vs never | 40 vs never | dreamer (random never reached it) |" in text
    assert (tmp_path / "Pendulum-v1_break_even.png").is_file() and "Pendulum-v1_break_even.png" in text
    rows = summarize(load_results(tmp_path).finished, -200.0, n_resamples=100)
    assert format_break_even(rows, None) is None and format_break_even(rows[:1], -200.0) is None


def test_report_reads_skipped_pairs_from_the_results_not_the_registry(tmp_path: Path) -> None:
    _write_finished_run(tmp_path, "sac", "Pendulum-v1", 0, [-1000.0, -150.0])
    _write_finished_run(tmp_path, "ppo", "NoSuchEnv-v0", 0, [10.0, 20.0])  # an id no registry knows
    text = write_report(tmp_path, n_resamples=100, log=None).read_text()
    # a directory written before skipped.json: a missing pair is "not run"; records without CPU time give "n/a"
    assert "| sac | not run | -150.0 |" in text and "| ppo | 20.0 | not run |" in text
    assert "| ppo | n/a (no CPU time recorded) | not run |" in text  # at equal CPU time
    ResultStore(tmp_path).save_skipped([SkippedPair("sac", "sac", "NoSuchEnv-v0", "Discrete", ("Box",))])
    text = write_report(tmp_path, n_resamples=100, log=None).read_text()
    assert "| sac | n/a: Discrete actions | -150.0 |" in text
    assert "| sac | n/a: Discrete actions | n/a (no CPU time recorded) |" in text
    with pytest.raises(ConfigError, match=r"cpu_budgets\['Pendulum-v1'\]=-1"):
        write_report(tmp_path, log=None, cpu_budgets={"Pendulum-v1": -1})
    with pytest.raises(ConfigError, match=r"'CartPole-v1', which has no finished runs"):
        write_report(tmp_path, log=None, cpu_budgets={"CartPole-v1": 10.0})


def test_benchmark_package_structure() -> None:
    package = ROOT / "rrl_sb3" / "benchmark"
    # one ConfigError, importable from its old home and the package
    assert hyperparams.ConfigError is errors.ConfigError is ConfigError
    for path in package.glob("*.py"):
        tree = ast.parse(path.read_text())
        for function in (n for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))):
            for node in ast.walk(function):
                names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
                if isinstance(node, ast.ImportFrom):
                    names = [node.module or ""]
                assert not any(name.split(".")[0] == "rrl_sb3" for name in names), f"{path.name}:{node.lineno} imports lazily"
    # the report reads results; it does not rebuild envs or algorithms to describe them
    tree = ast.parse((package / "report.py").read_text())
    imported = {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    assert not imported & {f"rrl_sb3.benchmark.{m}" for m in ("suite", "algorithms", "worker", "runner")}


# --- hyperparameters ------------------------------------------------------------------------------------------------


def test_hyperparameters_in_rl_zoo3_format() -> None:
    assert parse_number("1e5") == 100000.0 and parse_number("100_000") == 100000 and parse_number("MlpPolicy") == "MlpPolicy"
    prepared = prepare(
        {
            "n_envs": 4,
            "n_timesteps": "1e5",
            "normalize": "{'norm_obs': True, 'norm_reward': False}",
            "policy": "MlpLstmPolicy",
            "policy_kwargs": "dict(net_arch=[dict(pi=[64], vf=[64])], activation_fn=nn.ReLU, log_std_init=-2)",
            "learning_rate": "lin_1e-3",
            "gamma": 0.9,
        },
        "test",
    )
    assert prepared.n_envs == 4 and prepared.normalize == {"norm_obs": True, "norm_reward": False}
    assert prepared.policy == "MlpLstmPolicy"
    import torch.nn as nn

    assert prepared.policy_kwargs == {"net_arch": [{"pi": [64], "vf": [64]}], "activation_fn": nn.ReLU, "log_std_init": -2}
    schedule = prepared.kwargs["learning_rate"]
    assert isinstance(schedule, LinearSchedule) and schedule(1.0) == pytest.approx(1e-3) and schedule(0.0) == 0.0
    assert prepared.kwargs["gamma"] == 0.9 and "n_timesteps" not in prepared.kwargs
    with pytest.raises(ConfigError, match="__import__"):
        parse_python_literal("__import__('os').getcwd()", "policy_kwargs")
    with pytest.raises(ConfigError, match="lin_fast"):
        prepare({"learning_rate": "lin_fast"}, "test")


def test_committed_hyperparameters_build_every_algorithm() -> None:
    suite = Suite(
        algos=list(ALGORITHMS),
        envs=["rrl_sb3/PendulumNoVel-v1", CARTPOLE, "rrl_sb3/PendulumNoisy-v1", "rrl_sb3/CartPoleFlicker-v1"],
    )
    plan = suite.plan()
    assert {run.label for run in plan.runs} == set(ALGORITHMS)
    assert plan.skipped and all(
        reason.startswith(("sac on rrl_sb3/CartPole", "recurrent_sac on rrl_sb3/CartPole")) for reason in plan.skipped
    )
    lstm = next(r for r in plan.runs if r.label == "recurrent_ppo_lstm" and r.env_id == "rrl_sb3/PendulumNoVel-v1")
    gru = next(r for r in plan.runs if r.label == "recurrent_ppo_gru" and r.env_id == "rrl_sb3/PendulumNoVel-v1")
    assert lstm.n_timesteps == 100_000 and lstm.eval_freq == 10_000  # rl-zoo3's budget; on-policy runs of 100k+
    assert {k: v for k, v in gru.hyperparams.items() if k not in ("policy", "policy_kwargs")} == {
        k: v for k, v in lstm.hyperparams.items() if k not in ("policy", "policy_kwargs")
    }
    # the models build (no training): one of each algorithm on an env it supports
    for spec in ALGORITHMS.values():
        run = next(r for r in plan.runs if r.algo is spec)
        prepared = prepare(run.hyperparams, run.where)
        train_env, eval_env = make_env_pair(run.env_id, prepared, run.seed, run.eval_seed)
        model = build_model(spec, prepared, train_env, run.seed, "cpu", run.where)
        assert model.get_env().num_envs == prepared.n_envs
        train_env.close()
        eval_env.close()


def test_frame_stacking_and_normalisation_wrap_train_and_eval_env_alike() -> None:
    prepared = prepare({"frame_stack": 4, "normalize": True, "n_envs": 2, "gamma": 0.9}, "test")
    train_env, eval_env = make_env_pair(CARTPOLE, prepared, seed=0, eval_seed=1000)
    assert train_env.observation_space.shape == eval_env.observation_space.shape == (16,)
    assert isinstance(train_env.venv, VecNormalize) and train_env.venv.gamma == 0.9
    assert isinstance(eval_env.venv, VecNormalize) and not eval_env.venv.training and not eval_env.venv.norm_reward


def test_channel_last_images_get_the_models_transpose_on_the_eval_env_too() -> None:
    """The model wraps its training env in VecTransposeImage; normalisation statistics must still sync to the eval env."""
    settings = {"normalize": "dict(norm_obs=False)", "n_envs": 2, "env_kwargs": {"observation": "image"}}
    train_env, eval_env = make_env_pair("rrl_sb3/MemoryCue-v0", prepare(settings, "test"), seed=0, eval_seed=1)
    model = PPO("CnnPolicy", train_env, n_steps=8, batch_size=16, n_epochs=1, seed=0)
    assert isinstance(model.get_env(), VecTransposeImage) and isinstance(eval_env, VecTransposeImage)
    sync_envs_normalization(model.get_env(), eval_env)  # raised "expected the eval env to be a VecEnvWrapper" before
    assert eval_env.observation_space == model.observation_space
    assert evaluate_policy(model, eval_env, n_eval_episodes=2)[0] is not None


# --- the evaluation protocol ---------------------------------------------------------------------------------------


def test_eval_recorder_evaluates_at_each_crossing_and_at_the_end(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = []

    def slow_evaluation(model, env, **kwargs):  # stands in for evaluate_policy: 0.2 s, a fixed result
        calls.append(kwargs)
        time.sleep(0.2)
        return [1.0, 3.0], [5, 7]

    monkeypatch.setattr("rrl_sb3.benchmark.worker.evaluate_policy", slow_evaluation)
    prepared = prepare({"n_envs": 3, "normalize": True}, "test")
    train_env, eval_env = make_env_pair(CARTPOLE, prepared, seed=0, eval_seed=1000)
    model = PPO("MlpPolicy", train_env, n_steps=8, batch_size=24, n_epochs=1, seed=0)
    recorder = EvalRecorder(
        eval_env, eval_freq=10, n_eval_episodes=2, eval_seed=1000, meta={"algo": "ppo"}, final_n_eval_episodes=5
    )
    start = time.perf_counter()
    model.learn(48, callback=recorder)
    elapsed = time.perf_counter() - start
    # 3 envs: the step count goes 3, 6, 9, 12, ...; each multiple of 10 is crossed at 12, 21, 30, 42; 48 is the end
    assert [r["env_steps"] for r in recorder.records] == [12, 21, 30, 42, 48]
    assert all(call["deterministic"] for call in calls)
    assert [call["n_eval_episodes"] for call in calls] == [2, 2, 2, 2, 5]  # the final evaluation has its own count
    record = recorder.records[-1]
    assert (record["mean_return"], record["std_return"], record["mean_length"], record["algo"]) == (2.0, 1.0, 6.0, "ppo")
    assert record["returns"] == [1.0, 3.0] and record["lengths"] == [5, 7]
    # the wall clock leaves out the 5 x 0.2 s of evaluation
    assert record["wall_seconds"] <= elapsed - 5 * 0.2 + 0.05
    # the evaluation env sees the training statistics, frozen
    np.testing.assert_allclose(eval_env.obs_rms.mean, train_env.obs_rms.mean)
    assert not eval_env.training

    # a crossing on the last step is the final evaluation, once, with the final count
    calls.clear()
    model = PPO("MlpPolicy", train_env, n_steps=10, batch_size=30, n_epochs=1, seed=0)
    recorder = EvalRecorder(eval_env, eval_freq=10, n_eval_episodes=2, final_n_eval_episodes=5)
    model.learn(30, callback=recorder)
    assert [r["env_steps"] for r in recorder.records] == [12, 21, 30]
    assert [call["n_eval_episodes"] for call in calls] == [2, 2, 5]
    assert not recorder.stopped_on_cpu_budget and all("stopped_on" not in r for r in recorder.records)


def test_eval_recorder_stops_on_its_cpu_budget(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = []

    def evaluation(model, env, **kwargs):  # stands in for evaluate_policy: CPU-heavy, to show that it is not counted
        calls.append(kwargs)
        deadline = time.process_time() + 0.05
        while time.process_time() < deadline:
            pass
        return [1.0], [5]

    monkeypatch.setattr("rrl_sb3.benchmark.worker.evaluate_policy", evaluation)
    train_env, eval_env = make_env_pair(CARTPOLE, prepare({"n_envs": 2}, "test"), seed=0, eval_seed=1000)
    model = PPO("MlpPolicy", train_env, n_steps=32, batch_size=64, n_epochs=1, seed=0)
    recorder = EvalRecorder(eval_env, eval_freq=64, n_eval_episodes=2, final_n_eval_episodes=5, cpu_budget=0.5)
    model.learn(10_000_000, callback=recorder)
    final = recorder.records[-1]
    # stopped long before the env-step budget, once the training CPU time (evaluations excluded) reached 0.5 s
    assert recorder.stopped_on_cpu_budget and final["stopped_on"] == "cpu_seconds"
    assert final["env_steps"] < 10_000_000 and 0.5 <= final["cpu_seconds"] < 1.5
    assert len(recorder.records) > 3  # so several evaluations' CPU time was left out
    # the final evaluation happened at the step training stopped, with its own episode count, once
    assert [call["n_eval_episodes"] for call in calls] == [2] * (len(calls) - 1) + [5]
    assert all("stopped_on" not in r for r in recorder.records[:-1])
    steps = [r["env_steps"] for r in recorder.records]
    assert steps == sorted(set(steps))
    with pytest.raises(ValueError, match="cpu_budget=-1"):
        EvalRecorder(eval_env, eval_freq=10, cpu_budget=-1)
    train_env.close()
    eval_env.close()


# --- bad input: each a clear error naming the bad value -------------------------------------------------------------


def test_unknown_algorithm_and_env_id() -> None:
    with pytest.raises(ConfigError, match=r"unknown algorithm 'dreamr'.*did you mean 'dreamer'"):
        tiny_suite(algos=["dreamr"]).plan()
    with pytest.raises(ConfigError, match=r"unknown env id 'rrl_sb3/PendulumNoVelocity-v1'.*PendulumNoVel-v1"):
        tiny_suite(envs=["rrl_sb3/PendulumNoVelocity-v1"]).plan()
    assert cli_main(["run", "--algos", "ppo", "nope", "--envs", CARTPOLE, "--steps", "100"]) == 2


def test_flags_pick_from_a_suite_file_and_keep_its_settings(tmp_path: Path) -> None:
    suite_file = tmp_path / "suite.yml"
    suite_file.write_text(
        f"n_timesteps: 1000\nalgos: [{{algo: ppo, n_timesteps: 300}}, reinforce_gru]\n"
        f"envs: [{{id: {CARTPOLE}, n_timesteps: 500}}, rrl_sb3/PendulumNoVel-v1]"
    )
    parser = build_parser()
    suite = suite_from_args(parser.parse_args(["run", str(suite_file), "--algos", "ppo", "--envs", CARTPOLE]))
    assert [(r.label, r.env_id, r.n_timesteps) for r in suite.plan().runs if r.seed == 0] == [("ppo", CARTPOLE, 300)]
    suite = suite_from_args(parser.parse_args(["run", str(suite_file), "--algos", "reinforce_gru,sac", "--envs", CARTPOLE]))
    assert {r.label: r.n_timesteps for r in suite.plan().runs} == {"reinforce_gru": 500}  # sac: no Discrete actions
    suite = suite_from_args(parser.parse_args(["run", str(suite_file), "--algos", "ppo", "--steps", "64"]))
    assert {r.n_timesteps for r in suite.plan().runs} == {64}  # --steps replaces every budget


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("algos: [ppo\nenvs: []", "not valid YAML"),
        ("- ppo\n- sac", "a suite file is a mapping"),
        (f"algos: [ppo]\nenvs: [{CARTPOLE}]\nbudget: 100", r"unknown key\(s\) \['budget'\]"),
        (f"algos: ppo\nenvs: [{CARTPOLE}]", "algos must be a list, got algos='ppo'"),
        (f"algos: [ppo]\nenvs: [{CARTPOLE}]\nseeds: [0, -1]", r"seeds must be .* got seeds=\[0, -1\]"),
        (
            f"algos: [ppo]\nenvs: [{CARTPOLE}]\nn_timesteps: lots",
            "n_timesteps must be a positive integer, got n_timesteps='lots'",
        ),
        (f"algos: [{{algo: ppo, lr: 1}}]\nenvs: [{CARTPOLE}]", r"algos entry 'ppo': unknown key\(s\) \['lr'\]"),
        (f"algos: [ppo, ppo]\nenvs: [{CARTPOLE}]", r"share the label\(s\) \['ppo'\]"),
        (f"algos: [ppo]\nenvs: [{CARTPOLE}]\ncpu_seconds: -5", "cpu_seconds must be a positive number, got cpu_seconds=-5"),
        (f"algos: [{{algo: ppo, cpu_seconds: 0}}]\nenvs: [{CARTPOLE}]", "cpu_seconds of ppo must be a positive number"),
        (f"algos: [ppo]\nenvs: [{{id: {CARTPOLE}, cpu_seconds: lots}}]", "cpu_seconds of rrl_sb3/CartPoleNoVel-v1 must be"),
    ],
)
def test_malformed_suite_file(tmp_path: Path, text: str, message: str) -> None:
    path = write(tmp_path / "suite.yml", text)
    with pytest.raises(ConfigError, match=message) as error:
        Suite.from_file(path)
    assert str(path) in str(error.value)


def test_cpu_budgets_of_suites_and_flags(tmp_path: Path) -> None:
    suite_file = write(
        tmp_path / "suite.yml",
        f"cpu_seconds: 30\nn_timesteps: 1000\nalgos: [{{algo: ppo, cpu_seconds: 10}}, reinforce_gru, sac]\n"
        f"envs: [{{id: {CARTPOLE}, cpu_seconds: 20}}, rrl_sb3/PendulumNoVel-v1]\nseeds: [0]",
    )
    budgets = {(r.label, r.env_id): r.cpu_seconds for r in Suite.from_file(suite_file).plan().runs}
    # first found: the algorithm entry's, the env entry's, the suite's
    assert budgets == {
        ("ppo", CARTPOLE): 10.0,
        ("ppo", "rrl_sb3/PendulumNoVel-v1"): 10.0,
        ("reinforce_gru", CARTPOLE): 20.0,
        ("reinforce_gru", "rrl_sb3/PendulumNoVel-v1"): 30.0,
        ("sac", "rrl_sb3/PendulumNoVel-v1"): 30.0,
    }
    parser = build_parser()
    suite = suite_from_args(parser.parse_args(["run", str(suite_file), "--cpu-seconds", "5.5"]))
    assert {r.cpu_seconds for r in suite.plan().runs} == {5.5}  # --cpu-seconds replaces every CPU budget
    run = next(r for r in suite.plan().runs if r.label == "ppo")
    assert run.config()["cpu_seconds"] == 5.5 and run.n_timesteps == 1000
    # without a CPU budget the config is what it was before CPU budgets existed: finished runs are not "changed"
    assert "cpu_seconds" not in tiny_suite().plan().runs[0].config()
    for flags in (["run", "--cpu-seconds", "-5"], ["report", "results", "--cpu-budget", "rrl_sb3/PendulumNoVel-v1=0"]):
        with pytest.raises(SystemExit):
            parser.parse_args(flags)
    assert parser.parse_args(["report", "r", "--cpu-budget", "A=3", "--cpu-budget", "B=4.5"]).cpu_budget == [
        ("A", 3.0),
        ("B", 4.5),
    ]
    with pytest.raises(ConfigError, match="cpu_seconds must be a positive number, got cpu_seconds=nan"):
        tiny_suite(cpu_seconds=float("nan"))


def test_model_arguments_are_those_the_plan_checks() -> None:
    spec = get_algorithm("recurrent_ppo_gru")
    cls, policy, kwargs = model_arguments(spec, prepare({"policy_kwargs": "dict(net_arch=[8])", "n_steps": 16}, "t"), "t")
    assert cls.__name__ == "RecurrentPPO" and isinstance(policy, type)  # the GRU policy name, resolved to its class
    assert kwargs == {"n_steps": 16, "policy_kwargs": {"net_arch": [8]}, "verbose": 0}
    with pytest.raises(ConfigError, match="'n_step' not an argument of RecurrentPPO"):
        model_arguments(spec, prepare({"n_step": 16}, "t"), "t")


def test_bad_hyperparameters_are_caught_before_anything_runs(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"'learning_rat' not an argument of PPO"):
        tiny_suite(algos=[AlgoEntry("ppo", hyperparams={"learning_rat": 1e-3})]).plan()
    with pytest.raises(ConfigError, match=r"unknown policy='MlpTransformerPolicy'"):
        tiny_suite(algos=[AlgoEntry("ppo", hyperparams={"policy": "MlpTransformerPolicy"})]).plan()
    write(tmp_path / "ppo.yml", "Pendulum-v1: {n_envs: 2}\n")
    with pytest.raises(ConfigError, match=r"no entry for env id 'rrl_sb3/CartPoleNoVel-v1' and no 'default' entry"):
        tiny_suite(algos=["ppo"], hyperparams_dir=tmp_path).plan()
    with pytest.raises(ConfigError, match=r"no hyperparameter file .*dreamer.yml"):
        tiny_suite(algos=["dreamer"], hyperparams_dir=tmp_path).plan()


PENDULUM = "rrl_sb3/PendulumNoVel-v1"

#: (algorithm, env id, suite override, the parameter and the value the message must name)
BAD_HYPERPARAMETER_VALUES = [
    ("ppo", CARTPOLE, {"gamma": 2}, "gamma", "2"),
    ("ppo", CARTPOLE, {"gamma": -0.1}, "gamma", "-0.1"),
    ("ppo", CARTPOLE, {"gamma": "high"}, "gamma", "'high'"),
    ("ppo", CARTPOLE, {"gamma": True}, "gamma", "True"),
    ("ppo", CARTPOLE, {"gae_lambda": float("nan")}, "gae_lambda", "nan"),
    ("ppo", CARTPOLE, {"learning_rate": 0}, "learning_rate", "0"),
    ("ppo", CARTPOLE, {"learning_rate": "lin_-1e-3"}, "learning_rate", "-0.001"),
    ("ppo", CARTPOLE, {"learning_rate": float("inf")}, "learning_rate", "inf"),
    ("ppo", CARTPOLE, {"n_steps": 0}, "n_steps", "0"),
    ("ppo", CARTPOLE, {"batch_size": 2.5}, "batch_size", "2.5"),
    ("ppo", CARTPOLE, {"n_epochs": -1}, "n_epochs", "-1"),
    ("ppo", CARTPOLE, {"clip_range": 0}, "clip_range", "0"),
    ("ppo", CARTPOLE, {"ent_coef": -0.1}, "ent_coef", "-0.1"),
    ("ppo", CARTPOLE, {"vf_coef": -1}, "vf_coef", "-1"),
    ("ppo", CARTPOLE, {"max_grad_norm": 0}, "max_grad_norm", "0"),
    ("ppo", PENDULUM, {"use_sde": "yes"}, "use_sde", "'yes'"),
    ("ppo", CARTPOLE, {"normalize_advantage": "no"}, "normalize_advantage", "'no'"),
    ("ppo", CARTPOLE, {"policy_kwargs": "dict(ortho_init='no')"}, "ortho_init", "'no'"),
    ("ppo", CARTPOLE, {"policy_kwargs": "dict(net_arch='big')"}, "policy_kwargs", "'big'"),
    ("ppo", CARTPOLE, {"policy_kwargs": "dict(foo=1)"}, "policy_kwargs", "'foo'"),
    ("ppo", CARTPOLE, {"normalize": "dict(foo=1)"}, "normalize", "'foo'"),
    ("ppo", CARTPOLE, {"env_kwargs": "dict(noise_std=0.1)"}, "env_kwargs", "noise_std"),
    ("ppo", CARTPOLE, {"env_kwargs": "dict(mode='blank')"}, "mode", "'blank'"),
    ("recurrent_ppo_gru", CARTPOLE, {"policy_kwargs": "dict(gru_hidden_size=-4)"}, "gru_hidden_size", "-4"),
    ("recurrent_ppo_lstm", CARTPOLE, {"policy_kwargs": "dict(enable_critic_lstm='no')"}, "enable_critic_lstm", "'no'"),
    ("recurrent_ppo_lstm", CARTPOLE, {"gae_lambda": 1.5}, "gae_lambda", "1.5"),
    ("sac", PENDULUM, {"tau": 0}, "tau", "0"),
    ("sac", PENDULUM, {"buffer_size": -1}, "buffer_size", "-1"),
    ("sac", PENDULUM, {"learning_starts": -5}, "learning_starts", "-5"),
    ("sac", PENDULUM, {"train_freq": "often"}, "train_freq", "often"),
    ("recurrent_sac", PENDULUM, {"gamma": 1.5}, "gamma", "1.5"),
    ("dreamer", CARTPOLE, {"gamma": 2}, "gamma", "2"),
    ("dreamer", CARTPOLE, {"batch_size": 0}, "batch_size", "0"),
    ("dreamer", CARTPOLE, {"policy_kwargs": "dict(foo=1)"}, "policy_kwargs", "'foo'"),
    ("reinforce_gru", CARTPOLE, {"n_episodes": 0}, "n_episodes", "0"),
    ("reinforce_gru", CARTPOLE, {"gamma": float("nan")}, "gamma", "nan"),
]


@pytest.mark.parametrize(("algo", "env_id", "override", "parameter", "value"), BAD_HYPERPARAMETER_VALUES)
def test_bad_hyperparameter_values_fail_the_plan(
    tmp_path: Path, algo: str, env_id: str, override: dict, parameter: str, value: str
) -> None:
    text = yaml.safe_dump({"algos": [{"algo": algo, "hyperparams": override}], "envs": [env_id]})
    suite_file = write(tmp_path / "suite.yml", text)
    suite = Suite.from_file(suite_file).replace(hyperparams_dir=HYPERPARAMS, n_timesteps=100, seeds=[0])
    with pytest.raises(ConfigError) as error:
        suite.plan()
    message = str(error.value)
    # the hyperparameter file, the suite file holding the override, the env id, the parameter and its value
    assert f"{algo}.yml" in message and str(suite_file) in message and env_id in message, message
    assert parameter in message and value in message, message


#: suite files with a bad value: (text, the key and the value the message must name)
BAD_SUITE_VALUES = [
    (f"algos: [ppo]\nenvs: [{CARTPOLE}]\ndevice: gpu", "device", "'gpu'"),
    (f"algos: [ppo]\nenvs: [{CARTPOLE}]\ndevice: 5", "device", "5"),
    (f"algos: [ppo]\nenvs: [{CARTPOLE}]\ndevice: null", "device", "None"),
    (f"algos: [ppo]\nenvs: [{CARTPOLE}]\ndevice: 'cuda:x'", "device", "'cuda:x'"),
    (f"algos: [ppo]\nenvs: [{CARTPOLE}]\nseeds: [true]", "seeds", "[True]"),
    (f"algos: [ppo]\nenvs: [{CARTPOLE}]\nseeds: [0, 0]", "seeds", "[0, 0]"),
    (f"algos: [ppo]\nenvs: [{CARTPOLE}]\nseeds: 1.5", "seeds", "1.5"),
    (f"algos: [ppo]\nenvs: [{CARTPOLE}]\nn_timesteps: -100", "n_timesteps", "-100"),
    (f"algos: [ppo]\nenvs: [{CARTPOLE}]\nn_timesteps: true", "n_timesteps", "True"),
    (f"algos: [ppo]\nenvs: [{CARTPOLE}]\neval_freq: 0", "eval_freq", "0"),
    (f"algos: [ppo]\nenvs: [{CARTPOLE}]\nn_eval_episodes: 1.5", "n_eval_episodes", "1.5"),
    (f"algos: [ppo]\nenvs: [{CARTPOLE}]\nfinal_n_eval_episodes: many", "final_n_eval_episodes", "'many'"),
    (f"algos: [ppo]\nenvs: [{CARTPOLE}]\ncpu_seconds: .inf", "cpu_seconds", "inf"),
    (f"algos: [ppo]\nenvs: [{CARTPOLE}]\nresources: {{num_cpus: -1}}", "num_cpus", "-1"),
    (f"algos: [ppo]\nenvs: [{CARTPOLE}]\nresources: {{num_gpus: .nan}}", "num_gpus", "nan"),
    (f"algos: [{{algo: ppo, n_timesteps: 0}}]\nenvs: [{CARTPOLE}]", "n_timesteps", "0"),
    (f"algos: [{{algo: ppo, eval_freq: -1}}]\nenvs: [{CARTPOLE}]", "eval_freq", "-1"),
    (f"algos: [{{algo: ppo, label: a/b}}]\nenvs: [{CARTPOLE}]", "label", "'a/b'"),
    (f"algos: [{{algo: ppo, hyperparams: [1]}}]\nenvs: [{CARTPOLE}]", "hyperparams", "[1]"),
    (f"algos: [ppo]\nenvs: [{{id: {CARTPOLE}, n_timesteps: lots}}]", "n_timesteps", "'lots'"),
]


@pytest.mark.parametrize(("text", "key", "value"), BAD_SUITE_VALUES)
def test_bad_suite_values_name_the_file_key_and_value(tmp_path: Path, text: str, key: str, value: str) -> None:
    path = write(tmp_path / "suite.yml", text)
    with pytest.raises(ConfigError) as error:
        Suite.from_file(path)
    message = str(error.value)
    assert str(path) in message and key in message and value in message, message


def test_the_plan_builds_each_pair_once_and_leaves_the_random_state_alone() -> None:
    import random

    import torch as th

    states = random.getstate(), np.random.get_state()[1].copy(), th.get_rng_state().clone(), th.get_num_threads()
    plan = tiny_suite(algos=["ppo", "recurrent_ppo_gru", "dreamer"]).plan()
    assert len(plan.runs) == 6
    assert random.getstate() == states[0] and np.array_equal(np.random.get_state()[1], states[1])
    assert th.equal(th.get_rng_state(), states[2]) and th.get_num_threads() == states[3]
    # build_check=False leaves the values to the workers, as before the plan built models
    assert len(
        tiny_suite(algos=[AlgoEntry("ppo", hyperparams={"policy_kwargs": "dict(foo=1)"})], build_check=False).plan().runs
    )


def test_report_skips_a_garbled_line_and_keeps_the_other_records(tmp_path: Path) -> None:
    folder = tmp_path / "ppo" / "rrl_sb3-CartPoleNoVel-v1"
    folder.mkdir(parents=True)
    record = {"algo": "ppo", "env": CARTPOLE, "seed": 0, "mean_return": 10.0, "std_return": 1.0, "wall_seconds": 1.0}
    lines = [json.dumps({**record, "env_steps": 128}), '{"algo": "ppo", "env_st', json.dumps({**record, "env_steps": 256})]
    lines += ["[1, 2]", json.dumps({**record, "env_steps": "many"}), json.dumps({**record, "env_steps": 384})]
    (folder / "seed_0.jsonl").write_text("\n".join(lines) + "\n")
    (folder / "seed_1.jsonl").write_text(json.dumps({**record, "seed": 1, "env_steps": 128}) + "\n")
    (folder / "seed_1.done.json").write_text('{"config": {"algo": "ppo"')  # a marker cut short
    with pytest.warns(GarbledResultWarning) as caught:
        results = load_results(tmp_path)
    messages = [str(w.message) for w in caught]
    for number in (2, 4, 5):
        assert any(f"seed_0.jsonl:{number}:" in m for m in messages), messages
    assert any("seed_1.done.json" in m for m in messages), messages
    runs = {run.seed: run for run in results.unfinished}
    assert [r["env_steps"] for r in runs[0].records] == [128, 256, 384]  # nothing else lost
    assert [r["env_steps"] for r in runs[1].records] == [128]


def test_bad_ray_address(tmp_path: Path) -> None:
    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    address = f"127.0.0.1:{port}"
    with pytest.raises(ConnectionError, match=f"ray_address='{address}'"):
        run_suite(tiny_suite(), tmp_path, backend="ray", ray_address=address)
    with pytest.raises(ConfigError, match="ray_address='not an address'"):
        run_suite(tiny_suite(), tmp_path, backend="ray", ray_address="not an address")
    with pytest.raises(ConfigError, match="backend='slurm'"):
        run_suite(tiny_suite(), tmp_path, backend="slurm")
    with pytest.raises(ConfigError, match="workers=0"):
        run_suite(tiny_suite(), tmp_path, workers=0)
    with pytest.raises(ConfigError, match="threads_per_run=True"):
        run_suite(tiny_suite(), tmp_path, threads_per_run=True)
    assert not any(tmp_path.iterdir())


# --- end to end -----------------------------------------------------------------------------------------------------


def test_tiny_suite_end_to_end_with_a_crash_and_a_resume(tmp_path: Path, exploding_algo: AlgoSpec) -> None:
    results = tmp_path / "results"
    lines: list[str] = []
    suite = tiny_suite(algos=["ppo", "recurrent_ppo_gru", "exploding_ppo"])
    outcome = run_suite(suite, results, workers=2, threads_per_run=1, verbose=False, log=lines.append)

    # the crashing runs are reported with their error; the others finish
    assert sorted((r.run.label, r.run.seed) for r in outcome.finished) == [
        ("ppo", 0),
        ("ppo", 1),
        ("recurrent_ppo_gru", 0),
        ("recurrent_ppo_gru", 1),
    ]
    assert sorted(r.run.seed for r in outcome.failed) == [0, 1] and not outcome.ok
    error = (results / "exploding_ppo" / "rrl_sb3-CartPoleNoVel-v1" / "seed_0.error.txt").read_text()
    assert "RuntimeError: exploding on purpose" in error and "Traceback" in error
    assert any("FAILED: RuntimeError: exploding on purpose" in line for line in lines)
    assert any(line.startswith("[6/6 runs done, 2 failed]") and "ETA" in line for line in lines)

    # one record per evaluation: at 128 steps, and at the end of the first 256-step rollout of 8 envs
    run_dir = results / "ppo" / "rrl_sb3-CartPoleNoVel-v1"
    records = [json.loads(line) for line in (run_dir / "seed_1.jsonl").read_text().splitlines()]
    assert [r["env_steps"] for r in records] == [128, 256]
    assert {"algo", "env", "seed", "wall_seconds", "mean_return", "std_return", "mean_length", "returns"} <= set(records[0])
    assert len(records[0]["returns"]) == 10 and records[0]["seed"] == 1
    assert len(records[-1]["returns"]) == 50  # the final evaluation: the protocol's 50 episodes
    marker = json.loads((run_dir / "seed_1.done.json").read_text())
    assert marker["config"]["eval_seed"] == 1001 and marker["config"]["hyperparams"]["n_envs"] == 8
    assert marker["versions"]["stable-baselines3"] and marker["torch_threads"] == 1
    assert marker["cpu_model"] and isinstance(marker["cpu_bf16"], list)  # runs compare only on the same CPU
    assert marker["stopped_on"] == "n_timesteps" and "cpu_seconds" not in marker["config"]
    # the crashed run kept the records it wrote during its first rollout, before the update that raised (the one at
    # 256 steps, the budget, is the final evaluation: it never came)
    crashed = [json.loads(line) for line in (results / "exploding_ppo" / "rrl_sb3-CartPoleNoVel-v1" / "seed_0.jsonl").open()]
    assert [r["env_steps"] for r in crashed] == [128]

    # the report: a table per env, a PNG, the failed runs listed
    report = write_report(results, n_resamples=1000, log=None)
    text = report.read_text()
    assert "| ppo | 2 | 256 |" in text and "| recurrent_ppo_gru | 2 | 256 |" in text and "steps to ≥ 475" in text
    assert "## Overview" in text and "| algorithm | rrl_sb3/CartPoleNoVel-v1 |" in text
    assert "10 deterministic episodes, and at the end of the budget 50," in text  # the protocol, as the runs had it
    # the second axis: every run at the shortest run's training CPU time
    assert "At equal CPU time" in text and "| algorithm | rrl_sb3/CartPoleNoVel-v1 (at " in text
    assert not (results / SKIPPED_FILE).exists()  # nothing skipped, nothing to say
    assert "failed: exploding_ppo on rrl_sb3/CartPoleNoVel-v1, seed 0: RuntimeError: exploding on purpose" in text
    png = results / "rrl_sb3-CartPoleNoVel-v1.png"
    assert png.read_bytes().startswith(b"\x89PNG")
    loaded = load_results(results)
    assert (len(loaded.finished), len(loaded.failed), len(loaded.unfinished)) == (4, 2, 0)

    # a re-run skips the finished runs: nothing trains, nothing is rewritten
    before = {p: p.stat().st_mtime_ns for p in results.rglob("seed_*")}
    lines.clear()
    again = run_suite(tiny_suite(), results, workers=2, verbose=False, log=lines.append)
    assert len(again.already_finished) == 4 and not again.finished and not again.failed
    assert {p: p.stat().st_mtime_ns for p in results.rglob("seed_*")} == before
    assert "4 runs, 4 already finished, 0 to run" in lines[-1]
    # ... and says so when the settings changed since
    lines.clear()
    run_suite(tiny_suite(algos=["ppo"], eval_freq=64), results, verbose=False, log=lines.append)
    assert any("finished earlier with other settings (eval_freq)" in line for line in lines)


def test_tiny_suite_with_a_cpu_budget_stops_early(tmp_path: Path) -> None:
    lines: list[str] = []
    suite = tiny_suite(algos=["ppo"], seeds=[0, 1], n_timesteps=10_000_000, eval_freq=2048, cpu_seconds=1.0)
    outcome = run_suite(suite, tmp_path, workers=1, threads_per_run=1, verbose=False, log=lines.append)
    assert outcome.ok and [r.stopped_on for r in outcome.finished] == ["cpu_seconds", "cpu_seconds"]
    assert any("stopped on its CPU budget of 1 s" in line for line in lines)
    run_dir = tmp_path / "ppo" / "rrl_sb3-CartPoleNoVel-v1"
    records = [json.loads(line) for line in (run_dir / "seed_0.jsonl").open()]
    final = records[-1]
    # the records say so: far fewer env steps than n_timesteps, 1 s of training CPU, the final evaluation's 50 episodes
    assert final["stopped_on"] == "cpu_seconds" and final["env_steps"] < 10_000_000 and final["cpu_seconds"] >= 1.0
    assert len(final["returns"]) == 50 and all("stopped_on" not in r for r in records[:-1])
    marker = json.loads((run_dir / "seed_0.done.json").read_text())
    assert marker["stopped_on"] == "cpu_seconds" and marker["config"]["cpu_seconds"] == 1.0
    assert marker["env_steps"] == final["env_steps"]
    text = write_report(tmp_path, n_resamples=100, log=None).read_text()
    # runs stopped on the same CPU budget meet at it (each ends a fraction of a step past it): both evaluated there
    assert "return at 1.0 CPU s" in text and "no evaluation by then" not in text
    assert "| ppo | 2 | " in text.split("return at 1.0 CPU s")[1]
    # the same suite without its CPU budget is another config
    lines.clear()
    again = run_suite(suite.replace(cpu_seconds=None), tmp_path, verbose=False, log=lines.append)
    assert len(again.already_finished) == 2 and not again.finished
    assert any("finished earlier with other settings (cpu_seconds)" in line for line in lines)


def test_cli_report_and_list(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli_main(["list"]) == 0
    assert "recurrent_ppo_gru" in capsys.readouterr().out
    assert cli_main(["report", str(tmp_path / "missing")]) == 2
    assert "does not exist" in capsys.readouterr().err


def _children(pid: int) -> set[int]:
    """Processes whose parent is ``pid`` (Linux /proc)."""
    found = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # the process ended while we looked
        if int(fields[1]) == pid:
            found.add(int(stat.parent.name))
    return found


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads the process table from Linux's /proc")
def test_sigterm_stops_the_suite_and_its_runs(tmp_path: Path) -> None:
    args = ["--algos", "ppo", "--envs", "CartPole-v1", "--seeds", "0", "1", "--steps", "10000000", "--workers", "2"]
    process = subprocess.Popen(
        [sys.executable, "-m", "rrl_sb3.benchmark", "run", *args, "--threads-per-run", "1", "--results", str(tmp_path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert "local process pool" in "".join(process.stdout.readline() for _ in range(2))
        deadline = time.monotonic() + 60
        while len(workers := _children(process.pid)) < 3 and time.monotonic() < deadline:  # 2 workers, 1 tracker
            time.sleep(0.2)
        assert len(workers) >= 2, workers
        time.sleep(2.0)  # the workers are now training
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 128 + signal.SIGTERM
        deadline = time.monotonic() + 30
        while (alive := {pid for pid in workers if Path(f"/proc/{pid}").exists()}) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not alive, f"worker processes left running: {alive}"
        assert not list(tmp_path.rglob("*.done.json"))
    finally:
        process.kill()
        process.stdout.close()


def _running(pid: int) -> bool:
    """Whether ``pid`` is a live process (a zombie waiting to be reaped by whoever adopted it is not)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


def test_sigkill_of_the_driver_leaves_no_process(tmp_path: Path) -> None:
    # SIGKILL cannot be caught: the workers must notice the driver's death themselves (exit_with_parent)
    args = ["--algos", "ppo", "--envs", "CartPole-v1", "--seeds", "0", "1", "--steps", "10000000", "--workers", "2"]
    process = subprocess.Popen(
        [sys.executable, "-m", "rrl_sb3.benchmark", "run", *args, "--threads-per-run", "1", "--results", str(tmp_path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    children: set[int] = set()
    try:
        assert "local process pool" in "".join(process.stdout.readline() for _ in range(2))
        deadline = time.monotonic() + 60
        while len(children := _children(process.pid)) < 3 and time.monotonic() < deadline:  # 2 workers, 1 tracker
            time.sleep(0.2)
        assert len(children) >= 3, children
        time.sleep(2.0)  # the workers are now training
        assert all(_running(pid) for pid in children)
        process.kill()
        assert process.wait(timeout=30) == -signal.SIGKILL
        deadline = time.monotonic() + 15
        while (alive := {pid for pid in children if _running(pid)}) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not alive, f"processes of the killed driver left running: {alive}"
        assert not list(tmp_path.rglob("*.done.json"))
    finally:
        process.kill()
        process.stdout.close()
        for pid in children:  # never leave a trainer behind, even when the test fails
            if _running(pid):
                os.kill(pid, signal.SIGKILL)


def test_exit_with_parent_ends_a_process_whose_parent_is_gone() -> None:
    # the portable fallback alone (no prctl): a parent id that is not this process's parent means "the driver died"
    code = (
        "import os, time\n"
        "from rrl_sb3.benchmark.worker import _watch_parent\n"
        "import threading\n"
        "threading.Thread(target=_watch_parent, args=(os.getppid() + 10**7, 0.05), daemon=True).start()\n"
        "time.sleep(30)\n"
    )
    started = time.monotonic()
    assert subprocess.run([sys.executable, "-c", code], timeout=60).returncode == 1
    assert time.monotonic() - started < 25


@pytest.mark.slow
def test_ray_backend_runs_a_tiny_suite(tmp_path: Path) -> None:
    pytest.importorskip("ray")
    outcome = run_suite(tiny_suite(algos=["ppo"]), tmp_path, backend="ray", workers=2, verbose=False)
    assert sorted(r.run.seed for r in outcome.finished) == [0, 1] and outcome.ok
    records = [json.loads(line) for line in (tmp_path / "ppo" / "rrl_sb3-CartPoleNoVel-v1" / "seed_0.jsonl").open()]
    assert [r["env_steps"] for r in records] == [128, 256]
    assert (tmp_path / "ppo" / "rrl_sb3-CartPoleNoVel-v1" / "seed_1.done.json").is_file()


def test_registering_a_name_twice_needs_overwrite() -> None:
    spec = get_algorithm("ppo")
    with pytest.raises(ValueError, match="'ppo' is already registered"):
        register_algorithm(spec)


@pytest.mark.parametrize("suite_file", sorted((ROOT / "benchmarks" / "suites").glob("*.yml")), ids=lambda p: p.stem)
def test_committed_suites_plan(suite_file: Path) -> None:
    """Every committed suite still reads and its settings still fit the algorithms' constructors (models not built)."""
    plan = Suite.from_file(suite_file).replace(build_check=False).plan()
    assert plan.runs


def test_the_tuned_entry_is_the_studys_best_trial() -> None:
    """The suite that checks the study's best settings on other seeds runs exactly the settings the study wrote."""
    study = ROOT / "benchmarks" / "results" / "tune" / "recurrent_sac_pendulum_novel"
    best = yaml.safe_load((study / "best" / "recurrent_sac.yml").read_text())["rrl_sb3/PendulumNoVel-v1"]
    suite = Suite.from_file(ROOT / "benchmarks" / "suites" / "tune_recurrent_sac.yml")
    tuned = next(entry for entry in suite.algos if entry.name == "recurrent_sac_tuned")
    assert tuned.hyperparams == {k: v for k, v in best.items() if k not in ("policy", "n_timesteps")}
    assert suite.n_timesteps == best["n_timesteps"] and 0 not in suite.seeds  # seed 0 picked the winner


def test_report_says_how_each_seed_holds_the_threshold(tmp_path: Path) -> None:
    """Share of evaluations at or above the threshold from each seed's first success to its end (issue #27's metric)."""
    _write_finished_run(tmp_path, "dreamer", "Pendulum-v1", 0, [-900.0, -150.0, -300.0, -150.0, -190.0])  # 3 of 4
    _write_finished_run(tmp_path, "dreamer", "Pendulum-v1", 1, [-900.0, -900.0, -900.0])  # never: counts as 0
    _write_finished_run(tmp_path, "dreamer", "Pendulum-v1", 2, [-150.0, -150.0])  # held
    text = write_report(tmp_path, n_resamples=100, log=None).read_text()
    assert "| dreamer | 0.75 / never / 1.00 | 0.75 | 1/3 |" in text
    rows = summarize(load_results(tmp_path).finished, None, n_resamples=100)
    assert format_holding(rows, None) is None


def test_plan_finds_one_run_or_names_the_runs_it_has() -> None:
    plan = tiny_suite().plan()
    run = plan.find("recurrent_ppo_gru", CARTPOLE, 1)
    assert (run.label, run.env_id, run.seed) == ("recurrent_ppo_gru", CARTPOLE, 1)
    with pytest.raises(ConfigError, match=r"no run label='dreamer'.*seeds \[0, 1\]"):
        plan.find("dreamer", CARTPOLE, 0)
