"""What SB3's algorithm base classes need to carry a recurrent state while they collect, written once.

:class:`RecurrentStateCarry` gives an SB3 algorithm whose policy is a
:class:`~rrl_sb3.common.policies.RecurrentStatePolicy` the state of every env from one step to the next (REINFORCE uses
it on SB3's ``OnPolicyAlgorithm``); :class:`RecurrentOffPolicyAlgorithm` is SB3's ``OffPolicyAlgorithm`` with that state
and a :class:`~rrl_sb3.common.buffers.SequenceReplayBuffer` (Dreamer and RecurrentSAC build on it and only add their
``_sample_action`` and ``train``).
"""

from __future__ import annotations

import io
import os
import pathlib
from typing import Any, Generic

import numpy as np
import torch as th
from stable_baselines3.common.buffers import ReplayBuffer
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.off_policy_algorithm import OffPolicyAlgorithm
from stable_baselines3.common.type_aliases import GymEnv, MaybeCallback
from stable_baselines3.common.utils import obs_as_tensor
from stable_baselines3.common.vec_env.base_vec_env import VecEnvObs

from rrl_sb3.common.buffers import SequenceReplayBuffer
from rrl_sb3.common.checkpoints import (
    MODEL_FILE,
    REPLAY_BUFFER_FILE,
    RESUME_FILE,
    read_resume_state,
    restore_env_state,
    restore_random_states,
    to_device,
    write_resume_state,
)
from rrl_sb3.common.guards import check_env_step, check_finite_actions, guarded_optimizer_step
from rrl_sb3.common.policies import RecurrentStatePolicy, StateT
from rrl_sb3.common.utils import check_same_spaces


class RecurrentStateCarry(Generic[StateT]):
    """Mixin for an SB3 algorithm (before the SB3 base class in the bases) whose policy carries a recurrent state.

    While collecting, ``_rnn_state`` holds the state of every env; :meth:`_policy_step` steps the policy with it and
    resets the state of the envs whose episode starts (``_last_episode_starts``, which the algorithm sets to the
    ``dones`` of each step). ``learn`` starts every env afresh whenever the envs are reset (:meth:`_start_afresh`). The
    state is not saved by ``save`` (a loaded model's envs start new episodes); :meth:`save_checkpoint` saves it with
    everything else an exact resume needs (:mod:`rrl_sb3.common.checkpoints`). Tensorboard runs are named after the algorithm
    (``Dreamer_1``, ...) unless ``learn`` is given a ``tb_log_name``.

    **Finite values.** What the envs return is checked (:meth:`_check_env_step`) before it is stored or trained on,
    the policy's actions before they reach the envs, and every optimizer step goes through :meth:`_optimizer_step`,
    which never applies a non-finite loss or gradient: with ``on_non_finite="raise"`` (the default) it raises
    :class:`~rrl_sb3.common.guards.NonFiniteError`, with ``"warn"`` it warns and skips the step; the weights are
    untouched either way.

    Generic in the type of the policy's state (``RecurrentStateCarry[ActorState]``), for type checkers only.
    """

    policy: RecurrentStatePolicy[StateT]
    _rnn_state: StateT | None = None
    #: ``"raise"`` or ``"warn"``: what an optimizer step does with a non-finite loss or gradient (see above)
    on_non_finite: str = "raise"
    #: attributes that ``save`` leaves out and a checkpoint keeps (the collection state between two rounds)
    _carried_attributes: tuple[str, ...] = ("_rnn_state",)

    def _excluded_save_params(self) -> list[str]:
        return [*super()._excluded_save_params(), "_rnn_state"]  # type: ignore[misc]

    def _setup_learn(
        self,
        total_timesteps: int,
        callback: MaybeCallback = None,
        reset_num_timesteps: bool = True,
        tb_log_name: str = "run",
        progress_bar: bool = False,
    ) -> tuple[int, BaseCallback]:
        if tb_log_name in ("run", "OnPolicyAlgorithm"):  # SB3's generic defaults
            tb_log_name = type(self).__name__
        # SB3 resets the envs on a fresh start (or when they were never reset): the episodes in progress are over.
        if reset_num_timesteps or self._last_obs is None or self._rnn_state is None:  # type: ignore[attr-defined]
            self._start_afresh()
        return super()._setup_learn(  # type: ignore[misc]
            total_timesteps, callback, reset_num_timesteps, tb_log_name, progress_bar
        )

    def set_env(self, env: GymEnv, force_reset: bool = True) -> None:
        """SB3's ``set_env``, which first checks the observation space, the action space and the number of envs
        (``ValueError`` naming every difference; SB3 itself only asserts the number of envs)."""
        wrapped = self._wrap_env(env, self.verbose)  # type: ignore[attr-defined]
        check_same_spaces(
            f"the env {wrapped!r}",
            wrapped.observation_space,
            wrapped.action_space,
            wrapped.num_envs,
            self.observation_space,  # type: ignore[attr-defined]
            self.action_space,  # type: ignore[attr-defined]
            self.n_envs,  # type: ignore[attr-defined]
        )
        super().set_env(wrapped, force_reset)  # type: ignore[misc]

    @classmethod
    def load(
        cls,
        path: str | pathlib.Path | io.BufferedIOBase,
        env: GymEnv | None = None,
        device: th.device | str = "auto",
        custom_objects: dict[str, Any] | None = None,
        print_system_info: bool = False,
        force_reset: bool = True,
        **kwargs: Any,
    ) -> Any:
        """SB3's ``load``; a truncated, corrupted or foreign file, or an ``env`` whose spaces differ from the saved
        model's, raises one ``ValueError`` naming the file and what was expected."""
        try:
            return super().load(  # type: ignore[misc]
                path, env, device, custom_objects, print_system_info, force_reset, **kwargs
            )
        except FileNotFoundError:
            raise
        except Exception as error:
            raise ValueError(
                f"could not load a {cls.__name__} from {path} (expected a file written by {cls.__name__}.save): "
                f"{type(error).__name__}: {error}"
            ) from error

    def save_checkpoint(self, path: str | os.PathLike[str]) -> pathlib.Path:
        """Save what resuming this run exactly needs into the directory ``path``: the model (``model.zip``), the replay
        buffer of an off-policy algorithm (``replay_buffer.pkl``) and ``resume.pkl``: the random states, the state of
        the VecEnv and its envs, and the carried recurrent state (see :mod:`rrl_sb3.common.checkpoints`).

        Call it between two rounds of collection (as :class:`~rrl_sb3.common.checkpoints.ResumableCheckpointCallback`
        does) or outside ``learn``. ``resume.pkl`` is written last, so a directory without it is incomplete.

        :param path: directory of the checkpoint (created if needed)
        :return: the directory
        :raises ValueError: if the envs are stepped in other processes (``SubprocVecEnv``) or cannot be pickled
        """
        if self.env is None:  # type: ignore[attr-defined]
            raise ValueError("save_checkpoint needs the model's env: a checkpoint holds its state")
        directory = pathlib.Path(path)
        directory.mkdir(parents=True, exist_ok=True)
        resume = directory / RESUME_FILE
        resume.unlink(missing_ok=True)  # the directory is incomplete until it is written again
        self.save(directory / MODEL_FILE)  # type: ignore[attr-defined]
        if getattr(self, "replay_buffer", None) is not None:
            self.save_replay_buffer(directory / REPLAY_BUFFER_FILE)  # type: ignore[attr-defined]
        partial = directory / (RESUME_FILE + ".partial")
        write_resume_state(partial, self, {name: getattr(self, name) for name in self._carried_attributes})
        os.replace(partial, resume)
        return directory

    @classmethod
    def load_checkpoint(
        cls, path: str | os.PathLike[str], env: GymEnv, device: th.device | str = "auto", **kwargs: Any
    ) -> Any:
        """Load a checkpoint of :meth:`save_checkpoint` onto ``env`` to resume its run exactly::

            model = Dreamer.load_checkpoint(path, env=make_the_same_env())
            model.learn(total_timesteps - model.num_timesteps, reset_num_timesteps=False)

        ``env`` must be built as the checkpointed one was (same VecEnv stack, same spaces); its state (the episodes
        in progress, the envs' random generators, VecNormalize's statistics) is replaced by the checkpointed one, and
        the random states of Python, NumPy, PyTorch and the action space are restored last.

        :param path: the checkpoint's directory
        :param env: the env to resume on (a ``DummyVecEnv``, possibly wrapped, or one env that SB3 wraps in one)
        :param device: torch device of the loaded model
        :param kwargs: attributes to change on load, as in ``load``
        :raises ValueError: if the directory is not a complete checkpoint of this algorithm, or ``env`` differs
        """
        if path is None:
            raise ValueError("load_checkpoint got path=None (latest_checkpoint returns None when there is no checkpoint)")
        directory = pathlib.Path(path)
        if env is None:
            raise ValueError("load_checkpoint needs the env to resume on (built as the checkpointed one was)")
        if not (directory / RESUME_FILE).is_file():
            raise ValueError(f"{directory} is not a complete checkpoint: no {RESUME_FILE} (written last by save_checkpoint)")
        state = read_resume_state(directory / RESUME_FILE, cls.__name__)
        model = cls.load(directory / MODEL_FILE, env=env, device=device, force_reset=False, **kwargs)
        if model.num_timesteps != state["num_timesteps"]:
            raise ValueError(
                f"{directory}: {MODEL_FILE} is at {model.num_timesteps} env steps, {RESUME_FILE} at "
                f"{state['num_timesteps']}: files of different checkpoints"
            )
        if (directory / REPLAY_BUFFER_FILE).is_file():
            model.load_replay_buffer(directory / REPLAY_BUFFER_FILE, truncate_last_traj=False)
        restore_env_state(model.env, state["env"], str(directory))
        for name, value in state["carried"].items():
            setattr(model, name, to_device(value, model.device))
        restore_random_states(model, state["random"])  # last: loading draws from them
        return model

    def _start_afresh(self) -> None:
        """Forget the episodes in progress: every env starts from the policy's initial state."""
        env = self.env  # type: ignore[attr-defined]
        assert env is not None
        self._rnn_state = self.policy.initial_state(env.num_envs)

    def _policy_step(self) -> tuple[th.Tensor, StateT]:
        """The policy's (sampled) model action for the last observations, and the state after it."""
        assert self._rnn_state is not None
        device = self.device  # type: ignore[attr-defined]
        with th.no_grad():
            obs = obs_as_tensor(self._last_obs, device)  # type: ignore[attr-defined]
            starts = th.as_tensor(self._last_episode_starts, dtype=th.float32, device=device)  # type: ignore[attr-defined]
            action, state = self.policy.step(obs, self._rnn_state, starts)
        check_finite_actions(self.num_timesteps, action)  # type: ignore[attr-defined]
        return action, state

    def _check_env_step(self, new_obs: VecEnvObs, rewards: np.ndarray, dones: np.ndarray, infos: list[dict[str, Any]]) -> None:
        """Raise :class:`~rrl_sb3.common.guards.NonFiniteError` naming the env, the step and the field if a VecEnv step
        returned a non-finite observation, reward or terminal observation (the original values under VecNormalize,
        whose clipping would hide an infinite one)."""
        vec_normalize = getattr(self, "_vec_normalize_env", None)
        if vec_normalize is not None:
            new_obs, rewards = vec_normalize.get_original_obs(), vec_normalize.get_original_reward()
        check_env_step(self.num_timesteps, new_obs, rewards, dones, infos)  # type: ignore[attr-defined]

    def _optimizer_step(
        self,
        optimizer: th.optim.Optimizer,
        loss: th.Tensor,
        parameters: Any,
        max_grad_norm: float | None,
        name: str,
        retain_graph: bool = False,
    ) -> th.Tensor | None:
        """``zero_grad; backward; clip_grad_norm_; step``, skipped on a non-finite loss or gradient (see
        :func:`~rrl_sb3.common.guards.guarded_optimizer_step`); returns the gradient norm, ``None`` when skipped."""
        return guarded_optimizer_step(optimizer, loss, parameters, max_grad_norm, name, self.on_non_finite, retain_graph)


class RecurrentOffPolicyAlgorithm(RecurrentStateCarry[StateT], OffPolicyAlgorithm):
    """SB3's ``OffPolicyAlgorithm`` for recurrent agents that learn from replayed sequences.

    SB3's loop does the collection (``collect_rollouts``), the VecNormalize bookkeeping, the callbacks, the logging and
    the replay-buffer persistence; this class adds the carried state (:class:`RecurrentStateCarry`, reset where an
    episode starts), a :class:`~rrl_sb3.common.buffers.SequenceReplayBuffer` whose episodes in progress end as
    truncated when the envs are reset, and the checks that a loaded buffer fits the model. Subclasses define
    ``_sample_action`` (from :meth:`_policy_step`, giving the state the action actually taken with
    ``policy.remember_action``) and ``train``.
    """

    policy: RecurrentStatePolicy[StateT]  # RecurrentStateCarry's, over OffPolicyAlgorithm's BasePolicy
    replay_buffer: SequenceReplayBuffer | None

    def _start_afresh(self) -> None:
        super()._start_afresh()
        if self.replay_buffer is not None:
            # The envs are reset: the buffer must not glue the new episodes onto the interrupted ones.
            self.replay_buffer.truncate_last_episodes()

    def _store_transition(
        self,
        replay_buffer: ReplayBuffer,
        buffer_action: np.ndarray,
        new_obs: np.ndarray | dict[str, np.ndarray],
        reward: np.ndarray,
        dones: np.ndarray,
        infos: list[dict[str, Any]],
    ) -> None:
        self._check_env_step(new_obs, reward, dones, infos)  # before anything of this step is stored
        super()._store_transition(replay_buffer, buffer_action, new_obs, reward, dones, infos)
        self._last_episode_starts = dones  # the next step of a done env starts a new episode: reset its state

    def _check_buffer_holds_a_sequence(self, sequence_length: int) -> None:
        """Raise ``ValueError`` if ``buffer_size``, shared among the envs, leaves fewer rows per env than a sequence."""
        if self.env is not None and self.buffer_size // self.env.num_envs < sequence_length:
            raise ValueError(
                f"buffer_size={self.buffer_size} keeps {self.buffer_size // self.env.num_envs} rows per env, fewer "
                f"than sequence_length={sequence_length}"
            )

    def _can_sample(self, sequence_length: int) -> bool:
        """Whether some env's stream holds a whole sequence to replay."""
        assert self.replay_buffer is not None
        return bool((self.replay_buffer.n_stored >= sequence_length).any())

    def load_replay_buffer(self, path: str | pathlib.Path | io.BufferedIOBase, truncate_last_traj: bool = True) -> None:
        """Load a replay buffer saved by ``save_replay_buffer``; it must be a :class:`SequenceReplayBuffer` built for
        this model's number of envs, observation space and action space (a failed load leaves the model's buffer as
        it was, and its error names the file and what differs).

        :param path: path of the pickle file
        :param truncate_last_traj: end the episode in progress in every stream as truncated, as a new ``learn`` call
            (which resets the envs) would
        """
        previous = self.replay_buffer
        try:
            super().load_replay_buffer(path, truncate_last_traj=False)
        except FileNotFoundError:
            raise
        except Exception as error:  # a truncated, corrupted or foreign file: name it
            self.replay_buffer = previous
            raise ValueError(
                f"{path} is not a replay buffer saved by save_replay_buffer (expected a pickled SequenceReplayBuffer): "
                f"{type(error).__name__}: {error}"
            ) from error
        buffer = self.replay_buffer
        if not isinstance(buffer, SequenceReplayBuffer):
            self.replay_buffer = previous
            raise TypeError(f"{path} does not hold a SequenceReplayBuffer, got {type(buffer).__name__}")
        try:
            check_same_spaces(
                f"the replay buffer in {path} (built for {buffer.n_envs} envs)",
                buffer.observation_space,
                buffer.action_space,
                buffer.n_envs,
                self.observation_space,
                self.action_space,
                self.n_envs,
            )
        except ValueError:
            self.replay_buffer = previous
            raise
        if truncate_last_traj:
            buffer.truncate_last_episodes()
