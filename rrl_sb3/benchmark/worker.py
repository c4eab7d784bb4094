"""One run: train with periodic evaluation following the protocol of DESIGN.md, and return its records.

This is what a process-pool worker or a Ray task executes; it writes nothing but its checkpoints (given a checkpoint
directory), the driver stores the result.

Checkpoints: a run of an algorithm with exact checkpoints (``save_checkpoint``: Dreamer, RecurrentSAC, REINFORCE) saves
one every ``run.checkpoint_every`` env steps into its checkpoint directory (:data:`CHECKPOINT_PREFIX`
``_<steps>_steps/``, the last :data:`KEEP_CHECKPOINTS` kept), the evaluation recorder's state included
(:data:`RUN_STATE_FILE`); started again after an interruption, it resumes from the latest complete one and ends with the
records (timing fields aside) of a run that was never interrupted. Other algorithms (SB3's and sb3-contrib's) start over.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import json
import os
import platform
import shutil
import signal
import sys
import threading
import time
import traceback
from collections.abc import Callable
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
import torch as th
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.evaluation import evaluate_policy
from stable_baselines3.common.vec_env import VecEnv, sync_envs_normalization

from rrl_sb3.benchmark.algorithms import build_model, make_env_pair
from rrl_sb3.benchmark.hyperparams import prepare
from rrl_sb3.benchmark.records import RunResult, RunSpec  # RunResult: defined in records.py, importable from here
from rrl_sb3.benchmark.store import CHECKPOINT_PREFIX
from rrl_sb3.common.checkpoints import RESUME_FILE, ResumableCheckpointCallback, checkpoints, latest_checkpoint
from rrl_sb3.common.precision import cpu_bf16_units, cpu_model

#: the runner's own file in each checkpoint: the evaluation recorder's state and the run's earlier resumptions
RUN_STATE_FILE = "run_state.json"
#: checkpoints kept per unfinished run (the newest two: a run killed while writing one resumes from the other)
KEEP_CHECKPOINTS = 2

#: Linux ``prctl`` option: the signal the kernel sends this process when its parent dies (``<linux/prctl.h>``).
PR_SET_PDEATHSIG = 1
#: Seconds between two checks of the parent by the portable fallback (:func:`exit_with_parent`).
PARENT_POLL_SECONDS = 1.0


def _set_parent_death_signal(signum: int) -> bool:
    """Ask Linux to send ``signum`` to this process when its parent dies; ``False`` where that is not available."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        return libc.prctl(PR_SET_PDEATHSIG, signum, 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


def _watch_parent(parent_pid: int, interval: float) -> None:
    # a process whose parent died is re-parented (to init or a subreaper): its parent id changes
    while os.getppid() == parent_pid:
        time.sleep(interval)
    os._exit(1)


def exit_with_parent(parent_pid: int, interval: float = PARENT_POLL_SECONDS) -> None:
    """Make this worker process end when the driver ``parent_pid`` dies, however it dies (SIGKILL included).

    The initializer of the local process pool's workers (spawned, so the driver is their parent). On Linux the kernel
    kills the worker the moment its parent dies (``prctl(PR_SET_PDEATHSIG, SIGKILL)``); everywhere, a daemon thread
    also checks every ``interval`` seconds that the parent is still ``parent_pid`` and ends the process if it is not.
    The parent may already have died before this runs: that is checked once the signal is set. Once every worker is
    gone, multiprocessing's resource tracker, whose pipe the driver and the workers held, sees it closed and exits too.

    :param parent_pid: process id of the driver, as the driver saw it (``os.getpid()`` there)
    :param interval: seconds between two checks of the fallback thread
    """
    _set_parent_death_signal(signal.SIGKILL)
    if os.getppid() != parent_pid:  # the driver died before the signal was set
        os._exit(1)
    threading.Thread(target=_watch_parent, args=(parent_pid, interval), name="exit-with-parent", daemon=True).start()


class EvalRecorder(BaseCallback):
    """Evaluate every ``eval_freq`` env steps and once more at the end; one record per evaluation.

    An evaluation runs ``n_eval_episodes`` deterministic episodes through SB3's ``evaluate_policy`` (which threads the
    recurrent state of recurrent policies) on ``eval_env``, reseeded with ``eval_seed`` before each evaluation so that
    every evaluation, and every algorithm, sees the same episodes. The final evaluation, at the end of training, runs
    ``final_n_eval_episodes`` episodes so that a run's final return carries a usable error bar; a periodic evaluation
    that would fall on the last step is left to it. With ``n_envs > 1`` the step count grows by
    ``n_envs`` per callback, so an evaluation happens when ``num_timesteps`` crosses a multiple of ``eval_freq``.
    The wall clock and the CPU time (``time.process_time``: this process, all its threads) of a record are training
    time only: evaluations are excluded. A ``VecNormalize`` eval env gets the training statistics before each
    evaluation.

    With ``cpu_budget``, training stops (``_on_step`` returns ``False``) at the first step at which the training CPU
    time has reached it; the final evaluation then happens at that step, as at the end of ``total_timesteps``, and its
    record says ``"stopped_on": "cpu_seconds"``.

    With ``should_stop`` (a tuning trial's pruner), each periodic record is handed to it; when it answers ``True``
    training stops there and no final evaluation follows (:attr:`stopped_early`).

    :param eval_env: the evaluation env (one env), wrapped like the training env
    :param eval_freq: env steps between evaluations
    :param n_eval_episodes: episodes per evaluation
    :param eval_seed: seed of the evaluation env
    :param meta: fields copied into every record (algorithm, env id, seed)
    :param on_record: called with each record (e.g. to print it)
    :param final_n_eval_episodes: episodes of the final evaluation (``None``: ``n_eval_episodes``)
    :param cpu_budget: training CPU seconds after which training stops (``None``: no CPU budget)
    :param should_stop: called with each periodic record; ``True`` stops training (``None``: never)
    """

    def __init__(
        self,
        eval_env: VecEnv,
        eval_freq: int,
        n_eval_episodes: int = 10,
        eval_seed: int = 1000,
        meta: dict[str, Any] | None = None,
        on_record: Callable[[dict[str, Any]], None] | None = None,
        final_n_eval_episodes: int | None = None,
        cpu_budget: float | None = None,
        should_stop: Callable[[dict[str, Any]], bool] | None = None,
    ) -> None:
        super().__init__()
        final_n_eval_episodes = n_eval_episodes if final_n_eval_episodes is None else final_n_eval_episodes
        if eval_freq < 1 or n_eval_episodes < 1 or final_n_eval_episodes < 1:
            raise ValueError(
                f"eval_freq, n_eval_episodes and final_n_eval_episodes must be >= 1, got {eval_freq=}, "
                f"{n_eval_episodes=}, {final_n_eval_episodes=}"
            )
        if cpu_budget is not None and not 0 < cpu_budget < float("inf"):
            raise ValueError(f"cpu_budget must be a positive number of CPU seconds or None, got {cpu_budget=}")
        self.eval_env = eval_env
        self.eval_freq = eval_freq
        self.n_eval_episodes = n_eval_episodes
        self.final_n_eval_episodes = final_n_eval_episodes
        self.cpu_budget = cpu_budget
        #: whether training stopped because its CPU time reached ``cpu_budget``
        self.stopped_on_cpu_budget = False
        self.should_stop = should_stop
        #: whether ``should_stop`` stopped training
        self.stopped_early = False
        self.eval_seed = eval_seed
        self.meta = dict(meta or {})
        self.on_record = on_record
        self.records: list[dict[str, Any]] = []
        self.eval_seconds = 0.0
        self.eval_cpu_seconds = 0.0
        self._start = time.perf_counter()
        self._cpu_start = time.process_time()
        self._next_eval = eval_freq
        self._last_eval_step: int | None = None
        self._restored: dict[str, Any] | None = None

    def _on_training_start(self) -> None:
        self._start = time.perf_counter()
        self._cpu_start = time.process_time()
        self.eval_seconds = 0.0
        self.eval_cpu_seconds = 0.0
        self._next_eval = self.eval_freq
        self._last_eval_step = None
        self.stopped_on_cpu_budget = False
        self.stopped_early = False
        if self._restored is not None:  # a resumed run: go on from the checkpointed state
            state, self._restored = self._restored, None
            # under this run's names (a tuning trial run again is a new trial)
            self.records = [{**record, **self.meta} for record in state["records"]]
            self._next_eval = int(state["next_eval"])
            self._last_eval_step = state["last_eval_step"]
            self.eval_seconds, self.eval_cpu_seconds = float(state["eval_seconds"]), float(state["eval_cpu_seconds"])
            # the clocks continue from where the checkpoint left them
            self._start -= float(state["train_seconds"]) + self.eval_seconds
            self._cpu_start -= float(state["train_cpu_seconds"]) + self.eval_cpu_seconds

    def state_dict(self) -> dict[str, Any]:
        """What resuming the recorder needs (JSON-serialisable): the records so far, the next evaluation's step and the
        training and evaluation clocks."""
        return {
            "records": self.records,
            "next_eval": self._next_eval,
            "last_eval_step": self._last_eval_step,
            "train_seconds": self.train_seconds,
            "train_cpu_seconds": self.train_cpu_seconds,
            "eval_seconds": self.eval_seconds,
            "eval_cpu_seconds": self.eval_cpu_seconds,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Resume from :meth:`state_dict` at the next ``learn`` (``reset_num_timesteps=False``)."""
        self._restored = state

    def _on_step(self) -> bool:
        if self.cpu_budget is not None and self.train_cpu_seconds >= self.cpu_budget:
            # before any periodic evaluation: the evaluation at this step is the final one, in _on_training_end
            self.stopped_on_cpu_budget = True
            return False
        # the last step's evaluation is the final one, with more episodes, at the end of training
        at_end = self.num_timesteps >= getattr(self.model, "_total_timesteps", float("inf"))
        if self.num_timesteps >= self._next_eval and not at_end:
            record = self.evaluate()
            self._next_eval = (self.num_timesteps // self.eval_freq + 1) * self.eval_freq
            if self.should_stop is not None and self.should_stop(record):
                self.stopped_early = True
                return False
        return True

    def _on_training_end(self) -> None:
        if self._last_eval_step != self.num_timesteps and not self.stopped_early:
            self.evaluate(self.final_n_eval_episodes)

    @property
    def train_seconds(self) -> float:
        """Training wall clock so far, without evaluations."""
        return time.perf_counter() - self._start - self.eval_seconds

    @property
    def train_cpu_seconds(self) -> float:
        """Training CPU time of this process so far, without evaluations."""
        return time.process_time() - self._cpu_start - self.eval_cpu_seconds

    def episodes(self, n_episodes: int, deterministic: bool = True) -> tuple[np.ndarray, list[int]]:
        """Returns and lengths of ``n_episodes`` episodes on the evaluation env, reseeded with ``eval_seed`` (the same
        episodes at every call), the training normalisation statistics copied in first; counted as evaluation time."""
        began, cpu_began = time.perf_counter(), time.process_time()
        if self.model.get_vec_normalize_env() is not None:
            sync_envs_normalization(self.model.get_env(), self.eval_env)  # type: ignore[arg-type]
        self.eval_env.seed(self.eval_seed)
        returns, lengths = evaluate_policy(
            self.model, self.eval_env, n_eval_episodes=n_episodes, deterministic=deterministic, return_episode_rewards=True
        )
        self.eval_seconds += time.perf_counter() - began
        self.eval_cpu_seconds += time.process_time() - cpu_began
        return np.asarray(returns, dtype=np.float64), list(lengths)  # type: ignore[arg-type]

    def evaluate(self, n_episodes: int | None = None) -> dict[str, Any]:
        """Evaluate now (``n_episodes``, default ``n_eval_episodes``) and append the record."""
        train_seconds, train_cpu_seconds = self.train_seconds, self.train_cpu_seconds
        returns_, lengths = self.episodes(n_episodes or self.n_eval_episodes)
        record = {
            **self.meta,
            "env_steps": int(self.num_timesteps),
            "wall_seconds": round(train_seconds, 2),
            # on a shared machine the wall clock measures the load as much as the algorithm; CPU time does not
            "cpu_seconds": round(train_cpu_seconds, 2),
            "updates": int(getattr(self.model, "_n_updates", 0)),
            "mean_return": float(returns_.mean()),
            "std_return": float(returns_.std()),
            "mean_length": float(np.mean(lengths)),
            "returns": [float(r) for r in returns_],
            "lengths": [int(n) for n in lengths],
        }
        if self.stopped_on_cpu_budget:  # only the final evaluation comes after training stopped
            record["stopped_on"] = "cpu_seconds"
        self.records.append(record)
        self._last_eval_step = self.num_timesteps
        if self.on_record is not None:
            self.on_record(record)
        return record


def environment_info(threads: int) -> dict[str, Any]:
    """Where a run ran: host, CPU model and its native bf16 units (runs compare only on the same CPU), cores, torch
    threads and the versions of the packages that decide its numbers."""
    versions: dict[str, str | None] = {}
    for package in ("rrl-sb3", "torch", "numpy", "gymnasium", "stable-baselines3", "sb3-contrib"):
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = None
    return {
        "host": platform.node(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "cpu_model": cpu_model(),
        "cpu_bf16": cpu_bf16_units(),
        "cpu_count": os.cpu_count(),
        "torch_threads": threads,
        "versions": versions,
    }


def execute_run(
    run: RunSpec,
    threads: int = 1,
    verbose: bool = True,
    recorder_class: type[EvalRecorder] | None = None,
    should_stop: Callable[[dict[str, Any]], bool] | None = None,
    checkpoint_dir: str | os.PathLike[str] | None = None,
) -> RunResult:
    """Train and evaluate one run; never raises for a failure of the run itself (it is returned with its traceback).

    With ``checkpoint_dir`` and ``run.checkpoint_every > 0``, an algorithm with exact checkpoints saves one there every
    ``run.checkpoint_every`` env steps and, when the directory already holds a complete one (the run was interrupted),
    resumes from the latest (see the module docstring); the result's ``resumed`` lists each resumption. The
    checkpoints stay: the driver removes them once it has stored the result.

    :param run: the run
    :param threads: torch intra-op threads of this run
    :param verbose: print a line per evaluation
    :param recorder_class: an :class:`EvalRecorder` subclass that records more at each evaluation (experiments)
    :param should_stop: :class:`EvalRecorder`'s early stop (a tuning trial's pruner; picklable for the worker)
    :param checkpoint_dir: the run's checkpoint directory (``None``: no checkpoints)
    """
    started = time.perf_counter()
    result = RunResult(run, "failed", info=environment_info(threads))

    def report(record: dict[str, Any]) -> None:
        if verbose:
            print(
                f"  {run.describe()}: {record['env_steps']} steps, return {record['mean_return']:.1f} "
                f"± {record['std_return']:.1f}, {record['wall_seconds']:.0f} s training"
                + (" (stopped on its CPU budget)" if record.get("stopped_on") == "cpu_seconds" else ""),
                flush=True,
            )

    recorder: EvalRecorder | None = None
    try:
        th.set_num_threads(threads)
        prepared = prepare(run.hyperparams, run.where)
        train_env, eval_env = make_env_pair(run.env_id, prepared, run.seed, run.eval_seed)
        try:
            cls = run.algo.load_class()
            directory = Path(checkpoint_dir) if checkpoint_dir is not None and run.checkpoint_every > 0 else None
            if directory is not None and not hasattr(cls, "load_checkpoint"):
                if verbose:
                    print(f"  {run.describe()}: {cls.__name__} has no exact checkpoints: an interrupted run starts over")
                directory = None
            resume_from = _resumable_checkpoint(directory, run, verbose) if directory is not None else None
            state: dict[str, Any] = {"resumed": []}
            if resume_from is not None:
                model = cls.load_checkpoint(resume_from, env=train_env, device=run.device)  # type: ignore[attr-defined]
                state = json.loads((resume_from / RUN_STATE_FILE).read_text())
                state["resumed"].append({"env_steps": int(model.num_timesteps), "checkpoint": resume_from.name})
                if verbose:
                    print(f"  {run.describe()}: resumed from {resume_from} ({model.num_timesteps} env steps)", flush=True)
            else:
                model = build_model(run.algo, prepared, train_env, run.seed, run.device, run.where)
            meta = {"algo": run.label, "env": run.env_id, "seed": run.seed}
            recorder = (recorder_class or EvalRecorder)(
                eval_env,
                run.eval_freq,
                run.n_eval_episodes,
                run.eval_seed,
                meta,
                report,
                run.final_n_eval_episodes,
                run.cpu_seconds,
                should_stop,
            )
            result.resumed = state["resumed"]
            if resume_from is not None:
                recorder.load_state_dict(state["recorder"])
                if should_stop is not None:  # a tuning trial run again: its pruner gets the evaluations it missed
                    for record in state["recorder"]["records"]:
                        should_stop(record)
            callbacks: list[BaseCallback] = [recorder]
            if directory is not None:
                active = recorder

                def write_state(path: Path) -> None:
                    text = json.dumps({"config": _settings(run), "recorder": active.state_dict(), "resumed": state["resumed"]})
                    (path / RUN_STATE_FILE).write_text(text)

                save_freq = max(1, run.checkpoint_every // train_env.num_envs)
                callbacks.append(
                    ResumableCheckpointCallback(save_freq, directory, CHECKPOINT_PREFIX, KEEP_CHECKPOINTS, on_save=write_state)
                )
            model.learn(run.n_timesteps - model.num_timesteps, callback=callbacks, reset_num_timesteps=resume_from is None)
        finally:
            train_env.close()
            eval_env.close()
        result.status = "finished"
        result.stopped_on = (
            "should_stop" if recorder.stopped_early else "cpu_seconds" if recorder.stopped_on_cpu_budget else "n_timesteps"
        )
    except Exception:
        result.error = traceback.format_exc()
    if recorder is not None:
        result.records = recorder.records
        result.train_seconds = recorder.train_seconds if result.status == "failed" else _last_wall(recorder)
        result.eval_seconds = recorder.eval_seconds
    result.total_seconds = time.perf_counter() - started
    return result


def _settings(run: RunSpec) -> dict[str, Any]:
    """What a checkpoint must have been taken with to resume ``run``: its config but the label (a tuning trial run
    again is a new trial of the same settings)."""
    return {key: value for key, value in run.config().items() if key != "algo"}


def _resumable_checkpoint(directory: Path, run: RunSpec, verbose: bool) -> Path | None:
    """The latest complete checkpoint of ``run`` in ``directory`` (``None`` if none); incomplete ones (a run killed
    while writing one) are removed, and all of them when they were taken with another config (the suite's settings
    changed since: resuming would train on with the old ones), so that the run starts over."""
    latest = latest_checkpoint(directory, CHECKPOINT_PREFIX)
    if latest is not None and not (latest / RUN_STATE_FILE).is_file():  # written before resume.pkl: cannot happen
        raise ValueError(f"{latest} has {RESUME_FILE} but no {RUN_STATE_FILE}: not a checkpoint of rrl-bench")
    saved = json.loads((latest / RUN_STATE_FILE).read_text()).get("config") if latest is not None else None
    stale = saved is not None and saved != _settings(run)
    if stale and verbose:
        print(f"  {run.describe()}: its checkpoints were taken with other settings: it starts over", flush=True)
    for path in checkpoints(directory, CHECKPOINT_PREFIX):
        if stale or not (path / RESUME_FILE).is_file():
            shutil.rmtree(path, ignore_errors=True)
    return None if stale else latest


def _last_wall(recorder: EvalRecorder) -> float:
    # the final evaluation happened at the end of training: its record holds the training wall clock
    return float(recorder.records[-1]["wall_seconds"]) if recorder.records else recorder.train_seconds
