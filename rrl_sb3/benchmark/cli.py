"""``rrl-bench`` (also ``python -m rrl_sb3.benchmark``): run a benchmark suite, report its results.

rrl-bench run benchmarks/suites/quick_comparison.yml --results runs/compare
rrl-bench run --algos dreamer recurrent_ppo_lstm --envs rrl_sb3/PendulumNoVel-v1 --seeds 0 1 --steps 20000
rrl-bench run SUITE.yml --cpu-seconds 600      # also stop each run at 600 s of training CPU time
rrl-bench run SUITE.yml --backend ray --ray-address HOST:6379
rrl-bench run SUITE.yml --checkpoint-every 5000 # resumable checkpoints every 5,000 env steps (0: none)
rrl-bench report runs/compare
rrl-bench report runs/compare --cpu-budget rrl_sb3/PendulumNoVel-v1=300
rrl-bench list
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
from collections.abc import Sequence
from pathlib import Path

import rrl_sb3
from rrl_sb3.benchmark.algorithms import ALGORITHMS
from rrl_sb3.benchmark.errors import ConfigError
from rrl_sb3.benchmark.report import write_report
from rrl_sb3.benchmark.runner import BACKENDS, default_results_dir, run_suite
from rrl_sb3.benchmark.suite import CHECKPOINT_EVERY, AlgoEntry, EnvEntry, Suite
from rrl_sb3.benchmark.tune import PRUNERS, tune


def _names(values: Sequence[str] | None) -> list[str] | None:
    """``["a,b", "c"]`` -> ``["a", "b", "c"]``: lists may be given space- or comma-separated."""
    if values is None:
        return None
    return [name for value in values for name in value.split(",") if name]


def _threshold(text: str) -> tuple[str, float]:
    env_id, _, value = text.rpartition("=")
    try:
        threshold = float(value)
    except ValueError:
        threshold = None
    if not env_id or threshold is None:
        raise argparse.ArgumentTypeError(f"a threshold is ENV_ID=VALUE, got {text!r}")
    return env_id, threshold


def _cpu_budget(text: str) -> tuple[str, float]:
    env_id, _, value = text.rpartition("=")
    try:
        seconds = float(value)
    except ValueError:
        seconds = float("nan")
    if not env_id or not 0 < seconds < float("inf"):
        raise argparse.ArgumentTypeError(f"a CPU budget is ENV_ID=SECONDS with SECONDS > 0, got --cpu-budget {text}")
    return env_id, seconds


def _cpu_seconds(text: str) -> float:
    try:
        seconds = float(text)
    except ValueError:
        seconds = float("nan")
    if not 0 < seconds < float("inf"):
        raise argparse.ArgumentTypeError(f"--cpu-seconds must be a positive number of seconds, got --cpu-seconds {text}")
    return seconds


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="rrl-bench", description="Benchmark suites for rrl_sb3: run them, report them.")
    commands = parser.add_subparsers(dest="command", required=True)

    run = commands.add_parser(
        "run",
        help="run a suite (skipping finished runs), then write its report",
        description="Run a suite from a file and/or flags; flags override the file. Finished runs are skipped.",
    )
    run.add_argument("suite", nargs="?", type=Path, help="suite file (benchmarks/suites/*.yml); optional with --algos/--envs")
    run.add_argument(
        "--algos", nargs="+", help="algorithm names (see `rrl-bench list`); with a suite file, those of its algorithms to run"
    )
    run.add_argument("--envs", nargs="+", help="Gymnasium env ids; with a suite file, those of its envs to run")
    run.add_argument("--seeds", nargs="+", type=int, help="training seeds (default 0 1 2)")
    run.add_argument("--steps", type=int, help="budget of every run, in env steps (replaces the suite's budgets)")
    run.add_argument(
        "--cpu-seconds",
        type=_cpu_seconds,
        help="CPU budget of every run: stop once its training CPU time (evaluations excluded) reaches it; --steps stays "
        "the upper bound on env steps (replaces the suite's CPU budgets)",
    )
    run.add_argument("--eval-freq", type=int, help="env steps between evaluations (default: the protocol's)")
    run.add_argument(
        "--checkpoint-every",
        type=int,
        help="env steps between checkpoints of each run, from which a re-run resumes an interrupted run "
        "(default: the suite's checkpoint_every, else 10000; 0: no checkpoints)",
    )
    run.add_argument(
        "--keep-checkpoints", action="store_true", help="keep the checkpoints of finished runs (default: removed)"
    )
    run.add_argument(
        "--hyperparams", type=Path, help="directory of <algo>.yml files (default: the packaged rrl_sb3/hyperparams/)"
    )
    run.add_argument("--name", help="suite name (default: the file's stem, or 'suite')")
    run.add_argument("--device", help="torch device of the models (default cpu)")
    run.add_argument("--results", type=Path, help="results directory (default runs/benchmark/<suite name>)")
    run.add_argument("--backend", choices=BACKENDS, default="local", help="local process pool or Ray tasks")
    run.add_argument("--ray-address", help="Ray cluster: auto, HOST:PORT or ray://HOST:PORT (default: start a local one)")
    run.add_argument("--workers", type=int, help="runs at a time (local backend; default: the cores)")
    run.add_argument("--threads-per-run", type=int, help="torch threads per run (default: cores // workers)")
    run.add_argument("--num-cpus", type=float, help="CPUs each Ray task asks for (default: its threads)")
    run.add_argument("--num-gpus", type=float, help="GPUs each Ray task asks for (default 0)")
    run.add_argument("--quiet", action="store_true", help="no line per evaluation, only per finished run")
    run.add_argument("--no-report", action="store_true", help="do not write the report at the end")

    report = commands.add_parser("report", help="tables and plots of a results directory")
    report.add_argument("results", type=Path, help="results directory written by `rrl-bench run`")
    report.add_argument(
        "--threshold", action="append", type=_threshold, default=[], metavar="ENV_ID=VALUE", help="return threshold of an env"
    )
    report.add_argument(
        "--cpu-budget",
        action="append",
        type=_cpu_budget,
        default=[],
        metavar="ENV_ID=SECONDS",
        help="training CPU seconds at which the runs on an env are compared (default: the shortest run's training CPU "
        "time on that env); repeatable",
    )

    tune = commands.add_parser(
        "tune",
        help="tune an algorithm on one env (an Optuna study of protocol runs; resumable)",
        description="An Optuna study (TPE, pruning on the periodic evaluations) whose trials are runs of the benchmark "
        "protocol. Running it again continues the study up to --trials finished trials. Writes the best trial's settings "
        "as <results>/best/<algo>.yml for `rrl-bench run --hyperparams <results>/best`, the trials table and the plots.",
    )
    tune.add_argument("--algo", required=True, help="algorithm name (see `rrl-bench list`)")
    tune.add_argument("--env", required=True, help="Gymnasium env id")
    tune.add_argument("--trials", type=int, required=True, help="finished trials (complete or pruned) the study should have")
    tune.add_argument("--budget", type=int, required=True, help="env steps of each trial")
    tune.add_argument("--results", type=Path, required=True, help="results directory (the study's SQLite file is kept there)")
    tune.add_argument("--backend", choices=BACKENDS, default="local", help="local process pool or Ray tasks")
    tune.add_argument("--storage", help="Optuna storage URL (default: sqlite:///<results>/study.db)")
    tune.add_argument("--study-name", help="study name in the storage (default <algo>-<env>)")
    tune.add_argument("--pruner", choices=PRUNERS, default="median", help="median (default), halving or none")
    tune.add_argument("--startup-trials", type=int, default=5, help="random trials before TPE and the pruner act (default 5)")
    tune.add_argument("--seed", type=int, default=0, help="training seed of every trial and the sampler's seed (default 0)")
    tune.add_argument("--eval-freq", type=int, help="env steps between evaluations (default: the protocol's)")
    tune.add_argument("--hyperparams", type=Path, help="directory of <algo>.yml files the trials start from")
    tune.add_argument("--device", default="cpu", help="torch device of the models (default cpu)")
    tune.add_argument("--ray-address", help="Ray cluster: auto, HOST:PORT or ray://HOST:PORT (default: start a local one)")
    tune.add_argument("--workers", type=int, help="trials at a time (default: the cores)")
    tune.add_argument("--threads-per-run", type=int, help="torch threads per trial (default: cores // workers)")
    tune.add_argument(
        "--enqueue",
        type=_json_object,
        action="append",
        default=[],
        metavar="JSON",
        help="a trial to run first, its parameters as a JSON object in the search space's names (e.g. the defaults); "
        "repeatable; not queued again if the study has it",
    )
    tune.add_argument("--verbose", action="store_true", help="a line per evaluation of every trial")
    tune.add_argument(
        "--checkpoint-every",
        type=int,
        default=CHECKPOINT_EVERY,
        help="env steps between checkpoints of each trial, from which a re-run resumes an interrupted trial (0: none)",
    )

    commands.add_parser("list", help="the registered algorithms and the rrl_sb3 env ids")
    return parser


def suite_from_args(args: argparse.Namespace) -> Suite:
    """The suite of a ``run`` command: the file's, with the flags given on top; or the flags' alone."""
    algo_names, env_names = _names(args.algos), _names(args.envs)
    algos: Sequence[AlgoEntry | str] | None = algo_names
    envs: Sequence[EnvEntry | str] | None = env_names
    if args.suite is None:
        missing = [flag for flag, value in (("--algos", algos), ("--envs", envs)) if not value]
        if missing:
            raise ConfigError(f"without a suite file, give {' and '.join(missing)}")
        suite = Suite(algos=algos or [], envs=envs or [], name=args.name or "suite")
    else:
        suite = Suite.from_file(args.suite)
        # the flags pick from the file's entries, which keep their own budgets and settings; other names are added
        if algo_names:
            algos = [next((a for a in suite.algo_entries if a.name == name), name) for name in algo_names]
        if env_names:
            envs = [next((e for e in suite.env_entries if e.id == name), name) for name in env_names]
    changes = {
        "algos": algos,
        "envs": envs,
        "seeds": args.seeds,
        "n_timesteps": args.steps,
        "cpu_seconds": args.cpu_seconds,
        "eval_freq": args.eval_freq,
        "checkpoint_every": args.checkpoint_every,
        "hyperparams_dir": args.hyperparams,
        "name": args.name,
        "device": args.device,
        "num_cpus": args.num_cpus,
        "num_gpus": args.num_gpus,
    }
    changes = {key: value for key, value in changes.items() if value is not None}
    return suite.replace(**changes) if changes else suite


def _exit_on_sigterm(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)


def _json_object(text: str) -> dict:
    try:
        value = json.loads(text)
    except json.JSONDecodeError as error:
        raise argparse.ArgumentTypeError(f"not JSON ({error}): {text!r}") from error
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError(f"expected a JSON object of parameters, got {text!r}")
    return value


def _tune(args: argparse.Namespace) -> int:
    main_thread = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, _exit_on_sigterm) if main_thread else None
    try:
        outcome = tune(
            args.algo,
            args.env,
            n_trials=args.trials,
            budget=args.budget,
            results_dir=args.results,
            backend=args.backend,
            storage=args.storage,
            study_name=args.study_name,
            workers=args.workers,
            threads_per_run=args.threads_per_run,
            ray_address=args.ray_address,
            seed=args.seed,
            pruner=args.pruner,
            n_startup_trials=args.startup_trials,
            eval_freq=args.eval_freq,
            hyperparams_dir=args.hyperparams,
            device=args.device,
            enqueue=args.enqueue,
            verbose=args.verbose,
            checkpoint_every=args.checkpoint_every,
        )
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
    print(
        f"study {outcome.study_name!r}: {outcome.n_complete} complete, {outcome.n_pruned} pruned, {outcome.n_failed} failed"
        + (f"; best trial {outcome.best_number}: {outcome.best_value:.2f} -> {outcome.best_file}" if outcome.best_file else "")
    )
    return 0 if outcome.n_complete else 1


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if args.command == "list":
            print("algorithms:")
            for spec in ALGORITHMS.values():
                print(f"  {spec.name:<20} {spec.description} [{'/'.join(spec.action_spaces)} actions]")
            print("env ids (rrl_sb3/; any registered Gymnasium id works too):")
            for env_id in rrl_sb3.list_env_ids():
                print(f"  {env_id}")
            return 0
        if args.command == "report":
            write_report(args.results, thresholds=dict(args.threshold), cpu_budgets=dict(args.cpu_budget))
            return 0
        if args.command == "tune":
            return _tune(args)
        suite = suite_from_args(args)
        results = args.results if args.results is not None else default_results_dir(suite)
        # `kill` (SIGTERM) stops the suite as Ctrl-C does, the runs in progress with it (no orphaned workers)
        main_thread = threading.current_thread() is threading.main_thread()
        previous = signal.signal(signal.SIGTERM, _exit_on_sigterm) if main_thread else None
        try:
            outcome = run_suite(
                suite,
                results,
                backend=args.backend,
                workers=args.workers,
                threads_per_run=args.threads_per_run,
                ray_address=args.ray_address,
                verbose=not args.quiet,
                keep_checkpoints=args.keep_checkpoints,
            )
        finally:
            if previous is not None:  # None: not installed from Python, nothing to restore
                signal.signal(signal.SIGTERM, previous)
        if not args.no_report and (outcome.finished or outcome.already_finished or outcome.failed):
            write_report(results)
        for result in outcome.failed:
            print(f"failed: {result.run.describe()} (traceback in {results})", file=sys.stderr)
        return 0 if outcome.ok else 1
    except (ConfigError, ConnectionError, FileNotFoundError, ImportError) as error:
        print(f"rrl-bench: error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
