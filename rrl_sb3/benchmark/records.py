"""The plain records of the benchmark runner: a run to do (:class:`RunSpec`), what it produced (:class:`RunResult`),
what a results directory holds for it (:class:`RunData`) and a pair a suite leaves out (:class:`SkippedPair`).

A module of their own, below everything that reads or writes them (the store, the suites, the worker, the runner and
the report), so that each of those imports them from here and none imports another for its types. Each is also
importable from where it was defined before: :class:`RunSpec` from ``suite``, :class:`RunResult` from ``worker``,
:class:`RunData` from ``report`` and :class:`SkippedPair` from ``store``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # annotations only: reading results needs neither the algorithms nor torch
    from rrl_sb3.benchmark.algorithms import AlgoSpec

#: The evaluation env of seed ``s`` is seeded ``EVAL_SEED_OFFSET + s``.
EVAL_SEED_OFFSET = 1_000
#: Episodes of a periodic evaluation, and of the final one (enough for an error bar on a run's final return).
N_EVAL_EPISODES = 10
FINAL_N_EVAL_EPISODES = 50


@dataclass(frozen=True)
class RunSpec:
    """One run, fully resolved: everything a worker needs, picklable, and its JSON config.

    :param label: name of the run's algorithm entry in results and tables
    :param algo: the registered algorithm
    :param env_id: Gymnasium env id
    :param seed: training seed (the evaluation env is seeded ``1000 + seed``)
    :param n_timesteps: budget in env steps
    :param eval_freq: env steps between evaluations
    :param n_eval_episodes: deterministic episodes per periodic evaluation
    :param hyperparams: the algorithm's resolved settings (hyperparameter file and overrides)
    :param device: torch device of the model
    :param final_n_eval_episodes: deterministic episodes of the final evaluation
    :param cpu_seconds: CPU budget (``None``: none): the run stops once its training CPU time reaches it
    :param checkpoint_every: env steps between two checkpoints of the run (``0``: none); not part of its
        :meth:`config`, since checkpoints change none of its numbers
    """

    label: str
    algo: AlgoSpec
    env_id: str
    seed: int
    n_timesteps: int
    eval_freq: int
    n_eval_episodes: int
    hyperparams: Mapping[str, Any]
    device: str = "cpu"
    final_n_eval_episodes: int = FINAL_N_EVAL_EPISODES
    cpu_seconds: float | None = None
    checkpoint_every: int = 0

    @property
    def eval_seed(self) -> int:
        return EVAL_SEED_OFFSET + self.seed

    @property
    def where(self) -> str:
        return f"{self.label} on {self.env_id} (hyperparameters of {self.algo.file_stem!r})"

    def describe(self) -> str:
        return f"{self.label} {self.env_id} seed {self.seed}"

    def config(self) -> dict[str, Any]:
        """What identifies the run's result (saved with it; a finished run with another config is reported).

        The CPU budget is part of it only when set, so runs without one keep the config they were saved with.
        """
        config = {
            "algo": self.label,
            "algorithm": self.algo.name,
            "env": self.env_id,
            "seed": self.seed,
            "n_timesteps": self.n_timesteps,
            "eval_freq": self.eval_freq,
            "n_eval_episodes": self.n_eval_episodes,
            "final_n_eval_episodes": self.final_n_eval_episodes,
            "eval_seed": self.eval_seed,
            "hyperparams": dict(self.hyperparams),
            "device": self.device,
        }
        if self.cpu_seconds is not None:
            config["cpu_seconds"] = self.cpu_seconds
        return json.loads(json.dumps(config, default=str))


@dataclass
class RunResult:
    """What a run produced: its records, and how it ended (``"finished"`` or ``"failed"`` with the traceback).

    :param run: the run
    :param status: ``"finished"`` or ``"failed"``
    :param records: one record per evaluation (the lines of the run's ``seed_<s>.jsonl``)
    :param error: the traceback of a failed run
    :param train_seconds: training wall-clock seconds (evaluations excluded)
    :param eval_seconds: wall-clock seconds spent evaluating
    :param total_seconds: wall-clock seconds of the whole run
    :param info: where the run ran: host, CPU model and its bf16 units, cores, torch threads, package versions
    :param stopped_on: what ended a finished run: ``"n_timesteps"`` or ``"cpu_seconds"`` (its budgets), or
        ``"should_stop"`` (a tuning trial stopped by its pruner: no final evaluation)
    :param resumed: one entry per time the run resumed from a checkpoint after an interruption, oldest first:
        ``{"env_steps": ..., "checkpoint": <directory name>}``
    """

    run: RunSpec
    status: str
    records: list[dict[str, Any]] = field(default_factory=list)
    error: str | None = None
    train_seconds: float = 0.0
    eval_seconds: float = 0.0
    total_seconds: float = 0.0
    info: dict[str, Any] = field(default_factory=dict)
    stopped_on: str | None = None
    resumed: list[dict[str, Any]] = field(default_factory=list)

    @property
    def final_return(self) -> float | None:
        return self.records[-1]["mean_return"] if self.records else None


@dataclass
class RunData:
    """The records of one run, read back from a results directory."""

    algo: str
    env: str
    seed: int
    records: list[dict[str, Any]]
    marker: dict[str, Any] | None = None
    error: str | None = None

    @property
    def steps(self) -> list[int]:
        return [int(r["env_steps"]) for r in self.records]

    @property
    def returns(self) -> list[float]:
        return [float(r["mean_return"]) for r in self.records]

    @property
    def train_seconds(self) -> float:
        return float(self.records[-1]["wall_seconds"]) if self.records else float("nan")

    @property
    def train_cpu_seconds(self) -> float:
        """``nan`` for records written before CPU time was recorded."""
        value = self.records[-1].get("cpu_seconds") if self.records else None
        return float("nan") if value is None else float(value)

    @property
    def cpu_seconds(self) -> list[float] | None:
        """The training CPU time of each evaluation; ``None`` unless every record carries it.

        A run stopped on its CPU budget checks the budget once per step, so it ends a fraction of a step past it; its
        final evaluation counts as at the budget, so that runs with the same budget meet at it.
        """
        if not self.records or any(r.get("cpu_seconds") is None for r in self.records):
            return None
        seconds = [float(r["cpu_seconds"]) for r in self.records]
        budget = (self.marker or {}).get("config", {}).get("cpu_seconds")
        if budget is not None and self.records[-1].get("stopped_on") == "cpu_seconds":
            seconds[-1] = min(seconds[-1], float(budget))
        return seconds


@dataclass(frozen=True)
class SkippedPair:
    """An algorithm/env pair a suite leaves out: the algorithm cannot act in the env's action space.

    :param algo: the algorithm entry's label
    :param algorithm: the registered algorithm name
    :param env: the Gymnasium env id
    :param action_space: the name of the env's action space class (``"Discrete"``)
    :param supported: the action space classes the algorithm supports
    """

    algo: str
    algorithm: str
    env: str
    action_space: str
    supported: tuple[str, ...]

    @property
    def reason(self) -> str:
        """Why the suite skips it, e.g. ``"sac on rrl_sb3/CartPoleNoVel-v1: sac supports Box actions, the env has
        Discrete"``."""
        return (
            f"{self.algo} on {self.env}: {self.algorithm} supports {'/'.join(self.supported)} actions, "
            f"the env has {self.action_space}"
        )

    @property
    def cell(self) -> str:
        """What the report's overview says for it, e.g. ``"n/a: Discrete actions"``."""
        return f"n/a: {self.action_space} actions"

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SkippedPair:
        return cls(
            str(data["algo"]), str(data["algorithm"]), str(data["env"]), str(data["action_space"]), tuple(data["supported"])
        )


__all__ = [
    "EVAL_SEED_OFFSET",
    "FINAL_N_EVAL_EPISODES",
    "N_EVAL_EPISODES",
    "RunData",
    "RunResult",
    "RunSpec",
    "SkippedPair",
]
