"""The code examples of the documentation site (``docs/**/*.md``) run, with tiny budgets, as a reader would run them.

Each page's ``python`` blocks run in page order in one fresh interpreter (one namespace per page, as a reader pasting
them one after the other), in an empty folder, on one torch thread, with the checkout on the path. Every block runs
with :data:`BUDGETS` applied (training budgets shrunk); :data:`PYTHON` says what else a block needs: :class:`Run` its
own replacements (smaller suites, checkpoint frequencies) or the set-up its prose gives the reader (an ``env`` the text
assumes), :class:`Skip` why it cannot run here. A new block runs as it is, so a block that cannot is either fixed or
listed. A traceback names the page and its line.

Each command of the ``bash`` blocks is in :data:`COMMANDS`: a command the README shows too is checked by
tests/test_readme_commands.py with the README's entry, the others run here with tiny budgets (:class:`Tiny`) or name
the test or CI step that checks them (:class:`Elsewhere`). A command without an entry, or an entry whose command left
the docs, fails :func:`test_every_docs_command_is_listed`.

``make docs`` runs this file after building the site; the default ``pytest`` run (``make test``) leaves it out.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.test_readme_commands import (
    BENCH_TINY,
    DREAMER_TINY,
    ZOO_TINY,
    Elsewhere,
    Tiny,
    clone_env,
    readme_commands,
    run,
    tiny,
)
from tests.test_readme_commands import COMMANDS as README_COMMANDS

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"

TINY_STEPS = 300
# Applied to every python block, after its own replacements: a literal training budget (``learn(N``,
# ``total_timesteps=N``, ``n_timesteps=N``) over TINY_STEPS becomes TINY_STEPS env steps.
BUDGETS = re.compile(r"(?P<head>\.learn\(\s*|\b(?:total|n)_timesteps=)(?P<steps>\d[\d_]*)(?=\s*[,)])")


@dataclass(frozen=True)
class Run:
    """Run the block with ``replace`` applied (to the page's text, before :data:`BUDGETS`) and ``before`` run first
    (what the page's prose tells the reader they already have)."""

    replace: tuple[tuple[str, str], ...] = ()
    before: str = ""


@dataclass(frozen=True)
class Skip:
    """Not run: ``why``."""

    why: str


# (page, a string found in exactly one python block of that page) -> how that block runs; unlisted blocks run as is.
PYTHON: dict[tuple[str, str], Run | Skip] = {
    ("guide/checkpoints.md", "ResumableCheckpointCallback(save_freq=10_000"): Run(
        # the first learn stops at 200 steps (the "crash"), the second resumes from its last checkpoint up to 300
        replace=(
            ("model.learn(100_000, callback", "model.learn(200, callback"),
            ("save_freq=10_000", "save_freq=100"),
            ("100_000 - model.num_timesteps", f"{TINY_STEPS} - model.num_timesteps"),
        ),
    ),
    ("guide/faq.md", "FlattenObservation(env)"): Run(
        before="import gymnasium as gym\nenv = gym.wrappers.TransformObservation(gym.make('CartPole-v1'), "
        "lambda o: (o[:2], o[2:]), gym.spaces.Tuple((gym.spaces.Box(-5, 5, (2,)), gym.spaces.Box(-5, 5, (2,)))))\n"
    ),
    ("guide/faq.md", 'on_non_finite="warn"'): Run(
        before="import gymnasium as gym\nfrom rrl_sb3 import Dreamer\nenv = gym.make('Pendulum-v1')\n"
    ),
    ("guide/quickstart.md", "n_eval_episodes=10"): Run(replace=(("n_eval_episodes=10", "n_eval_episodes=2"),)),
    ("guide/benchmarking.md", "seeds=[0, 1]"): Run(replace=(("seeds=[0, 1]", "seeds=[0]"),)),
    ("modules/benchmark.md", "seeds=[0, 1, 2]"): Run(replace=(("seeds=[0, 1, 2]", "seeds=[0]"),)),
    ("modules/common.md", "save_freq=5_000"): Run(replace=(("save_freq=5_000", "save_freq=100"),)),
}


def pages() -> list[Path]:
    return sorted(p for p in DOCS.rglob("*.md") if "_build" not in p.relative_to(DOCS).parts)


def page_name(page: Path) -> str:
    return page.relative_to(DOCS).as_posix()


def code_blocks(text: str, language: str) -> list[tuple[int, str]]:
    """The ``language`` fenced blocks of a MyST page: (line of the block's first code line, 0-based; the code, its
    indentation removed, as in a list item)."""
    blocks = []
    for match in re.finditer(rf"^( *)```{language}[ \t]*\n(.*?)^\1```[ \t]*$", text, re.MULTILINE | re.DOTALL):
        indent = len(match[1])
        code = "".join(line[indent:] if line[:indent].isspace() else line for line in match[2].splitlines(keepends=True))
        blocks.append((text[: match.start(2)].count("\n"), code))
    return blocks


def python_blocks(page: Path) -> list[tuple[int, str]]:
    return code_blocks(page.read_text(encoding="utf-8"), "python")


def entries_of(page: Path) -> list[Run | Skip | None]:
    """The :data:`PYTHON` entry of each python block of ``page``, in page order."""
    blocks = python_blocks(page)
    found: list[Run | Skip | None] = [None] * len(blocks)
    for (name, marker), entry in PYTHON.items():
        hits = [i for i, (_, code) in enumerate(blocks) if marker in code] if name == page_name(page) else []
        if len(hits) == 1:  # else test_every_python_block_entry_is_current fails
            found[hits[0]] = entry
    return found


def runnable(code: str, entry: Run | Skip | None) -> str:
    """The block as this file runs it: its entry's replacements, then :data:`BUDGETS`."""
    if isinstance(entry, Run):
        for old, new in entry.replace:
            assert old in code, f"stale replacement {old!r}"
            code = code.replace(old, new)
    return BUDGETS.sub(lambda m: m["head"] + str(min(int(m["steps"]), TINY_STEPS)), code)


def docs_commands() -> list[str]:
    return [command for page in pages() for command in readme_commands(page.read_text(encoding="utf-8"))]


# The pages with python blocks, each one test.
EXAMPLE_PAGES = [page_name(p) for p in pages() if python_blocks(p)]

# A script that runs each block given on stdin in one namespace, compiled under its page's path with its own line
# numbers, so that a traceback points at the page's line (shown as the page has it, before the replacements).
RUNNER = """
import json, sys
import torch
torch.set_num_threads(1)
namespace = {"__name__": "__main__"}
for path, line, code in json.load(sys.stdin):
    print(f"--- {path}:{line + 1}", flush=True)
    exec(compile("\\n" * line + code, path, "exec"), namespace)
"""


def test_every_python_block_entry_is_current() -> None:
    """Each :data:`PYTHON` key names a page and a string in exactly one of its python blocks."""
    for name, marker in PYTHON:
        page = DOCS / name
        assert page.is_file(), f"{name} is not a docs page"
        hits = [line for line, code in python_blocks(page) if marker in code]
        assert len(hits) == 1, f"{marker!r} is in {len(hits)} python blocks of {name}, not one"


def test_budgets_shrink_every_training_call() -> None:
    """No ``learn`` call keeps a large literal budget after the replacements (one the patterns missed)."""
    for page in pages():
        for (_, code), entry in zip(python_blocks(page), entries_of(page), strict=True):
            if isinstance(entry, Skip):
                continue
            big = re.findall(r"(?:learn\(|timesteps=|_freq=)\s*(\d[\d_]*)", runnable(code, entry))
            assert all(int(n) <= TINY_STEPS for n in big), f"{page_name(page)}: a budget left large: {big}"


@pytest.mark.parametrize("name", EXAMPLE_PAGES)
def test_docs_examples_run(name: str, tmp_path: Path) -> None:
    page = DOCS / name
    blocks = []
    for (line, code), entry in zip(python_blocks(page), entries_of(page), strict=True):
        if isinstance(entry, Skip):
            continue
        if isinstance(entry, Run) and entry.before:
            blocks.append((f"{name} (set-up for line {line + 1})", 0, entry.before))
        blocks.append((str(page), line, runnable(code, entry)))
    result = subprocess.run(
        [sys.executable, "-c", RUNNER],
        input=json.dumps(blocks),
        capture_output=True,
        text=True,
        timeout=600,
        cwd=tmp_path,
        env={**clone_env(), "MPLBACKEND": "Agg"},
    )
    if result.returncode != 0:
        pytest.fail(f"{name}\n{result.stdout[-2000:]}\n{result.stderr[-4000:]}", pytrace=False)


# Each command of the docs' bash blocks that the README does not show (those are in README_COMMANDS, and
# tests/test_readme_commands.py checks them).
COMMANDS: dict[str, Tiny | Elsewhere] = {
    "make demo": Elsewhere(
        "tests/test_readme_commands.py::test_the_make_targets_run_what_is_tested (tests/test_examples.py runs its script)"
    ),
    "make test-slow": Elsewhere("pytest -m slow: the long learning checks, run by hand (not in CI)"),
    "make lint": Elsewhere(".ci/run"),
    "make type": Elsewhere(".ci/run"),
    "make package": Elsewhere(".ci/run"),
    "pip install -e .": Elsewhere("make package (the wheel without extras, in a clean venv, imported outside the clone)"),
    'pip install -e ".[benchmark,ray]"': Elsewhere(
        "tests/test_benchmark.py::test_ray_backend_runs_a_tiny_suite (slow; ray is installed by hand, not by make setup)"
    ),
    'pip install "rrl-sb3[box2d]"': Elsewhere(".ci/run (make setup installs .[all], which holds this extra)"),
    'pip install "rrl-sb3[mujoco]"': Elsewhere(".ci/run (make setup installs .[all], which holds this extra)"),
    'pip install "rrl-sb3[minigrid]"': Elsewhere(".ci/run (make setup installs .[all], which holds this extra)"),
    # contributing.md: how a committed result is produced
    "rrl-bench run benchmarks/suites/pomdp.yml --results benchmarks/results/pomdp --workers 2 --threads-per-run 1": Tiny(
        "contributing",
        (
            ("--results benchmarks/results/pomdp", "--results pomdp"),
            ("--workers 2", "--algos ppo --envs rrl_sb3/CartPoleNoVel-v1 --seeds 0 --steps 300" + BENCH_TINY),
        ),
    ),
    "rrl-bench report benchmarks/results/pomdp": Tiny("contributing", (("benchmarks/results/pomdp", "pomdp"),)),
    # guide/benchmarking.md
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
    "rrl-bench run benchmarks/suites/pomdp.yml --results runs/pomdp --checkpoint-every 5000": Tiny(
        "bench",
        (
            ("pomdp.yml", "pomdp.yml --algos dreamer --envs rrl_sb3/CartPoleNoVel-v1 --seeds 0 --steps 300" + BENCH_TINY),
            ("--checkpoint-every 5000", "--checkpoint-every 100"),
        ),
    ),
    "rrl-bench report runs/benchmark/suite": Tiny("bench"),
    "rrl-bench list": Tiny("bench"),
    "rrl-bench run benchmarks/suites/pomdp.yml --backend ray --ray-address HOST:6379 --results runs/pomdp": Elsewhere(
        "tests/test_benchmark.py::test_ray_backend_runs_a_tiny_suite (slow: a local Ray instance; no cluster here)"
    ),
    # guide/tuning.md
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

# The groups of the Tiny commands, each run by one test in one folder (a later command reads what an earlier one wrote).
GROUPS = ("contributing", "bench", "tune", "zoo")


def test_every_docs_command_is_listed() -> None:
    listed = set(docs_commands())
    assert sorted(listed - set(COMMANDS) - set(README_COMMANDS)) == [], "docs commands without an entry in COMMANDS"
    assert sorted(set(COMMANDS) - listed) == [], "COMMANDS entries that are no longer in the docs"
    assert sorted(set(COMMANDS) & set(README_COMMANDS)) == [], "README commands are checked by test_readme_commands.py"
    assert sorted({e.group for e in COMMANDS.values() if isinstance(e, Tiny)} - set(GROUPS)) == [], "groups no test runs"


def group(name: str) -> list[str]:
    """The :class:`Tiny` commands of group ``name``, in docs order (pages sorted by path, then page order)."""
    return [c for c in dict.fromkeys(docs_commands()) if isinstance(COMMANDS.get(c), Tiny) and COMMANDS[c].group == name]


@pytest.mark.parametrize("name", GROUPS)
def test_docs_commands_run(name: str, tmp_path: Path) -> None:
    """Each group's :class:`Tiny` commands, in docs order, in one folder: contributing.md's suite run and its report,
    the benchmarking guide's runs, report and list, the tuning guide's study and the run of its best settings, and its
    rl-zoo3 train and enjoy."""
    commands = group(name)
    assert commands, f"no docs command in group {name!r}"
    outputs = [run(tiny(command, COMMANDS[command]), tmp_path, clone_env()) for command in commands]
    if name == "contributing":
        assert (tmp_path / "pomdp" / "report.md").is_file()
    if name == "bench":
        assert (tmp_path / "runs" / "benchmark" / "suite" / "report.md").is_file() and "dreamer" in outputs[-1]
    if name == "tune":
        assert (tmp_path / "runs" / "tune" / "sac" / "best" / "recurrent_sac.yml").is_file()
        assert (tmp_path / "runs" / "benchmark" / "suite" / "recurrent_sac" / "rrl_sb3-PendulumNoVel-v1").is_dir()
    if name == "zoo":
        assert "2 Episodes" in outputs[-1]  # 400 steps of Pendulum: two 200-step episodes
