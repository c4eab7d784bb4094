"""Hyperparameter files in rl-zoo3's format, and their translation into constructor arguments.

One YAML file per algorithm (``<hyperparams_dir>/<algo>.yml``; the package's own are in ``rrl_sb3/hyperparams/``), a
mapping from Gymnasium env id to that env's settings, e.g.::

    rrl_sb3/CartPoleNoVel-v1:
      n_envs: 8
      n_timesteps: !!float 1e5
      policy: 'MlpLstmPolicy'
      learning_rate: lin_0.001
      policy_kwargs: "dict(lstm_hidden_size=64)"

Besides rl-zoo3's keys, a ``default`` entry applies to ids without an entry of their own. The runner handles
``n_timesteps`` (the budget, unless the suite sets one), ``n_envs``, ``normalize`` (``true`` or a dict string of
``VecNormalize`` arguments), ``frame_stack`` (``VecFrameStack``), ``env_kwargs`` (to ``gym.make``), ``policy`` and
``policy_kwargs`` (a dict, or a string such as ``"dict(net_arch=[64, 64], activation_fn=nn.ReLU)"``). Every other key
is a keyword argument of the algorithm's constructor; ``lin_<x>`` values become a schedule decaying linearly from
``x`` to 0 over training, as in rl-zoo3.
"""

from __future__ import annotations

import ast
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from stable_baselines3.common.utils import LinearSchedule
from torch import nn

from rrl_sb3.benchmark.errors import ConfigError  # re-exported: its home before errors.py

#: Keys the runner consumes itself instead of passing them to the algorithm.
RUNNER_KEYS = ("n_timesteps", "n_envs", "normalize", "frame_stack", "env_kwargs", "policy", "policy_kwargs")
DEFAULT_ENTRY = "default"

_NUMBER = re.compile(r"^[+-]?(\d[\d_]*\.?\d*|\.\d+)([eE][+-]?\d+)?$")


#: The tuned settings that ship with the package (``rrl_sb3/hyperparams/<algo>.yml``): the default of ``rrl-bench run``
#: and ``rrl-bench tune``, and of ``python -m rrl_sb3.zoo train`` without ``-conf``, from any working directory.
PACKAGED_HYPERPARAMS_DIR = Path(__file__).resolve().parents[1] / "hyperparams"


def load_yaml(path: Path) -> Any:
    """Parse a YAML file; a syntax error becomes a :class:`ConfigError` naming the file."""
    try:
        return yaml.safe_load(Path(path).read_text())
    except yaml.YAMLError as error:
        raise ConfigError(f"{path} is not valid YAML: {error}") from error


def load_hyperparams(directory: Path, file_stem: str, env_id: str) -> dict[str, Any]:
    """The raw settings of ``env_id`` in ``<directory>/<file_stem>.yml`` (its own entry, else the ``default`` entry).

    :raises ConfigError: if the file is missing or malformed, or has neither an entry for ``env_id`` nor a
        ``default`` entry
    """
    path = Path(directory) / f"{file_stem}.yml"
    if not path.is_file():
        raise ConfigError(f"no hyperparameter file {path} (for algorithm {file_stem!r})")
    data = load_yaml(path)
    if not isinstance(data, Mapping):
        raise ConfigError(f"{path} must map env ids to settings, got a {type(data).__name__}")
    key = env_id if env_id in data else DEFAULT_ENTRY
    if key not in data:
        raise ConfigError(
            f"{path} has no entry for env id {env_id!r} and no {DEFAULT_ENTRY!r} entry; it has {sorted(map(str, data))}"
        )
    entry = data[key]
    if entry is None:
        return {}
    if not isinstance(entry, Mapping):
        raise ConfigError(f"{path}: the entry {key!r} must be a mapping of settings, got {entry!r}")
    return dict(entry)


def parse_number(value: Any) -> Any:
    """``"1e5"`` -> ``100000.0`` (PyYAML reads exponents without a dot as strings); other values unchanged."""
    if isinstance(value, str) and _NUMBER.match(value.strip()):
        number = float(value.replace("_", ""))
        return int(number) if number.is_integer() and not re.search(r"[.eE]", value) else number
    return value


def as_positive_int(name: str, value: Any) -> int:
    """An integer budget or count from YAML (``100000``, ``1e5``, ``!!float 1e5``, ``"100_000"``)."""
    return as_int_at_least(name, value, 1, "a positive integer")


def as_int_at_least(name: str, value: Any, minimum: int, what: str) -> int:
    """An integer from YAML or a flag, as :func:`as_positive_int` reads it, at least ``minimum``.

    :param what: what the value must be, for the error (``"an integer >= 0"``)
    :raises ConfigError: ``"{name} must be {what}, got {name}={value!r}"``
    """
    number = parse_number(value)
    if isinstance(number, bool) or not isinstance(number, (int, float)) or number != int(number) or number < minimum:
        raise ConfigError(f"{name} must be {what}, got {name}={value!r}")
    return int(number)


def as_positive_number(name: str, value: Any) -> float:
    """A positive, finite number from YAML or a flag (``600``, ``1.5e3``, ``"600"``), e.g. a budget of CPU seconds."""
    number = parse_number(value)
    if isinstance(number, bool) or not isinstance(number, (int, float)) or not 0 < number < float("inf"):
        raise ConfigError(f"{name} must be a positive number, got {name}={value!r}")
    return float(number)


def parse_schedule(name: str, value: Any) -> Any:
    """``"lin_0.001"`` -> a schedule from 0.001 at the start of training to 0 at its end; other values unchanged."""
    if isinstance(value, str) and value.startswith("lin_"):
        start = parse_number(value[len("lin_") :])
        if not isinstance(start, (int, float)):
            raise ConfigError(f"{name}: a linear schedule is written lin_<number>, got {name}={value!r}")
        return LinearSchedule(float(start), 0.0, 1.0)
    return value


_INF = float("inf")
#: Common hyperparameters and their valid ranges, checked for every algorithm that takes them (SB3's own algorithms do
#: not check them: PPO builds with ``gamma=2``): name -> (low, high, low allowed, high allowed, integer only).
VALUE_RANGES: dict[str, tuple[float, float, bool, bool, bool]] = {
    "gamma": (0.0, 1.0, True, True, False),
    "gae_lambda": (0.0, 1.0, True, True, False),
    "tau": (0.0, 1.0, False, True, False),
    "learning_rate": (0.0, _INF, False, False, False),
    "clip_range": (0.0, _INF, False, False, False),
    "clip_range_vf": (0.0, _INF, False, False, False),
    "vf_coef": (0.0, _INF, True, False, False),
    "ent_coef": (0.0, _INF, True, False, False),
    "max_grad_norm": (0.0, _INF, False, False, False),
    "n_steps": (1, _INF, True, False, True),
    "batch_size": (1, _INF, True, False, True),
    "n_epochs": (1, _INF, True, False, True),
    "buffer_size": (1, _INF, True, False, True),
    "learning_starts": (0, _INF, True, False, True),
    "n_episodes": (1, _INF, True, False, True),
}
#: Values some algorithms take besides a number: ``None`` for an optional clipping, ``"auto"`` (``"auto_0.1"``) for
#: SAC's learned entropy coefficient.
_NON_NUMBERS: dict[str, Callable[[Any], bool]] = {
    "clip_range_vf": lambda value: value is None,
    "max_grad_norm": lambda value: value is None,
    "ent_coef": lambda value: isinstance(value, str) and value.startswith("auto"),
}


def check_values(kwargs: Mapping[str, Any], where: str) -> None:
    """Check the values of the common hyperparameters of :data:`VALUE_RANGES`, and that no number is NaN.

    A schedule (``lin_<number>``) is checked at its start. Other settings are left to the algorithm's constructor.

    :param kwargs: the algorithm's keyword arguments as :func:`prepare` parsed them
    :param where: names the source in error messages (file and env id)
    :raises ConfigError: naming ``where``, the setting and its value
    """
    for name, value in kwargs.items():
        if isinstance(value, float) and math.isnan(value):
            raise ConfigError(f"{where}: {name} must be a number, got {name}=nan")
        if name not in VALUE_RANGES or _NON_NUMBERS.get(name, lambda _: False)(value):
            continue
        low, high, low_ok, high_ok, integer = VALUE_RANGES[name]
        number = value(1.0) if callable(value) and not integer else value  # a schedule: its value at the start
        kind = "an integer" if integer else "a number"
        ok = isinstance(number, (int, float)) and not isinstance(number, bool) and not math.isnan(number)
        if ok and integer and (not math.isfinite(number) or number != int(number)):
            ok = False
        if ok:
            ok = (low < number or (low_ok and number == low)) and (number < high or (high_ok and number == high))
        if not ok:
            bounds = f"{'[' if low_ok else '('}{low:g}, {high:g}{']' if high_ok else ')'}"
            shown = f"{value!r}" if not callable(value) else f"a schedule starting at {number!r}"
            raise ConfigError(f"{where}: {name} must be {kind} in {bounds}, got {name}={shown}")


def parse_python_literal(text: str, what: str) -> Any:
    """Evaluate a restricted Python expression from a config file: literals, ``dict(...)`` and ``nn.<Module>``.

    >>> parse_python_literal("dict(net_arch=[64, 64], log_std_init=-2, activation_fn=nn.Tanh)", "policy_kwargs")
    {'net_arch': [64, 64], 'log_std_init': -2, 'activation_fn': <class 'torch.nn.modules.activation.Tanh'>}
    """

    def convert(node: ast.AST) -> Any:
        if isinstance(node, ast.Constant):
            return node.value
        if isinstance(node, (ast.List, ast.Tuple)):
            items = [convert(item) for item in node.elts]
            return items if isinstance(node, ast.List) else tuple(items)
        if isinstance(node, ast.Dict) and all(key is not None for key in node.keys):
            return {convert(k): convert(v) for k, v in zip(node.keys, node.values, strict=True)}  # type: ignore[arg-type]
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
            operand = convert(node.operand)
            if isinstance(operand, (int, float)):
                return -operand if isinstance(node.op, ast.USub) else operand
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "dict" and not node.args:
            return {kw.arg: convert(kw.value) for kw in node.keywords if kw.arg is not None}
        if isinstance(node, ast.Attribute) and ast.unparse(node.value) in ("nn", "th.nn", "torch.nn"):
            module = getattr(nn, node.attr, None)
            if isinstance(module, type) and issubclass(module, nn.Module):
                return module
        raise ConfigError(f"{what}: cannot read {ast.unparse(node)!r} (literals, dict(...) and nn.<Module> only)")

    try:
        tree = ast.parse(text.strip(), mode="eval")
    except SyntaxError as error:
        raise ConfigError(f"{what} is not a Python expression: {text!r} ({error.msg})") from error
    return convert(tree.body)


def format_python_literal(value: Any, what: str = "value") -> str:
    """The text :func:`parse_python_literal` reads back as ``value`` (dicts with identifier keys as ``dict(...)``).

    >>> format_python_literal({"net_arch": [64, 64], "activation_fn": nn.Tanh, "ortho_init": False})
    'dict(net_arch=[64, 64], activation_fn=nn.Tanh, ortho_init=False)'
    """
    if isinstance(value, Mapping):
        if all(isinstance(key, str) and key.isidentifier() for key in value):
            return "dict(" + ", ".join(f"{key}={format_python_literal(v, what)}" for key, v in value.items()) + ")"
        return (
            "{"
            + ", ".join(f"{format_python_literal(k, what)}: {format_python_literal(v, what)}" for k, v in value.items())
            + "}"
        )
    if isinstance(value, list):
        return "[" + ", ".join(format_python_literal(v, what) for v in value) + "]"
    if isinstance(value, tuple):
        return "(" + ", ".join(format_python_literal(v, what) for v in value) + ("," if len(value) == 1 else "") + ")"
    if isinstance(value, type) and issubclass(value, nn.Module):
        name = value.__name__
        if getattr(nn, name, None) is value:
            return f"nn.{name}"
    if value is None or isinstance(value, (bool, int, float, str)):
        return repr(value)
    raise ConfigError(f"{what}: cannot write {value!r} as a config value (literals, dicts, lists and nn.<Module> only)")


@dataclass
class Prepared:
    """Settings split into what the runner does with them and the algorithm's keyword arguments."""

    n_envs: int = 1
    #: ``VecNormalize`` keyword arguments, or ``None`` for no normalisation
    normalize: dict[str, Any] | None = None
    frame_stack: int | None = None
    env_kwargs: dict[str, Any] = field(default_factory=dict)
    policy: str | None = None
    policy_kwargs: dict[str, Any] | None = None
    kwargs: dict[str, Any] = field(default_factory=dict)


def prepare(settings: Mapping[str, Any], where: str) -> Prepared:
    """Split raw settings (``n_timesteps`` already taken out) into a :class:`Prepared`, parsing values on the way.

    :param settings: raw values as read from YAML
    :param where: names the source in error messages (file and env id)
    """
    raw = {key: parse_number(value) for key, value in settings.items()}
    raw.pop("n_timesteps", None)
    prepared = Prepared()
    if "n_envs" in raw:
        prepared.n_envs = as_positive_int(f"{where}: n_envs", raw.pop("n_envs"))
    normalize = raw.pop("normalize", False)
    if isinstance(normalize, str):
        normalize = parse_python_literal(normalize, f"{where}: normalize")
    if isinstance(normalize, Mapping):
        prepared.normalize = dict(normalize)
    elif normalize is True:
        prepared.normalize = {}
    elif normalize not in (False, None):
        raise ConfigError(f"{where}: normalize must be true, false or a dict of VecNormalize arguments, got {normalize!r}")
    frame_stack = raw.pop("frame_stack", None)
    if frame_stack is not None:
        prepared.frame_stack = as_positive_int(f"{where}: frame_stack", frame_stack)
    env_kwargs = raw.pop("env_kwargs", None) or {}
    if isinstance(env_kwargs, str):
        env_kwargs = parse_python_literal(env_kwargs, f"{where}: env_kwargs")
    if not isinstance(env_kwargs, Mapping):
        raise ConfigError(f"{where}: env_kwargs must be a mapping, got {env_kwargs!r}")
    prepared.env_kwargs = dict(env_kwargs)
    policy = raw.pop("policy", None)
    if policy is not None and not isinstance(policy, str):
        raise ConfigError(f"{where}: policy must be a policy name, got policy={policy!r}")
    prepared.policy = policy
    policy_kwargs = raw.pop("policy_kwargs", None)
    if isinstance(policy_kwargs, str):
        policy_kwargs = parse_python_literal(policy_kwargs, f"{where}: policy_kwargs")
    if policy_kwargs is not None and not isinstance(policy_kwargs, Mapping):
        raise ConfigError(f"{where}: policy_kwargs must be a dict, got policy_kwargs={policy_kwargs!r}")
    prepared.policy_kwargs = dict(policy_kwargs) if policy_kwargs is not None else None
    prepared.kwargs = {key: parse_schedule(f"{where}: {key}", value) for key, value in raw.items()}
    return prepared
