"""Every shell command the README shows is checked, and what a pip user runs from the README runs from a wheel
installed in a clean venv, outside the repository.

:data:`COMMANDS` lists each command of the README's ``bash`` blocks with how it is checked: :class:`Elsewhere` names
the test or CI step that runs it; :class:`Tiny` (a command run with its budgets shrunk, the replacements keeping every
other flag) is how tests/test_docs_examples.py lists the docs' ``rrl-bench`` and rl-zoo3 commands, which the README
left to the docs. A command added to the README without an entry fails :func:`test_every_readme_command_is_listed`,
and an entry whose command left the README fails it too, so the list and the README cannot drift apart.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"


@dataclass(frozen=True)
class Tiny:
    """Run the command in ``group``'s test, in page order, with ``replace`` applied (budgets shrunk, outputs kept
    in a temporary folder)."""

    group: str
    replace: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class Elsewhere:
    """Checked by ``where`` (a test, or CI's own steps), not here."""

    where: str


DREAMER_TINY = (
    " -params learning_starts:200 batch_size:4 sequence_length:8 'policy_kwargs:dict(hidden=32, deter=32, stoch=4, classes=4)'"
)
ZOO_TINY = " -n 300 --eval-freq -1 --seed 0"
BENCH_TINY = " --eval-freq 150 --workers 2 --quiet"

COMMANDS: dict[str, Tiny | Elsewhere] = {
    "pip install torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu": Elsewhere(
        "test_wheel_outside_the_repository (this venv's torch first, then the wheel with an extra); "
        ".ci/run (make setup installs $(TORCH), torch==2.13.0, from the machine's package index: PyTorch's index is "
        "not reachable from CI)"
    ),
    'pip install -e ".[all]"': Elsewhere(".ci/run (make setup installs the clone this way)"),
    "make compare": Elsewhere("test_the_make_targets_run_what_is_tested (its rrl-bench command, below, runs here)"),
    "make test": Elsewhere(".ci/run"),
    "make docs": Elsewhere(".ci/run (it runs tests/test_docs_examples.py too)"),
}


def readme_commands(text: str) -> list[str]:
    """The commands of the ``bash`` code blocks: continuation lines joined, trailing comments and blank lines dropped."""
    commands = []
    for block in re.findall(r"```bash\n(.*?)```", text, re.DOTALL):
        for line in block.replace("\\\n", " ").splitlines():
            command = " ".join(re.sub(r"(^|\s)#.*$", "", line).split())  # a shell comment starts at a word
            if command:
                commands.append(command)
    return commands


def run(command: str, cwd: Path, env: dict[str, str] | None = None, timeout: int = 600) -> str:
    result = subprocess.run(command, shell=True, cwd=cwd, capture_output=True, text=True, timeout=timeout, env=env)
    assert result.returncode == 0, f"{command}\n{result.stdout[-2000:]}\n{result.stderr[-3000:]}"
    return result.stdout


def clone_env() -> dict[str, str]:
    """The checkout under test on the path, one torch thread (two runs share the two cores)."""
    return {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}


def tiny(command: str, entry: Tiny) -> str:
    """A :class:`Tiny` command as the tests run it from the clone: its replacements, the suite files read from the
    clone, and this interpreter (with its ``rrl-bench``)."""
    for old, new in entry.replace:
        assert old in command, f"stale replacement {old!r} for {command!r}"
        command = command.replace(old, new)
    command = command.replace("benchmarks/suites/", f"{ROOT}/benchmarks/suites/")
    bin_dir = Path(sys.executable).parent
    command = re.sub(r"^rrl-bench\b", shlex.quote(str(bin_dir / "rrl-bench")), command)
    return re.sub(r"^python\b", shlex.quote(sys.executable), command)


def readme_quickstart(steps: int = 256) -> str:
    """The README's quickstart (the first ``python`` block after ``## Quickstart``), its budgets cut to ``steps``."""
    block = README.read_text().split("## Quickstart", 1)[1]
    code = re.search(r"```python\n(.*?)```", block, re.DOTALL).group(1)
    assert ".learn(10_000)" in code, "the quickstart's budgets changed: update this replacement"
    return code.replace(".learn(10_000)", f".learn({steps})")


def test_every_readme_command_is_listed() -> None:
    listed = readme_commands(README.read_text())
    assert sorted(set(listed) - set(COMMANDS)) == [], "README commands without an entry in COMMANDS"
    assert sorted(set(COMMANDS) - set(listed)) == [], "COMMANDS entries that are no longer in the README"
    # No test here runs a Tiny README command: one that comes back needs one, like test_docs_commands_run in
    # tests/test_docs_examples.py.
    assert [c for c, e in COMMANDS.items() if isinstance(e, Tiny)] == [], "Tiny README commands that no test runs"


def test_the_make_targets_run_what_is_tested() -> None:
    """``make demo`` runs the example tests/test_examples.py smoke-runs; ``make compare`` the suite run below."""
    dry = {target: run(f"make -n {target} VENV={Path(sys.executable).parents[1]}", ROOT) for target in ("demo", "compare")}
    assert "examples/recurrent_ppo_cartpole_novel.py" in dry["demo"]
    assert "rrl-bench run benchmarks/suites/quick_comparison.yml --results runs/compare" in dry["compare"]


def test_the_quick_comparison_suite_runs(tmp_path: Path) -> None:
    """``make compare``'s command, its 180 CPU-second budgets replaced by 300 env steps."""
    suite = ROOT / "benchmarks" / "suites" / "quick_comparison.yml"
    bench = shlex.quote(str(Path(sys.executable).parent / "rrl-bench"))
    out = run(f"{bench} run {suite} --results compare --seeds 0 --steps 300{BENCH_TINY}", tmp_path, clone_env())
    assert "rrl_sb3-PendulumNoVel-v1" in out and (tmp_path / "compare" / "report.md").is_file()


@pytest.mark.parametrize(
    "algo, env_id, params",
    [
        ("dreamer", "rrl_sb3/PendulumNoVel-v1", DREAMER_TINY),
        ("ppo_gru", "rrl_sb3/CartPoleNoVel-v1", " -params n_steps:16 batch_size:32"),
    ],
)
def test_zoo_train_then_enjoy(algo: str, env_id: str, params: str, tmp_path: Path) -> None:
    """rl-zoo3's train (our packaged settings, no -conf) then its enjoy, through our entry point, for two algorithms."""
    python = shlex.quote(sys.executable)
    run(f"{python} -m rrl_sb3.zoo train --algo {algo} --env {env_id} -f logs{ZOO_TINY}{params}", tmp_path, clone_env())
    assert (tmp_path / "logs" / algo / f"{env_id.replace('/', '-')}_1" / f"{env_id.replace('/', '-')}.zip").is_file()
    out = run(f"{python} -m rrl_sb3.zoo enjoy --algo {algo} --env {env_id} -f logs -n 400 --no-render", tmp_path, clone_env())
    episodes = int(re.search(r"^(\d+) Episodes$", out, re.MULTILINE).group(1))
    assert episodes >= 2 and episodes == out.count("Episode Reward:")


def test_wheel_outside_the_repository(tmp_path: Path) -> None:
    """A pip user's path: torch, then the wheel with the benchmark extra, into a new venv; run from a folder outside
    the clone, where no ``benchmarks/`` exists: the README's quickstart, then the packaged settings through rl-zoo3's
    train and enjoy (docs/guide/tuning.md) and ``rrl-bench run`` and ``list`` (docs/guide/benchmarking.md)."""
    import torch

    run(
        f"{shlex.quote(sys.executable)} -m pip wheel --no-deps --no-build-isolation -q -w {tmp_path / 'dist'} {ROOT}", tmp_path
    )
    (wheel,) = (tmp_path / "dist").glob("rrl_sb3-*.whl")
    venv = tmp_path / "venv"
    run(f"{shlex.quote(sys._base_executable)} -m venv {venv}", tmp_path)
    pip = f"{venv / 'bin' / 'python'} -m pip install -q --disable-pip-version-check"
    run(f"{pip} torch=={torch.__version__.split('+')[0]}", tmp_path)
    run(f"{pip} '{wheel}[benchmark]'", tmp_path)
    user = tmp_path / "user"
    user.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env.update(OMP_NUM_THREADS="1", PATH=f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}")
    where = run("python -c 'import rrl_sb3; print(rrl_sb3.__file__)'", user, env)
    assert where.startswith(str(venv)), where
    (user / "quickstart.py").write_text(readme_quickstart())
    run("python quickstart.py", user, env)
    run(
        f"python -m rrl_sb3.zoo train --algo dreamer --env rrl_sb3/PendulumNoVel-v1 -f logs{ZOO_TINY}{DREAMER_TINY}", user, env
    )
    out = run(
        "python -m rrl_sb3.zoo enjoy --algo dreamer --env rrl_sb3/PendulumNoVel-v1 -f logs -n 400 --no-render", user, env
    )
    assert "2 Episodes" in out
    run(
        f"rrl-bench run --algos dreamer recurrent_ppo_gru --envs rrl_sb3/CartPoleNoVel-v1 --seeds 0 --steps 300{BENCH_TINY}",
        user,
        env,
    )
    assert (user / "runs" / "benchmark" / "suite" / "report.md").is_file()
    assert "recurrent_sac" in run("rrl-bench list", user, env)
