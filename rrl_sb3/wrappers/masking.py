"""Masking wrappers: hide chosen dimensions of a flat ``Box`` observation."""

from __future__ import annotations

import operator
from collections.abc import Callable, Sequence
from typing import Any, Literal

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from rrl_sb3.wrappers._common import require_flat_box, widen_to_include

MaskMode = Literal["zero", "drop"]
_MODES = ("zero", "drop")


class MaskObservation(gym.ObservationWrapper[np.ndarray, Any, np.ndarray], gym.utils.RecordConstructorArgs):
    """Hide the dimensions ``indices`` of a flat ``Box`` observation.

    - ``mode="zero"`` (default) keeps the shape and sets the hidden components to 0, as rl-zoo3's
      ``MaskVelocityWrapper`` does, so policies trained on either are interchangeable. The bounds of hidden
      components are widened to contain 0 if they did not already.
    - ``mode="drop"`` removes the hidden components: the new space is the ``Box`` of the remaining ones,
      with their bounds and dtype.

    The other components are passed through bit-identical.

    :param env: environment with a one-dimensional ``Box`` observation space
    :param indices: indices to hide (non-empty, unique, within the observation; negative indices count from the end)
    :param mode: ``"zero"`` or ``"drop"``

    Example:
        >>> import gymnasium as gym
        >>> from rrl_sb3.wrappers import MaskObservation
        >>> env = MaskObservation(gym.make("CartPole-v1"), indices=[1, 3])
        >>> obs, _ = env.reset(seed=0)
        >>> obs[[1, 3]].tolist()
        [0.0, 0.0]
        >>> env = MaskObservation(gym.make("CartPole-v1"), indices=[1, 3], mode="drop")
        >>> env.observation_space.shape
        (2,)
    """

    def __init__(self, env: gym.Env, indices: Sequence[int], mode: MaskMode = "zero") -> None:
        gym.utils.RecordConstructorArgs.__init__(self, indices=indices, mode=mode)
        gym.ObservationWrapper.__init__(self, env)
        space = require_flat_box(env, type(self).__name__)
        if not isinstance(mode, str) or mode not in _MODES:
            raise ValueError(f"mode must be one of {_MODES}, got mode={mode!r}")
        self.mode = mode
        self.indices = _normalise_indices(indices, space.shape[0])
        self._hidden = np.zeros(space.shape[0], dtype=bool)
        self._hidden[self.indices] = True
        if mode == "zero":
            self.observation_space = widen_to_include(space, 0.0, self._hidden)
        else:
            keep = ~self._hidden
            self.observation_space = spaces.Box(space.low[keep], space.high[keep], dtype=space.dtype)

    def observation(self, observation: np.ndarray) -> np.ndarray:
        if self.mode == "drop":
            return observation[~self._hidden]
        masked = np.array(observation, copy=True)
        masked[self._hidden] = 0
        return masked


def _normalise_indices(indices: Sequence[int], size: int) -> np.ndarray:
    try:
        if any(isinstance(i, (bool, np.bool_)) for i in indices):
            raise TypeError
        raw = [operator.index(i) for i in indices]
    except TypeError:
        raise TypeError(f"indices must be a sequence of integers, got indices={indices!r}") from None
    if len(raw) == 0:
        raise ValueError("indices must not be empty, got indices=[]")
    bad = [i for i in raw if not -size <= i < size]
    if bad:
        raise ValueError(f"indices out of range for an observation of size {size}: {bad} (indices={list(raw)})")
    resolved = [i % size for i in raw]
    if len(set(resolved)) != len(resolved):
        raise ValueError(f"indices must be unique, got indices={list(raw)}")
    if len(resolved) == size:
        raise ValueError(f"indices hide all {size} dimensions of the observation (indices={list(raw)}); nothing would remain")
    return np.array(sorted(resolved), dtype=np.int64)


# --- velocity tables ----------------------------------------------------------------------------------------------

#: Velocity components of the classic-control and Box2D observations.
VELOCITY_INDICES: dict[str, tuple[int, ...]] = {
    "CartPole-v1": (1, 3),  # cart velocity, pole angular velocity
    "Pendulum-v1": (2,),  # angular velocity
    "MountainCar-v0": (1,),
    "MountainCarContinuous-v0": (1,),
    "Acrobot-v1": (4, 5),  # angular velocities of both links
    "LunarLander-v3": (2, 3, 5),  # linear velocities x, y and angular velocity
    "LunarLanderContinuous-v3": (2, 3, 5),
}


def _mujoco_model(env: gym.Env) -> Any:
    return env.unwrapped.model  # type: ignore[attr-defined]


def _locomotion(n_root: int, extra_velocity: bool = False) -> Callable[[gym.Env], tuple[int, ...]]:
    """Observation = qpos (minus ``n_root`` root coordinates when excluded), qvel, then env-specific extras.

    With ``extra_velocity`` (Humanoid), the centre-of-mass velocities ``cvel`` of the extras are velocities too.
    """

    def indices(env: gym.Env) -> tuple[int, ...]:
        model, unwrapped = _mujoco_model(env), env.unwrapped
        excluded = n_root if getattr(unwrapped, "_exclude_current_positions_from_observation", True) else 0
        start = model.nq - excluded
        result = list(range(start, start + model.nv))
        if extra_velocity and getattr(unwrapped, "_include_cvel_in_observation", False):
            n_bodies = model.nbody - 1  # the world body is left out of the extras
            cinert = getattr(unwrapped, "_include_cinert_in_observation", False)
            cvel_start = start + model.nv + (10 * n_bodies if cinert else 0)
            result += range(cvel_start, cvel_start + 6 * n_bodies)
        return tuple(result)

    return indices


def _inverted_double_pendulum(env: gym.Env) -> tuple[int, ...]:
    # Observation: qpos[:1], sin(qpos[1:]), cos(qpos[1:]), clip(qvel), clip(qfrc_constraint)[:1].
    model = _mujoco_model(env)
    start = 1 + 2 * (model.nq - 1)
    return tuple(range(start, start + model.nv))


def _inverted_pendulum(env: gym.Env) -> tuple[int, ...]:
    model = _mujoco_model(env)  # observation: qpos, qvel
    return tuple(range(model.nq, model.nq + model.nv))


#: Velocity components of the Gymnasium MuJoCo v5 observations, derived from the simulator's ``nq``/``nv``
#: (and the env's observation options) when the env is wrapped.
MUJOCO_VELOCITY_INDICES: dict[str, Callable[[gym.Env], tuple[int, ...]]] = {
    "HalfCheetah-v5": _locomotion(1),
    "Hopper-v5": _locomotion(1),
    "Walker2d-v5": _locomotion(1),
    "Swimmer-v5": _locomotion(2),
    "Ant-v5": _locomotion(2),
    "Humanoid-v5": _locomotion(2, extra_velocity=True),
    "HumanoidStandup-v5": _locomotion(2, extra_velocity=True),
    "InvertedPendulum-v5": _inverted_pendulum,
    "InvertedDoublePendulum-v5": _inverted_double_pendulum,
}


def supported_velocity_ids() -> list[str]:
    """Base env ids that :class:`MaskVelocity` knows the velocity components of."""
    return sorted([*VELOCITY_INDICES, *MUJOCO_VELOCITY_INDICES])


def _check_env_matches_id(env: gym.Env, env_id: str) -> None:
    """Raise ``ValueError`` if ``env`` is not an env of ``env_id``: its table would mask the wrong components.

    The wrapped env must be an instance of the class ``env_id`` is registered with (so an env registered under another
    id, with the same class, is accepted); an id whose entry point is not a class is checked against ``env.spec.id``.
    """
    actual = env.spec.id if env.spec is not None else None
    if actual == env_id:
        return
    creator: object = None  # only whether it is a class matters
    try:
        entry_point = gym.spec(env_id).entry_point
        if isinstance(entry_point, str):  # "module:attr"; an id registered with a callable is checked by its id
            creator = gym.envs.registration.load_env_creator(entry_point)
    except Exception:  # not registered, or its simulator is not installed: nothing to compare the class with
        creator = None
    if isinstance(creator, type):
        if isinstance(env.unwrapped, creator):
            return
        found = type(env.unwrapped).__name__
    elif actual is None:  # nothing to compare with
        return
    else:
        found = actual
    raise ValueError(
        f"env_id={env_id!r} does not match the wrapped env ({found}"
        + (f", env.spec.id={actual!r}" if actual is not None and found != actual else "")
        + f"): MaskVelocity would hide the velocity components of {env_id} in another env's observation. "
        "Pass the wrapped env's own id, or leave env_id=None to use env.spec.id"
    )


def velocity_indices(env: gym.Env, env_id: str | None = None) -> tuple[int, ...]:
    """Velocity components of ``env``'s observation, looked up by ``env_id`` (default: ``env.spec.id``).

    :raises TypeError: for an ``env_id`` that is not a string
    :raises ValueError: for an unknown ``env_id``, or one that does not name the wrapped env (see :class:`MaskVelocity`)
    """
    if env_id is None:
        spec = env.spec
        if spec is None:
            raise ValueError(
                "MaskVelocity needs the env id to find the velocity components, but env.spec is None "
                "(the env was not made with gymnasium.make); pass env_id=... explicitly"
            )
        env_id = spec.id
    elif not isinstance(env_id, str):
        raise TypeError(f"env_id must be a Gymnasium env id (a string) or None, got env_id={env_id!r}")
    if env_id in VELOCITY_INDICES or env_id in MUJOCO_VELOCITY_INDICES:
        _check_env_matches_id(env, env_id)
    if env_id in VELOCITY_INDICES:
        return VELOCITY_INDICES[env_id]
    if env_id in MUJOCO_VELOCITY_INDICES:
        return MUJOCO_VELOCITY_INDICES[env_id](env)
    raise ValueError(
        f"MaskVelocity does not know the velocity components of env_id={env_id!r}. Supported ids: "
        f"{', '.join(supported_velocity_ids())}. For another env, use MaskObservation(env, indices=[...]) "
        "with the indices of its velocity components."
    )


class MaskVelocity(MaskObservation):
    """Hide the velocity components of a known env's observation, turning an MDP into a POMDP.

    The indices come from :data:`VELOCITY_INDICES` (classic control and Box2D) or are derived from the MuJoCo
    model for the Gymnasium MuJoCo v5 locomotion and pendulum envs (the ``qvel`` part of the observation; for
    Humanoid and HumanoidStandup also the centre-of-mass velocities ``cvel`` when the env includes them).
    For any other env use :class:`MaskObservation` with explicit indices.

    :param env: environment made with ``gymnasium.make`` (so that ``env.spec.id`` names it), or any env with ``env_id``
    :param mode: ``"zero"`` keeps the shape (rl-zoo3 compatible), ``"drop"`` removes the components
    :param env_id: override the id used for the lookup (default: ``env.spec.id``); the wrapped env must be an env of
        that id (an instance of the class it is registered with), else ``ValueError``: the table of another env would
        hide the wrong components

    Example:
        >>> import gymnasium as gym
        >>> from rrl_sb3.wrappers import MaskVelocity
        >>> env = MaskVelocity(gym.make("Pendulum-v1"))
        >>> env.indices.tolist()
        [2]
        >>> obs, _ = env.reset(seed=0)
        >>> float(obs[2])
        0.0
    """

    def __init__(self, env: gym.Env, mode: MaskMode = "zero", env_id: str | None = None) -> None:
        # First, as Gymnasium documents: the first call records the arguments, so env.spec holds this class's own
        # (MaskObservation's call below records nothing) and gym.make(env.spec) rebuilds MaskVelocity.
        gym.utils.RecordConstructorArgs.__init__(self, mode=mode, env_id=env_id)
        require_flat_box(env, type(self).__name__)  # a wrong space first: it says more than a wrong id
        super().__init__(env, indices=velocity_indices(env, env_id), mode=mode)
