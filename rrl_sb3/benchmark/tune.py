"""Tune an algorithm's hyperparameters on one env: an Optuna study whose trials are runs of the benchmark protocol.

Command line: ``rrl-bench tune --algo recurrent_sac --env rrl_sb3/PendulumNoVel-v1 --trials 24 --budget 20000
--results runs/tune/sac``. From Python::

    from rrl_sb3.benchmark.tune import tune

    outcome = tune("recurrent_sac", "rrl_sb3/PendulumNoVel-v1", n_trials=24, budget=20_000, results_dir="runs/tune/sac")
    print(outcome.best_value, outcome.best_file)  # best/recurrent_sac.yml, readable by `rrl-bench run --hyperparams`

How a trial runs: its settings are the algorithm's entry for the env in the hyperparameter files, overridden by a draw
from the algorithm's search space (:mod:`rrl_sb3.benchmark.search_spaces`); it trains and evaluates exactly as a run
of ``rrl-bench run`` does (:func:`rrl_sb3.benchmark.worker.execute_run`: the periodic evaluations, then the final one of
``final_n_eval_episodes`` episodes), on the local process pool or as a Ray task. Its value is the final evaluation's
mean return. Each periodic evaluation is reported to Optuna (step = the evaluation's index), and the pruner (median or
successive halving) may stop the trial there; a pruned trial has no final evaluation.

The study lives in Optuna storage, by default ``study.db`` (SQLite) in the results directory: running the same
command again continues it up to ``n_trials`` finished trials (complete or pruned); trials that were running when the
previous process stopped are run again with the same parameters. The workers read and write the storage themselves
(for the pruner), so on a multi-node Ray cluster ``storage`` must be a database every node reaches (PostgreSQL, MySQL),
or an SQLite file on a shared filesystem.

Written to the results directory: ``trials/<number>.json`` (settings, evaluations, outcome of each trial),
``best/<algo file>.yml`` (the best trial's settings in rl-zoo3's format, under the env id, with ``n_timesteps`` the
budget), ``tune.md`` (the trials table) and the study's plots (optimisation history, parameter importances).
"""

from __future__ import annotations

import functools
import json
import math
import shutil
import warnings
from collections.abc import Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, wait
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import yaml

from rrl_sb3.benchmark.errors import ConfigError
from rrl_sb3.benchmark.hyperparams import format_python_literal, parse_python_literal
from rrl_sb3.benchmark.runner import (
    BACKENDS,
    RAY_MAX_RETRIES,
    Log,
    _print,
    available_cores,
    check_counts,
    check_ray_address,
    future_result,
    local_pool,
    ray_result,
    ray_tasks,
    stop_pool,
)
from rrl_sb3.benchmark.search_spaces import SEARCH_SPACES
from rrl_sb3.benchmark.suite import CHECKPOINT_EVERY, FINAL_N_EVAL_EPISODES, N_EVAL_EPISODES, AlgoEntry, RunSpec, Suite
from rrl_sb3.benchmark.worker import RunResult, execute_run

PRUNERS = ("median", "halving", "none")
STUDY_FILE = "study.db"
OPTUNA_INSTALL_HINT = 'pip install "rrl-sb3[benchmark]"  (or: pip install optuna)'
#: what a study was created with; a resumed study must be asked for the same (its trials compare only then)
_IDENTITY = ("algo", "env_id", "budget", "eval_freq", "n_eval_episodes", "final_n_eval_episodes", "seed")


def _optuna() -> Any:
    try:
        import optuna
    except ImportError as error:
        raise ImportError(f"rrl-bench tune needs Optuna: {OPTUNA_INSTALL_HINT}") from error
    return optuna


@functools.lru_cache(maxsize=8)
def _load_study(storage: str, study_name: str, pruner: str, n_startup_trials: int) -> Any:
    # the pruner is not stored with the study: the worker's copy must be given the driver's
    return _optuna().load_study(study_name=study_name, storage=storage, pruner=make_pruner(pruner, n_startup_trials))


@dataclass(frozen=True)
class TrialReporter:
    """In the worker: report a trial's periodic evaluation to its study and answer whether the pruner stops the trial
    (:class:`~rrl_sb3.benchmark.worker.EvalRecorder`'s ``should_stop``; picklable for the process pool and Ray).

    :param storage: the study's Optuna storage URL
    :param study_name: the study's name
    :param trial_id: the trial's storage id
    :param eval_freq: env steps between evaluations (the reported step is the evaluation's index)
    :param pruner: the study's pruner, by name (see :func:`make_pruner`)
    :param n_startup_trials: the pruner's startup trials
    """

    storage: str
    study_name: str
    trial_id: int
    eval_freq: int
    pruner: str = "median"
    n_startup_trials: int = 5

    def __call__(self, record: Mapping[str, Any]) -> bool:
        study = _load_study(self.storage, self.study_name, self.pruner, self.n_startup_trials)
        trial = _optuna().Trial(study, self.trial_id)
        # the evaluation's index, not its env step: trials with other n_envs cross eval_freq at slightly other steps
        trial.report(float(record["mean_return"]), step=max(1, round(record["env_steps"] / self.eval_freq)))
        return bool(trial.should_prune())


@dataclass
class TuneOutcome:
    """What a call of :func:`tune` left: the study's counts and best trial, and the files written."""

    study_name: str
    storage: str
    results_dir: Path
    n_complete: int = 0
    n_pruned: int = 0
    n_failed: int = 0
    best_number: int | None = None
    best_value: float | None = None
    best_settings: dict[str, Any] = field(default_factory=dict)
    best_file: Path | None = None
    plots: list[Path] = field(default_factory=list)


def merge_settings(base: Mapping[str, Any], sampled: Mapping[str, Any]) -> dict[str, Any]:
    """``base`` overridden by ``sampled``; ``policy_kwargs`` merged key by key and written back as ``dict(...)`` text."""
    merged = {**base, **sampled}
    if "policy_kwargs" in sampled:
        own = base.get("policy_kwargs") or {}
        own = parse_python_literal(own, "policy_kwargs") if isinstance(own, str) else dict(own)
        merged["policy_kwargs"] = format_python_literal({**own, **sampled["policy_kwargs"]}, "policy_kwargs")
    return merged


def make_pruner(name: str, n_startup_trials: int = 5) -> Any:
    """``"median"``: stop a trial whose evaluation is below the median of earlier trials' at the same evaluation (after
    ``n_startup_trials`` trials and from the second evaluation); ``"halving"``: successive halving over the evaluations
    (reduction factor 3); ``"none"``: every trial runs its whole budget."""
    optuna = _optuna()
    if name == "median":
        return optuna.pruners.MedianPruner(n_startup_trials=n_startup_trials, n_warmup_steps=2)  # steps count from 1
    if name == "halving":
        return optuna.pruners.SuccessiveHalvingPruner(min_resource=1, reduction_factor=3)
    if name == "none":
        return optuna.pruners.NopPruner()
    raise ConfigError(f"pruner must be one of {list(PRUNERS)}, got pruner={name!r}")


def tune(
    algo: str,
    env_id: str,
    n_trials: int,
    budget: int,
    results_dir: str | Path,
    backend: str = "local",
    storage: str | None = None,
    study_name: str | None = None,
    workers: int | None = None,
    threads_per_run: int | None = None,
    ray_address: str | None = None,
    seed: int = 0,
    pruner: str = "median",
    n_startup_trials: int = 5,
    eval_freq: int | None = None,
    n_eval_episodes: int = N_EVAL_EPISODES,
    final_n_eval_episodes: int = FINAL_N_EVAL_EPISODES,
    hyperparams_dir: str | Path | None = None,
    device: str = "cpu",
    enqueue: Sequence[Mapping[str, Any]] = (),
    verbose: bool = False,
    log: Log = _print,
    checkpoint_every: int = CHECKPOINT_EVERY,
) -> TuneOutcome:
    """Run (or continue) the study of ``algo`` on ``env_id`` until it has ``n_trials`` finished trials.

    :param algo: a registered algorithm with a search space (:data:`~rrl_sb3.benchmark.search_spaces.SEARCH_SPACES`)
    :param env_id: the Gymnasium id to tune on
    :param n_trials: finished trials (complete or pruned) the study should have; a resumed study runs the difference
    :param budget: env steps of each trial
    :param results_dir: where the study, the trials, the best settings and the plots go
    :param backend: ``"local"`` (a process pool) or ``"ray"`` (one Ray task per trial)
    :param storage: Optuna storage URL (default: SQLite ``study.db`` in ``results_dir``)
    :param study_name: the study's name in the storage (default ``<algo>-<env id>``)
    :param workers: trials at a time (default: the cores, local; the CPUs of the local Ray instance it starts, Ray)
    :param threads_per_run: torch threads of each trial (default: cores // workers locally, 1 on Ray)
    :param ray_address: Ray cluster to join (``None``: start a local instance)
    :param seed: training seed of every trial (its evaluation env: ``1000 + seed``) and the TPE sampler's seed
    :param pruner: ``"median"``, ``"halving"`` or ``"none"`` (see :func:`make_pruner`)
    :param n_startup_trials: trials TPE samples at random, and the median pruner lets finish, before either acts
    :param eval_freq: env steps between evaluations (``None``: the protocol's)
    :param n_eval_episodes: episodes of each periodic evaluation (the pruner's signal)
    :param final_n_eval_episodes: episodes of the final evaluation (the trial's value)
    :param hyperparams_dir: directory of the ``<algo>.yml`` files the trials start from (default: ``rrl_sb3/hyperparams/``)
    :param device: torch device of the models
    :param enqueue: parameters (in the search space's names, every one given) of trials to run before any sampled
        trial, e.g. the algorithm's defaults, so that the study's best is at least as good as they are on its seed;
        one the study already has (queued, run or running) is not queued again, so a resumed call may pass the same
    :param verbose: print a line per evaluation of every trial
    :param log: where progress lines go
    :param checkpoint_every: env steps between two checkpoints of a trial (``trials/<number>.checkpoints/``) of an
        algorithm with exact checkpoints; a trial interrupted with the call runs again, as a new trial with the same
        parameters, from its latest checkpoint (its earlier evaluations are reported to the new trial first); ``0``:
        none, the trial starts over
    :raises ConfigError: for an algorithm without a search space, bad counts, an unknown backend or pruner, a base
        setting the algorithm refuses, enqueued parameters outside the search space, or a stored study created with
        other settings
    """
    optuna = _optuna()
    optuna.logging.set_verbosity(optuna.logging.WARNING)  # its own line per trial would double ours
    if algo not in SEARCH_SPACES:
        raise ConfigError(f"algo must be one of {sorted(SEARCH_SPACES)} (those with a search space), got algo={algo!r}")
    check_counts(n_trials=n_trials, budget=budget, n_startup_trials=n_startup_trials)
    check_counts(optional=True, workers=workers, threads_per_run=threads_per_run)
    if backend not in BACKENDS:
        raise ConfigError(f"backend must be one of {list(BACKENDS)}, got backend={backend!r}")
    pruner_ = make_pruner(pruner, n_startup_trials)
    if backend == "ray":
        check_ray_address(ray_address)

    # The base run, checked as a suite checks its runs (its model built once): a bad base setting fails here.
    suite = Suite(
        algos=[AlgoEntry(algo, label="base")],
        envs=[env_id],
        seeds=[seed],
        n_timesteps=budget,
        eval_freq=eval_freq,
        n_eval_episodes=n_eval_episodes,
        final_n_eval_episodes=final_n_eval_episodes,
        hyperparams_dir=hyperparams_dir,
        device=device,
        name=f"tune-{algo}",
        checkpoint_every=checkpoint_every,
    )
    plan = suite.plan()
    if not plan.runs:
        raise ConfigError(f"{algo} cannot run on {env_id}: {'; '.join(plan.skipped)}")
    base_run = plan.runs[0]
    base_settings = dict(base_run.hyperparams)
    _check_enqueued(algo, enqueue, base_settings)

    root = Path(results_dir)
    (root / "trials").mkdir(parents=True, exist_ok=True)
    shown_storage = storage or f"sqlite:///{root / STUDY_FILE}"  # as the user wrote it, for the files we write
    storage = storage or f"sqlite:///{(root / STUDY_FILE).resolve()}"  # absolute: a worker's working directory may differ
    study_name = study_name or f"{algo}-{env_id}"
    identity = {
        "algo": algo,
        "env_id": env_id,
        "budget": budget,
        "eval_freq": base_run.eval_freq,
        "n_eval_episodes": n_eval_episodes,
        "final_n_eval_episodes": final_n_eval_episodes,
        "seed": seed,
    }
    study = optuna.create_study(
        study_name=study_name, storage=storage, load_if_exists=True, direction="maximize", pruner=pruner_
    )
    # A sampler seeded with `seed` alone would, on resume, draw the sequence the first call drew (its random startup
    # trials again, as exact duplicates); offset by the trials stored so far, every call draws anew, reproducibly.
    study.sampler = optuna.samplers.TPESampler(seed=seed + len(study.trials), n_startup_trials=n_startup_trials)
    stored = {key: study.user_attrs[key] for key in _IDENTITY if key in study.user_attrs}
    if stored and stored != identity:
        changed = ", ".join(f"{k}: {stored.get(k)!r} -> {identity[k]!r}" for k in _IDENTITY if stored.get(k) != identity[k])
        raise ConfigError(
            f"study {study_name!r} in {storage} was created with other settings ({changed}); its trials would not "
            "compare: use another --results directory or --study-name"
        )
    for key, value in identity.items():
        study.set_user_attr(key, value)

    _rerun_interrupted(study, log)
    for params in enqueue:
        study.enqueue_trial(dict(params), user_attrs={"note": "enqueued"}, skip_if_exists=True)
    schedule = _Schedule(n_trials, finished=_count(study, "COMPLETE", "PRUNED"))
    log(
        f"study {study_name!r}: {schedule.finished} finished trials, {max(0, n_trials - schedule.finished)} to run "
        f"({backend} backend, {pruner} pruner) -> {root}"
    )
    if schedule.more(0):
        sample = SEARCH_SPACES[algo]

        def prepare_trial() -> tuple[Any, RunSpec, TrialReporter, str]:
            trial = study.ask()
            settings = merge_settings(base_settings, sample(trial, base_settings))
            trial.set_user_attr("settings", _jsonable(settings))
            run = replace(base_run, label=f"trial_{trial.number}", hyperparams=settings)
            reporter = TrialReporter(storage, study_name, trial._trial_id, base_run.eval_freq, pruner, n_startup_trials)
            checkpoints = _checkpoint_dir(root, trial.number)
            interrupted = trial.user_attrs.get("resumes_trial")
            if interrupted is not None and _checkpoint_dir(root, interrupted).is_dir() and not checkpoints.exists():
                _checkpoint_dir(root, interrupted).rename(checkpoints)  # the interrupted trial's checkpoints go on here
            return trial, run, reporter, str(checkpoints.resolve())

        def finish(trial: Any, result: RunResult) -> None:
            _save_trial(root, trial, result)
            shutil.rmtree(_checkpoint_dir(root, trial.number), ignore_errors=True)
            value = float(result.records[-1]["mean_return"]) if result.records else math.nan
            if result.status != "finished" or (result.stopped_on != "should_stop" and not math.isfinite(value)):
                last = (result.error or f"non-finite return {value}").strip().splitlines()[-1]
                trial.set_user_attr("note", last)
                study.tell(trial, state=optuna.trial.TrialState.FAIL)
                schedule.failed += 1
                log(f"trial {trial.number}: failed: {last} (traceback in {root / 'trials' / f'{trial.number}.json'})")
                return
            schedule.finished += 1
            if result.stopped_on == "should_stop":
                study.tell(trial, state=optuna.trial.TrialState.PRUNED)
                log(f"trial {trial.number}: pruned at {result.records[-1]['env_steps']} steps")
            else:
                study.tell(trial, value)
                best = study.best_trial
                log(f"trial {trial.number}: {value:.1f} (best so far: trial {best.number}, {best.value:.1f})")

        if backend == "local":
            cores = available_cores()
            workers = min(workers or cores, n_trials)
            threads = threads_per_run or max(1, cores // workers)
            _tune_local(prepare_trial, finish, schedule, workers, threads, verbose)
        else:
            _tune_ray(prepare_trial, finish, schedule, ray_address, workers, threads_per_run or 1, verbose)
        if schedule.failed >= schedule.max_failures:
            log(f"stopped after {schedule.failed} failed trials: see their tracebacks in {root / 'trials'}")
    return _write_outputs(study, root, storage, shown_storage, algo, env_id, base_run, budget, log)


@dataclass
class _Schedule:
    """When to launch another trial: until the study has ``n_trials`` finished ones. Failed trials are replaced, up to
    :attr:`max_failures` per call (trials already in flight then still finish), so that settings that always fail do not
    loop forever."""

    n_trials: int
    finished: int = 0
    failed: int = 0

    @property
    def max_failures(self) -> int:
        return max(3, self.n_trials)

    def more(self, in_flight: int) -> bool:
        return self.finished + in_flight < self.n_trials and self.failed < self.max_failures


def _count(study: Any, *states: str) -> int:
    wanted = {getattr(_optuna().trial.TrialState, state) for state in states}
    return sum(trial.state in wanted for trial in study.get_trials(deepcopy=False))


def _rerun_interrupted(study: Any, log: Log) -> None:
    """Trials left RUNNING by a process that stopped: mark them failed and queue their parameters again."""
    state = _optuna().trial.TrialState
    for trial in study.get_trials(deepcopy=False, states=(state.RUNNING,)):
        study._storage.set_trial_user_attr(trial._trial_id, "note", "interrupted; its parameters run again as a new trial")
        study._storage.set_trial_state_values(trial._trial_id, state=state.FAIL)
        study.enqueue_trial(trial.params, user_attrs={"resumes_trial": trial.number}, skip_if_exists=False)
        log(f"trial {trial.number} was interrupted: it runs again with the same parameters, from its latest checkpoint")


class _GivenTrial:
    """A stand-in for an Optuna trial that answers each ``suggest_*`` call with a given value, checked against it."""

    def __init__(self, params: Mapping[str, Any], where: str) -> None:
        self.params, self.where = params, where
        self.suggested: set[str] = set()

    def _take(self, name: str, distribution: Any) -> Any:
        if name not in self.params:
            raise ConfigError(f"{self.where}: no value for {name!r}, a parameter of the search space (give every one)")
        value = self.params[name]
        try:
            inside = distribution._contains(distribution.to_internal_repr(value))
        except (ValueError, TypeError):
            inside = False
        if not inside:
            raise ConfigError(f"{self.where}: {name}={value!r} is outside the search space's {distribution}")
        self.suggested.add(name)
        return value

    def suggest_float(self, name: str, low: float, high: float, *, step: float | None = None, log: bool = False) -> Any:
        return self._take(name, _optuna().distributions.FloatDistribution(low, high, log=log, step=step))

    def suggest_int(self, name: str, low: int, high: int, *, step: int = 1, log: bool = False) -> Any:
        return self._take(name, _optuna().distributions.IntDistribution(low, high, log=log, step=step))

    def suggest_categorical(self, name: str, choices: Sequence[Any]) -> Any:
        return self._take(name, _optuna().distributions.CategoricalDistribution(choices))


def _check_enqueued(algo: str, enqueue: Sequence[Mapping[str, Any]], base_settings: Mapping[str, Any]) -> None:
    """Each enqueued trial must name every parameter of ``algo``'s search space, nothing else, each in its range."""
    if isinstance(enqueue, (Mapping, str)) or not isinstance(enqueue, Sequence):
        raise ConfigError(f"enqueue must be a list of parameter dicts, got enqueue={enqueue!r}")
    for index, params in enumerate(enqueue):
        if not isinstance(params, Mapping):
            raise ConfigError(f"enqueue[{index}] must be a dict of parameters, got {params!r}")
        given = _GivenTrial(params, f"enqueue[{index}] ({algo})")
        SEARCH_SPACES[algo](given, base_settings)  # type: ignore[arg-type]
        unknown = sorted(set(params) - given.suggested)
        if unknown:
            raise ConfigError(f"enqueue[{index}]: {unknown} not parameters of {algo}'s search space {sorted(given.suggested)}")


def _jsonable(settings: Mapping[str, Any]) -> dict[str, Any]:
    return {
        k: v if isinstance(v, (str, int, float, bool, type(None), list)) else format_python_literal(v, k)
        for k, v in settings.items()
    }


def _checkpoint_dir(root: Path, number: int) -> Path:
    return root / "trials" / f"{number}.checkpoints"


def _save_trial(root: Path, trial: Any, result: RunResult) -> None:
    data = {
        "number": trial.number,
        "params": trial.params,
        "settings": _jsonable(result.run.hyperparams),
        "status": result.status,
        "stopped_on": result.stopped_on,
        "resumed": result.resumed,
        "records": result.records,
        "error": result.error,
        "train_seconds": result.train_seconds,
        "info": result.info,
    }
    path = root / "trials" / f"{trial.number}.json"
    path.write_text(json.dumps(data, indent=1, default=str) + "\n")


def _tune_local(prepare_trial: Any, finish: Any, schedule: _Schedule, workers: int, threads: int, verbose: bool) -> None:
    pool = local_pool(workers)
    running: dict[Any, tuple[Any, RunSpec]] = {}
    try:
        while True:
            while len(running) < workers and schedule.more(len(running)):
                trial, run, reporter, checkpoints = prepare_trial()
                running[pool.submit(execute_run, run, threads, verbose, None, reporter, checkpoints)] = (trial, run)
            if not running:
                break
            done, _ = wait(list(running), return_when=FIRST_COMPLETED)
            for future in done:
                trial, run = running.pop(future)
                finish(trial, future_result(future, run))
    except BaseException:
        stop_pool(pool)
        raise
    pool.shutdown()


def _tune_ray(
    prepare_trial: Any, finish: Any, schedule: _Schedule, address: str | None, workers: int | None, threads: int, verbose: bool
) -> None:
    with ray_tasks(address, workers, verbose) as (ray, running):
        slots = workers or max(1, int(ray.cluster_resources().get("CPU", 1) // threads))
        # a trial whose worker dies is retried and resumes from its checkpoint (on storage every node reaches)
        task = ray.remote(num_cpus=threads, max_retries=RAY_MAX_RETRIES)(execute_run)
        while True:
            while len(running) < slots and schedule.more(len(running)):
                trial, run, reporter, checkpoints = prepare_trial()
                running[task.remote(run, threads, verbose, None, reporter, checkpoints)] = (trial, run)
            if not running:
                break
            ready, _ = ray.wait(list(running), num_returns=1)
            for ref in ready:
                trial, run = running.pop(ref)
                finish(trial, ray_result(ray, ref, run))


def _write_outputs(
    study: Any,
    root: Path,
    storage: str,
    shown_storage: str,
    algo: str,
    env_id: str,
    base_run: RunSpec,
    budget: int,
    log: Log,
) -> TuneOutcome:
    outcome = TuneOutcome(study.study_name, storage, root)
    outcome.n_complete = _count(study, "COMPLETE")
    outcome.n_pruned = _count(study, "PRUNED")
    outcome.n_failed = _count(study, "FAIL")
    _write_table(study, root, base_run.eval_freq)
    if outcome.n_complete == 0:
        log("no complete trial yet: no best settings written")
        return outcome
    best = study.best_trial
    outcome.best_number, outcome.best_value = best.number, float(best.value)
    outcome.best_settings = dict(best.user_attrs.get("settings", {}))
    entry = {**outcome.best_settings, "n_timesteps": budget}
    if base_run.algo.defaults:  # set by the algorithm itself (ppo_framestack's frame_stack), not by its file
        entry = {k: v for k, v in entry.items() if k not in base_run.algo.defaults or v != base_run.algo.defaults[k]}
    best_dir = root / "best"
    other_seeds = " ".join(str(base_run.seed + k) for k in (1, 2, 3))
    best_dir.mkdir(exist_ok=True)
    outcome.best_file = best_dir / f"{base_run.algo.file_stem}.yml"
    header = (
        f"# Best trial of the study {study.study_name!r} ({shown_storage}): trial {best.number}, final mean return "
        f"{best.value:.2f} over {base_run.final_n_eval_episodes} episodes at {budget} env steps (seed {base_run.seed}).\n"
        f"# Seed {base_run.seed} picked it: compare it with the defaults on other seeds, e.g.\n"
        f"#   rrl-bench run --algos {algo} --envs {env_id} --hyperparams {best_dir} --seeds {other_seeds}\n"
    )
    outcome.best_file.write_text(header + yaml.safe_dump({env_id: entry}, sort_keys=False))
    outcome.plots = _plot(study, root, log)
    log(f"best: trial {best.number}, {best.value:.1f} -> {outcome.best_file}")
    return outcome


def _write_table(study: Any, root: Path, eval_freq: int) -> None:
    trials = study.get_trials(deepcopy=False)
    names = sorted({name for trial in trials for name in trial.params})
    lines = [
        f"# Study {study.study_name}",
        "",
        "| trial | state | value | last evaluation (env steps: return) | " + " | ".join(names) + " | note |",
        "| --- | --- | --- | --- | " + " | ".join("---" for _ in names) + " | --- |",
    ]
    for trial in trials:
        value = f"{trial.value:.2f}" if trial.value is not None else ""
        last = ""
        if trial.intermediate_values:
            step = max(trial.intermediate_values)  # the evaluation's index (TrialReporter)
            last = f"{step * eval_freq}: {trial.intermediate_values[step]:.2f}"
        cells = [_cell(trial.params.get(name, "")) for name in names]
        note = str(trial.user_attrs.get("note", "")).replace("|", "/")  # why a trial failed, in one line
        lines.append(f"| {trial.number} | {trial.state.name} | {value} | {last} | " + " | ".join(cells) + f" | {note} |")
    (root / "tune.md").write_text("\n".join(lines) + "\n")


def _cell(value: Any) -> str:
    return f"{value:.3g}" if isinstance(value, float) else str(value)


def _plot(study: Any, root: Path, log: Log) -> list[Path]:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        from optuna.visualization import matplotlib as optuna_plots
    except ImportError as error:
        log(f"note: no plots ({error})")
        return []
    written = []
    for name, draw in (
        ("optimization_history.png", optuna_plots.plot_optimization_history),
        ("param_importances.png", optuna_plots.plot_param_importances),
    ):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", _optuna().exceptions.ExperimentalWarning)
                axes: Any = draw(study)  # an Axes, or an array of them (typed as an Axes only)
        except (ValueError, RuntimeError) as error:  # importances need two complete trials whose parameters differ
            log(f"note: no {name} ({error})")
            continue
        figure = axes.figure if hasattr(axes, "figure") else axes.flat[0].figure
        figure.set_size_inches(8, 5)
        figure.tight_layout()
        figure.savefig(root / name, dpi=100)
        plt.close(figure)
        written.append(root / name)
    return written
