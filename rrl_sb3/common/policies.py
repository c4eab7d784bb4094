"""SB3 policy base for agents that carry a recurrent state from one env step to the next (Dreamer, recurrent SAC)."""

from __future__ import annotations

from abc import abstractmethod

import numpy as np
import torch as th
from gymnasium import spaces
from stable_baselines3.common.policies import BasePolicy
from stable_baselines3.common.type_aliases import PyTorchObs


class RecurrentStatePolicy(BasePolicy):
    """A policy whose ``predict`` threads a recurrent state, as sb3-contrib's recurrent policies do.

    Subclasses define :meth:`initial_state`, :meth:`step` (one env step on tensors) and :meth:`to_env_action`;
    this class gives them SB3's ``predict(observation, state, episode_start, deterministic)`` with the checks a user
    needs (a state of the wrong shape or one flag too few is a clear error, not a broadcast), which is what
    ``evaluate_policy`` and ``EvalCallback`` call, and a memoryless ``forward``/``_predict`` from a fresh state.
    """

    @abstractmethod
    def initial_state(self, n_envs: int) -> tuple[th.Tensor, ...]:
        """The state of ``n_envs`` envs before their first step."""

    @abstractmethod
    def step(
        self, obs: th.Tensor, state: tuple[th.Tensor, ...], episode_start: th.Tensor, deterministic: bool = False
    ) -> tuple[th.Tensor, tuple[th.Tensor, ...]]:
        """One step of every env: reset the state where ``episode_start`` is 1, then act; returns the model action
        and the new state."""

    @abstractmethod
    def to_env_action(self, action: th.Tensor) -> np.ndarray:
        """Model action (as returned by :meth:`step`) -> action in the env's action space."""

    def forward(self, obs: th.Tensor, deterministic: bool = False) -> th.Tensor:
        """One memoryless step from the initial state (use :meth:`predict` with ``state`` to act with memory)."""
        return self._predict(obs, deterministic)

    def _predict(self, observation: PyTorchObs, deterministic: bool = False) -> th.Tensor:
        obs = observation if isinstance(observation, th.Tensor) else th.as_tensor(observation)
        n = obs.shape[0]
        action, _ = self.step(obs, self.initial_state(n), th.ones(n, device=self.device), deterministic)
        return action

    def predict(  # type: ignore[override]
        self,
        observation: np.ndarray | dict[str, np.ndarray],
        state: tuple[np.ndarray, ...] | None = None,
        episode_start: np.ndarray | None = None,
        deterministic: bool = False,
    ) -> tuple[np.ndarray, tuple[np.ndarray, ...]]:
        """Act from observations, carrying the recurrent state.

        :param observation: one observation or a batch ``(n_envs, obs_dim)``
        :param state: the state returned by the previous call, or ``None`` to start every env afresh
        :param episode_start: ``(n_envs,)`` flags; the state of every env whose flag is true is reset first
        :param deterministic: act with the policy's mode instead of sampling
        :return: the actions (in the env's action space) and the new state (see the subclass for its layout)
        """
        self.set_training_mode(False)
        obs_tensor, vectorized_env = self.obs_to_tensor(observation)
        n_envs = obs_tensor.shape[0]  # type: ignore[union-attr]
        expected = [tuple(s.shape) for s in self.initial_state(n_envs)]
        if state is None:
            state_t = self.initial_state(n_envs)
        else:
            if len(state) != len(expected) or [tuple(np.shape(s)) for s in state] != expected:
                raise ValueError(
                    f"state must be the tuple returned by predict for {n_envs} envs, with shapes {expected}, "
                    f"got shapes {[np.shape(s) for s in state]}"
                )
            state_t = tuple(th.as_tensor(np.asarray(s), dtype=th.float32, device=self.device) for s in state)
        starts = np.zeros(n_envs) if episode_start is None else np.asarray(episode_start, dtype=np.float32).reshape(-1)
        if starts.shape != (n_envs,):
            raise ValueError(f"episode_start must have one flag per env ({n_envs}), got shape {np.shape(episode_start)}")
        with th.no_grad():
            action, new_state = self.step(
                obs_tensor,  # type: ignore[arg-type]
                state_t,
                th.as_tensor(starts, dtype=th.float32, device=self.device),
                deterministic,
            )
        actions = self.to_env_action(action)
        if isinstance(self.action_space, spaces.Box):
            actions = np.clip(actions, self.action_space.low, self.action_space.high)
        else:
            actions = actions.astype(self.action_space.dtype)  # type: ignore[union-attr]
        if not vectorized_env:
            actions = actions.squeeze(axis=0)
        return actions, tuple(s.cpu().numpy() for s in new_state)
