"""The benchmark tools under benchmarks/tools/ run, and Dreamer's fingerprint is reproducible (what --compare needs)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TOOLS = ROOT / "benchmarks" / "tools"
TINY = json.dumps(
    {"batch_size": 4, "sequence_length": 8, "policy_kwargs": {"hidden": 16, "deter": 16, "stoch": 4, "classes": 4}}
)


def run_tool(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    return subprocess.run([sys.executable, *args], capture_output=True, text=True, timeout=600, cwd=cwd, env=env)


def test_fingerprint_is_reproducible_and_compares(tmp_path: Path) -> None:
    case = "multibinary_obs_and_actions"
    saved = tmp_path / "before.json"
    first = run_tool(str(TOOLS / "dreamer_fingerprint.py"), "--cases", case, "--save", str(saved), cwd=tmp_path)
    assert first.returncode == 0, first.stderr[-2000:]
    same = run_tool(str(TOOLS / "dreamer_fingerprint.py"), "--cases", case, "--compare", str(saved), cwd=tmp_path)
    assert same.returncode == 0 and same.stdout.strip().endswith("identical"), same.stdout[-2000:] + same.stderr[-2000:]
    data = json.loads(saved.read_text())
    data[case]["weights"] = "0" * 16  # a change the comparison must catch
    saved.write_text(json.dumps(data))
    other = run_tool(str(TOOLS / "dreamer_fingerprint.py"), "--cases", case, "--compare", str(saved), cwd=tmp_path)
    assert other.returncode == 1 and f"DIFFERENT: {case}" in other.stdout


def test_breakdown_prints_every_part(tmp_path: Path) -> None:
    args = ["--steps", "300", "--learning-starts", "200", "--eval-episodes", "1", "--hyperparams", TINY]
    result = run_tool(str(TOOLS / "dreamer_breakdown.py"), *args, cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    for part in (
        "act (policy step)",
        "env step",
        "update: world model forward",
        "update: actor backward + step",
        "update (total)",
        "evaluation (acting + env)",
        "training (total, evaluation excluded)",
    ):
        assert part in result.stdout, result.stdout


def test_continue_diagnostics_tool_records_and_plots(tmp_path: Path) -> None:
    suite = tmp_path / "suite.yml"
    hyperparams = {**json.loads(TINY), "learning_starts": 100}
    suite.write_text(
        "name: tiny\nseeds: [0]\nn_timesteps: 400\neval_freq: 200\nn_eval_episodes: 2\nfinal_n_eval_episodes: 2\n"
        f"algos:\n  - algo: dreamer\n    hyperparams: {json.dumps(hyperparams)}\nenvs:\n  - rrl_sb3/CartPoleNoVel-v1\n"
    )
    results = tmp_path / "results"
    args = [str(suite), "--label", "dreamer", "--env", "rrl_sb3/CartPoleNoVel-v1", "--seed", "0", "--results", str(results)]
    run = run_tool(str(TOOLS / "dreamer_continue.py"), *args, cwd=tmp_path)
    assert run.returncode == 0, run.stderr[-2000:]
    records = [json.loads(line) for line in (results / "dreamer" / "rrl_sb3-CartPoleNoVel-v1" / "seed_0.jsonl").open()]
    assert [r["env_steps"] for r in records] == [200, 400]
    for record in records:
        assert sum(record["eval_ends"].values()) == 2  # how each evaluation episode ended
        assert 0 < record["continue"]["terminal_share"] < 1
        assert all(name.startswith(("end: ", "near ", "inside")) for name in record["continue"]["groups"])
    plot = run_tool(str(TOOLS / "dreamer_continue.py"), "--plot", str(results), cwd=tmp_path)
    assert plot.returncode == 0, plot.stderr[-2000:]
    assert (results / "continue_diagnostics.png").stat().st_size > 0
