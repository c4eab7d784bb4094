"""Suites: algorithms x env ids x seeds x budget, from a YAML file, from flags or from Python.

A suite file (``benchmarks/suites/*.yml``)::

    name: quick_comparison
    seeds: [0, 1]                 # or a count: 2 means [0, 1]
    n_timesteps: 16000            # budget of every run (else the env's, else the hyperparameter file's)
    cpu_seconds: 600              # optional: stop a run once its training CPU time (evaluations excluded) reaches it
    eval_freq: 2000               # env steps between evaluations (default: see default_eval_freq)
    n_eval_episodes: 10           # episodes of each periodic evaluation
    final_n_eval_episodes: 50     # episodes of the final evaluation (its error bar)
    checkpoint_every: 10000       # env steps between checkpoints an interrupted run resumes from (0: none)
    hyperparams_dir: ../hyperparams   # relative to this file (default: the package's rrl_sb3/hyperparams/)
    device: cpu
    resources: {num_cpus: 1, num_gpus: 0}   # what each run asks of a Ray cluster
    algos:
      - dreamer
      - recurrent_ppo_lstm
      - algo: reinforce_gru       # the long form: a label, setting overrides, its own budgets or eval_freq
        label: reinforce_gru_lr3e-3
        hyperparams: {learning_rate: !!float 3e-3}
    envs:
      - rrl_sb3/PendulumNoVel-v1
      - {id: rrl_sb3/CartPoleNoVel-v1, n_timesteps: 50000, cpu_seconds: 300}

The budget of a run is, first found: its algorithm entry's ``n_timesteps``, its env entry's, the suite's, the
hyperparameter file's. Its CPU budget (optional) is, first found: its algorithm entry's ``cpu_seconds``, its env
entry's, the suite's; a run stops at whichever budget it reaches first (:class:`rrl_sb3.benchmark.EvalRecorder`
measures the CPU time), so with a CPU budget ``n_timesteps`` is the upper bound on env steps. Runs are ordered
algorithm by algorithm in the suite's order (list the slowest first: the process pool starts them first), then env,
then seed.
"""

from __future__ import annotations

import dataclasses
import difflib
import importlib
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import gymnasium as gym

import rrl_sb3  # noqa: F401  (registers the rrl_sb3/ ids)
from rrl_sb3.benchmark.algorithms import AlgoSpec, check_device, check_model_builds, get_algorithm, model_arguments
from rrl_sb3.benchmark.errors import ConfigError
from rrl_sb3.benchmark.hyperparams import (
    PACKAGED_HYPERPARAMS_DIR,
    as_int_at_least,
    as_positive_int,
    as_positive_number,
    load_hyperparams,
    load_yaml,
    parse_number,
    prepare,
)

# RunSpec, SkippedPair and the evaluation constants live in records.py, below the store and the worker that use them
# too; they stay importable from here, their former home.
from rrl_sb3.benchmark.records import (
    EVAL_SEED_OFFSET,  # noqa: F401  (re-exported)
    FINAL_N_EVAL_EPISODES,
    N_EVAL_EPISODES,
    RunData,
    RunSpec,
    SkippedPair,
)

#: Evaluation protocol (DESIGN.md): every 2,000 env steps; 10,000 for on-policy runs of 100,000 steps or more.
EVAL_FREQ = 2_000
#: env steps between two checkpoints of a run (``checkpoint_every``): a Dreamer run of the committed suites writes one
#: every few CPU minutes
CHECKPOINT_EVERY = 10_000
LONG_ON_POLICY_EVAL_FREQ = 10_000
LONG_RUN = 100_000

_LABEL = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.+-]*$")
_SUITE_KEYS = (
    "name",
    "algos",
    "envs",
    "seeds",
    "n_timesteps",
    "cpu_seconds",
    "eval_freq",
    "n_eval_episodes",
    "final_n_eval_episodes",
    "checkpoint_every",
    "hyperparams_dir",
    "device",
    "resources",
)
_ALGO_KEYS = ("algo", "label", "hyperparams", "n_timesteps", "cpu_seconds", "eval_freq")
_ENV_KEYS = ("id", "n_timesteps", "cpu_seconds")
_RESOURCE_KEYS = ("num_cpus", "num_gpus")


def default_eval_freq(spec: AlgoSpec, n_timesteps: int) -> int:
    """The protocol's evaluation frequency: 10,000 steps for on-policy runs of 100,000+ steps, else 2,000."""
    return LONG_ON_POLICY_EVAL_FREQ if spec.on_policy and n_timesteps >= LONG_RUN else EVAL_FREQ


@dataclass(frozen=True)
class AlgoEntry:
    """One algorithm of a suite.

    :param algo: registered algorithm name (see :data:`rrl_sb3.benchmark.ALGORITHMS`)
    :param label: name of its runs in results and tables (default: ``algo``); letters, digits, ``_.+-``
    :param hyperparams: settings over those of the hyperparameter file
    :param n_timesteps: budget of its runs, over the env's and the suite's
    :param eval_freq: evaluation frequency of its runs, over the suite's
    :param cpu_seconds: CPU budget of its runs (training CPU seconds), over the env's and the suite's
    """

    algo: str
    label: str | None = None
    hyperparams: Mapping[str, Any] = field(default_factory=dict)
    n_timesteps: int | None = None
    eval_freq: int | None = None
    cpu_seconds: float | None = None

    @property
    def name(self) -> str:
        return self.label or self.algo


@dataclass(frozen=True)
class EnvEntry:
    """One environment of a suite: a Gymnasium id and optionally its budget and CPU budget (training CPU seconds).

    :param id: Gymnasium env id
    :param n_timesteps: budget of its runs, over the suite's (``None``: the suite's)
    :param cpu_seconds: CPU budget of its runs (training CPU seconds), over the suite's (``None``: the suite's)
    """

    id: str
    n_timesteps: int | None = None
    cpu_seconds: float | None = None


@dataclass(frozen=True)
class Plan:
    """The runs of a suite, and the algorithm/env pairs left out because the algorithm cannot act in the env."""

    runs: list[RunSpec]
    skipped_pairs: list[SkippedPair]

    @property
    def skipped(self) -> list[str]:
        """Why each pair is left out, one line each."""
        return [pair.reason for pair in self.skipped_pairs]

    def find(self, label: str, env_id: str, seed: int) -> RunSpec:
        """The run of algorithm entry ``label`` on ``env_id`` with ``seed`` (one run of a suite, to train it alone).

        :raises ConfigError: if the plan has no such run
        """
        for run in self.runs:
            if (run.label, run.env_id, run.seed) == (label, env_id, seed):
                return run
        raise ConfigError(
            f"no run label={label!r} env_id={env_id!r} seed={seed!r} in the plan; its runs: "
            f"{sorted({(run.label, run.env_id) for run in self.runs})} with seeds {sorted({run.seed for run in self.runs})}"
        )


@dataclass(frozen=True)
class Suite:
    """Algorithms x env ids x seeds x budget. Strings are accepted for ``algos`` and ``envs`` entries.

    :param algos: algorithm names or :class:`AlgoEntry`
    :param envs: Gymnasium ids or :class:`EnvEntry`
    :param seeds: training seeds; the evaluation env of seed ``s`` is seeded ``1000 + s``
    :param n_timesteps: budget of every run without a more specific one
    :param cpu_seconds: CPU budget of every run without a more specific one: a run stops once its training CPU time
        (evaluations excluded) reaches it (``None``: no CPU budget)
    :param eval_freq: env steps between evaluations (``None``: :func:`default_eval_freq`)
    :param n_eval_episodes: deterministic episodes per periodic evaluation
    :param final_n_eval_episodes: deterministic episodes of the final evaluation of each run
    :param name: the suite's name (default results directory ``runs/benchmark/<name>``)
    :param hyperparams_dir: directory of the ``<algo>.yml`` files (``None``: the package's ``rrl_sb3/hyperparams/``)
    :param device: torch device of the models
    :param num_cpus: CPUs a run asks of a Ray cluster (``None``: its torch threads)
    :param num_gpus: GPUs (or a fraction) a run asks of a Ray cluster
    :param checkpoint_every: env steps between two checkpoints of each run of an algorithm with exact checkpoints,
        from which ``rrl-bench run`` resumes a run that was interrupted (``0``: no checkpoints)
    :param build_check: whether :meth:`plan` builds each algorithm/env pair's model once to check its settings
    :param source: the suite file it was read from (named in the plan's errors about its hyperparameter overrides)
    """

    algos: Sequence[AlgoEntry | str]
    envs: Sequence[EnvEntry | str]
    seeds: Sequence[int] = (0, 1, 2)
    n_timesteps: int | None = None
    eval_freq: int | None = None
    n_eval_episodes: int = N_EVAL_EPISODES
    final_n_eval_episodes: int = FINAL_N_EVAL_EPISODES
    name: str = "suite"
    hyperparams_dir: str | Path | None = None
    device: str = "cpu"
    num_cpus: float | None = None
    num_gpus: float = 0.0
    cpu_seconds: float | None = None
    checkpoint_every: int = CHECKPOINT_EVERY
    build_check: bool = True
    source: str | None = None

    def __post_init__(self) -> None:
        set_ = object.__setattr__  # frozen: normalise the inputs once, here
        algos = [AlgoEntry(a) if isinstance(a, str) else a for a in self.algos]
        envs = [EnvEntry(e) if isinstance(e, str) else e for e in self.envs]
        if not algos:
            raise ConfigError("algos must name at least one algorithm, got algos=[]")
        if not envs:
            raise ConfigError("envs must name at least one env id, got envs=[]")
        for entry in algos:
            if not isinstance(entry, AlgoEntry):
                raise ConfigError(f"algos entries must be algorithm names or AlgoEntry, got {entry!r}")
            if not _LABEL.match(entry.name):
                raise ConfigError(f"label must be letters, digits and _.+- (it names files), got label={entry.name!r}")
        for env_entry in envs:
            if not isinstance(env_entry, EnvEntry) or not isinstance(env_entry.id, str):
                raise ConfigError(f"envs entries must be env ids or EnvEntry, got {env_entry!r}")
        labels = [a.name for a in algos]
        duplicates = sorted({label for label in labels if labels.count(label) > 1})
        if duplicates:
            raise ConfigError(f"two algorithm entries share the label(s) {duplicates}; give them distinct 'label's")
        ids = [e.id for e in envs]
        if len(set(ids)) != len(ids):
            raise ConfigError(f"envs lists an env id twice: {ids}")
        seeds = list(range(self.seeds)) if isinstance(self.seeds, int) and not isinstance(self.seeds, bool) else self.seeds
        if (
            not isinstance(seeds, Sequence)
            or not seeds
            or any(isinstance(s, bool) or not isinstance(s, int) or s < 0 for s in seeds)
        ):
            raise ConfigError(f"seeds must be a non-empty list of integers >= 0 (or a count), got seeds={self.seeds!r}")
        if len(set(seeds)) != len(seeds):
            raise ConfigError(f"seeds lists a seed twice: {list(seeds)}")
        for key in ("n_timesteps", "eval_freq"):
            if getattr(self, key) is not None:
                set_(self, key, as_positive_int(key, getattr(self, key)))
        for key in ("n_eval_episodes", "final_n_eval_episodes"):
            set_(self, key, as_positive_int(key, getattr(self, key)))
        if self.cpu_seconds is not None:
            set_(self, "cpu_seconds", as_positive_number("cpu_seconds", self.cpu_seconds))
        every = as_int_at_least("checkpoint_every", self.checkpoint_every, 0, "an integer >= 0 (0: no checkpoints)")
        set_(self, "checkpoint_every", every)
        for key, value, strictly in (("num_cpus", self.num_cpus, True), ("num_gpus", self.num_gpus, False)):
            if value is None and key == "num_cpus":
                continue
            number = parse_number(value)
            ok = (
                isinstance(number, (int, float))
                and not isinstance(number, bool)
                and (number > 0 or (number == 0 and not strictly))
            )
            if not ok:
                what = "positive" if strictly else "non-negative"
                raise ConfigError(f"{key} must be a {what} number, got {key}={value!r}")
            set_(self, key, float(number))
        check_device(self.device)
        set_(self, "algos", algos)
        set_(self, "envs", envs)
        set_(self, "seeds", list(seeds))

    @property
    def algo_entries(self) -> list[AlgoEntry]:
        """``algos``, every entry an :class:`AlgoEntry` (names are made entries at construction)."""
        return cast("list[AlgoEntry]", self.algos)

    @property
    def env_entries(self) -> list[EnvEntry]:
        """``envs``, every entry an :class:`EnvEntry` (ids are made entries at construction)."""
        return cast("list[EnvEntry]", self.envs)

    @classmethod
    def from_file(cls, path: str | Path) -> Suite:
        """Read a suite file; ``hyperparams_dir`` is relative to the file.

        :raises ConfigError: naming the file and the bad key or value
        """
        path = Path(path)
        if not path.is_file():
            raise ConfigError(f"suite file {str(path)!r} does not exist")
        data = load_yaml(path)
        if not isinstance(data, Mapping):
            raise ConfigError(f"{path}: a suite file is a mapping with keys {list(_SUITE_KEYS)}, got {type(data).__name__}")
        try:
            return dataclasses.replace(cls.from_dict(data, base_dir=path.parent, default_name=path.stem), source=str(path))
        except ConfigError as error:
            raise ConfigError(f"{path}: {error}") from error

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], base_dir: Path | None = None, default_name: str = "suite") -> Suite:
        """Build a suite from the mapping a suite file holds."""
        unknown = sorted(set(map(str, data)) - set(_SUITE_KEYS))
        if unknown:
            raise ConfigError(f"unknown key(s) {unknown}; a suite has {list(_SUITE_KEYS)}")
        for key in ("algos", "envs"):
            if not isinstance(data.get(key), list):
                raise ConfigError(f"{key} must be a list, got {key}={data.get(key)!r}")
        algos = [_algo_entry(item) for item in data["algos"]]
        envs = [_env_entry(item) for item in data["envs"]]
        resources = data.get("resources") or {}
        if not isinstance(resources, Mapping) or set(resources) - set(_RESOURCE_KEYS):
            raise ConfigError(f"resources must be a mapping with keys {list(_RESOURCE_KEYS)}, got resources={resources!r}")
        hyperparams_dir = data.get("hyperparams_dir")
        if hyperparams_dir is not None and base_dir is not None:
            hyperparams_dir = (base_dir / str(hyperparams_dir)).resolve()
        return cls(
            algos=algos,
            envs=envs,
            seeds=data.get("seeds", (0, 1, 2)),
            n_timesteps=data.get("n_timesteps"),
            cpu_seconds=data.get("cpu_seconds"),
            eval_freq=data.get("eval_freq"),
            n_eval_episodes=data.get("n_eval_episodes", N_EVAL_EPISODES),
            final_n_eval_episodes=data.get("final_n_eval_episodes", FINAL_N_EVAL_EPISODES),
            checkpoint_every=data.get("checkpoint_every", CHECKPOINT_EVERY),
            name=str(data.get("name", default_name)),
            hyperparams_dir=hyperparams_dir,
            device=data.get("device", "cpu"),
            num_cpus=resources.get("num_cpus"),
            num_gpus=resources.get("num_gpus", 0.0),
        )

    def replace(self, **changes: Any) -> Suite:
        """A copy with some fields changed; ``n_timesteps`` (``cpu_seconds``) given here replaces the per-env and
        per-algorithm budgets (CPU budgets)."""
        for key in ("n_timesteps", "cpu_seconds"):
            if changes.get(key) is not None:
                algos = changes.get("algos", self.algos)
                envs = changes.get("envs", self.envs)
                unset: dict[str, Any] = {key: None}
                changes["algos"] = [dataclasses.replace(a, **unset) if isinstance(a, AlgoEntry) else a for a in algos]
                changes["envs"] = [dataclasses.replace(e, **unset) if isinstance(e, EnvEntry) else e for e in envs]
        return dataclasses.replace(self, **changes)

    def resolved_hyperparams_dir(self) -> Path:
        """``hyperparams_dir``, or the settings shipped with the package (``rrl_sb3/hyperparams/``) when it is unset."""
        directory = Path(self.hyperparams_dir) if self.hyperparams_dir is not None else PACKAGED_HYPERPARAMS_DIR
        if not directory.is_dir():
            raise ConfigError(f"hyperparameter directory {str(directory)!r} not found (hyperparams_dir, --hyperparams)")
        return directory

    def plan(self) -> Plan:
        """Check every run's full configuration and list the runs (nothing is trained).

        Every algorithm/env pair's model is built once, on the CPU, on one env of the pair (see
        :func:`rrl_sb3.benchmark.algorithms.check_model_builds`), so that a bad hyperparameter value, ``policy_kwargs``
        entry or env keyword fails here, before any run starts, not in a worker (``build_check=False`` skips it).

        :raises ConfigError: for an unknown algorithm or env id, a missing or malformed hyperparameter file or
            entry, a setting the algorithm does not take, a value it refuses (naming the file, the env id and the
            value), or a run without a budget
        """
        specs = {entry.name: get_algorithm(entry.algo) for entry in self.algo_entries}
        action_spaces = {entry.id: env_action_space(entry.id) for entry in self.env_entries}
        directory = self.resolved_hyperparams_dir()
        runs: list[RunSpec] = []
        skipped: list[SkippedPair] = []
        for entry in self.algo_entries:
            spec = specs[entry.name]
            for env in self.env_entries:
                pair = skipped_pair(entry.name, spec, env.id, action_spaces[env.id])
                if pair is not None:
                    skipped.append(pair)
                    continue
                settings = {**spec.defaults, **load_hyperparams(directory, spec.file_stem, env.id), **entry.hyperparams}
                overrides = f" + overrides of {entry.name} in {self.source or 'the suite'}" if entry.hyperparams else ""
                where = f"{directory / spec.file_stem}.yml [{env.id}]{overrides}"
                check_settings(spec, settings, where)
                if self.build_check:
                    check_model_builds(spec, prepare(settings, where), env.id, where)
                budget = entry.n_timesteps or env.n_timesteps or self.n_timesteps or settings.get("n_timesteps")
                if budget is None:
                    raise ConfigError(f"no budget for {entry.name} on {env.id}: set n_timesteps in the suite or in {where}")
                budget = as_positive_int(f"n_timesteps of {entry.name} on {env.id}", budget)
                eval_freq = entry.eval_freq or self.eval_freq or default_eval_freq(spec, budget)
                eval_freq = as_positive_int(f"eval_freq of {entry.name}", eval_freq)
                cpu_seconds = next((c for c in (entry.cpu_seconds, env.cpu_seconds, self.cpu_seconds) if c is not None), None)
                if cpu_seconds is not None:
                    cpu_seconds = as_positive_number(f"cpu_seconds of {entry.name} on {env.id}", cpu_seconds)
                settings.pop("n_timesteps", None)
                runs.extend(
                    RunSpec(
                        entry.name,
                        spec,
                        env.id,
                        seed,
                        budget,
                        eval_freq,
                        self.n_eval_episodes,
                        settings,
                        self.device,
                        self.final_n_eval_episodes,
                        cpu_seconds,
                        self.checkpoint_every,
                    )
                    for seed in self.seeds
                )
        # Seed-major order: the algorithms of one (seed, env) run side by side in time, so the wall clocks they are
        # compared on see the same machine load; within a group the suite's algorithm order (longest first) holds.
        seed_rank = {seed: i for i, seed in enumerate(self.seeds)}
        env_rank = {entry.id: i for i, entry in enumerate(self.env_entries)}
        runs.sort(key=lambda run: (seed_rank[run.seed], env_rank[run.env_id]))
        return Plan(runs, skipped)


def _algo_entry(item: Any) -> AlgoEntry:
    if isinstance(item, str):
        return AlgoEntry(item)
    if not isinstance(item, Mapping) or "algo" not in item:
        raise ConfigError(f"an algos entry is a name or a mapping with an 'algo' key, got {item!r}")
    unknown = sorted(set(map(str, item)) - set(_ALGO_KEYS))
    if unknown:
        raise ConfigError(f"algos entry {item.get('algo')!r}: unknown key(s) {unknown}; allowed: {list(_ALGO_KEYS)}")
    hyperparams = item.get("hyperparams") or {}
    if not isinstance(hyperparams, Mapping):
        raise ConfigError(f"algos entry {item['algo']!r}: hyperparams must be a mapping, got {hyperparams!r}")
    n_timesteps = item.get("n_timesteps")
    eval_freq = item.get("eval_freq")
    cpu_seconds = item.get("cpu_seconds")
    return AlgoEntry(
        algo=str(item["algo"]),
        label=None if item.get("label") is None else str(item["label"]),
        hyperparams=dict(hyperparams),
        n_timesteps=None if n_timesteps is None else as_positive_int(f"n_timesteps of {item['algo']}", n_timesteps),
        eval_freq=None if eval_freq is None else as_positive_int(f"eval_freq of {item['algo']}", eval_freq),
        cpu_seconds=None if cpu_seconds is None else as_positive_number(f"cpu_seconds of {item['algo']}", cpu_seconds),
    )


def _env_entry(item: Any) -> EnvEntry:
    if isinstance(item, str):
        return EnvEntry(item)
    if not isinstance(item, Mapping) or not isinstance(item.get("id"), str):
        raise ConfigError(f"an envs entry is an env id or a mapping with an 'id' key, got {item!r}")
    unknown = sorted(set(map(str, item)) - set(_ENV_KEYS))
    if unknown:
        raise ConfigError(f"envs entry {item['id']!r}: unknown key(s) {unknown}; allowed: {list(_ENV_KEYS)}")
    n_timesteps, cpu_seconds = item.get("n_timesteps"), item.get("cpu_seconds")
    return EnvEntry(
        item["id"],
        None if n_timesteps is None else as_positive_int(f"n_timesteps of {item['id']}", n_timesteps),
        None if cpu_seconds is None else as_positive_number(f"cpu_seconds of {item['id']}", cpu_seconds),
    )


def env_action_space(env_id: str) -> gym.spaces.Space:
    """Check that ``env_id`` is a registered Gymnasium id (after ``import rrl_sb3``) and return its action space.

    ``"module:Id"`` imports ``module`` first, as ``gym.make`` does.

    :raises ConfigError: naming the unknown id and the closest registered ones
    """
    name = env_id
    if ":" in env_id:
        module, _, name = env_id.partition(":")
        try:
            importlib.import_module(module)
        except ImportError as error:
            raise ConfigError(f"env id {env_id!r}: cannot import module {module!r} ({error})") from error
    if name not in gym.registry:
        close = difflib.get_close_matches(name, list(gym.registry), n=3)
        hint = f"; did you mean {', '.join(map(repr, close))}?" if close else ""
        raise ConfigError(f"unknown env id {env_id!r}: not in Gymnasium's registry after importing rrl_sb3{hint}")
    try:
        env = gym.make(env_id)
    except Exception as error:  # e.g. a missing simulator: say which env, keep the cause
        raise ConfigError(f"env id {env_id!r} is registered but cannot be made: {error}") from error
    try:
        return env.action_space
    finally:
        env.close()


def check_settings(spec: AlgoSpec, settings: Mapping[str, Any], where: str) -> None:
    """Parse the settings and check them against the algorithm's constructor, without building anything."""
    model_arguments(spec, prepare(settings, where), where)


def skipped_pair(label: str, spec: AlgoSpec, env_id: str, action_space: gym.spaces.Space) -> SkippedPair | None:
    """The pair ``label`` on ``env_id`` as skipped, if ``spec``'s algorithm cannot act in ``action_space``; else ``None``."""
    if spec.supports(action_space):
        return None
    return SkippedPair(label, spec.name, env_id, type(action_space).__name__, tuple(spec.action_spaces))


def unsupported_pairs(runs: Sequence[RunData], env_ids: Iterable[str]) -> dict[tuple[str, str], str]:
    """The pairs a suite would skip, derived from finished runs: ``(label, env id)`` -> ``"n/a: <Space> actions"``.

    For results directories written before :data:`rrl_sb3.benchmark.store.SKIPPED_FILE` existed: the label's algorithm
    is the one its runs' markers name, the env's action space is the registered env's. Algorithms not registered in
    this process and env ids no longer registered are left out.
    """
    algorithms = {run.algo: (run.marker or {}).get("config", {}).get("algorithm") for run in runs}
    spaces = {}
    for env_id in env_ids:
        try:
            spaces[env_id] = env_action_space(env_id)
        except ConfigError:  # an id that is no longer registered: nothing to say about it
            continue
    pairs = {}
    for label, name in algorithms.items():
        try:
            spec = get_algorithm(name)
        except ConfigError:
            continue
        for env_id, space in spaces.items():
            pair = skipped_pair(label, spec, env_id, space)
            if pair is not None:
                pairs[(label, env_id)] = pair.cell
    return pairs


__all__ = [
    "AlgoEntry",
    "EnvEntry",
    "Plan",
    "RunSpec",
    "Suite",
    "default_eval_freq",
    "env_action_space",
    "skipped_pair",
    "unsupported_pairs",
]
