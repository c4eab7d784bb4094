"""What Dreamer's world model believes about the data it trained on: the continue head and the reconstruction, read
on replayed transitions, grouped by what happened there (an episode's end, the neighbourhood of a failure bound).

Dreamer's actor and critic only ever see the world model's imagination: an episode ends in imagination only where the
continue head says so. When terminations become rare in replay (an agent that mostly survives), the head can stop
marking them, and imagined trajectories then run past the failures the agent must avoid. :func:`continue_diagnostics`
measures this from the model's own heads on replayed data, and :class:`ContinueDiagnosticsCallback` logs it during
training.

Example (a CartPole without velocities; the numbers depend on the run)::

    from rrl_sb3 import Dreamer
    from rrl_sb3.dreamer import ContinueDiagnosticsCallback, cartpole_regions

    model = Dreamer("rrl_sb3/CartPoleNoVel-v1", seed=0)
    callback = ContinueDiagnosticsCallback(every=2000, regions=cartpole_regions)
    model.learn(20_000, callback=callback)
    for entry in callback.history:
        print(entry.env_steps, entry.terminal_share, entry.groups["end: position"].p_continue)
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import torch as th
from gymnasium import spaces
from stable_baselines3.common.callbacks import BaseCallback

from rrl_sb3.common.buffers import SequenceReplayBuffer
from rrl_sb3.common.math import symexp

if TYPE_CHECKING:
    from rrl_sb3.dreamer.dreamer import Dreamer

#: a function of replayed observations ``(N, ...)`` and their termination flags ``(N,)`` that names each row's group
Regions = Callable[[np.ndarray, np.ndarray], np.ndarray]

#: CartPole's failure bounds (gymnasium's ``CartPoleEnv``): cart position and pole angle (12 degrees, in radians)
CARTPOLE_X_BOUND = 2.4
CARTPOLE_ANGLE_BOUND = 12 * 2 * math.pi / 360


def ends_and_others(observations: np.ndarray, terminated: np.ndarray) -> np.ndarray:
    """The default grouping: ``"end"`` for terminal rows, ``"other"`` for the rest."""
    return np.where(terminated, "end", "other")


def cartpole_regions(observations: np.ndarray, terminated: np.ndarray, near: float = 0.4) -> np.ndarray:
    """CartPole's failure kinds and the neighbourhoods of its bounds, from the observation (``x`` at index 0, the pole
    angle at index 2, as in ``CartPole-v1`` and its ``rrl_sb3/CartPole*`` POMDPs, which keep the shape).

    Terminal rows are ``"end: position"`` (``|x| > 2.4``), ``"end: angle"`` (``|angle| > 12`` degrees) or
    ``"end: unseen"`` (neither visible: a blanked or noisy observation); the other rows are ``"near position bound"``
    (within ``near`` of ``|x| = 2.4``), ``"near angle bound"`` (within ``near / 2.4`` of the angle bound, the same
    share of its range) or ``"inside"``.

    >>> obs = np.array([[2.5, 0, 0.0, 0], [0.1, 0, -0.25, 0], [2.2, 0, 0.0, 0], [0.0, 0, 0.2, 0], [0.0, 0, 0.0, 0]])
    >>> cartpole_regions(obs, np.array([True, True, False, False, False])).tolist()
    ['end: position', 'end: angle', 'near position bound', 'near angle bound', 'inside']
    """
    obs = np.asarray(observations, dtype=np.float64).reshape(len(observations), -1)
    if obs.shape[1] != 4:
        raise ValueError(f"cartpole_regions reads CartPole's 4 observation components, got shape {observations.shape}")
    x, angle = np.abs(obs[:, 0]), np.abs(obs[:, 2])
    near_angle = near / CARTPOLE_X_BOUND * CARTPOLE_ANGLE_BOUND
    end = np.where(x > CARTPOLE_X_BOUND, "end: position", np.where(angle > CARTPOLE_ANGLE_BOUND, "end: angle", "end: unseen"))
    other = np.where(
        x >= CARTPOLE_X_BOUND - near,
        "near position bound",
        np.where(angle >= CARTPOLE_ANGLE_BOUND - near_angle, "near angle bound", "inside"),
    )
    return np.where(terminated, end, other)


@dataclass
class GroupStats:
    """The world model's heads on the replayed rows of one group.

    :param count: rows in the group
    :param p_continue: mean predicted probability of continuing (1 - termination); the target is 0 at terminal rows
    :param recon_error: mean absolute reconstruction error per observation component, in the observation's own units
        (``None`` for observations that are not vectors)
    """

    count: int
    p_continue: float
    recon_error: list[float] | None = None


@dataclass
class ContinueDiagnostics:
    """What :func:`continue_diagnostics` measured.

    :param env_steps: the model's ``num_timesteps`` when measured
    :param rows: replayed rows in the recent window that was read (all envs)
    :param terminal_share: share of terminal rows in that window
    :param terminal_share_all: share of terminal rows in the whole buffer
    :param groups: the heads' readings per group (see ``regions``), each read at the end of a window of
        ``sequence_length`` replayed rows, as training reads them
    """

    env_steps: int
    rows: int
    terminal_share: float
    terminal_share_all: float
    groups: dict[str, GroupStats] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (NaN where a group is empty)."""
        return asdict(self)


def continue_diagnostics(
    model: Dreamer,
    recent: int = 10_000,
    max_windows: int = 512,
    regions: Regions = ends_and_others,
    context: int | None = None,
    seed: int = 0,
) -> ContinueDiagnostics:
    """Read the continue head and the decoder of ``model`` on replayed rows of the last ``recent`` env steps.

    Each read row is the last of a window of ``context`` replayed rows (default: the model's ``sequence_length``),
    filtered through the posterior as in training (the state is reset where an episode starts inside it). Every
    terminal row of the recent window is read (a random ``max_windows`` of them when there are more), and as many of its
    other rows (at least 64), drawn uniformly, so that the non-terminal groups are represented as replay represents
    them. Nothing of the model changes: no gradients, and torch's and NumPy's random states are left as they were.

    :param model: a Dreamer with a :class:`SequenceReplayBuffer` that holds at least one window
    :param recent: env steps (over all envs) of the newest replay to read
    :param max_windows: the most terminal windows read
    :param regions: names the group of each read row from its observation and termination flag
        (:func:`ends_and_others`, :func:`cartpole_regions` or your own)
    :param context: rows of history filtered before each read row (``None``: ``sequence_length``)
    :param seed: seed of the draws of rows
    """
    buffer = model.replay_buffer
    if not isinstance(buffer, SequenceReplayBuffer):
        raise TypeError(f"continue_diagnostics reads a SequenceReplayBuffer, got {type(buffer).__name__}")
    context = model.sequence_length if context is None else context
    if context < 1 or recent < 1 or max_windows < 1:
        raise ValueError(f"context, recent and max_windows must be >= 1, got {context=}, {recent=}, {max_windows=}")
    rng = np.random.default_rng(seed)
    n_envs, capacity = buffer.n_envs, buffer.capacity
    oldest = (buffer.pos - buffer.n_stored) % capacity
    # per stream, its stored rows oldest first; window ends: recent rows with `context - 1` stored rows before them
    ends: list[np.ndarray] = []
    terminal_rows = recent_rows = all_terminal = 0
    for env in range(n_envs):
        stored = int(buffer.n_stored[env])
        rows = (oldest[env] + np.arange(stored)) % capacity
        ended = buffer.terminated[rows, env]
        first_recent = max(stored - recent // n_envs, 0)
        all_terminal += int(ended.sum())
        recent_rows += stored - first_recent
        terminal_rows += int(ended[first_recent:].sum())
        ends.append(rows[max(first_recent, context - 1) :] * n_envs + env)
    flat_ends = np.concatenate(ends)
    if len(flat_ends) == 0:
        raise ValueError(f"the replay buffer holds no window of {context} rows yet")
    terminated = buffer.terminated.reshape(-1)[flat_ends]
    terminal_ends = flat_ends[terminated]
    if len(terminal_ends) > max_windows:
        terminal_ends = rng.choice(terminal_ends, max_windows, replace=False)
    others = flat_ends[~terminated]
    uniform_ends = rng.choice(others, max(len(terminal_ends), 64), replace=True) if len(others) else others
    chosen = np.concatenate([terminal_ends, uniform_ends])
    # a window's rows: `context` rows back from its end, in its env's stream
    env_of, row_of = chosen % n_envs, chosen // n_envs
    rows = (row_of[:, None] - np.arange(context - 1, -1, -1)) % capacity
    batch = buffer._get_samples(rows * n_envs + env_of[:, None], env=model._vec_normalize_env)
    policy = model.policy
    world_model = policy.world_model
    with th.no_grad(), th.random.fork_rng(devices=[]):
        posterior, _, _ = world_model.rssm.observe(
            world_model.encode(batch.observations, 2), policy.model_action(batch.prev_actions), batch.is_first
        )
        last = posterior.features[:, -1]
        p_continue = world_model.continue_prob(last).cpu().numpy()
        last_obs = batch.observations[:, -1] if isinstance(batch.observations, th.Tensor) else None
        recon = _reconstruction_error(world_model, last, last_obs)
    obs_np = np.zeros((len(chosen), 0)) if last_obs is None else last_obs.cpu().numpy()
    end_flags = batch.terminated[:, -1].cpu().numpy() > 0.5
    labels = np.asarray(regions(obs_np, end_flags))
    groups: dict[str, GroupStats] = {}
    for label in sorted(set(labels.tolist())):
        mask = labels == label
        groups[label] = GroupStats(
            count=int(mask.sum()),
            p_continue=float(p_continue[mask].mean()),
            recon_error=None if recon is None else [float(v) for v in recon[mask].mean(0)],
        )
    all_rows = int(buffer.n_stored.sum())
    return ContinueDiagnostics(
        env_steps=int(model.num_timesteps),
        rows=recent_rows,
        terminal_share=terminal_rows / recent_rows if recent_rows else math.nan,
        terminal_share_all=all_terminal / all_rows if all_rows else math.nan,
        groups=groups,
    )


def _reconstruction_error(world_model: Any, features: th.Tensor, obs: th.Tensor | None) -> np.ndarray | None:
    """``|decoded - observed|`` per component ``(N, obs_dim)`` for a vector ``Box`` observation, else ``None``."""
    codec = world_model.codec
    if obs is None or codec is None or codec.image_shape is not None or codec.classes:
        return None
    if not isinstance(codec.space, spaces.Box):
        return None
    decoded = symexp(world_model.decoder(features).float())
    return (decoded - obs.reshape(len(obs), -1).float()).abs().cpu().numpy()


class ContinueDiagnosticsCallback(BaseCallback):
    """Run :func:`continue_diagnostics` every ``every`` env steps of training; keep each result in :attr:`history` and
    record it in SB3's logger (``diagnostics/terminal_share``, ``diagnostics/p_continue/<group>``).

    :param every: env steps between measurements
    :param recent: see :func:`continue_diagnostics`
    :param max_windows: see :func:`continue_diagnostics`
    :param regions: see :func:`continue_diagnostics`
    :param verbose: 1 prints a line per measurement
    """

    def __init__(
        self,
        every: int = 2000,
        recent: int = 10_000,
        max_windows: int = 512,
        regions: Regions = ends_and_others,
        verbose: int = 0,
    ) -> None:
        super().__init__(verbose)
        if every < 1:
            raise ValueError(f"every must be >= 1 env steps, got every={every!r}")
        self.every, self.recent, self.max_windows, self.regions = every, recent, max_windows, regions
        #: every measurement so far, oldest first
        self.history: list[ContinueDiagnostics] = []
        self._next = every

    def _on_step(self) -> bool:
        if self.num_timesteps < self._next:
            return True
        self._next = (self.num_timesteps // self.every + 1) * self.every
        try:
            result = continue_diagnostics(self.model, self.recent, self.max_windows, self.regions)  # type: ignore[arg-type]
        except ValueError:  # not a single window in replay yet
            return True
        self.history.append(result)
        self.logger.record("diagnostics/terminal_share", result.terminal_share)
        for name, group in result.groups.items():
            self.logger.record(f"diagnostics/p_continue/{name}", group.p_continue)
        if self.verbose:
            cells = ", ".join(f"{name} {group.p_continue:.2f} (n={group.count})" for name, group in result.groups.items())
            print(f"{result.env_steps} steps: terminations {result.terminal_share:.2%} of recent replay; p(continue): {cells}")
        return True
