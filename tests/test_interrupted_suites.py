"""Suites that survive faults: runs killed mid-training resume from their checkpoints (issue #29).

The driver is SIGKILLed (its workers die with it, see ``exit_with_parent``) at random moments after checkpoints exist,
three times, and the suite is run again each time; the records must end identical, timing fields aside, to those of
the same suite run without interruption.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from rrl_sb3.benchmark.report import resumable_runs, write_report
from rrl_sb3.benchmark.runner import run_one, run_suite
from rrl_sb3.benchmark.store import CHECKPOINT_PREFIX, ResultStore
from rrl_sb3.benchmark.suite import AlgoEntry, Suite
from rrl_sb3.benchmark.worker import KEEP_CHECKPOINTS, RUN_STATE_FILE, EvalRecorder, execute_run
from rrl_sb3.common.checkpoints import RESUME_FILE

#: what a record holds that measures the machine, not the run
TIMING_FIELDS = ("wall_seconds", "cpu_seconds")

SUITE = """\
name: interrupted
seeds: [0, 1]
n_timesteps: 300
eval_freq: 100
n_eval_episodes: 2
final_n_eval_episodes: 3
checkpoint_every: 50
algos:
  - algo: dreamer
    hyperparams:
      learning_starts: 40
      train_ratio: 8
      batch_size: 4
      sequence_length: 8
      horizon: 5
      policy_kwargs: {hidden: 32, layers: 1, deter: 32, stoch: 4, classes: 4}
  - algo: recurrent_sac
    hyperparams:
      learning_starts: 30
      train_freq: 4
      batch_size: 4
      sequence_length: 8
      policy_kwargs: {rnn_hidden_size: 16, embed_dim: 8, net_arch: [16]}
  - algo: reinforce_gru
    hyperparams: {n_envs: 2}
envs:
  - rrl_sb3/PendulumNoVel-v1
  - rrl_sb3/CartPoleNoVel-v1
"""


def _cli(suite: Path, results: Path) -> list[str]:
    return [
        sys.executable,
        "-m",
        "rrl_sb3.benchmark",
        "run",
        str(suite),
        "--results",
        str(results),
        "--workers",
        "2",
        "--threads-per-run",
        "1",
        "--quiet",
        "--no-report",
    ]


def _records(results: Path) -> dict[str, list[dict]]:
    runs = {}
    for path in sorted(results.rglob("seed_*.jsonl")):
        records = [json.loads(line) for line in path.read_text().splitlines()]
        runs[str(path.relative_to(results))] = [{k: v for k, v in r.items() if k not in TIMING_FIELDS} for r in records]
    return runs


def _complete_checkpoints(results: Path) -> list[Path]:
    while True:  # the runs remove old checkpoints while we look: look again
        try:
            return [path.parent for path in results.rglob(f"{CHECKPOINT_PREFIX}_*_steps/{RESUME_FILE}")]
        except FileNotFoundError:
            continue


def test_a_suite_killed_three_times_ends_with_the_records_of_an_uninterrupted_one(tmp_path: Path) -> None:
    suite = tmp_path / "suite.yml"
    suite.write_text(SUITE)
    reference = tmp_path / "reference"
    assert subprocess.run(_cli(suite, reference), capture_output=True, timeout=600).returncode == 0
    assert not list(reference.rglob(f"{CHECKPOINT_PREFIX}_*")), "finished runs keep no checkpoints"

    results = tmp_path / "interrupted"
    rng = random.Random(0)
    kills = 0
    for _ in range(3):
        process = subprocess.Popen(_cli(suite, results), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            deadline = time.monotonic() + 300
            seen = len(_complete_checkpoints(results))
            # at a random moment after a new checkpoint is written: mid-training, mid-save or mid-evaluation
            while len(_complete_checkpoints(results)) <= seen and process.poll() is None and time.monotonic() < deadline:
                time.sleep(0.05)
            time.sleep(rng.uniform(0.0, 1.5))
            if process.poll() is None:
                process.send_signal(signal.SIGKILL)
                kills += 1
            process.wait(timeout=60)
        finally:
            process.kill()
        # at most KEEP_CHECKPOINTS complete checkpoints per unfinished run
        per_run: dict[Path, int] = {}
        for path in _complete_checkpoints(results):
            per_run[path.parent] = per_run.get(path.parent, 0) + 1
        assert all(count <= KEEP_CHECKPOINTS for count in per_run.values()), per_run
    assert kills >= 1
    assert subprocess.run(_cli(suite, results), capture_output=True, timeout=600).returncode == 0

    assert _records(results) == _records(reference) and len(_records(reference)) == 12
    resumed = [json.loads(p.read_text())["resumed"] for p in results.rglob("seed_*.done.json")]
    assert sum(bool(r) for r in resumed) >= 1, "no run resumed: the kills came too late"
    assert all(entry["env_steps"] > 0 and entry["checkpoint"].startswith(CHECKPOINT_PREFIX) for r in resumed for entry in r)
    assert not list(results.rglob(f"{CHECKPOINT_PREFIX}_*")), "finished runs keep no checkpoints"
    # the report says which runs resumed, and from where
    text = write_report(results, n_resamples=100, log=None).read_text()
    listed = [line for line in text.split("## Resumed runs")[1].splitlines() if line.startswith("- ")]
    assert len(listed) == sum(bool(r) for r in resumed) and all(
        "resumed " in line and "env steps (checkpoint_" in line for line in listed
    )


def _tiny_suite(algo: str = "reinforce_gru", checkpoint_every: int = 50) -> Suite:
    # REINFORCE updates after every 2 episodes (its CartPole setting: 16), so that 200 steps hold several rounds
    entry = AlgoEntry(algo, hyperparams={"n_episodes": 2}) if algo == "reinforce_gru" else AlgoEntry(algo)
    return Suite(
        algos=[entry],
        envs=["rrl_sb3/CartPoleNoVel-v1"],
        seeds=[0],
        n_timesteps=200,
        eval_freq=100,
        n_eval_episodes=2,
        final_n_eval_episodes=2,
        checkpoint_every=checkpoint_every,
    )


def test_a_run_resumes_from_its_latest_complete_checkpoint_and_drops_incomplete_ones(tmp_path: Path) -> None:
    run = _tiny_suite().plan().runs[0]
    directory = tmp_path / "checkpoints"
    whole = execute_run(run, verbose=False, checkpoint_dir=directory)
    assert whole.status == "finished" and not whole.resumed
    kept = sorted(p.name for p in directory.iterdir())
    assert len(kept) == KEEP_CHECKPOINTS and all((directory / k / RUN_STATE_FILE).is_file() for k in kept)
    # the older one is what an interruption after the newest had begun to be rewritten leaves: resume from it
    older, newer = sorted(directory.iterdir(), key=lambda p: int(p.name.split("_")[1]))
    (newer / RESUME_FILE).unlink()
    again = execute_run(run, verbose=False, checkpoint_dir=directory)
    steps = int(older.name.split("_")[1])
    assert again.resumed == [{"env_steps": steps, "checkpoint": older.name}]
    strip = [{k: v for k, v in r.items() if k not in TIMING_FIELDS} for r in again.records]
    assert strip == [{k: v for k, v in r.items() if k not in TIMING_FIELDS} for r in whole.records]
    # the training clocks go on from the checkpoint's: the final record counts the time before the interruption
    assert again.records[-1]["cpu_seconds"] >= [r for r in whole.records if r["env_steps"] <= steps][-1]["cpu_seconds"]


class _TaggingRecorder(EvalRecorder):
    """An experiment's recorder: adds a field to every record."""

    def evaluate(self, n_episodes: int | None = None) -> dict:
        record = super().evaluate(n_episodes)
        record["tag"] = record["env_steps"] * 2
        return record


def test_run_one_stores_an_experiments_run_and_resumes_it_with_its_records(tmp_path: Path) -> None:
    run = _tiny_suite().plan().runs[0]
    whole = run_one(run, tmp_path / "whole", verbose=False, recorder_class=_TaggingRecorder, keep_checkpoints=True)
    assert whole.status == "finished" and all(r["tag"] == 2 * r["env_steps"] for r in whole.records)
    store = ResultStore(tmp_path / "whole")
    assert store.finished(run) is not None and len(list(store.checkpoint_dir(run).iterdir())) == KEEP_CHECKPOINTS
    # an interrupted run: only its first checkpoint was written; run_one resumes it, keeping the records made before
    interrupted = ResultStore(tmp_path / "interrupted").checkpoint_dir(run)
    first = min(store.checkpoint_dir(run).iterdir(), key=lambda p: int(p.name.split("_")[1]))
    shutil.copytree(first, interrupted / first.name)
    again = run_one(run, tmp_path / "interrupted", verbose=False, recorder_class=_TaggingRecorder)
    assert again.resumed == [{"env_steps": int(first.name.split("_")[1]), "checkpoint": first.name}]
    strip = [{k: v for k, v in r.items() if k not in TIMING_FIELDS} for r in again.records]
    assert strip == [{k: v for k, v in r.items() if k not in TIMING_FIELDS} for r in whole.records]
    assert not interrupted.exists()  # finished: its checkpoints are removed


def test_algorithms_without_exact_checkpoints_start_over(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run = _tiny_suite("ppo", checkpoint_every=64).plan().runs[0]
    result = execute_run(run, verbose=True, checkpoint_dir=tmp_path / "checkpoints")
    assert result.status == "finished" and not (tmp_path / "checkpoints").exists()
    assert "PPO has no exact checkpoints: an interrupted run starts over" in capsys.readouterr().out


def test_checkpoint_every_zero_writes_none_and_finished_runs_can_keep_theirs(tmp_path: Path) -> None:
    suite = _tiny_suite(checkpoint_every=0)
    assert run_suite(suite, tmp_path / "none", workers=1, verbose=False, log=lambda _: None).ok
    assert not list((tmp_path / "none").rglob(f"{CHECKPOINT_PREFIX}_*"))
    kept = tmp_path / "kept"
    assert run_suite(
        suite.replace(checkpoint_every=50), kept, workers=1, verbose=False, log=lambda _: None, keep_checkpoints=True
    ).ok
    run = suite.plan().runs[0]
    assert len(list(ResultStore(kept).checkpoint_dir(run).iterdir())) == KEEP_CHECKPOINTS
    # a setting of the runner, not of the results: the finished run is not "finished with other settings"
    lines: list[str] = []
    run_suite(suite.replace(checkpoint_every=70), kept, workers=1, verbose=False, log=lines.append)
    assert not any("other settings" in line for line in lines)


def test_the_report_lists_unfinished_runs_it_can_resume(tmp_path: Path) -> None:
    run = _tiny_suite().plan().runs[0]
    store = ResultStore(tmp_path)
    assert execute_run(run, verbose=False, checkpoint_dir=store.checkpoint_dir(run)).status == "finished"
    # as an interrupted run leaves it: checkpoints, no records, no marker
    older, newer = sorted(store.checkpoint_dir(run).iterdir(), key=lambda p: int(p.name.split("_")[1]))
    where = "reinforce_gru/rrl_sb3-CartPoleNoVel-v1/seed_0: checkpoint at {} env steps"
    assert resumable_runs(tmp_path) == [where.format(newer.name.split("_")[1])]
    (newer / RESUME_FILE).unlink()  # the newest incomplete: the one before
    assert resumable_runs(tmp_path) == [where.format(older.name.split("_")[1])]


@pytest.mark.parametrize("value", [-1, 1.5, "often", True])
def test_bad_checkpoint_every(value: object) -> None:
    from rrl_sb3.benchmark.errors import ConfigError

    with pytest.raises(ConfigError, match=f"checkpoint_every={value!r}"):
        Suite(algos=["ppo"], envs=["CartPole-v1"], checkpoint_every=value)  # type: ignore[arg-type]


def _ray_task_processes() -> list[int]:
    """Ray worker processes executing a run (Ray titles them ``ray::execute_run`` while they do)."""
    found = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            if cmdline.read_bytes().startswith(b"ray::execute_run"):
                found.append(int(cmdline.parent.name))
        except OSError:
            continue
    return found


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/cmdline").exists(), reason="finds Ray's workers in Linux's /proc")
def test_ray_retries_a_killed_worker_and_the_run_resumes_from_its_checkpoint(tmp_path: Path) -> None:
    pytest.importorskip("ray")
    suite = tmp_path / "suite.yml"
    suite.write_text(
        SUITE.replace("n_timesteps: 300", "n_timesteps: 1500").replace("checkpoint_every: 50", "checkpoint_every: 200")
    )
    only = ["--algos", "dreamer", "--envs", "rrl_sb3/PendulumNoVel-v1"]
    reference = tmp_path / "reference"
    assert subprocess.run([*_cli(suite, reference), *only], capture_output=True, timeout=600).returncode == 0

    results = tmp_path / "ray"
    process = subprocess.Popen(
        [*_cli(suite, results), *only, "--backend", "ray"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    try:
        deadline = time.monotonic() + 300
        while not _complete_checkpoints(results) and time.monotonic() < deadline:
            time.sleep(0.1)
        workers = _ray_task_processes()
        assert _complete_checkpoints(results) and workers, "no run had checkpointed in a Ray worker"
        os.kill(workers[0], signal.SIGKILL)  # as a lost node or the OOM killer would
        output, _ = process.communicate(timeout=600)
    finally:
        process.kill()
    assert process.returncode == 0, output.decode()[-3000:]
    assert _records(results) == _records(reference)
    resumed = [json.loads(p.read_text())["resumed"] for p in results.rglob("seed_*.done.json")]
    assert sum(bool(r) for r in resumed) == 1, resumed


def test_checkpoints_taken_with_other_settings_are_dropped(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A suite edited between an interruption and its re-run: the run starts over rather than train on with the old
    settings its checkpoint holds."""
    run = _tiny_suite().plan().runs[0]
    directory = tmp_path / "checkpoints"
    execute_run(run, verbose=False, checkpoint_dir=directory)
    (sorted(directory.iterdir())[-1] / RESUME_FILE).unlink()  # leave one complete checkpoint, as after a kill
    changed = _tiny_suite().replace(algos=[AlgoEntry("reinforce_gru", hyperparams={"n_episodes": 3})]).plan().runs[0]
    result = execute_run(changed, verbose=True, checkpoint_dir=directory)
    assert result.status == "finished" and result.resumed == []
    assert "its checkpoints were taken with other settings: it starts over" in capsys.readouterr().out
    fresh = execute_run(changed, verbose=False, checkpoint_dir=tmp_path / "fresh")
    strip = [{k: v for k, v in r.items() if k not in TIMING_FIELDS} for r in fresh.records]
    assert [{k: v for k, v in r.items() if k not in TIMING_FIELDS} for r in result.records] == strip
