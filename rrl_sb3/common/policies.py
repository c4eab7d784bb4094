"""SB3 policy base for agents that carry a recurrent state from one env step to the next (Dreamer, RecurrentSAC,
REINFORCE)."""

from __future__ import annotations

from abc import abstractmethod
from typing import Any, Generic, TypeVar, cast

import numpy as np
import torch as th
from gymnasium import spaces
from stable_baselines3.common.policies import BasePolicy
from stable_baselines3.common.type_aliases import PyTorchObs

from rrl_sb3.common.guards import check_finite_observation
from rrl_sb3.common.observations import batch_size

#: The type of a policy's state: a tuple of tensors, or a ``NamedTuple`` of them (or of tuples of them)
StateT = TypeVar("StateT", bound=tuple[Any, ...])


class RecurrentStatePolicy(BasePolicy, Generic[StateT]):
    """A policy whose ``predict`` threads a recurrent state, as sb3-contrib's recurrent policies do.

    Subclasses define :meth:`initial_state`, :meth:`step` (one env step on tensors) and :meth:`to_env_action`;
    this class gives them SB3's ``predict(observation, state, episode_start, deterministic)`` with the checks a user
    needs (a state of the wrong shape or one flag too few is a clear error, not a broadcast), which is what
    ``evaluate_policy`` and ``EvalCallback`` call, and a memoryless ``forward``/``_predict`` from a fresh state.

    The state is a tuple of tensors (a ``NamedTuple`` where its parts have names); ``predict`` hands it out as the
    tuple of numpy arrays :meth:`state_arrays` makes, and reads it back with :meth:`state_from_arrays`. A policy
    without memory has the empty state ``()``, which ``predict`` returns as ``None``, as SB3's memoryless policies do.
    An algorithm that chooses an action other than the policy's (random warm-up actions, exploration noise) gives it
    to :meth:`remember_action`, so that the next step reads the action the env really received.

    The class is generic in the type of the state (``RecurrentStatePolicy[DreamerState]``), for type checkers only.
    """

    #: Where the env axis of the state's arrays is, for error messages (e.g. ``"env axis first"``)
    state_layout: str = ""

    def set_training_mode(self, mode: bool) -> None:
        """SB3's switch between training and evaluation mode, skipped when the policy is already in ``mode``: SB3's
        off-policy loop calls it on every env step, and walking every module each time cost about 30% of acting."""
        if self.training != mode:
            super().set_training_mode(mode)

    @abstractmethod
    def initial_state(self, n_envs: int) -> StateT:
        """The state of ``n_envs`` envs before their first step."""

    @abstractmethod
    def step(
        self, obs: PyTorchObs, state: StateT, episode_start: th.Tensor, deterministic: bool = False
    ) -> tuple[th.Tensor, StateT]:
        """One step of every env: reset the state where ``episode_start`` is 1, then act; returns the model action
        and the new state."""

    def remember_action(self, state: StateT, action: th.Tensor) -> StateT:
        """The state after :meth:`step`, with ``action`` (model representation) as the action taken, for policies
        whose state holds the previous action; the others keep ``state`` as it is."""
        return state

    def state_arrays(self, state: StateT) -> tuple[np.ndarray, ...]:
        """The state as ``predict`` returns it: a flat tuple of numpy arrays."""
        return tuple(s.cpu().numpy() for s in state)

    def state_from_arrays(self, arrays: tuple[th.Tensor, ...]) -> StateT:
        """The inverse of :meth:`state_arrays`, given the arrays as tensors (their shapes already checked); a policy
        whose state is not a plain tuple of tensors overrides it."""
        return cast(StateT, arrays)

    @abstractmethod
    def to_env_action(self, action: th.Tensor) -> np.ndarray:
        """Model action (as returned by :meth:`step`) -> action in the env's action space."""

    def forward(self, obs: th.Tensor, deterministic: bool = False) -> th.Tensor:
        """One memoryless step from the initial state (use :meth:`predict` with ``state`` to act with memory)."""
        return self._predict(obs, deterministic)

    def _predict(self, observation: PyTorchObs, deterministic: bool = False) -> th.Tensor:
        obs = observation if isinstance(observation, (th.Tensor, dict)) else th.as_tensor(observation)
        n = batch_size(obs)
        action, _ = self.step(obs, self.initial_state(n), th.ones(n, device=self.device), deterministic)
        return action

    def predict(
        self,
        observation: np.ndarray | dict[str, np.ndarray],
        state: tuple[np.ndarray, ...] | None = None,
        episode_start: np.ndarray | None = None,
        deterministic: bool = False,
    ) -> tuple[np.ndarray, tuple[np.ndarray, ...] | None]:
        """Act from observations, carrying the recurrent state.

        :param observation: one observation or a batch ``(n_envs, ...)`` (a dict of them for ``Dict`` spaces)
        :param state: the state returned by the previous call, or ``None`` to start every env afresh
        :param episode_start: ``(n_envs,)`` flags; the state of every env whose flag is true is reset first
        :param deterministic: act with the policy's mode instead of sampling
        :return: the actions (in the env's action space) and the new state (see the subclass for its layout;
            ``None`` for a policy without memory)
        :raises NonFiniteError: if the observation holds NaN or infinite values
        :raises ValueError: if ``state`` or ``episode_start`` does not fit the number of envs
        """
        self.set_training_mode(False)
        check_finite_observation(observation)
        obs_tensor, vectorized_env = self.obs_to_tensor(observation)
        n_envs = batch_size(obs_tensor)
        initial = self.initial_state(n_envs)
        expected = [tuple(s.shape) for s in self.state_arrays(initial)]
        if state is None or not expected:
            state_t = initial
        else:
            if len(state) != len(expected) or [tuple(np.shape(s)) for s in state] != expected:
                raise ValueError(
                    f"state must be the tuple returned by predict for {n_envs} envs, with shapes {expected}"
                    f"{f' ({self.state_layout})' if self.state_layout else ''}, got shapes {[np.shape(s) for s in state]}"
                )
            arrays = tuple(th.as_tensor(np.asarray(s), dtype=th.float32, device=self.device) for s in state)
            state_t = self.state_from_arrays(arrays)
        starts = np.zeros(n_envs) if episode_start is None else np.asarray(episode_start, dtype=np.float32).reshape(-1)
        if starts.shape != (n_envs,):
            raise ValueError(
                f"episode_start must have one flag per env ({n_envs}), got shape {np.shape(np.asarray(episode_start))}"
            )
        with th.no_grad():
            action, new_state = self.step(
                obs_tensor,
                state_t,
                th.as_tensor(starts, dtype=th.float32, device=self.device),
                deterministic,
            )
        actions = self.to_env_action(action)
        if isinstance(self.action_space, spaces.Box):
            actions = np.clip(actions, self.action_space.low, self.action_space.high)
        else:
            actions = actions.astype(self.action_space.dtype)
        if not vectorized_env:
            actions = actions.squeeze(axis=0)
        return actions, (self.state_arrays(new_state) if expected else None)
