"""``rrl-bench tune``: studies end to end (local pool, Ray), pruning, resuming, the best settings read back by the runner."""

from __future__ import annotations

import concurrent.futures
import json
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import optuna
import pytest
import yaml

from rrl_sb3.benchmark import ConfigError, get_algorithm
from rrl_sb3.benchmark import tune as tune_module
from rrl_sb3.benchmark.algorithms import check_model_builds
from rrl_sb3.benchmark.cli import main as cli_main
from rrl_sb3.benchmark.hyperparams import (
    PACKAGED_HYPERPARAMS_DIR,
    format_python_literal,
    load_hyperparams,
    parse_python_literal,
    prepare,
)
from rrl_sb3.benchmark.search_spaces import SEARCH_SPACES
from rrl_sb3.benchmark.suite import RunSpec, check_settings
from rrl_sb3.benchmark.tune import TrialReporter, merge_settings, tune
from rrl_sb3.benchmark.worker import RunResult, execute_run

HYPERPARAMS = PACKAGED_HYPERPARAMS_DIR
CARTPOLE = "rrl_sb3/CartPoleNoVel-v1"
TINY = dict(budget=256, eval_freq=128, n_eval_episodes=2, final_n_eval_episodes=3, hyperparams_dir=HYPERPARAMS)


def quiet(_: str) -> None:
    pass


# --- search spaces -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("algo", sorted(SEARCH_SPACES))
def test_every_search_space_gives_settings_the_algorithm_takes(algo: str) -> None:
    """Three draws per algorithm, each checked (and its model built) as a suite checks its runs."""
    spec = get_algorithm(algo)
    env_id = "rrl_sb3/PendulumNoVel-v1"
    base = {**spec.defaults, **load_hyperparams(HYPERPARAMS, spec.file_stem, env_id)}
    base.pop("n_timesteps", None)
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    for _ in range(3):
        trial = study.ask()
        settings = merge_settings(base, SEARCH_SPACES[algo](trial, base))
        assert set(trial.params) >= {"learning_rate"}
        check_settings(spec, settings, algo)
        check_model_builds(spec, prepare(settings, algo), env_id, algo)
        study.tell(trial, 0.0)


def test_batch_size_never_exceeds_a_rollout() -> None:
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=1))
    for _ in range(30):
        trial = study.ask()
        settings = SEARCH_SPACES["ppo"](trial, {"n_envs": 1})
        assert settings["batch_size"] <= settings["n_steps"]
        study.tell(trial, 0.0)


def test_policy_kwargs_merge_key_by_key_and_read_back() -> None:
    base = {"gamma": 0.9, "policy_kwargs": "dict(ortho_init=False, activation_fn=nn.ReLU, gru_hidden_size=64)"}
    merged = merge_settings(base, {"gamma": 0.99, "policy_kwargs": {"gru_hidden_size": 128}})
    assert merged["gamma"] == 0.99
    kwargs = parse_python_literal(merged["policy_kwargs"], "policy_kwargs")
    assert kwargs == {"ortho_init": False, "activation_fn": parse_python_literal("nn.ReLU", "x"), "gru_hidden_size": 128}
    for value in ({"a": [1, 2.5], "b": (3,), "c": None, "d": "x"}, {1: "not an identifier"}, [{"n": -1}]):
        assert parse_python_literal(format_python_literal(value), "v") == value
    with pytest.raises(ConfigError, match="cannot write"):
        format_python_literal({"f": print})


# --- pruning -------------------------------------------------------------------------------------------------------


def test_reporter_prunes_a_trial_below_the_median(tmp_path: Path) -> None:
    storage = f"sqlite:///{tmp_path / 'study.db'}"
    study = optuna.create_study(study_name="s", storage=storage, direction="maximize")
    good = study.ask()
    for step, value in enumerate([10.0, 50.0, 90.0], start=1):
        good.report(value, step)
    study.tell(good, 90.0)
    trial = study.ask()
    report = TrialReporter(storage, "s", trial._trial_id, eval_freq=100, pruner="median", n_startup_trials=1)
    assert report({"mean_return": 5.0, "env_steps": 100}) is False  # the first evaluation is the warm-up
    assert report({"mean_return": 60.0, "env_steps": 200}) is False  # above the median (50) at evaluation 2
    assert report({"mean_return": 20.0, "env_steps": 300}) is True  # below it (90) at evaluation 3
    assert optuna.load_study(study_name="s", storage=storage).trials[1].intermediate_values == {1: 5.0, 2: 60.0, 3: 20.0}
    never = TrialReporter(storage, "s", trial._trial_id, eval_freq=100, pruner="none")
    assert never({"mean_return": -1e9, "env_steps": 400}) is False  # the worker uses the driver's pruner, not the default


def test_a_stopped_run_ends_at_its_evaluation_without_a_final_one() -> None:
    spec = get_algorithm("ppo")
    base = load_hyperparams(HYPERPARAMS, "ppo", CARTPOLE)
    base.pop("n_timesteps")
    run = RunSpec("trial_0", spec, CARTPOLE, 0, 512, 128, 2, base, final_n_eval_episodes=3)
    calls = []

    def stop_at_second(record: dict[str, Any]) -> bool:
        calls.append(record["env_steps"])
        return len(calls) == 2

    result = execute_run(run, verbose=False, should_stop=stop_at_second)
    assert result.status == "finished" and result.stopped_on == "should_stop"
    assert [r["env_steps"] for r in result.records] == calls == [128, 256]
    assert all(len(r["returns"]) == 2 for r in result.records)  # no final evaluation of 3 episodes


# --- studies ---------------------------------------------------------------------------------------------------------


class InlinePool(concurrent.futures.ThreadPoolExecutor):
    """The local pool in threads, so that a test's stand-in for execute_run is the one called."""

    def __init__(self, workers: int) -> None:
        super().__init__(max_workers=workers)


def fake_runs(monkeypatch: pytest.MonkeyPatch, outcome: Any) -> list[RunSpec]:
    seen: list[RunSpec] = []

    def fake_execute_run(
        run: RunSpec, threads: int, verbose: bool, recorder_class: Any, should_stop: Any, checkpoint_dir: Any = None
    ) -> RunResult:
        seen.append(run)
        status, stopped_on, value = outcome(len(seen) - 1, run)
        records = [{"env_steps": 128, "mean_return": value}]
        return RunResult(run, status, records=records, stopped_on=stopped_on, error=None if status == "finished" else "boom")

    monkeypatch.setattr(tune_module, "execute_run", fake_execute_run)
    monkeypatch.setattr(tune_module, "local_pool", InlinePool)
    return seen


def test_study_tells_complete_pruned_and_failed_trials_and_resumes(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    outcomes = {0: ("finished", "n_timesteps", 30.0), 1: ("finished", "should_stop", 5.0), 2: ("failed", None, 0.0)}
    seen = fake_runs(monkeypatch, lambda i, run: outcomes.get(i, ("finished", "n_timesteps", 40.0 + i)))
    first = tune("ppo", CARTPOLE, n_trials=2, results_dir=tmp_path, workers=1, log=quiet, **TINY)
    # a failed trial does not count: the study goes on until 2 are finished (complete or pruned)
    assert (first.n_complete, first.n_pruned, first.n_failed) == (1, 1, 0)
    assert [run.label for run in seen] == ["trial_0", "trial_1"]
    again = tune("ppo", CARTPOLE, n_trials=4, results_dir=tmp_path, workers=1, log=quiet, **TINY)
    assert (again.n_complete, again.n_pruned, again.n_failed) == (3, 1, 1)  # trial 2 failed, trial 4 ran in its place
    assert [run.label for run in seen] == ["trial_0", "trial_1", "trial_2", "trial_3", "trial_4"]
    assert again.best_number == 4 and again.best_value == 44.0
    study = optuna.load_study(study_name=f"ppo-{CARTPOLE}", storage=f"sqlite:///{tmp_path / 'study.db'}")
    assert [t.state.name for t in study.trials] == ["COMPLETE", "PRUNED", "FAIL", "COMPLETE", "COMPLETE"]
    saved = json.loads((tmp_path / "trials" / "2.json").read_text())
    assert saved["status"] == "failed" and saved["error"] == "boom" and saved["params"] == study.trials[2].params
    rows = (tmp_path / "tune.md").read_text().splitlines()
    assert any(row.startswith("| 2 | FAIL |") and row.endswith("| boom |") for row in rows)  # why it failed
    # the trial's settings are the file's entry overridden by the draw
    assert (
        seen[3].hyperparams["n_envs"] == 8 and seen[3].hyperparams["learning_rate"] == study.trials[3].params["learning_rate"]
    )
    assert tune("ppo", CARTPOLE, n_trials=4, results_dir=tmp_path, workers=1, log=quiet, **TINY).n_complete == 3
    assert len(seen) == 5  # nothing left to run


def test_a_resumed_study_draws_new_parameters(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    fake_runs(monkeypatch, lambda i, run: ("finished", "n_timesteps", float(i)))
    for n_trials in (2, 4):  # two calls, each in its random startup phase
        tune("ppo", CARTPOLE, n_trials=n_trials, results_dir=tmp_path, workers=1, log=quiet, **TINY)
    study = optuna.load_study(study_name=f"ppo-{CARTPOLE}", storage=f"sqlite:///{tmp_path / 'study.db'}")
    draws = [tuple(sorted(trial.params.items())) for trial in study.trials]
    assert len(draws) == 4 and len(set(draws)) == 4, draws
    # and reproducibly: the same two calls on a new study draw the same four settings
    other = tmp_path / "again"
    for n_trials in (2, 4):
        tune("ppo", CARTPOLE, n_trials=n_trials, results_dir=other, workers=1, log=quiet, **TINY)
    again = optuna.load_study(study_name=f"ppo-{CARTPOLE}", storage=f"sqlite:///{other / 'study.db'}")
    assert [tuple(sorted(trial.params.items())) for trial in again.trials] == draws


PENDULUM = "rrl_sb3/PendulumNoVel-v1"
SAC_DEFAULTS = {  # RecurrentSAC's defaults in its search space's names
    "learning_rate": 1e-3,
    "gamma": 0.99,
    "tau": 0.005,
    "train_freq": 1,
    "batch_size": 32,
    "sequence_length": 32,
    "rnn_hidden_size": 64,
}


def test_enqueued_parameters_run_first_and_once(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    seen = fake_runs(monkeypatch, lambda i, run: ("finished", "n_timesteps", float(i)))
    args = dict(results_dir=tmp_path, workers=1, log=quiet, enqueue=[SAC_DEFAULTS], **TINY)
    tune("recurrent_sac", PENDULUM, n_trials=1, **args)
    first = seen[0].hyperparams
    assert first["learning_rate"] == 1e-3 and first["gradient_steps"] == 1
    assert parse_python_literal(first["policy_kwargs"], "policy_kwargs")["rnn_hidden_size"] == 64
    tune("recurrent_sac", PENDULUM, n_trials=3, **args)  # resumed with the same enqueue: it is not run again
    study = optuna.load_study(study_name=f"recurrent_sac-{PENDULUM}", storage=f"sqlite:///{tmp_path / 'study.db'}")
    assert [t.params == SAC_DEFAULTS for t in study.trials] == [True, False, False]
    assert study.trials[0].user_attrs["note"] == "enqueued"


@pytest.mark.parametrize(
    ("params", "match"),
    [
        ({k: v for k, v in SAC_DEFAULTS.items() if k != "tau"}, "no value for 'tau'"),  # every parameter must be given
        ({**SAC_DEFAULTS, "lr": 1e-3}, r"\['lr'\] not parameters"),
        ({**SAC_DEFAULTS, "batch_size": 48}, "batch_size=48 is outside"),  # not one of the choices
        ({**SAC_DEFAULTS, "learning_rate": 1.0}, "learning_rate=1.0 is outside"),
        ({**SAC_DEFAULTS, "gamma": "0.99"}, "gamma='0.99' is outside"),
    ],
)
def test_enqueued_parameters_outside_the_search_space_are_named(tmp_path: Path, params: dict[str, Any], match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        tune("recurrent_sac", PENDULUM, n_trials=1, results_dir=tmp_path, log=quiet, enqueue=[params], **TINY)
    assert not (tmp_path / "study.db").exists()


def test_enqueue_on_the_command_line_must_be_a_json_object(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["tune", "--algo", "recurrent_sac", "--env", PENDULUM, "--trials", "1", "--budget", "256"]
    with pytest.raises(SystemExit):
        cli_main([*argv, "--results", str(tmp_path), "--enqueue", "[1, 2]"])
    assert "expected a JSON object of parameters" in capsys.readouterr().err


def test_settings_that_always_fail_stop_the_study(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    seen = fake_runs(monkeypatch, lambda i, run: ("failed", None, 0.0))
    messages: list[str] = []
    outcome = tune("ppo", CARTPOLE, n_trials=2, results_dir=tmp_path, workers=1, log=messages.append, **TINY)
    assert outcome.n_failed == len(seen) == 3 and outcome.best_file is None
    assert any("stopped after 3 failed trials" in m for m in messages)


def test_an_interrupted_trial_runs_again_with_its_parameters(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    seen = fake_runs(monkeypatch, lambda i, run: ("finished", "n_timesteps", 1.0))
    tune("ppo", CARTPOLE, n_trials=1, results_dir=tmp_path, workers=1, log=quiet, **TINY)
    study = optuna.load_study(study_name=f"ppo-{CARTPOLE}", storage=f"sqlite:///{tmp_path / 'study.db'}")
    orphan = study.ask({"learning_rate": optuna.distributions.FloatDistribution(1e-5, 3e-3, log=True)})  # a killed driver's
    lr = orphan.params["learning_rate"]
    messages: list[str] = []
    outcome = tune("ppo", CARTPOLE, n_trials=2, results_dir=tmp_path, workers=1, log=messages.append, **TINY)
    assert any("trial 1 was interrupted" in m for m in messages)
    rows = (tmp_path / "tune.md").read_text().splitlines()
    assert any(row.startswith("| 1 | FAIL |") and "interrupted; its parameters run again" in row for row in rows)
    assert seen[-1].hyperparams["learning_rate"] == lr and outcome.n_complete == 2 and outcome.n_failed == 1


def test_a_resumed_study_must_have_the_same_settings(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    fake_runs(monkeypatch, lambda i, run: ("finished", "n_timesteps", 1.0))
    tune("ppo", CARTPOLE, n_trials=1, results_dir=tmp_path, workers=1, log=quiet, **TINY)
    with pytest.raises(ConfigError, match=r"other settings \(budget: 256 -> 512\)"):
        tune("ppo", CARTPOLE, n_trials=2, results_dir=tmp_path, workers=1, log=quiet, **{**TINY, "budget": 512})


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"algo": "a2c"}, "algo='a2c'"),
        ({"n_trials": 0}, "n_trials=0"),
        ({"budget": 2.5}, "budget=2.5"),
        ({"pruner": "hyperband"}, "pruner='hyperband'"),
        ({"backend": "slurm"}, "backend='slurm'"),
        ({"workers": 0}, "workers=0"),
        (
            {"env_id": "rrl_sb3/PendulumNoVel-v1", "algo": "recurrent_ppo_gru", "hyperparams_dir": "/nonexistent"},
            "nonexistent",
        ),
    ],
)
def test_bad_arguments_are_named(tmp_path: Path, kwargs: dict[str, Any], match: str) -> None:
    arguments = {"algo": "ppo", "env_id": CARTPOLE, "n_trials": 1, "results_dir": tmp_path, "log": quiet, **TINY, **kwargs}
    with pytest.raises(ConfigError, match=match):
        tune(**arguments)


def test_a_killed_trial_resumes_from_its_checkpoint_with_the_uninterrupted_records(tmp_path: Path) -> None:
    """A study whose driver is SIGKILLed mid-trial: run again, the trial runs as a new one with the same parameters,
    from its checkpoint, and ends with the records (timing aside) of the same trial never interrupted."""
    params = {"learning_rate": 1e-3, "n_episodes": 4, "gamma": 0.99, "ent_coef": 1e-6, "max_grad_norm": 0.5}
    params = json.dumps({**params, "rnn_hidden_size": 32})
    study = ["tune", "--algo", "reinforce_gru", "--env", CARTPOLE, "--trials", "1", "--budget", "3000"]
    study += [
        "--eval-freq",
        "500",
        "--workers",
        "1",
        "--threads-per-run",
        "1",
        "--enqueue",
        params,
        "--checkpoint-every",
        "300",
    ]
    reference = tmp_path / "reference"
    assert subprocess.run([sys.executable, "-m", "rrl_sb3.benchmark", *study, "--results", str(reference)]).returncode == 0
    results = tmp_path / "killed"
    process = subprocess.Popen([sys.executable, "-m", "rrl_sb3.benchmark", *study, "--results", str(results)])
    try:
        deadline = time.monotonic() + 120
        while not list(results.glob("trials/0.checkpoints/checkpoint_*/resume.pkl")) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert process.poll() is None, "the trial ended before it could be killed"
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=60)
    finally:
        process.kill()
    assert subprocess.run([sys.executable, "-m", "rrl_sb3.benchmark", *study, "--results", str(results)]).returncode == 0
    resumed = json.loads((results / "trials" / "1.json").read_text())  # trial 0 was interrupted: trial 1 took over
    whole = json.loads((reference / "trials" / "0.json").read_text())
    assert resumed["resumed"] and resumed["resumed"][0]["checkpoint"].startswith("checkpoint_")
    assert {r["algo"] for r in resumed["records"]} == {"trial_1"}
    timing = ("wall_seconds", "cpu_seconds", "algo")  # and the label: trial_1 is trial_0 run again
    assert [{k: v for k, v in r.items() if k not in timing} for r in resumed["records"]] == [
        {k: v for k, v in r.items() if k not in timing} for r in whole["records"]
    ]
    assert not list(results.glob("trials/*.checkpoints"))  # finished trials keep none
    stored = optuna.load_study(study_name=f"reinforce_gru-{CARTPOLE}", storage=f"sqlite:///{results / 'study.db'}")
    # the new trial got the interrupted one's evaluations reported, for its pruner
    assert len(stored.trials[1].intermediate_values) == len(whole["records"]) - 1


def test_tiny_study_on_the_local_pool_end_to_end(tmp_path: Path) -> None:
    """Two real trials in worker processes; the best settings file is read by `rrl-bench run` and reproduces the trial."""
    results = tmp_path / "study"
    study_args = ["--algo", "ppo", "--env", CARTPOLE, "--trials", "2", "--budget", "256", "--eval-freq", "128"]
    pool_args = ["--workers", "2", "--threads-per-run", "1", "--startup-trials", "1"]
    assert cli_main(["tune", *study_args, "--results", str(results), *pool_args]) == 0
    assert sorted(p.name for p in (results / "trials").iterdir()) == ["0.json", "1.json"]
    assert {"tune.md", "study.db", "optimization_history.png"} <= {p.name for p in results.iterdir()}
    best_file = results / "best" / "ppo.yml"
    entry = yaml.safe_load(best_file.read_text())[CARTPOLE]
    assert "--seeds 1 2 3" in best_file.read_text()  # seed 0 picked the winner: the suggested check uses others
    study = optuna.load_study(study_name=f"ppo-{CARTPOLE}", storage=f"sqlite:///{results / 'study.db'}")
    rows = (results / "tune.md").read_text().splitlines()
    # the last evaluation is named by its env step (the pruner's step is the evaluation's index)
    assert any(row.startswith(f"| {study.best_trial.number} | COMPLETE |") and "| 128: " in row for row in rows)
    assert entry["n_timesteps"] == 256 and entry["learning_rate"] == study.best_trial.params["learning_rate"]
    rerun = tmp_path / "rerun"
    argv = ["run", "--algos", "ppo", "--envs", CARTPOLE, "--hyperparams", str(best_file.parent), "--seeds", "0"]
    assert cli_main([*argv, "--eval-freq", "128", "--results", str(rerun), "--quiet", "--no-report"]) == 0
    done = json.loads((rerun / "ppo" / "rrl_sb3-CartPoleNoVel-v1" / "seed_0.done.json").read_text())
    assert done["final_mean_return"] == pytest.approx(study.best_value, abs=0.01)  # same seed, same settings: same run


@pytest.mark.slow
def test_tiny_study_on_a_local_ray_instance(tmp_path: Path) -> None:
    pytest.importorskip("ray")
    outcome = tune("ppo", CARTPOLE, n_trials=2, results_dir=tmp_path, backend="ray", workers=2, log=quiet, **TINY)
    assert outcome.n_complete + outcome.n_pruned == 2 and outcome.best_file is not None and outcome.best_file.is_file()
    assert sorted(p.name for p in (tmp_path / "trials").iterdir()) == ["0.json", "1.json"]
