"""Benchmark suites: run algorithms x env ids x seeds under one evaluation protocol, locally or on Ray; report them.

Command line: ``rrl-bench run SUITE.yml`` / ``rrl-bench report RESULTS_DIR`` (or ``python -m rrl_sb3.benchmark``).
From Python::

    from rrl_sb3.benchmark import Suite, run_suite, write_report

    suite = Suite(algos=["recurrent_ppo_gru", "ppo"], envs=["rrl_sb3/CartPoleNoVel-v1"], seeds=[0, 1], n_timesteps=20_000)
    run_suite(suite, "runs/small")  # a process pool; finished runs are skipped when run again
    write_report("runs/small")  # report.md (at equal env steps and at equal CPU time) and one PNG per env

A suite may also give runs a budget of training CPU seconds (``Suite(..., cpu_seconds=600)``, ``rrl-bench run
--cpu-seconds 600``): a run stops at whichever of its budgets it reaches first.

Needs the ``benchmark`` extra (matplotlib, scipy, pyyaml) and, for the Ray backend, the ``ray`` extra.
"""

from rrl_sb3.benchmark import _requirements  # noqa: F401  (first: a clear error without the benchmark extra)
from rrl_sb3.benchmark.algorithms import ALGORITHMS, BUILTIN_ALGORITHMS, AlgoSpec, get_algorithm, register_algorithm
from rrl_sb3.benchmark.errors import ConfigError
from rrl_sb3.benchmark.records import RunResult, RunSpec
from rrl_sb3.benchmark.report import THRESHOLDS, load_results, threshold_for, write_report
from rrl_sb3.benchmark.runner import BACKENDS, SuiteOutcome, run_one, run_suite
from rrl_sb3.benchmark.stats import iqm, iqm_interval, reaches, steps_to_threshold
from rrl_sb3.benchmark.suite import AlgoEntry, EnvEntry, Suite
from rrl_sb3.benchmark.worker import EvalRecorder, execute_run

__all__ = [
    "ALGORITHMS",
    "BACKENDS",
    "BUILTIN_ALGORITHMS",
    "THRESHOLDS",
    "AlgoEntry",
    "AlgoSpec",
    "ConfigError",
    "EnvEntry",
    "EvalRecorder",
    "RunResult",
    "RunSpec",
    "Suite",
    "SuiteOutcome",
    "execute_run",
    "get_algorithm",
    "iqm",
    "iqm_interval",
    "load_results",
    "reaches",
    "register_algorithm",
    "run_one",
    "run_suite",
    "steps_to_threshold",
    "threshold_for",
    "write_report",
]
