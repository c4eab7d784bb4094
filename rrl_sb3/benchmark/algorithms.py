"""The algorithms the runner knows: a name -> how to build the model from hyperparameters and an env id.

Adding an algorithm is one :func:`register_algorithm` call (or one entry in :data:`BUILTIN_ALGORITHMS`) plus a
hyperparameter file ``<name>.yml`` in the suite's ``hyperparams_dir`` (``--hyperparams``; the package's own
files are in ``rrl_sb3/hyperparams/``, a starting point to copy); e.g. for a new off-policy algorithm for Box actions::

    register_algorithm(AlgoSpec("my_algo", "my_package.my_algo:MyAlgo", "MlpPolicy", on_policy=False,
                                action_spaces=("Box",)))

The class is named as ``"module:Class"`` and imported when a run starts, so the registry costs nothing to import
and a spec pickles by value to worker processes and Ray tasks.
"""

from __future__ import annotations

import difflib
import importlib
import inspect
import random
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch as th
from gymnasium import spaces
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.env_util import make_vec_env
from stable_baselines3.common.vec_env import VecEnv, VecFrameStack, VecNormalize

from rrl_sb3.benchmark.errors import ConfigError
from rrl_sb3.benchmark.hyperparams import Prepared, check_values
from rrl_sb3.common.guards import VecCheckFinite
from rrl_sb3.policies import GRU_POLICY_ALIASES


@dataclass(frozen=True)
class AlgoSpec:
    """How the runner builds one algorithm.

    :param name: registry key, used in suites and as the default label of its runs
    :param algo_class: the ``BaseAlgorithm`` subclass as ``"module:Class"``
    :param default_policy: policy when the hyperparameters name none; a name in the class's ``policy_aliases``,
        one of ``rrl_sb3.policies``' GRU names (``"MlpGruPolicy"``, ...) or ``"module:Class"``
    :param on_policy: whether it learns from its current policy's rollouts only (sets the default evaluation
        frequency of long runs, see :func:`rrl_sb3.benchmark.suite.default_eval_freq`)
    :param hyperparams_file: stem of its file in the hyperparameter directory (``None``: ``name``)
    :param action_spaces: names of the ``gymnasium.spaces`` classes it supports; suites skip other envs
    :param defaults: settings under those of the hyperparameter file (e.g. ``{"frame_stack": 4}``)
    :param description: one line for ``rrl-bench list`` and the report
    """

    name: str
    algo_class: str
    default_policy: str
    on_policy: bool
    hyperparams_file: str | None = None
    action_spaces: tuple[str, ...] = ("Box", "Discrete")
    defaults: Mapping[str, Any] = field(default_factory=dict)
    description: str = ""

    @property
    def file_stem(self) -> str:
        return self.hyperparams_file or self.name

    def load_class(self) -> type[BaseAlgorithm]:
        """Import the algorithm class."""
        module_name, _, class_name = self.algo_class.partition(":")
        try:
            cls = getattr(importlib.import_module(module_name), class_name)
        except (ImportError, AttributeError) as error:
            raise ConfigError(f"algorithm {self.name!r}: cannot import {self.algo_class!r} ({error})") from error
        if not (isinstance(cls, type) and issubclass(cls, BaseAlgorithm)):
            raise ConfigError(f"algorithm {self.name!r}: {self.algo_class!r} is not a BaseAlgorithm subclass")
        return cls

    def supports(self, action_space: spaces.Space) -> bool:
        """Whether the action space is one of :attr:`action_spaces`."""
        return type(action_space).__name__ in self.action_spaces


#: every action space SB3 algorithms take (ours test each: tests/test_contract.py)
ALL_ACTION_SPACES = ("Box", "Discrete", "MultiDiscrete", "MultiBinary")

#: The algorithms ``rrl-bench`` knows without registration: ours, sb3-contrib's RecurrentPPO and memoryless baselines
BUILTIN_ALGORITHMS = (
    AlgoSpec(
        "dreamer",
        "rrl_sb3.dreamer:Dreamer",
        "MlpPolicy",
        on_policy=False,
        action_spaces=ALL_ACTION_SPACES,
        description="Dreamer (rrl_sb3)",
    ),
    AlgoSpec(
        "recurrent_ppo_lstm",
        "sb3_contrib:RecurrentPPO",
        "MlpLstmPolicy",
        on_policy=True,
        description="sb3-contrib RecurrentPPO, LSTM policy",
    ),
    AlgoSpec(
        "recurrent_ppo_gru",
        "sb3_contrib:RecurrentPPO",
        "MlpGruPolicy",
        on_policy=True,
        action_spaces=ALL_ACTION_SPACES,
        description="sb3-contrib RecurrentPPO, rrl_sb3 GRU policy",
    ),
    AlgoSpec(
        "reinforce_gru",
        "rrl_sb3.reinforce:REINFORCE",
        "MlpGruPolicy",
        on_policy=True,
        action_spaces=ALL_ACTION_SPACES,
        description="REINFORCE, GRU policy",
    ),
    AlgoSpec(
        "ppo",
        "stable_baselines3:PPO",
        "MlpPolicy",
        on_policy=True,
        action_spaces=ALL_ACTION_SPACES,
        description="PPO, memoryless MLP policy",
    ),
    AlgoSpec(
        "ppo_framestack",
        "stable_baselines3:PPO",
        "MlpPolicy",
        on_policy=True,
        action_spaces=ALL_ACTION_SPACES,
        defaults={"frame_stack": 4},
        description="PPO, MLP policy on the last 4 observations (VecFrameStack)",
    ),
    AlgoSpec(
        "recurrent_sac",
        "rrl_sb3.sac:RecurrentSAC",
        "MlpPolicy",
        on_policy=False,
        action_spaces=("Box", "Discrete"),
        description="RecurrentSAC (rrl_sb3), GRU actor and critics",
    ),
    AlgoSpec(
        "sac", "stable_baselines3:SAC", "MlpPolicy", on_policy=False, action_spaces=("Box",), description="SAC, memoryless MLP"
    ),
)

#: name -> spec of every registered algorithm
ALGORITHMS: dict[str, AlgoSpec] = {}


def register_algorithm(spec: AlgoSpec, overwrite: bool = False) -> AlgoSpec:
    """Make ``spec`` available to suites under ``spec.name``.

    :param overwrite: replace an algorithm registered under the same name instead of raising
    """
    if not isinstance(spec, AlgoSpec):
        raise TypeError(f"spec must be an AlgoSpec, got {spec!r}")
    if spec.name in ALGORITHMS and not overwrite:
        raise ValueError(f"an algorithm named {spec.name!r} is already registered; pass overwrite=True to replace it")
    ALGORITHMS[spec.name] = spec
    return spec


def get_algorithm(name: str) -> AlgoSpec:
    """The registered spec called ``name``.

    :raises ConfigError: naming the unknown algorithm, the close matches and the known names
    """
    if name not in ALGORITHMS:
        close = difflib.get_close_matches(str(name), ALGORITHMS, n=1)
        hint = f"did you mean {close[0]!r}? " if close else ""
        raise ConfigError(f"unknown algorithm {name!r}; {hint}known algorithms: {', '.join(sorted(ALGORITHMS))}")
    return ALGORITHMS[name]


for _spec in BUILTIN_ALGORITHMS:
    register_algorithm(_spec)


def resolve_policy(cls: type[BaseAlgorithm], policy: str) -> str | type:
    """The policy argument for ``cls``: its own alias as is, a GRU policy name or ``"module:Class"`` as a class."""
    if policy in getattr(cls, "policy_aliases", {}):
        return policy
    if policy in GRU_POLICY_ALIASES:
        return GRU_POLICY_ALIASES[policy]
    if ":" in policy:
        module_name, _, attr = policy.partition(":")
        try:
            return getattr(importlib.import_module(module_name), attr)
        except (ImportError, AttributeError) as error:
            raise ConfigError(f"cannot import policy={policy!r} ({error})") from error
    known = sorted([*getattr(cls, "policy_aliases", {}), *GRU_POLICY_ALIASES])
    raise ConfigError(f"unknown policy={policy!r} for {cls.__name__}; known names: {', '.join(known)} (or 'module:Class')")


def check_kwargs(cls: type[BaseAlgorithm], kwargs: Mapping[str, Any], where: str) -> None:
    """Raise :class:`ConfigError` for a keyword that ``cls``'s constructor does not take, naming it."""
    reserved = sorted({"policy", "env", "seed", "device"} & set(kwargs))
    if reserved:
        raise ConfigError(f"{where}: {reserved} are set by the runner (policy through 'policy'), not by hyperparameters")
    parameters = inspect.signature(cls.__init__).parameters
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values()):
        return
    unknown = sorted(set(kwargs) - set(parameters))
    if unknown:
        raise ConfigError(f"{where}: {', '.join(map(repr, unknown))} not an argument of {cls.__name__}")


def _normalize_kwargs(prepared: Prepared) -> dict[str, Any]:
    normalize = dict(prepared.normalize or {})
    if "gamma" in prepared.kwargs and "gamma" not in normalize:  # discount the reward statistics like the agent
        normalize["gamma"] = prepared.kwargs["gamma"]
    return normalize


def check_booleans(function: Callable[..., Any], kwargs: Mapping[str, Any], where: str, prefix: str = "") -> None:
    """Raise :class:`ConfigError` for a keyword whose default in ``function``'s signature is a boolean but whose value is
    not one: a string such as ``"no"`` would count as true."""
    try:
        parameters = inspect.signature(function).parameters
    except (TypeError, ValueError):
        return
    for name, value in kwargs.items():
        parameter = parameters.get(name)
        if parameter is None or not isinstance(parameter.default, bool):
            continue
        if not isinstance(value, (bool, np.bool_)):
            raise ConfigError(f"{where}: {prefix}{name} must be true or false, got {name}={value!r}")


def make_env_pair(env_id: str, prepared: Prepared, seed: int, eval_seed: int) -> tuple[VecEnv, VecEnv]:
    """The training envs and the evaluation env, wrapped alike (normalisation, frame stacking) as rl-zoo3 does, each
    directly around its envs in :class:`~rrl_sb3.common.VecCheckFinite`.

    The evaluation env's ``VecNormalize`` does not update its statistics and reports raw rewards; the caller copies
    the training statistics into it before each evaluation (``sync_envs_normalization``).
    """
    # VecCheckFinite innermost: a NaN or infinite value from an env fails the run at that step, for every algorithm,
    # before VecNormalize's clipping can hide it
    train_env: VecEnv = VecCheckFinite(make_vec_env(env_id, n_envs=prepared.n_envs, seed=seed, env_kwargs=prepared.env_kwargs))
    eval_env: VecEnv = VecCheckFinite(make_vec_env(env_id, n_envs=1, seed=eval_seed, env_kwargs=prepared.env_kwargs))
    if prepared.normalize is not None:
        normalize = _normalize_kwargs(prepared)
        train_env = VecNormalize(train_env, **normalize)
        eval_kwargs = {k: v for k, v in normalize.items() if k not in ("training", "norm_reward")}
        eval_env = VecNormalize(eval_env, training=False, norm_reward=False, **eval_kwargs)
    if prepared.frame_stack is not None:
        train_env = VecFrameStack(train_env, prepared.frame_stack)
        eval_env = VecFrameStack(eval_env, prepared.frame_stack)
    # The model puts channel-last images channel-first with an outermost VecTransposeImage on its training env; the
    # evaluation env gets the same stack, so that sync_envs_normalization walks both alike.
    eval_env = BaseAlgorithm._wrap_env(eval_env, verbose=0, monitor_wrapper=False)
    return train_env, eval_env


def model_arguments(spec: AlgoSpec, prepared: Prepared, where: str) -> tuple[type[BaseAlgorithm], str | type, dict[str, Any]]:
    """The algorithm class, its policy argument and its keyword arguments (``env``, ``seed`` and ``device`` aside), checked.

    What checking a suite (:meth:`rrl_sb3.benchmark.Suite.plan`) and building a model (:func:`build_model`) share, so
    that a setting the plan accepts is exactly one the model is built with.

    :raises ConfigError: for a class that cannot be imported, an unknown policy, a keyword the constructor does not take
        or a common hyperparameter out of its range (:func:`rrl_sb3.benchmark.hyperparams.check_values`)
    """
    cls = spec.load_class()
    policy = resolve_policy(cls, prepared.policy or spec.default_policy)
    kwargs = dict(prepared.kwargs)
    if prepared.policy_kwargs is not None:
        kwargs["policy_kwargs"] = prepared.policy_kwargs
    check_kwargs(cls, kwargs, where)
    check_values(kwargs, where)
    check_booleans(cls.__init__, kwargs, where)
    policy_class: type[Any] | None = cls.policy_aliases.get(policy) if isinstance(policy, str) else policy
    if isinstance(policy_class, type) and prepared.policy_kwargs:
        check_booleans(policy_class.__init__, prepared.policy_kwargs, where, "policy_kwargs: ")
    kwargs.setdefault("verbose", 0)  # the runner prints its own line per evaluation
    return cls, policy, kwargs


def build_model(spec: AlgoSpec, prepared: Prepared, env: VecEnv, seed: int, device: str, where: str) -> BaseAlgorithm:
    """Instantiate ``spec``'s algorithm on ``env`` with the prepared hyperparameters."""
    cls, policy, kwargs = model_arguments(spec, prepared, where)
    return cls(policy, env, seed=seed, device=device, **kwargs)


def check_device(device: Any, where: str = "device") -> str:
    """``device`` if torch can parse it as a device (``"cpu"``, ``"cuda"``, ``"cuda:1"``, ``"mps"``, ``"auto"``).

    :raises ConfigError: naming the bad value
    """
    if not isinstance(device, str):
        raise ConfigError(f"{where} must be a torch device name such as 'cpu' or 'cuda', got device={device!r}")
    if device != "auto":
        try:
            th.device(device)
        except (RuntimeError, ValueError, TypeError) as error:
            raise ConfigError(
                f"{where} must be a torch device name such as 'cpu', 'cuda' or 'cuda:0', got device={device!r} ({error})"
            ) from error
    return device


def check_model_builds(spec: AlgoSpec, prepared: Prepared, env_id: str, where: str) -> None:
    """Build ``spec``'s model once, on the CPU, on one env of ``env_id`` wrapped as the runs wrap theirs, and discard it.

    What the plan does so that a bad hyperparameter *value*, ``policy_kwargs`` entry or env/``VecNormalize`` keyword
    fails before any run starts, with the constructor's own check, instead of in a worker. It is cheap: one env, the
    networks and buffers allocated once, one torch thread, no training. The torch thread count and the global random
    states (``random``, NumPy, torch) are restored afterwards, so planning does not change the numbers of anything that
    runs in this process later.

    :raises ConfigError: naming ``where`` (file and env id), the constructor's error and the settings
    """
    cls, policy, kwargs = model_arguments(spec, prepared, where)
    states = random.getstate(), np.random.get_state(), th.get_rng_state()
    threads = th.get_num_threads()
    env: VecEnv | None = None
    try:
        th.set_num_threads(1)  # tiny networks: one thread is fastest (orthogonal init contends for a busy machine's cores)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # e.g. PPO's note on a batch size that does not divide n_steps * n_envs
            env = make_vec_env(env_id, n_envs=1, env_kwargs=prepared.env_kwargs)
            if prepared.normalize is not None:
                env = VecNormalize(env, **_normalize_kwargs(prepared))
            if prepared.frame_stack is not None:
                env = VecFrameStack(env, prepared.frame_stack)
            cls(policy, env, device="cpu", **kwargs)
    except ConfigError:
        raise
    except Exception as error:
        settings = {k: v for k, v in kwargs.items() if k != "verbose"}
        if prepared.env_kwargs:
            settings["env_kwargs"] = prepared.env_kwargs
        if prepared.normalize is not None:
            settings["normalize"] = prepared.normalize
        raise ConfigError(
            f"{where}: {cls.__name__} cannot be built with these settings: {type(error).__name__}: {error} "
            f"(settings: {settings})"
        ) from error
    finally:
        if env is not None:
            env.close()
        th.set_num_threads(threads)
        random.setstate(states[0])
        np.random.set_state(states[1])
        th.set_rng_state(states[2])
