"""Constructor helpers shared by the algorithms."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

import gymnasium as gym
import numpy as np
from gymnasium import spaces
from stable_baselines3.common.base_class import maybe_make_env
from stable_baselines3.common.vec_env import VecEnv


def resolve_policy_and_env(
    algo: str,
    policy_aliases: dict[str, type],
    policy_base: type,
    default_policy: str,
    policy: Any,
    env: Any,
    verbose: int = 0,
    check_spaces: Callable[[spaces.Space, spaces.Space], None] | None = None,
    needs_env: bool = True,
) -> tuple[Any, Any]:
    """Accept ``Algo(env_id)``, ``Algo(env)`` and ``Algo(env=...)`` besides SB3's ``Algo(policy, env)``.

    An env id is made here (as SB3's ``maybe_make_env`` would) so that ``check_spaces`` runs before SB3's own checks
    and an unsupported space gets the algorithm's error, which says what it supports.

    :param algo: the algorithm's name, for error messages
    :param policy_aliases: the algorithm's policy names
    :param policy_base: the class every policy of the algorithm derives from
    :param default_policy: the policy implied when only an env is given
    :param verbose: passed to ``maybe_make_env``
    :param check_spaces: called with the env's observation and action spaces; raises for unsupported ones
    :param needs_env: whether the model is built now (``_init_setup_model``): its networks need the env's spaces
    :return: ``(policy, env)`` as SB3's ``BaseAlgorithm`` expects them
    """
    policy, env = _split_policy_and_env(algo, policy_aliases, policy_base, default_policy, policy, env)
    if env is None and needs_env:
        raise ValueError(f"{algo} needs an env to build its networks: {algo}({policy!r}, env) or {algo}(env_id)")
    if env is not None:
        env = maybe_make_env(env, verbose)
        if check_spaces is not None:
            check_spaces(env.observation_space, env.action_space)
    return policy, env


def _split_policy_and_env(
    algo: str, policy_aliases: dict[str, type], policy_base: type, default_policy: str, policy: Any, env: Any
) -> tuple[Any, Any]:
    if (isinstance(policy, str) and policy in policy_aliases) or (
        isinstance(policy, type) and issubclass(policy, policy_base)
    ):
        return policy, env
    if env is not None:
        raise ValueError(
            f"policy must be one of {sorted(policy_aliases)} or a {policy_base.__name__} subclass when env is given, "
            f"got policy={policy!r}"
        )
    if isinstance(policy, str):
        if policy not in gym.registry and ":" not in policy:
            raise ValueError(
                f"policy={policy!r} is neither a {algo} policy ({sorted(policy_aliases)}) nor a registered Gymnasium "
                f"env id; use {algo}({default_policy!r}, env) or {algo}(env_id)"
            )
        return default_policy, policy
    if isinstance(policy, (gym.Env, VecEnv)):
        return default_policy, policy
    raise TypeError(f"policy must be a policy name, a {policy_base.__name__} subclass, an env or an env id, got {policy!r}")


def require(name: str, value: Any, ok: bool, what: str) -> None:
    """Raise ``ValueError("<name> must be <what>, got <name>=<value>")`` unless ``ok``."""
    if not ok:
        raise ValueError(f"{name} must be {what}, got {name}={value!r}")


def is_int(value: Any) -> bool:
    """An integer that is not a bool."""
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)


def is_number(value: Any) -> bool:
    """A real number that is not a bool."""
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool)


class Check(NamedTuple):
    """A rule for one hyperparameter: a predicate on the value, and what it says the value must be."""

    ok: Callable[[Any], bool]
    what: str


def at_least(minimum: int) -> Check:
    """An integer (not a bool) >= ``minimum``."""
    return Check(lambda v: is_int(v) and v >= minimum, f"an integer >= {minimum}")


def one_of(*choices: Any) -> Check:
    """One of ``choices``."""
    return Check(lambda v: any(v == c for c in choices), " or ".join(map(repr, choices)))


IN_UNIT_INTERVAL = Check(lambda v: is_number(v) and 0.0 < v <= 1.0, "in (0, 1]")
IN_CLOSED_UNIT_INTERVAL = Check(lambda v: is_number(v) and 0.0 <= v <= 1.0, "in [0, 1]")
NON_NEGATIVE = Check(lambda v: is_number(v) and bool(np.isfinite(v)) and v >= 0, "a finite number >= 0")
POSITIVE = Check(lambda v: is_number(v) and bool(np.isfinite(v)) and v > 0, "a positive number")
BOOLEAN = Check(lambda v: isinstance(v, bool), "True or False")
FINITE = Check(lambda v: is_number(v) and bool(np.isfinite(v)), "a finite number")
LAYER_SIZES = Check(
    lambda v: isinstance(v, (list, tuple)) and all(is_int(n) and n >= 1 for n in v), "a list of layer sizes >= 1"
)
LEARNING_RATE = Check(lambda v: callable(v) or POSITIVE.ok(v), "a positive number or a schedule")
ON_NON_FINITE = one_of("raise", "warn")


def check_hyperparameters(owner: Any, checks: Mapping[str, Check], prefix: str = "") -> None:
    """Raise ``ValueError`` naming the first attribute of ``owner`` (or key, if ``owner`` is a mapping, e.g. a policy's
    keyword arguments) that breaks its rule, and its value.

    :param owner: an object whose attributes, or a mapping whose keys, are checked
    :param checks: the rule of each attribute or key
    :param prefix: what the message puts before the name (e.g. ``"policy_kwargs "``)
    """
    for name, check in checks.items():
        value = owner[name] if isinstance(owner, Mapping) else getattr(owner, name)
        if not check.ok(value):
            raise ValueError(f"{prefix}{name} must be {check.what}, got {name}={value!r}")


def space_differences(expected: spaces.Space, got: spaces.Space) -> list[str]:
    """What differs between two spaces (type, shape, dtype, bounds, ``n``, ``start``), as ``"<what> <got> != <expected>"``
    phrases; empty if they are equal."""
    if expected == got:
        return []
    if type(expected) is not type(got):
        return [f"type {type(got).__name__} != {type(expected).__name__} ({got!r} != {expected!r})"]
    found = []
    for attr in ("shape", "dtype", "n", "start", "nvec", "low", "high"):
        a: Any = getattr(got, attr, None)  # any value: an array, a tuple, a number, a dtype, or None
        b: Any = getattr(expected, attr, None)
        if a is None and b is None:
            continue
        if np.shape(a) != np.shape(b) or not np.array_equal(np.asarray(a), np.asarray(b)):
            found.append(f"{attr} {a!r} != {b!r}")
    return found or [f"{got!r} != {expected!r}"]


def check_same_spaces(
    source: str,
    observation_space: spaces.Space,
    action_space: spaces.Space,
    n_envs: int | None,
    expected_observation_space: spaces.Space,
    expected_action_space: spaces.Space,
    expected_n_envs: int | None,
) -> None:
    """Raise ``ValueError`` naming ``source`` and every difference (observation space, action space, ``n_envs``) between
    what ``source`` holds and what the model expects; ``n_envs=None`` on either side skips that comparison.

    :param source: what is checked, for the message (e.g. ``"the replay buffer in buffer.pkl"``)
    """
    problems = [f"observation space {d}" for d in space_differences(expected_observation_space, observation_space)]
    problems += [f"action space {d}" for d in space_differences(expected_action_space, action_space)]
    if n_envs is not None and expected_n_envs is not None and n_envs != expected_n_envs:
        problems.append(f"n_envs {n_envs} != {expected_n_envs}")
    if problems:
        raise ValueError(f"{source} does not fit this model (found != expected): " + "; ".join(problems))
