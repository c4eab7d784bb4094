"""The benchmark runner: suites, hyperparameters, the evaluation protocol, backends, statistics and the report."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from stable_baselines3 import PPO
from stable_baselines3.common.utils import LinearSchedule
from stable_baselines3.common.vec_env import VecNormalize

from rrl_sb3.benchmark import (
    ALGORITHMS,
    AlgoEntry,
    AlgoSpec,
    ConfigError,
    EvalRecorder,
    Suite,
    iqm,
    iqm_interval,
    load_results,
    reaches,
    register_algorithm,
    run_suite,
    steps_to_threshold,
    write_report,
)
from rrl_sb3.benchmark.algorithms import build_model, get_algorithm, make_env_pair
from rrl_sb3.benchmark.cli import build_parser, suite_from_args
from rrl_sb3.benchmark.cli import main as cli_main
from rrl_sb3.benchmark.hyperparams import parse_number, parse_python_literal, prepare
from rrl_sb3.benchmark.report import RunData, format_overview, format_table, summarize, unsupported_pairs
from rrl_sb3.benchmark.stats import mean_interval, median_steps

ROOT = Path(__file__).resolve().parents[1]
HYPERPARAMS = ROOT / "benchmarks" / "hyperparams"
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
    ],
)
def test_malformed_suite_file(tmp_path: Path, text: str, message: str) -> None:
    path = write(tmp_path / "suite.yml", text)
    with pytest.raises(ConfigError, match=message) as error:
        Suite.from_file(path)
    assert str(path) in str(error.value)


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
    # the crashed run kept the records it wrote during its first rollout, before the update that raised (the one at
    # 256 steps, the budget, is the final evaluation: it never came)
    crashed = [json.loads(line) for line in (results / "exploding_ppo" / "rrl_sb3-CartPoleNoVel-v1" / "seed_0.jsonl").open()]
    assert [r["env_steps"] for r in crashed] == [128]

    # the report: a table per env, a PNG, the failed runs listed
    report = write_report(results, n_resamples=1000, log=None)
    text = report.read_text()
    assert "| ppo | 2 | 256 |" in text and "| recurrent_ppo_gru | 2 | 256 |" in text and "steps to ≥ 475" in text
    assert "## Overview" in text and "| algorithm | rrl_sb3/CartPoleNoVel-v1 |" in text
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
