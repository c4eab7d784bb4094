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
