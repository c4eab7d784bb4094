"""Run a suite: skip finished runs, execute the others on a local process pool or a Ray cluster, store the results."""

from __future__ import annotations

import multiprocessing
import os
import socket
import time
import traceback
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor, as_completed
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rrl_sb3.benchmark.errors import ConfigError
from rrl_sb3.benchmark.store import ResultStore
from rrl_sb3.benchmark.suite import RunSpec, Suite
from rrl_sb3.benchmark.worker import EvalRecorder, RunResult, execute_run, exit_with_parent

#: Where the runs of a suite go: a local process pool or Ray tasks
BACKENDS = ("local", "ray")
#: times Ray runs a task again whose worker process or node died (a failure of the run itself is not retried: it
#: returns its traceback)
RAY_MAX_RETRIES = 3
RAY_INSTALL_HINT = 'pip install "rrl-sb3[ray]"  (or: pip install "ray[default]>=2.9")'

Log = Callable[[str], None]


def _print(message: str) -> None:
    print(message, flush=True)


def available_cores() -> int:
    """CPU cores this process may use."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return os.cpu_count() or 1


def default_results_dir(suite: Suite) -> Path:
    """``runs/benchmark/<suite name>`` in the working directory."""
    return Path("runs") / "benchmark" / suite.name


@dataclass
class SuiteOutcome:
    """What :func:`run_suite` did.

    :param results_dir: the results directory
    :param finished: the runs that finished in this call
    :param failed: the runs that failed in this call (each with its traceback)
    :param already_finished: runs found finished in the results directory and not run again
    :param unsupported: algorithm/env pairs left out because the algorithm cannot act in the env
    """

    results_dir: Path
    finished: list[RunResult] = field(default_factory=list)
    failed: list[RunResult] = field(default_factory=list)
    #: runs found finished in the results directory and not run again
    already_finished: list[RunSpec] = field(default_factory=list)
    #: algorithm/env pairs left out because the algorithm cannot act in the env
    unsupported: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.failed


def _duration(seconds: float) -> str:
    seconds = round(seconds)
    hours, rest = divmod(seconds, 3600)
    return f"{hours}h{rest // 60:02d}m" if hours else f"{rest // 60}m{rest % 60:02d}s"


class Progress:
    """Prints a line per completed run: runs done out of the total, failures, elapsed time and an ETA.

    The ETA assumes the remaining runs complete at the rate the runs of this session did.
    """

    def __init__(self, total: int, already_done: int, log: Log = _print) -> None:
        self.total = total
        self.done = already_done
        self.failed = 0
        self.completed = 0
        self.log = log
        self.started = time.monotonic()

    def update(self, result: RunResult) -> None:
        self.done += 1
        self.completed += 1
        self.failed += result.status != "finished"
        elapsed = time.monotonic() - self.started
        remaining = self.total - self.done
        eta = _duration(elapsed / self.completed * remaining) if remaining else "0m00s"
        if result.status == "finished":
            final = result.final_return
            what = f"final return {final:.1f}" if final is not None else "finished"
            what += f", {_duration(result.train_seconds)} training"
            if result.stopped_on == "cpu_seconds":
                steps = result.records[-1]["env_steps"] if result.records else 0
                what += f" (stopped on its CPU budget of {result.run.cpu_seconds:g} s, at {steps:,} steps)"
        else:
            last_line = (result.error or "").strip().splitlines()[-1:] or ["unknown error"]
            what = f"FAILED: {last_line[0]}"
        failed = f", {self.failed} failed" if self.failed else ""
        self.log(
            f"[{self.done}/{self.total} runs done{failed}] {result.run.describe()}: {what} | "
            f"elapsed {_duration(elapsed)}, ETA {eta}"
        )


def check_counts(optional: bool = False, **counts: Any) -> None:
    """Check that each keyword's value is an integer >= 1 (or ``None`` where ``optional``: "the default").

    :raises ConfigError: naming the first keyword with another value
    """
    for name, value in counts.items():
        if optional and value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ConfigError(f"{name} must be an integer >= 1, got {name}={value!r}")


def check_ray_address(address: str | None) -> None:
    """Fail fast, with the address in the message, when a ``HOST:PORT`` Ray address cannot be reached.

    ``None`` (start a local instance) and ``"auto"`` (the cluster started on this machine) are left to Ray.

    :raises ConfigError: for an address that is not ``auto``, ``HOST:PORT`` or ``ray://HOST:PORT``
    :raises ConnectionError: when nothing listens at ``HOST:PORT``
    """
    if address is None or address == "auto":
        return
    host, sep, port = address.split("://", 1)[-1].rpartition(":")
    if not sep or not host or not port.isdigit():
        raise ConfigError(f"ray_address must be 'auto', 'HOST:PORT' or 'ray://HOST:PORT', got ray_address={address!r}")
    try:
        socket.create_connection((host, int(port)), timeout=5).close()
    except OSError as error:
        raise ConnectionError(
            f"cannot reach a Ray cluster at ray_address={address!r} ({error}); start one with `ray start --head` "
            "and pass the address it prints, or use --ray-address auto on a cluster node"
        ) from error


def run_suite(
    suite: Suite,
    results_dir: str | Path | None = None,
    backend: str = "local",
    workers: int | None = None,
    threads_per_run: int | None = None,
    ray_address: str | None = None,
    verbose: bool = True,
    log: Log = _print,
    keep_checkpoints: bool = False,
) -> SuiteOutcome:
    """Run every run of ``suite`` that has not finished yet and store its records under ``results_dir``.

    A failed run is stored with its traceback and does not stop the others; an interrupted suite resumes where it
    stopped when run again. Each run of an algorithm with exact checkpoints saves one every ``suite.checkpoint_every``
    env steps in ``<results>/<label>/<env>/seed_<s>.checkpoints/``; run again, an unfinished run resumes from its latest
    one and ends with the records (timing fields aside) it would have had without the interruption, while runs of
    other algorithms start over. On Ray, a task whose worker or node dies is retried (``max_retries``) and resumes
    the same way, provided every node reaches the results directory (a shared path). The algorithm/env pairs the suite
    skips are merged into the directory's ``skipped.json``
    (:meth:`rrl_sb3.benchmark.store.ResultStore.save_skipped`) for the report.

    :param suite: what to run
    :param results_dir: where results go (default ``runs/benchmark/<suite name>``)
    :param backend: ``"local"`` (a process pool on this machine) or ``"ray"`` (one Ray task per run)
    :param workers: runs at a time on the local backend (default: the machine's cores); with Ray and no
        ``ray_address``, the CPUs of the local Ray instance it starts
    :param threads_per_run: torch threads of each run (local default: cores // workers, at least 1; Ray default:
        the suite's ``num_cpus`` or 1)
    :param ray_address: Ray cluster to join (``"auto"``, ``"HOST:PORT"``, ``"ray://HOST:PORT"``); ``None`` starts
        a local Ray instance
    :param verbose: print a line per evaluation of every run
    :param log: where progress lines go
    :param keep_checkpoints: keep the checkpoints of finished runs (default: removed once the records are written)
    :return: the finished, failed and skipped runs
    """
    if backend not in BACKENDS:
        raise ConfigError(f"backend must be one of {list(BACKENDS)}, got backend={backend!r}")
    check_counts(optional=True, workers=workers, threads_per_run=threads_per_run)
    if backend == "ray":
        check_ray_address(ray_address)  # before anything else: a bad address is an input error
    plan = suite.plan()
    store = ResultStore(results_dir if results_dir is not None else default_results_dir(suite))
    outcome = SuiteOutcome(store.root, unsupported=plan.skipped)
    store.save_skipped(plan.skipped_pairs, planned={(run.label, run.env_id) for run in plan.runs})
    pending: list[RunSpec] = []
    for run in plan.runs:
        marker = store.finished(run)
        if marker is None:
            pending.append(run)
            continue
        outcome.already_finished.append(run)
        config, saved = run.config(), marker.get("config", {})
        if saved != config:
            # over both configs' keys: a budget set for one of them only (cpu_seconds) is a change too
            changed = sorted(k for k in {*config, *saved} if saved.get(k) != config.get(k))
            log(f"note: {run.describe()} finished earlier with other settings ({', '.join(changed)}); delete it to run again")
    for reason in plan.skipped:
        log(f"skipped: {reason}")
    log(
        f"suite {suite.name!r}: {len(plan.runs)} runs, {len(outcome.already_finished)} already finished, "
        f"{len(pending)} to run ({backend} backend) -> {store.root}"
    )
    if not pending:
        return outcome
    progress = Progress(len(plan.runs), len(outcome.already_finished), log)

    def collect(result: RunResult) -> None:
        _store_result(store, result, keep_checkpoints)
        (outcome.finished if result.status == "finished" else outcome.failed).append(result)
        progress.update(result)

    if backend == "local":
        cores = available_cores()
        workers = min(workers or cores, len(pending))
        threads = threads_per_run or max(1, cores // workers)
        if workers * threads > cores:
            log(f"note: {workers} workers x {threads} threads exceed the {cores} cores: runs will slow each other down")
        log(f"local process pool: {workers} workers x {threads} torch threads")
        _run_local(pending, workers, threads, verbose, collect, store)
    else:
        if suite.num_gpus > 0 and suite.device == "cpu":
            log("note: the runs ask Ray for GPUs but build their models on the CPU; set device (--device cuda) to use them")
        threads = threads_per_run or max(1, int(suite.num_cpus or 1))
        num_cpus = suite.num_cpus if suite.num_cpus is not None else threads
        _run_ray(pending, ray_address, workers, threads, num_cpus, suite.num_gpus, verbose, collect, log, store)
    return outcome


def run_one(
    run: RunSpec,
    results_dir: str | Path,
    threads: int = 1,
    verbose: bool = True,
    recorder_class: type[EvalRecorder] | None = None,
    keep_checkpoints: bool = False,
) -> RunResult:
    """Run one run of a plan in this process as :func:`run_suite` would (checkpoints, resuming an interrupted run from
    its latest) and store it under ``results_dir``; for experiment tools whose recorder records more.

    :param run: the run, e.g. ``suite.plan().find(label, env_id, seed)``
    :param results_dir: the results directory it is stored in (``rrl-bench report`` reads it)
    :param threads: torch intra-op threads
    :param verbose: print a line per evaluation
    :param recorder_class: an :class:`~rrl_sb3.benchmark.worker.EvalRecorder` subclass that records more
    :param keep_checkpoints: keep the checkpoints once the run has finished
    :return: the run's result (a failed run is returned, and stored, with its traceback)
    """
    store = ResultStore(results_dir)
    result = execute_run(run, threads, verbose, recorder_class=recorder_class, checkpoint_dir=store.checkpoint_dir(run))
    _store_result(store, result, keep_checkpoints)
    return result


def _store_result(store: ResultStore, result: RunResult, keep_checkpoints: bool) -> None:
    store.save(result)
    if result.status == "finished" and not keep_checkpoints:
        store.remove_checkpoints(result.run)


def _failure(run: RunSpec, what: str) -> RunResult:
    return RunResult(run, "failed", error=f"{what}\n{traceback.format_exc()}")


def local_pool(workers: int) -> ProcessPoolExecutor:
    """A process pool whose workers are fresh interpreters (spawn) that end with this process, even a SIGKILLed one."""
    # spawn: fork would copy torch's thread pools and any state of the caller
    context = multiprocessing.get_context("spawn")
    return ProcessPoolExecutor(max_workers=workers, mp_context=context, initializer=exit_with_parent, initargs=(os.getpid(),))


def stop_pool(pool: ProcessPoolExecutor) -> None:
    """Stop ``pool`` now, its busy workers included (interrupted: the runs must not train on as orphans)."""
    # ProcessPoolExecutor can only stop busy workers directly before Python 3.14's terminate_workers()
    processes = list((getattr(pool, "_processes", None) or {}).values())
    pool.shutdown(wait=False, cancel_futures=True)
    for process in processes:
        process.terminate()


def future_result(future: Future, run: RunSpec) -> RunResult:
    """The result of a finished pool future running ``run``; a failed run if its worker process died (killed, out of
    memory), so that the others go on."""
    try:
        return future.result()
    except Exception:
        return _failure(run, "the worker process running this run died")


def ray_result(ray: Any, ref: Any, run: RunSpec) -> RunResult:
    """The result of a finished Ray task running ``run``; a failed run if its worker died or it was cancelled."""
    try:
        return ray.get(ref)
    except Exception:
        return _failure(run, "the Ray task running this run failed")


def _run_local(
    runs: Sequence[RunSpec],
    workers: int,
    threads: int,
    verbose: bool,
    collect: Callable[[RunResult], None],
    store: ResultStore,
) -> None:
    pool = local_pool(workers)
    try:
        futures = {
            pool.submit(execute_run, run, threads, verbose, checkpoint_dir=store.checkpoint_dir(run)): run for run in runs
        }
        for future in as_completed(futures):
            collect(future_result(future, futures[future]))
    except BaseException:  # Ctrl-C, or SIGTERM through the CLI
        stop_pool(pool)
        raise
    pool.shutdown()


@contextmanager
def ray_tasks(address: str | None, workers: int | None, verbose: bool) -> Iterator[tuple[Any, dict[Any, Any]]]:
    """The ``ray`` module, connected (to ``address``, or a local instance of ``workers`` CPUs when ``None``), and a dict
    in which the caller keeps its tasks in flight (keyed by their refs): on an exception (Ctrl-C, SIGTERM) those are
    cancelled, and a Ray instance started here is shut down on the way out.

    :raises ImportError: without Ray, naming the extra
    :raises ConnectionError: when the cluster cannot be reached
    """
    try:
        import ray
    except ImportError as error:
        raise ImportError(f"the ray backend needs Ray: {RAY_INSTALL_HINT}") from error

    started_here = not ray.is_initialized()
    if started_here:
        kwargs: dict = {"address": address, "log_to_driver": verbose, "logging_level": "WARNING"}
        if address is None:  # a local instance: size it, and skip the dashboard it does not need
            kwargs.update(num_cpus=workers or available_cores(), include_dashboard=False)
        try:
            ray.init(**kwargs)
        except (ConnectionError, RuntimeError, ValueError) as error:
            raise ConnectionError(f"cannot connect to a Ray cluster at ray_address={address!r}: {error}") from error
    in_flight: dict[Any, Any] = {}
    try:
        yield ray, in_flight
    except BaseException:
        for ref in in_flight:
            ray.cancel(ref, force=True)
        raise
    finally:
        if started_here:
            ray.shutdown()


def _run_ray(
    runs: Sequence[RunSpec],
    address: str | None,
    workers: int | None,
    threads: int,
    num_cpus: float,
    num_gpus: float,
    verbose: bool,
    collect: Callable[[RunResult], None],
    log: Log,
    store: ResultStore,
) -> None:
    with ray_tasks(address, workers, verbose) as (ray, refs):
        resources = ray.cluster_resources()
        log(
            f"ray: {resources.get('CPU', 0):g} CPUs, {resources.get('GPU', 0):g} GPUs in the cluster; "
            f"each run asks {num_cpus:g} CPU, {num_gpus:g} GPU"
        )
        # a task whose worker process or node dies is retried; it resumes from the run's latest checkpoint
        task = ray.remote(num_cpus=num_cpus, num_gpus=num_gpus, max_retries=RAY_MAX_RETRIES)(execute_run)
        refs.update(
            {task.remote(run, threads, verbose, checkpoint_dir=str(store.checkpoint_dir(run).resolve())): run for run in runs}
        )
        while refs:
            ready, _ = ray.wait(list(refs), num_returns=1)
            for ref in ready:
                collect(ray_result(ray, ref, refs.pop(ref)))
