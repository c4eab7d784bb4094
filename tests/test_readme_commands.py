"""Every shell command the README shows runs: from the clone with tiny budgets, and from a wheel installed in a clean
venv, outside the repository, as a pip user runs them.

:data:`COMMANDS` lists each command of the README's ``bash`` blocks with how it is checked: :class:`Tiny` runs it here
with its budgets shrunk (the replacements keep every other flag), :class:`Elsewhere` names the test or CI step that runs
it. A command added to the README without an entry fails :func:`test_every_readme_command_is_listed`, and an entry
whose command left the README fails it too, so the list and the README cannot drift apart.
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
    """Run the command in ``group``'s test, in README order, with ``replace`` applied (budgets shrunk, outputs kept
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
    "make compare": Elsewhere("test_the_make_targets_run_what_is_tested (its rrl-bench command, below, runs here)"),
    "pip install torch": Elsewhere("test_wheel_outside_the_repository (torch first, then the wheel with an extra)"),
    'pip install -e ".[all]"': Elsewhere(".ci/run (make setup installs the clone this way)"),
    "make demo": Elsewhere("test_the_make_targets_run_what_is_tested (tests/test_examples.py runs its script)"),
    "make test": Elsewhere(".ci/run"),
    "rrl-bench run benchmarks/suites/pomdp.yml --results benchmarks/results/pomdp": Tiny(
        "bench",
        (
            ("--results benchmarks/results/pomdp", "--results pomdp"),
            ("pomdp.yml", "pomdp.yml --algos ppo dreamer --envs rrl_sb3/CartPoleNoVel-v1 --seeds 0 --steps 300" + BENCH_TINY),
        ),
    ),
    "rrl-bench run --algos dreamer recurrent_ppo_gru --envs rrl_sb3/CartPoleNoVel-v1 --seeds 0 1 --steps 30000": Tiny(
        "bench", (("--seeds 0 1 --steps 30000", "--seeds 0 --steps 300 --results runs/benchmark/suite" + BENCH_TINY),)
    ),
    "rrl-bench run SUITE.yml --backend ray --ray-address HOST:6379": Elsewhere(
        "tests/test_benchmark.py::test_ray_backend_runs_a_tiny_suite (slow: a local Ray instance; no cluster here)"
    ),
    "rrl-bench report runs/benchmark/suite": Tiny("bench"),
    "rrl-bench list": Tiny("bench"),
    "rrl-bench tune --algo recurrent_sac --env rrl_sb3/PendulumNoVel-v1 --trials 20 --budget 20000 --results runs/tune/sac": Tiny(  # noqa: E501
        "tune", (("--trials 20 --budget 20000", "--trials 1 --budget 300 --eval-freq 150"),)
    ),
    "rrl-bench tune ... --backend ray --ray-address HOST:6379 --storage postgresql://...": Elsewhere(
        "tests/test_tune.py::test_tiny_study_on_a_local_ray_instance (slow: a local Ray instance; no cluster or database)"
    ),
    "rrl-bench run --algos recurrent_sac --envs rrl_sb3/PendulumNoVel-v1 --hyperparams runs/tune/sac/best --seeds 1 2 3": Tiny(
        "tune", (("--seeds 1 2 3", "--seeds 1 --steps 300" + BENCH_TINY),)
    ),
    "python -m rrl_sb3.zoo train --algo dreamer --env rrl_sb3/PendulumNoVel-v1 -f logs/": Tiny(
        "zoo", (("-f logs/", "-f logs/" + ZOO_TINY + DREAMER_TINY),)
    ),
    "python -m rrl_sb3.zoo enjoy --algo dreamer --env rrl_sb3/PendulumNoVel-v1 -f logs/ -n 1000 --no-render": Tiny(
        "zoo", (("-n 1000", "-n 400"),)
    ),
    "python -m rrl_sb3.zoo train --algo dreamer --env rrl_sb3/PendulumNoVel-v1 -optimize --n-trials 20 --n-jobs 1": Elsewhere(
        "tests/test_zoo.py::test_rl_zoo3_train_optimizes_dreamer (2 trials of a tiny Dreamer)"
    ),
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


def tiny(command: str) -> str:
    """The README command as this file runs it from the clone: its replacements, the suite files read from the clone,
    and this interpreter (with its ``rrl-bench``)."""
    entry = COMMANDS[command]
    assert isinstance(entry, Tiny)
    for old, new in entry.replace:
        assert old in command, f"stale replacement {old!r} for {command!r}"
        command = command.replace(old, new)
    command = command.replace("benchmarks/suites/", f"{ROOT}/benchmarks/suites/")
    bin_dir = Path(sys.executable).parent
    command = re.sub(r"^rrl-bench\b", shlex.quote(str(bin_dir / "rrl-bench")), command)
    return re.sub(r"^python\b", shlex.quote(sys.executable), command)


def group(name: str) -> list[str]:
    listed = readme_commands(README.read_text())
    return [c for c in listed if isinstance(COMMANDS.get(c), Tiny) and COMMANDS[c].group == name]


def test_every_readme_command_is_listed() -> None:
    listed = readme_commands(README.read_text())
    assert sorted(set(listed) - set(COMMANDS)) == [], "README commands without an entry in COMMANDS"
    assert sorted(set(COMMANDS) - set(listed)) == [], "COMMANDS entries that are no longer in the README"


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


@pytest.mark.parametrize("name", ["bench", "tune", "zoo"])
def test_readme_commands_run(name: str, tmp_path: Path) -> None:
    commands = group(name)
    assert commands, f"no README command in group {name!r}"
    outputs = [run(tiny(command), tmp_path, clone_env()) for command in commands]
    if name == "bench":
        assert (tmp_path / "runs" / "benchmark" / "suite" / "report.md").is_file() and "dreamer" in outputs[-1]
    if name == "tune":
        assert (tmp_path / "runs" / "tune" / "sac" / "best" / "recurrent_sac.yml").is_file()
        assert (tmp_path / "runs" / "benchmark" / "suite" / "recurrent_sac" / "rrl_sb3-PendulumNoVel-v1").is_dir()
    if name == "zoo":
        assert "2 Episodes" in outputs[-1]  # 400 steps of Pendulum: two 200-step episodes


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
    the clone, where no ``benchmarks/`` exists: the packaged settings, rl-zoo3's train and enjoy, and ``rrl-bench``."""
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
