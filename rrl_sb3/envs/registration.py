"""Registration of the ``rrl_sb3/`` Gymnasium ids.

Every POMDP id is made by :func:`make_pomdp`, a factory entry point: ``gym.make(id, **kwargs)`` hands the
wrapper's keyword arguments (``mode``, ``noise_std``, ``noise_clip``, ``flicker_p``) to the wrapper and every
other keyword argument (``render_mode``, ``continuous=...``) to the base env. ``max_episode_steps`` and
``reward_threshold`` are copied from the base env's spec, so the time limit is applied once, outside the wrapper.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, cast

import gymnasium as gym
from gymnasium.error import DependencyNotInstalled

from rrl_sb3.envs import minigrid
from rrl_sb3.wrappers import FlickerObservation, MaskVelocity, ObservationNoise
from rrl_sb3.wrappers.masking import supported_velocity_ids

#: Gymnasium namespace of the registered ids (``rrl_sb3/<Name>``)
NAMESPACE = "rrl_sb3"


@dataclass(frozen=True)
class _Kind:
    suffix: str
    wrap: Callable[..., gym.Env]
    #: wrapper keyword argument -> its name in the wrapper's constructor
    options: dict[str, str] = field(default_factory=dict)
    #: imports the package that registers the base ids (raising DependencyNotInstalled with the install command);
    #: the default does nothing: Gymnasium's own ids need no import
    load_base: Callable[[], None] = lambda: None


KINDS: dict[str, _Kind] = {
    "novel": _Kind("NoVel", MaskVelocity, {"mode": "mode"}),
    "noisy": _Kind("Noisy", ObservationNoise, {"noise_std": "std", "noise_clip": "clip"}),
    "flicker": _Kind("Flicker", FlickerObservation, {"flicker_p": "p"}),
    "pixels": _Kind("Pixels", minigrid.pixel_view, {"tile_size": "tile_size"}, minigrid.import_minigrid),
}

#: Noisy and flickering variants with their default wrapper arguments. The noise is about a tenth of each
#: component's typical range (for CartPole's pole angle, a tenth of the failure angle), the flicker blanks
#: half the observations: memoryless policies degrade, filtering over a few steps recovers the state.
VARIANTS: dict[tuple[str, str], dict[str, Any]] = {
    ("noisy", "Pendulum-v1"): {"noise_std": (0.1, 0.1, 0.5), "noise_clip": False},
    ("noisy", "CartPole-v1"): {"noise_std": (0.1, 0.2, 0.02, 0.2), "noise_clip": False},
    ("flicker", "Pendulum-v1"): {"flicker_p": 0.5},
    ("flicker", "CartPole-v1"): {"flicker_p": 0.5},
}

_INSTALL_HINTS = {
    "gymnasium.envs.box2d": 'pip install "rrl-sb3[box2d]"  (or: pip install swig "gymnasium[box2d]")',
    "gymnasium.envs.mujoco": 'pip install "rrl-sb3[mujoco]"  (or: pip install "gymnasium[mujoco]")',
}


def pomdp_id(kind: str, base_id: str) -> str:
    """The ``rrl_sb3/`` id of the ``kind`` variant of ``base_id``, e.g. ``("novel", "Pendulum-v1")`` ->
    ``"rrl_sb3/PendulumNoVel-v1"``."""
    name, sep, version = base_id.rpartition("-v")
    if not sep:
        raise ValueError(f"base_id must look like 'Name-vN', got base_id={base_id!r}")
    return f"{NAMESPACE}/{name}{KINDS[kind].suffix}-v{version}"


def _env_creator(spec: gym.envs.registration.EnvSpec) -> gym.envs.registration.EnvCreator:
    """What ``gym.make`` calls to build ``spec``'s env: its entry point, imported when it is a ``"module:attr"``
    string (which imports the simulator: ``DependencyNotInstalled`` without it)."""
    if callable(spec.entry_point):
        return spec.entry_point
    if spec.entry_point is None:
        raise gym.error.Error(f"{spec.id} is registered without an entry point")
    # typed as a vector env's creator too; a vector entry point is not one gym.make takes either
    return cast(gym.envs.registration.EnvCreator, gym.envs.registration.load_env_creator(spec.entry_point))


def make_pomdp(base_id: str, kind: str, **kwargs: Any) -> gym.Env:
    """Make the bare ``base_id`` env and wrap it as the ``kind`` POMDP (the entry point of the ``rrl_sb3/`` ids).

    :param base_id: Gymnasium id of the fully observed env
    :param kind: ``"novel"`` (:class:`~rrl_sb3.wrappers.MaskVelocity`), ``"noisy"``
        (:class:`~rrl_sb3.wrappers.ObservationNoise`), ``"flicker"`` (:class:`~rrl_sb3.wrappers.FlickerObservation`)
        or ``"pixels"`` (a MiniGrid env's partial view as an image, :func:`~rrl_sb3.envs.minigrid.pixel_view`)
    :param kwargs: the wrapper's options (``mode`` for novel; ``noise_std``, ``noise_clip`` for noisy;
        ``flicker_p`` for flicker; ``tile_size`` for pixels); everything else goes to the base env. The wrapper checks
        its options (types, ranges, NaN/inf; ``noise_clip`` must be a real boolean, not a string): a bad one raises
        the wrapper's ``TypeError`` or ``ValueError``, its message naming the ``gym.make`` keyword and the value
    """
    if not isinstance(kind, str) or kind not in KINDS:
        raise ValueError(f"kind must be one of {sorted(KINDS)}, got kind={kind!r}")
    spec = KINDS[kind]
    try:
        spec.load_base()
    except DependencyNotInstalled as exc:
        raise DependencyNotInstalled(f"{pomdp_id(kind, str(base_id))}: {exc}") from exc
    if not isinstance(base_id, str) or base_id not in gym.registry:
        raise ValueError(f"base_id must be a registered Gymnasium id, got base_id={base_id!r}")
    given = dict(kwargs)
    foreign = {k for k in kwargs if any(k in other.options for other in KINDS.values()) and k not in spec.options}
    if foreign:
        raise TypeError(
            f"{sorted(foreign)} do not apply to the {kind!r} variant of {base_id}; its options are {sorted(spec.options)}"
        )
    wrapper_kwargs = {spec.options[k]: kwargs.pop(k) for k in list(kwargs) if k in spec.options}
    if kind == "novel":
        wrapper_kwargs["env_id"] = base_id
    base_spec = gym.spec(base_id)
    try:
        creator = _env_creator(base_spec)
    except DependencyNotInstalled as exc:
        raise DependencyNotInstalled(
            f"{pomdp_id(kind, base_id)} needs {base_id}, which cannot be made here: {exc}. {_install_hint(base_id)}"
        ) from exc
    # The bare base env: gym.make wraps the result in the checker, order enforcing and the registered time limit,
    # and records the wrapper in env.spec so gym.make(env.spec) rebuilds the same env.
    env = creator(**{**base_spec.kwargs, **kwargs})
    try:
        return spec.wrap(env, **wrapper_kwargs)
    except (TypeError, ValueError) as error:
        env.close()
        # name the gym.make keyword the user wrote (noise_clip), not only the wrapper's own name for it (clip)
        named = [k for k, name in spec.options.items() if k in given and f"{name}=" in str(error)]
        options = ", ".join(f"{k}={given[k]!r}" for k in named or [k for k in spec.options if k in given])
        raise type(error)(f"{pomdp_id(kind, base_id)}: bad wrapper option ({options}): {error}") from error


def _install_hint(base_id: str) -> str:
    entry_point = gym.spec(base_id).entry_point
    module = entry_point if isinstance(entry_point, str) else getattr(entry_point, "__module__", "")
    for prefix, hint in _INSTALL_HINTS.items():
        if module.startswith(prefix):
            return f"Install it with: {hint}"
    return ""


def _register(env_id: str, **spec: Any) -> None:
    if env_id not in gym.registry:  # importing twice (or through "rrl_sb3:<id>") must not warn about overrides
        gym.register(env_id, **spec)


def register_envs() -> None:
    """Register every ``rrl_sb3/`` id (called on ``import rrl_sb3``; safe to call again)."""
    entry_point = f"{__name__}:make_pomdp"
    variants: list[tuple[str, str, dict[str, Any]]] = [("novel", base, {}) for base in supported_velocity_ids()]
    variants += [(kind, base, defaults) for (kind, base), defaults in VARIANTS.items()]
    for kind, base, defaults in variants:
        if base not in gym.registry:
            continue
        base_spec = gym.spec(base)
        _register(
            pomdp_id(kind, base),
            entry_point=entry_point,
            max_episode_steps=base_spec.max_episode_steps,
            reward_threshold=base_spec.reward_threshold,
            kwargs={"base_id": base, "kind": kind, **defaults},
        )
    # MiniGrid registers its ids when imported: ours are registered without importing it (max_episode_steps stays
    # None, the base env truncates at its own max_steps)
    for base in minigrid.MEMORY_IDS:
        _register(pomdp_id("pixels", base), entry_point=entry_point, kwargs={"base_id": base, "kind": "pixels"})
    _register(f"{NAMESPACE}/MemoryCue-v0", entry_point="rrl_sb3.envs.memory:MemoryCueDiscrete")
    _register(f"{NAMESPACE}/MemoryCueContinuous-v0", entry_point="rrl_sb3.envs.memory:MemoryCueContinuous")


def list_env_ids(kind: str | None = None, available_only: bool = False) -> list[str]:
    """Sorted ``rrl_sb3/`` ids.

    :param kind: only ids of this kind: ``"novel"``, ``"noisy"``, ``"flicker"``, ``"pixels"`` or ``"memory"`` (the
        probe envs)
    :param available_only: leave out ids whose base env needs a dependency that is not installed (Box2D, MuJoCo,
        MiniGrid)
    """
    if kind is not None and kind not in (*KINDS, "memory"):
        raise ValueError(f"kind must be None or one of {[*KINDS, 'memory']}, got kind={kind!r}")
    ids = []
    for env_id, spec in list(gym.registry.items()):  # loading a base may register more ids (minigrid)
        if spec.namespace != NAMESPACE:
            continue
        env_kind = spec.kwargs.get("kind", "memory")
        if kind is not None and env_kind != kind:
            continue
        if available_only and env_kind != "memory" and not _base_importable(env_kind, spec.kwargs["base_id"]):
            continue
        ids.append(env_id)
    return sorted(ids)


def _base_importable(kind: str, base_id: str) -> bool:
    try:
        KINDS[kind].load_base()
        _env_creator(gym.spec(base_id))
    except (ImportError, DependencyNotInstalled):
        return False
    return True
