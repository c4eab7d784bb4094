"""Checkpoints that resume exactly: what a run needs, beyond SB3's ``save``, to continue as if never stopped.

SB3's ``CheckpointCallback`` saves the model (and optionally the replay buffer and the VecNormalize statistics) from
inside the collection loop, after an env step and before that step's transition is stored and that round's update
runs; a model loaded from it resets its envs (new episodes), and ``load`` reseeds Python, NumPy, PyTorch and the
action space with the run's original seed. A resumed run therefore differs from the uninterrupted one. A checkpoint
of this module is taken between two rounds of collection (every transition stored, every update done) and holds,
next to the model and the replay buffer:

- the random states of Python, NumPy, PyTorch (CPU and CUDA) and the action space;
- the state of every layer of the VecEnv in this process (the envs themselves, pickled, and each wrapper's
  bookkeeping, VecNormalize's running discounted returns included), so the episodes in progress go on;
- the algorithm's carried state that ``save`` leaves out (the recurrent state of every env, REINFORCE's episodes in
  progress).

:meth:`~rrl_sb3.common.recurrent_algorithm.RecurrentStateCarry.save_checkpoint` writes one,
:meth:`~rrl_sb3.common.recurrent_algorithm.RecurrentStateCarry.load_checkpoint` reads it back and
:class:`ResumableCheckpointCallback` takes them during ``learn``. The envs must be stepped in this process
(``DummyVecEnv`` under any SB3 VecEnv wrappers): a ``SubprocVecEnv`` keeps its envs' state in other processes.
"""

from __future__ import annotations

import os
import pathlib
import pickle
import random
import re
import shutil
from collections.abc import Callable
from typing import Any

import cloudpickle
import numpy as np
import torch as th
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.vec_env import DummyVecEnv, VecEnv, VecEnvWrapper

#: files of a checkpoint directory
MODEL_FILE = "model.zip"
REPLAY_BUFFER_FILE = "replay_buffer.pkl"
RESUME_FILE = "resume.pkl"
_FORMAT = 1
# VecEnvWrapper attributes that are the wrapped VecEnv or derived from the class, not state
_NOT_STATE = ("venv", "class_attributes")


def capture_random_states(model: Any) -> dict[str, Any]:
    """The states of every random generator a run draws from outside its replay buffer (which pickles its own)."""
    states: dict[str, Any] = {
        "python": random.getstate(),
        "numpy": np.random.get_state(),
        "torch": th.get_rng_state(),
        "action_space": model.action_space.np_random.bit_generator.state,
    }
    if th.cuda.is_available() and th.cuda.is_initialized():
        states["cuda"] = th.cuda.get_rng_state_all()
    return states


def restore_random_states(model: Any, states: dict[str, Any]) -> None:
    """Put back the generator states of :func:`capture_random_states`."""
    random.setstate(states["python"])
    np.random.set_state(states["numpy"])
    th.set_rng_state(states["torch"])
    model.action_space.np_random.bit_generator.state = states["action_space"]
    if "cuda" in states and th.cuda.is_available():
        th.cuda.set_rng_state_all(states["cuda"])


def _layers(venv: VecEnv) -> list[VecEnv]:
    """The VecEnv and every VecEnv it wraps, outermost first; the innermost must be a ``DummyVecEnv``."""
    layers: list[VecEnv] = []
    while isinstance(venv, VecEnvWrapper):
        layers.append(venv)
        venv = venv.venv
    if not isinstance(venv, DummyVecEnv):
        raise ValueError(
            f"an exact checkpoint needs the envs stepped in this process (a DummyVecEnv, under any VecEnv wrappers), "
            f"got {type(venv).__name__}: its envs' state lives in other processes"
        )
    return [*layers, venv]


def capture_env_state(venv: VecEnv) -> bytes:
    """The state of every layer of ``venv`` (the envs of its ``DummyVecEnv`` included), pickled.

    :raises ValueError: if the envs are not in this process, or some layer cannot be pickled (an open file, a
        renderer window): the message names the layer
    """
    states = []
    for layer in _layers(venv):
        state = {key: value for key, value in vars(layer).items() if key not in _NOT_STATE}
        try:
            states.append((type(layer).__name__, cloudpickle.dumps(state)))
        except Exception as error:
            raise ValueError(
                f"cannot checkpoint the state of {type(layer).__name__} (for an exact resume every env and wrapper must "
                f"be picklable): {type(error).__name__}: {error}"
            ) from error
    return pickle.dumps(states)


def restore_env_state(venv: VecEnv, blob: bytes, source: str) -> None:
    """Put the state of :func:`capture_env_state` back into ``venv``, layer by layer (the ``DummyVecEnv``'s envs are
    replaced by the checkpointed ones).

    :param source: what the state came from, for the error message
    :raises ValueError: if ``venv`` is not stacked as the checkpointed VecEnv was
    """
    layers = _layers(venv)
    states = pickle.loads(blob)
    expected = [name for name, _ in states]
    given = [type(layer).__name__ for layer in layers]
    if expected != given:
        raise ValueError(
            f"{source} was taken on the VecEnv stack {' > '.join(expected)}, the env given is {' > '.join(given)}"
        )
    for layer, (_, state) in zip(layers, states, strict=True):
        vars(layer).update(cloudpickle.loads(state))


def write_resume_state(path: pathlib.Path, model: Any, carried: dict[str, Any]) -> None:
    """Write the part of a checkpoint that ``save`` does not hold (see the module docstring)."""
    assert model.env is not None
    state = {
        "format": _FORMAT,
        "algorithm": type(model).__name__,
        "num_timesteps": model.num_timesteps,
        "random": capture_random_states(model),
        "env": capture_env_state(model.env),
        "carried": {key: to_device(value, th.device("cpu")) for key, value in carried.items()},
    }
    with open(path, "wb") as file:
        pickle.dump(state, file)


def read_resume_state(path: pathlib.Path, algorithm: str) -> dict[str, Any]:
    """Read what :func:`write_resume_state` wrote, checking that it is a checkpoint of ``algorithm``."""
    try:
        with open(path, "rb") as file:
            state = pickle.load(file)
        assert isinstance(state, dict) and state.get("format") == _FORMAT
    except FileNotFoundError:
        raise
    except Exception as error:
        raise ValueError(
            f"{path} is not the resume state of a checkpoint (expected a file written by save_checkpoint): "
            f"{type(error).__name__}: {error}"
        ) from error
    if state["algorithm"] != algorithm:
        raise ValueError(f"{path} is a checkpoint of {state['algorithm']}, not of {algorithm}")
    return state


def to_device(value: Any, device: th.device) -> Any:
    """``value`` (a tensor, or a tuple or NamedTuple of them) detached, on ``device``; anything else unchanged."""
    if isinstance(value, th.Tensor):
        return value.detach().to(device)
    if isinstance(value, tuple):
        moved = [to_device(v, device) for v in value]
        return type(value)(*moved) if hasattr(value, "_fields") else tuple(moved)
    return value


def latest_checkpoint(save_path: str | os.PathLike[str], name_prefix: str = "rl_model") -> pathlib.Path | None:
    """The complete checkpoint of :class:`ResumableCheckpointCallback` with the most env steps, ``None`` if none.

    A checkpoint counts once its resume state is written (the last file the callback writes), so a run killed while
    saving falls back to the previous one.
    """
    complete = [path for path in checkpoints(save_path, name_prefix) if (path / RESUME_FILE).is_file()]
    return complete[-1] if complete else None


def checkpoints(save_path: str | os.PathLike[str], name_prefix: str = "rl_model") -> list[pathlib.Path]:
    """Every checkpoint directory of :class:`ResumableCheckpointCallback` under ``save_path``, complete or not, oldest
    (fewest env steps) first."""
    pattern = re.compile(rf"{re.escape(name_prefix)}_(\d+)_steps")
    found = []
    for entry in pathlib.Path(save_path).glob(f"{name_prefix}_*_steps"):
        if pattern.fullmatch(entry.name) and entry.is_dir():
            found.append((checkpoint_steps(entry), entry))
    return [path for _, path in sorted(found)]


def checkpoint_steps(path: str | os.PathLike[str]) -> int:
    """The env steps a checkpoint of :class:`ResumableCheckpointCallback` was taken at, read from its directory name
    (``{name_prefix}_{steps}_steps``)."""
    return int(pathlib.Path(path).name.rsplit("_", 2)[-2])


class ResumableCheckpointCallback(BaseCallback):
    """Save an exact checkpoint (:meth:`save_checkpoint`) every ``save_freq`` calls, as SB3's ``CheckpointCallback``
    counts them (one call per VecEnv step), at the first boundary between two rounds of collection after that.

    Each checkpoint is a directory ``{save_path}/{name_prefix}_{num_timesteps}_steps`` holding ``model.zip``,
    ``replay_buffer.pkl`` (off-policy algorithms) and ``resume.pkl``. To resume a run that was stopped::

        path = latest_checkpoint("checkpoints")
        model = Dreamer.load_checkpoint(path, env=make_the_same_env())
        model.learn(total_timesteps - model.num_timesteps, reset_num_timesteps=False, callback=...)

    On CPU with one torch thread, the resumed run ends bit-identical to one that was never stopped (same parameters,
    replay buffer and env steps), provided its callbacks draw the same random numbers.

    Complete checkpoints already in ``save_path`` (those of the run being resumed) count towards ``keep_last``.

    :param save_freq: VecEnv steps between checkpoints (``save_freq * n_envs`` env steps)
    :param save_path: directory of the checkpoints (created if needed)
    :param name_prefix: prefix of each checkpoint's directory name
    :param keep_last: how many of the most recent checkpoints to keep (older ones are deleted); ``None`` keeps all
    :param verbose: 1 prints the path of each checkpoint
    :param on_save: called with each checkpoint's directory before the model's files are written into it, to add
        files of the caller's own (the benchmark runner's evaluation records): the checkpoint is complete, for
        :func:`latest_checkpoint`, only once both are written
    """

    def __init__(
        self,
        save_freq: int,
        save_path: str | os.PathLike[str],
        name_prefix: str = "rl_model",
        keep_last: int | None = None,
        verbose: int = 0,
        on_save: Callable[[pathlib.Path], None] | None = None,
    ) -> None:
        super().__init__(verbose)
        if isinstance(save_freq, bool) or not isinstance(save_freq, int) or save_freq < 1:
            raise ValueError(f"save_freq must be a positive int (VecEnv steps), got {save_freq!r}")
        if keep_last is not None and (isinstance(keep_last, bool) or not isinstance(keep_last, int) or keep_last < 1):
            raise ValueError(f"keep_last must be None or a positive int, got {keep_last!r}")
        self.save_freq = save_freq
        self.save_path = pathlib.Path(save_path)
        self.name_prefix = name_prefix
        self.keep_last = keep_last
        self.on_save = on_save
        self._due = False
        self._saved: list[pathlib.Path] = []

    def _init_callback(self) -> None:
        if not hasattr(self.model, "save_checkpoint"):
            raise TypeError(f"{type(self.model).__name__} has no save_checkpoint: use SB3's CheckpointCallback")
        env = self.model.get_env()
        assert env is not None  # a callback is initialised by learn, which needs the model's env
        _layers(env)  # refuse envs in other processes before the first round, not at the first save
        self.save_path.mkdir(parents=True, exist_ok=True)
        self._saved = [path for path in checkpoints(self.save_path, self.name_prefix) if (path / RESUME_FILE).is_file()]

    def _on_step(self) -> bool:
        if self.n_calls % self.save_freq == 0:
            self._due = True  # saved when the round ends: this step's transition and update are still to come
        return True

    def _on_rollout_start(self) -> None:
        if not self._due:
            return
        self._due = False
        path = self.save_path / f"{self.name_prefix}_{self.num_timesteps}_steps"
        if self.on_save is not None:
            path.mkdir(parents=True, exist_ok=True)
            (path / RESUME_FILE).unlink(missing_ok=True)  # incomplete until save_checkpoint writes it again
            self.on_save(path)
        self.model.save_checkpoint(path)  # type: ignore[attr-defined]
        if path not in self._saved:
            self._saved.append(path)
        if self.verbose >= 1:
            print(f"Saving an exact checkpoint to {path}")
        if self.keep_last is not None:
            while len(self._saved) > self.keep_last:
                shutil.rmtree(self._saved.pop(0), ignore_errors=True)
