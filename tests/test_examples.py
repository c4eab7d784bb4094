"""The README quickstart and every script under examples/ run (with tiny budgets)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# Extra arguments that shrink each example to a smoke run.
TINY_ARGS = {
    "make_pomdp.py": ["--episodes", "1"],
    "recurrent_ppo_cartpole_novel.py": ["--timesteps", "512"],
    "dreamer_pendulum_novel.py": ["--timesteps", "1100"],
    "reinforce_cartpole_novel.py": ["--timesteps", "2000"],
    "recurrent_sac_pendulum_novel.py": ["--steps", "1100"],
    "resume_exactly.py": ["--timesteps", "300", "--save-freq", "100"],
    "run_small_suite.py": ["--steps", "256", "--eval-freq", "128", "--workers", "2"],
    "tune_recurrent_ppo.py": ["--trials", "2", "--steps", "256", "--workers", "2"],
}


def test_every_example_has_a_tiny_budget() -> None:
    assert sorted(p.name for p in (ROOT / "examples").glob("*.py")) == sorted(TINY_ARGS)


@pytest.mark.parametrize("script", sorted(TINY_ARGS))
def test_example_runs(script: str, tmp_path: Path) -> None:
    extra = ["--save", str(tmp_path / "model")] if script.startswith(("dreamer", "recurrent_sac")) else []
    if script in ("run_small_suite.py", "tune_recurrent_ppo.py"):
        extra = ["--results", str(tmp_path / "results")]
    result = subprocess.run(
        [sys.executable, str(ROOT / "examples" / script), *TINY_ARGS[script], *extra],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=ROOT,
        # the checkout under test, whatever copy of rrl_sb3 the interpreter has installed
        env={
            **os.environ,
            "OMP_NUM_THREADS": "1",
            "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
        },
    )
    assert result.returncode == 0, result.stderr[-3000:]


def test_readme_quickstart_runs() -> None:
    readme = (ROOT / "README.md").read_text()
    block = readme.split("## Quickstart", 1)[1]
    code = re.search(r"```python\n(.*?)```", block, re.DOTALL).group(1)
    code = code.replace(".learn(10_000)", ".learn(256)")
    assert ".learn(256)" in code
    exec(compile(code, "README.md", "exec"), {})
