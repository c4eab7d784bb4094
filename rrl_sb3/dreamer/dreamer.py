"""Dreamer as an SB3 algorithm: a GRU-RSSM world model, and an actor and critic learned in imagination."""

from __future__ import annotations

import sys
import time
from typing import Any, ClassVar, TypeVar

import numpy as np
import torch as th
from gymnasium import spaces
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.policies import BasePolicy
from stable_baselines3.common.save_util import load_from_pkl, save_to_pkl
from stable_baselines3.common.type_aliases import GymEnv, MaybeCallback, Schedule
from stable_baselines3.common.utils import obs_as_tensor, safe_mean, update_learning_rate
from stable_baselines3.common.vec_env import VecEnv

from rrl_sb3.common.buffers import SequenceReplayBuffer, final_observations
from rrl_sb3.common.utils import is_int, require, resolve_policy_and_env
from rrl_sb3.dreamer.behavior import ActorGradient, behavior_losses
from rrl_sb3.dreamer.policies import DreamerPolicy, DreamerState
from rrl_sb3.dreamer.world_model import Latent

SelfDreamer = TypeVar("SelfDreamer", bound="Dreamer")


class Dreamer(BaseAlgorithm):
    """Dreamer (DreamerV3-style, on a GRU recurrent state-space model).

    A world model learns the environment's dynamics, rewards and terminations from replayed sequences; the actor
    and critic learn from trajectories the model imagines from every replayed posterior state. Acting carries the
    model state ``(h, z, previous action)`` of every env from step to step and resets it at episode start, so the
    agent remembers what it observed: it is built for partially observable tasks.

    ``Dreamer("Pendulum-v1")`` is the shortest call: an env id (or env) as the only argument implies ``MlpPolicy``.

    Training happens as the env steps: every env step earns ``train_ratio`` replayed steps, and each gradient
    update replays ``batch_size * sequence_length`` of them (DreamerV3's train ratio). With the defaults,
    ``train_ratio=32`` and 16 x 32 = 512 steps per update, there is one update every 16 env steps. The default
    networks are small (128 units, a 128-unit GRU, 16 x 16 categorical latents) so that a 20,000-step run fits in
    minutes on two CPU cores; raise them through ``policy_kwargs`` for harder tasks.

    :param policy: ``"MlpPolicy"`` (or :class:`DreamerPolicy`), or an env / env id when ``env`` is not given
    :param env: the environment (an env id, a ``gymnasium.Env`` or a ``VecEnv``)
    :param learning_rate: learning rate of the world model (float or schedule of the remaining progress)
    :param actor_learning_rate: learning rate of the actor
    :param critic_learning_rate: learning rate of the critic; faster than the actor's, because the value of a long
        episode is learnt by bootstrapping, one imagination horizon per refit (at 1e-4, after 20k steps of
        CartPoleNoVel, the critic still valued a balanced episode at a small fraction of its discounted return)
    :param buffer_size: replay capacity in env steps (rows), over all envs
    :param learning_starts: env steps of uniformly random actions before training starts (prefill)
    :param batch_size: sequences per gradient update
    :param sequence_length: steps per replayed sequence
    :param train_ratio: replayed steps per env step
    :param horizon: length of the imagined trajectories
    :param gamma: discount factor
    :param lambda_: lambda of the TD(lambda) returns
    :param entropy_coef: weight of the actor's entropy bonus (on returns normalised to about [0, 1])
    :param actor_gradient: ``"reinforce"`` (likelihood ratio), ``"dynamics"`` (backpropagation through the
        model's imagined dynamics), or ``"auto"``: dynamics for ``Box`` actions, reinforce for ``Discrete``
    :param slow_critic_tau: rate of the exponential moving average of the slow critic, per update
    :param max_grad_norm: gradient clipping norm of each of the three optimizers
    :param stats_window_size: episodes averaged for ``rollout/ep_rew_mean``
    :param tensorboard_log: tensorboard log directory
    :param policy_kwargs: network sizes and options of :class:`DreamerPolicy`
    :param verbose: 0 silent, 1 training information, 2 debug
    :param seed: random seed
    :param device: ``"auto"``, ``"cpu"`` or ``"cuda"``
    :param _init_setup_model: build the networks and the buffer at construction
    """

    policy_aliases: ClassVar[dict[str, type[BasePolicy]]] = {"MlpPolicy": DreamerPolicy}
    policy: DreamerPolicy
    replay_buffer: SequenceReplayBuffer | None

    def __init__(
        self,
        policy: str | type[DreamerPolicy] | GymEnv = "MlpPolicy",
        env: GymEnv | str | None = None,
        learning_rate: float | Schedule = 3e-4,
        actor_learning_rate: float = 1e-4,
        critic_learning_rate: float = 3e-4,
        buffer_size: int = 1_000_000,
        learning_starts: int = 1000,
        batch_size: int = 16,
        sequence_length: int = 32,
        train_ratio: float = 32.0,
        horizon: int = 15,
        gamma: float = 0.99,
        lambda_: float = 0.95,
        entropy_coef: float = 3e-4,
        actor_gradient: ActorGradient | str = "auto",
        slow_critic_tau: float = 0.02,
        max_grad_norm: float = 100.0,
        stats_window_size: int = 100,
        tensorboard_log: str | None = None,
        policy_kwargs: dict[str, Any] | None = None,
        verbose: int = 0,
        seed: int | None = None,
        device: th.device | str = "auto",
        _init_setup_model: bool = True,
    ) -> None:
        policy, env = resolve_policy_and_env(
            "Dreamer", self.policy_aliases, DreamerPolicy, "MlpPolicy", policy, env, verbose, DreamerPolicy.check_spaces
        )
        super().__init__(
            policy,
            env,  # type: ignore[arg-type]
            learning_rate,
            policy_kwargs=policy_kwargs,
            stats_window_size=stats_window_size,
            tensorboard_log=tensorboard_log,
            verbose=verbose,
            device=device,
            support_multi_env=True,
            seed=seed,
            supported_action_spaces=(spaces.Box, spaces.Discrete),
        )
        self.actor_learning_rate = actor_learning_rate
        self.critic_learning_rate = critic_learning_rate
        self.buffer_size = buffer_size
        self.learning_starts = learning_starts
        self.batch_size = batch_size
        self.sequence_length = sequence_length
        self.train_ratio = train_ratio
        self.horizon = horizon
        self.gamma = gamma
        self.lambda_ = lambda_
        self.entropy_coef = entropy_coef
        self.actor_gradient = actor_gradient
        self.slow_critic_tau = slow_critic_tau
        self.max_grad_norm = max_grad_norm
        self._check_hyperparameters()
        self.replay_buffer = None
        self._rnn_state: DreamerState | None = None
        self._train_credit = 0.0  # replayed steps earned by env steps and not yet spent on updates
        if _init_setup_model:
            self._setup_model()

    def _check_hyperparameters(self) -> None:
        def check(name: str, ok: bool, what: str) -> None:
            require(name, getattr(self, name), ok, what)

        for name in ("buffer_size", "batch_size", "sequence_length", "horizon"):
            check(name, is_int(getattr(self, name)) and getattr(self, name) >= 1, "an integer >= 1")
        check("learning_starts", is_int(self.learning_starts) and self.learning_starts >= 0, "an integer >= 0")
        check("train_ratio", np.isfinite(self.train_ratio) and self.train_ratio > 0, "a positive number")
        for name in ("gamma", "lambda_"):
            check(name, 0.0 < getattr(self, name) <= 1.0, "in (0, 1]")
        check("slow_critic_tau", 0.0 < self.slow_critic_tau <= 1.0, "in (0, 1]")
        check("entropy_coef", np.isfinite(self.entropy_coef) and self.entropy_coef >= 0, "a number >= 0")
        check("max_grad_norm", self.max_grad_norm > 0, "positive")
        for name in ("actor_learning_rate", "critic_learning_rate"):
            check(name, np.isfinite(getattr(self, name)) and getattr(self, name) > 0, "a positive number")
        check("actor_gradient", self.actor_gradient in ("auto", "reinforce", "dynamics"), "'auto', 'reinforce' or 'dynamics'")
        if self.env is not None:
            per_env = self.buffer_size // self.env.num_envs
            if per_env < self.sequence_length:
                raise ValueError(
                    f"buffer_size={self.buffer_size} keeps {per_env} steps per env, fewer than "
                    f"sequence_length={self.sequence_length}"
                )

    def _setup_model(self) -> None:
        self._setup_lr_schedule()
        self.set_random_seed(self.seed)
        self.policy = self.policy_class(  # type: ignore[assignment]
            self.observation_space,
            self.action_space,
            self.lr_schedule,
            actor_lr=self.actor_learning_rate,
            critic_lr=self.critic_learning_rate,
            **self.policy_kwargs,
        )
        self.policy = self.policy.to(self.device)
        self.replay_buffer = SequenceReplayBuffer(
            self.buffer_size, self.observation_space, self.action_space, device=self.device, n_envs=self.n_envs
        )
        if self.actor_gradient == "auto":
            self.actor_gradient = "reinforce" if isinstance(self.action_space, spaces.Discrete) else "dynamics"

    def _excluded_save_params(self) -> list[str]:
        return [*super()._excluded_save_params(), "_rnn_state"]

    def _get_torch_save_params(self) -> tuple[list[str], list[str]]:
        return ["policy", "policy.world_model.optimizer", "policy.actor.optimizer", "policy.critic.optimizer"], []

    # --- replay buffer persistence (as SB3's off-policy algorithms) -------------------------------------------------

    def save_replay_buffer(self, path: str) -> None:
        """Save the replay buffer as a pickle file (``.pkl`` is appended if missing)."""
        if self.replay_buffer is None:
            raise ValueError("there is no replay buffer to save: build the model first")
        save_to_pkl(path, self.replay_buffer, self.verbose)

    def load_replay_buffer(self, path: str) -> None:
        """Load a replay buffer saved by :meth:`save_replay_buffer`."""
        buffer = load_from_pkl(path, self.verbose)
        if not isinstance(buffer, SequenceReplayBuffer):
            raise TypeError(f"{path} does not hold a SequenceReplayBuffer, got {type(buffer).__name__}")
        if buffer.n_envs != self.n_envs or buffer.observation_space != self.observation_space:
            raise ValueError(
                f"the replay buffer in {path} was built for {buffer.n_envs} envs and {buffer.observation_space}, "
                f"this model has {self.n_envs} envs and {self.observation_space}"
            )
        buffer.device = self.device
        self.replay_buffer = buffer

    # --- learning ------------------------------------------------------------------------------------------------------

    def _setup_learn(
        self,
        total_timesteps: int,
        callback: MaybeCallback = None,
        reset_num_timesteps: bool = True,
        tb_log_name: str = "run",
        progress_bar: bool = False,
    ) -> tuple[int, BaseCallback]:
        if reset_num_timesteps and self.replay_buffer is not None:
            # The envs are reset: the buffer must not glue the new episodes onto the interrupted ones.
            self.replay_buffer.truncate_last_episodes()
        result = super()._setup_learn(total_timesteps, callback, reset_num_timesteps, tb_log_name, progress_bar)
        if self._rnn_state is None or reset_num_timesteps:
            assert self.env is not None
            self._rnn_state = self.policy.initial_state(self.env.num_envs)
        return result

    def learn(
        self: SelfDreamer,
        total_timesteps: int,
        callback: MaybeCallback = None,
        log_interval: int = 4,
        tb_log_name: str = "Dreamer",
        reset_num_timesteps: bool = True,
        progress_bar: bool = False,
    ) -> SelfDreamer:
        """Train for ``total_timesteps`` env steps (SB3's ``learn``); ``log_interval`` is in episodes."""
        total_timesteps, callback = self._setup_learn(
            total_timesteps, callback, reset_num_timesteps, tb_log_name, progress_bar
        )
        callback.on_training_start(locals(), globals())
        assert self.env is not None
        while self.num_timesteps < total_timesteps:
            callback.on_rollout_start()
            episodes_before = self._episode_num
            if not self._collect_step(self.env, callback):
                break
            callback.on_rollout_end()
            if self.num_timesteps > self.learning_starts:
                self._train_credit += self.train_ratio * self.env.num_envs
                self.train()
            if log_interval and self._episode_num // log_interval > episodes_before // log_interval:
                self.dump_logs()
        callback.on_training_end()
        return self

    def _collect_step(self, env: VecEnv, callback: BaseCallback) -> bool:
        """Step every env once with the carried model state, store the transitions, and call the callbacks."""
        assert self._last_obs is not None and self._rnn_state is not None and self.replay_buffer is not None
        self.policy.set_training_mode(False)
        with th.no_grad():
            obs = obs_as_tensor(self._last_obs, self.device)  # type: ignore[arg-type]
            starts = th.as_tensor(self._last_episode_starts, dtype=th.float32, device=self.device)
            action, state = self.policy.step(obs, self._rnn_state, starts)  # type: ignore[arg-type]
        if self.num_timesteps < self.learning_starts:
            env_actions = np.array([self.action_space.sample() for _ in range(env.num_envs)])
            action = th.as_tensor(self.policy.from_env_action(env_actions), device=self.device)
            action = self.policy.model_action(action.unsqueeze(-1) if self.policy.discrete else action)
            state = (state[0], state[1], action)
        else:
            env_actions = self.policy.to_env_action(action)
        self._rnn_state = state

        new_obs, rewards, dones, infos = env.step(env_actions)
        self.num_timesteps += env.num_envs
        callback.update_locals(locals())
        if not callback.on_step():
            return False
        self._update_info_buffer(infos, dones)

        if self._vec_normalize_env is not None:
            original_new_obs = self._vec_normalize_env.get_original_obs()
            original_rewards = self._vec_normalize_env.get_original_reward()
            for i in np.flatnonzero(dones):
                if infos[i].get("terminal_observation") is not None:
                    infos[i]["terminal_observation"] = self._vec_normalize_env.unnormalize_obs(
                        infos[i]["terminal_observation"]
                    )
            last_obs = self._last_original_obs
        else:
            original_new_obs, original_rewards, last_obs = new_obs, rewards, self._last_obs
        self.replay_buffer.add(
            last_obs,  # type: ignore[arg-type]
            final_observations(original_new_obs, dones, infos),  # type: ignore[arg-type]
            self.policy.from_env_action(env_actions),
            original_rewards,
            dones,
            infos,
        )
        self._last_obs = new_obs  # type: ignore[assignment]
        self._last_original_obs = original_new_obs  # type: ignore[assignment]
        self._last_episode_starts = dones
        self._episode_num += int(np.sum(dones))
        return True

    def train(self, gradient_steps: int | None = None) -> None:
        """Run the gradient updates earned so far (or exactly ``gradient_steps`` of them)."""
        assert self.replay_buffer is not None
        chunk = self.batch_size * self.sequence_length
        if gradient_steps is None:
            gradient_steps = int(self._train_credit // chunk)
        if gradient_steps <= 0 or not self._can_sample():
            return
        self._train_credit = max(self._train_credit - gradient_steps * chunk, 0.0)
        self.policy.set_training_mode(True)
        update_learning_rate(self.policy.world_model.optimizer, self.lr_schedule(self._current_progress_remaining))
        metrics: dict[str, list[float]] = {}
        for _ in range(gradient_steps):
            for key, value in self._update().items():
                metrics.setdefault(key, []).append(value)
        self._n_updates += gradient_steps
        self.logger.record("train/n_updates", self._n_updates, exclude="tensorboard")
        self.logger.record("train/learning_rate", self.lr_schedule(self._current_progress_remaining))
        for key, values in metrics.items():
            self.logger.record(f"train/{key}", float(np.mean(values)))

    def _can_sample(self) -> bool:
        assert self.replay_buffer is not None
        return bool((self.replay_buffer.n_stored >= self.sequence_length).any())

    def _update(self) -> dict[str, float]:
        """One gradient update of the world model, then of the actor and critic on imagined trajectories."""
        assert self.replay_buffer is not None
        policy = self.policy
        data = self.replay_buffer.sample(self.batch_size, self.sequence_length, env=self._vec_normalize_env)
        prev_action = policy.model_action(data.prev_actions)
        wm_losses, posterior = policy.world_model.loss(
            data.observations.float(), prev_action, data.rewards, data.terminated, data.is_first
        )
        self._optimize(policy.world_model, wm_losses.total)

        start = Latent(
            posterior.deter.reshape(-1, posterior.deter.shape[-1]), posterior.stoch.reshape(-1, posterior.stoch.shape[-1])
        )
        start_continue = (1.0 - data.terminated).reshape(-1)
        losses = behavior_losses(
            policy.world_model,
            policy.actor,
            policy.critic,
            policy.slow_critic,
            policy.return_normalizer,
            start,
            start_continue,
            self.horizon,
            self.gamma,
            self.lambda_,
            self.entropy_coef,
            self.actor_gradient,  # type: ignore[arg-type]
        )
        self._optimize(policy.actor, losses.actor)
        self._optimize(policy.critic, losses.critic)
        with th.no_grad():
            for slow, fast in zip(policy.slow_critic.parameters(), policy.critic.parameters(), strict=True):
                slow.lerp_(fast, self.slow_critic_tau)
        return {
            "model_loss": wm_losses.total.item(),
            "obs_loss": wm_losses.observation.item(),
            "reward_loss": wm_losses.reward.item(),
            "continue_loss": wm_losses.continuation.item(),
            "kl": wm_losses.kl.item(),
            "actor_loss": losses.actor.item(),
            "critic_loss": losses.critic.item(),
            "entropy": losses.entropy.item(),
            "imagined_return": losses.returns.item(),
            "return_scale": losses.scale.item(),
        }

    def _optimize(self, module: th.nn.Module, loss: th.Tensor) -> None:
        optimizer: th.optim.Optimizer = module.optimizer  # type: ignore[assignment]
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        th.nn.utils.clip_grad_norm_(module.parameters(), self.max_grad_norm)
        optimizer.step()

    def dump_logs(self) -> None:
        """Write the SB3 logger's records (time, rollout and train keys)."""
        assert self.ep_info_buffer is not None
        elapsed = max((time.time_ns() - self.start_time) / 1e9, sys.float_info.epsilon)
        self.logger.record("time/episodes", self._episode_num, exclude="tensorboard")
        if len(self.ep_info_buffer) > 0:
            self.logger.record("rollout/ep_rew_mean", safe_mean([info["r"] for info in self.ep_info_buffer]))
            self.logger.record("rollout/ep_len_mean", safe_mean([info["l"] for info in self.ep_info_buffer]))
        self.logger.record("time/fps", int((self.num_timesteps - self._num_timesteps_at_start) / elapsed))
        self.logger.record("time/time_elapsed", int(elapsed), exclude="tensorboard")
        self.logger.record("time/total_timesteps", self.num_timesteps, exclude="tensorboard")
        self.logger.dump(step=self.num_timesteps)
