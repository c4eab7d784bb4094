"""Finite-value guards shared by the algorithms: nothing non-finite is stored, trained on, or acted upon.

One NaN observation or reward, once in a replay buffer or a batch of episodes, turns every parameter it reaches into
NaN. These checks stop it at the boundary, with an error naming where it came from:

- :func:`check_env_step` checks what a VecEnv returned on one step (observations, rewards, the terminal observations
  of finished episodes) before the algorithm stores it;
- :func:`check_finite_actions` checks the actions a policy chose before they are sent to the envs;
- :func:`check_finite_observation` checks the observations given to ``predict``;
- :func:`guarded_optimizer_step` takes an optimizer step only if the loss and the gradient norm are finite: otherwise
  it leaves the weights untouched and raises (``"raise"``) or warns (``"warn"``) and skips the step;
- :class:`VecCheckFinite` does what :func:`check_env_step` does for any algorithm, SB3's and sb3-contrib's included, as
  a ``VecEnvWrapper``.

The checks only read the values: they draw no random numbers and change no computation, so a run on finite data gives
the same numbers with or without them.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import torch as th
from stable_baselines3.common.vec_env import VecEnv, VecEnvWrapper
from stable_baselines3.common.vec_env.base_vec_env import VecEnvObs, VecEnvStepReturn

#: What a guarded optimizer step does with a non-finite loss or gradient
NON_FINITE_MODES = ("raise", "warn")


class NonFiniteError(ValueError):
    """A non-finite (NaN or infinite) value where a finite one is needed: an env's output, an action, a loss."""


def _bad_rows(values: Any) -> np.ndarray:
    """Indices along the first axis of ``values`` whose entries are not all finite (non-float arrays are finite)."""
    array = np.asarray(values)
    if not (np.issubdtype(array.dtype, np.floating) or np.issubdtype(array.dtype, np.complexfloating)):
        return np.zeros(0, dtype=np.int64)
    finite = np.isfinite(array)
    if finite.all():
        return np.zeros(0, dtype=np.int64)
    if array.ndim == 0:
        return np.zeros(1, dtype=np.int64)
    return np.flatnonzero(~finite.reshape(len(array), -1).all(axis=1))


def _raise(field: str, env: int, step: int, value: Any, what: str, counter: str = "num_timesteps") -> None:
    raise NonFiniteError(
        f"env {env} returned a non-finite {field} at step {step} ({counter}): {field}={np.asarray(value)!r}; "
        f"{what}. Check the env or clip its outputs."
    )


def check_env_step(
    step: int,
    observations: Any,
    rewards: Any,
    dones: Any = None,
    infos: Sequence[dict[str, Any]] | None = None,
    what: str = "nothing from this step was stored or trained on",
    counter: str = "num_timesteps",
) -> None:
    """Raise :class:`NonFiniteError` naming the env, the step and the field if a VecEnv step returned a non-finite
    observation, reward or terminal observation.

    :param step: the step to name (the algorithm's ``num_timesteps``)
    :param observations: ``(n_envs, ...)`` observations returned by ``VecEnv.step`` (or the original, unnormalised ones)
    :param rewards: ``(n_envs,)`` rewards
    :param dones: ``(n_envs,)`` done flags; with ``infos``, the terminal observation of every done env is checked too
    :param infos: the infos returned by ``VecEnv.step``
    :param what: what the error says happened to the step's data
    :param counter: what ``step`` counts, for the message
    """
    parts = list(observations.items()) if isinstance(observations, dict) else [("", observations)]
    for field, values in [*((_field("observation", key), value) for key, value in parts), ("reward", rewards)]:
        bad = _bad_rows(values)
        if len(bad):
            env = int(bad[0])
            _raise(field, env, step, np.asarray(values)[env] if np.ndim(values) else values, what, counter)
    if dones is None or infos is None:
        return
    for done_env in np.flatnonzero(np.asarray(dones)).tolist():
        terminal = infos[done_env].get("terminal_observation")
        if terminal is None:
            continue
        for key, value in terminal.items() if isinstance(terminal, dict) else [("", terminal)]:
            if len(_bad_rows(np.asarray(value)[None])):
                _raise(_field("terminal_observation", key), int(done_env), step, value, what, counter)


def _field(name: str, key: str) -> str:
    return f"{name}[{key!r}]" if key else name


def check_finite_actions(step: int, actions: th.Tensor | np.ndarray, counter: str = "num_timesteps") -> None:
    """Raise :class:`NonFiniteError` naming the env and the step if the policy chose a non-finite action (its weights
    or its input are no longer finite); the action is not sent to the env.

    :param step: the step to name (the algorithm's ``num_timesteps``)
    :param actions: ``(n_envs, ...)`` actions as the policy returned them
    :param counter: what ``step`` counts, for the message
    """
    if isinstance(actions, th.Tensor):
        if not actions.is_floating_point() or bool(th.isfinite(actions).all()):
            return
        actions = actions.detach().cpu().numpy()
    bad = _bad_rows(actions)
    if len(bad):
        env = int(bad[0])
        raise NonFiniteError(
            f"the policy chose a non-finite action for env {env} at step {step} ({counter}): "
            f"action={np.asarray(actions)[env]!r}; it was not sent to the env (are the policy's weights finite?)"
        )


def check_finite_observation(observation: Any) -> None:
    """Raise :class:`NonFiniteError` if an observation given to ``predict`` is not finite, naming the envs.

    :param observation: an observation or a batch of them (arrays, or a dict of arrays)
    """
    parts = observation.items() if isinstance(observation, dict) else (("", observation),)
    for key, value in parts:
        if isinstance(value, th.Tensor):
            if not value.is_floating_point() or bool(th.isfinite(value).all()):
                continue
            value = value.detach().cpu().numpy()
        array = np.asarray(value)
        if not (np.issubdtype(array.dtype, np.floating) and not np.isfinite(array).all()):
            continue
        rows = _bad_rows(array[None] if array.ndim <= 1 else array).tolist()
        name = f"observation[{key!r}]" if key else "observation"
        raise NonFiniteError(
            f"{name} must be finite, got NaN or infinite values (in row(s) {rows} of an array of shape {array.shape})"
        )


def check_non_finite_mode(value: Any) -> None:
    """Raise ``ValueError`` unless ``value`` is one of :data:`NON_FINITE_MODES`."""
    if value not in NON_FINITE_MODES:
        raise ValueError(f"on_non_finite must be 'raise' or 'warn', got on_non_finite={value!r}")


def guarded_optimizer_step(
    optimizer: th.optim.Optimizer,
    loss: th.Tensor,
    parameters: Iterable[th.Tensor],
    max_grad_norm: float | None,
    name: str,
    on_non_finite: str = "raise",
    retain_graph: bool = False,
) -> th.Tensor | None:
    """Zero the gradients, backpropagate ``loss``, clip the gradient norm (if ``max_grad_norm``), and step the optimizer
    only if the loss and the gradient norm are finite.

    Otherwise the gradients are dropped, the weights (and the optimizer's state) are left untouched, and the step
    raises :class:`NonFiniteError` (``on_non_finite="raise"``) or warns with a ``RuntimeWarning`` and skips
    (``"warn"``). On finite values it computes exactly what ``zero_grad; backward; clip_grad_norm_; step`` computes for the
    optimizer's parameters; the backward pass computes no gradient for any other tensor (their ``.grad`` is left as it
    was).

    :param optimizer: the optimizer of ``parameters``
    :param loss: the scalar loss
    :param parameters: the parameters whose gradients are clipped and checked
    :param max_grad_norm: clipping norm, or ``None`` for no clipping
    :param name: what the loss trains, for the message (e.g. ``"actor"``)
    :param on_non_finite: ``"raise"`` or ``"warn"``
    :param retain_graph: keep the graph for a later backward pass of another loss that shares part of it
    :return: the gradient norm (before clipping), or ``None`` if the step was skipped
    """
    params = list(parameters)
    optimizer.zero_grad(set_to_none=True)
    # Only the gradients this optimizer applies: a loss that reaches other networks (an actor's loss through the
    # critic or the world model's dynamics) does not pay for their weight gradients, which would be discarded.
    stepped = [p for group in optimizer.param_groups for p in group["params"] if p.requires_grad]
    loss.backward(inputs=stepped, retain_graph=retain_graph)
    if max_grad_norm is not None:
        norm = th.nn.utils.clip_grad_norm_(params, max_grad_norm)
    else:
        grads = [p.grad for p in params if p.grad is not None]
        norm = th.nn.utils.get_total_norm(grads) if grads else th.zeros(())
    loss_ok, norm_ok = bool(th.isfinite(loss.detach()).all()), bool(th.isfinite(norm))
    if loss_ok and norm_ok:
        optimizer.step()
        return norm
    optimizer.zero_grad(set_to_none=True)
    report_non_finite(
        f"non-finite {name} {'loss' if not loss_ok else 'gradient'} (loss={loss.detach().cpu().tolist()!r}, "
        f"gradient norm={float(norm)!r}): the {name} optimizer step was skipped and its weights are unchanged",
        on_non_finite,
    )
    return None


def report_non_finite(message: str, on_non_finite: str = "raise") -> None:
    """Raise :class:`NonFiniteError` with ``message`` (``on_non_finite="raise"``), or warn with it (``"warn"``)."""
    if on_non_finite == "warn":
        warnings.warn(message, RuntimeWarning, stacklevel=3)
        return
    raise NonFiniteError(message + " (pass on_non_finite='warn' to warn and skip such steps instead)")


class VecCheckFinite(VecEnvWrapper):
    """Raise :class:`NonFiniteError` at the step an env returns a non-finite observation, reward or terminal
    observation, or is sent a non-finite action, naming the env index, the step and the field (the key of a ``Dict``
    observation): the values never reach the algorithm, its buffer or its weights.

    For any algorithm on a VecEnv: SB3's, sb3-contrib's (``RecurrentPPO`` stores a NaN reward and trains on it: many
    parameter tensors are NaN before torch fails) and this package's (which check their own steps too). Compared with
    SB3's ``VecCheckNan``, it also checks the ``terminal_observation`` of finished episodes (an off-policy algorithm
    stores it as the next observation of a truncated episode), names the env and the field, and raises an error the
    package's algorithms raise as well. Put it directly around the envs, under ``VecNormalize``, whose clipping would
    hide an infinite value (``rrl-bench`` wraps every run's envs this way)::

        >>> from stable_baselines3.common.env_util import make_vec_env
        >>> from stable_baselines3.common.vec_env import VecNormalize
        >>> from rrl_sb3.common import VecCheckFinite
        >>> env = VecNormalize(VecCheckFinite(make_vec_env("Pendulum-v1", n_envs=2, seed=0)))
        >>> obs = env.reset()

    It only reads the values (no random numbers, nothing changed), so a run on finite data is the same with it.

    :param venv: the VecEnv to check
    """

    def __init__(self, venv: VecEnv) -> None:
        super().__init__(venv)
        #: VecEnv steps taken through this wrapper (the step an error names)
        self.num_steps = 0

    def reset(self) -> VecEnvObs:
        observations = self.venv.reset()
        check_env_step(self.num_steps, observations, np.zeros(self.num_envs), what=self._what("reset"), counter=self._counter)
        return observations

    def step_async(self, actions: np.ndarray) -> None:
        check_finite_actions(self.num_steps, actions, self._counter)
        self.venv.step_async(actions)

    def step_wait(self) -> VecEnvStepReturn:
        observations, rewards, dones, infos = self.venv.step_wait()
        self.num_steps += 1
        check_env_step(self.num_steps, observations, rewards, dones, infos, self._what("step"), self._counter)
        return observations, rewards, dones, infos

    _counter = "VecEnv steps through VecCheckFinite"

    @staticmethod
    def _what(call: str) -> str:
        return f"raised by VecCheckFinite at {call}, before anything wrapping it or the algorithm saw the values"
