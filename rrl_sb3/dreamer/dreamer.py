"""Dreamer as an SB3 algorithm: a GRU-RSSM world model, and an actor and critic learned in imagination."""

from __future__ import annotations

import warnings
from typing import Any, ClassVar

import numpy as np
import torch as th
from gymnasium import spaces
from stable_baselines3.common.noise import ActionNoise
from stable_baselines3.common.policies import BasePolicy
from stable_baselines3.common.preprocessing import is_image_space
from stable_baselines3.common.type_aliases import GymEnv, Schedule
from stable_baselines3.common.utils import update_learning_rate

from rrl_sb3.common.buffers import SequenceReplayBuffer
from rrl_sb3.common.precision import PRECISIONS, autocast, compute_dtype, native_bf16
from rrl_sb3.common.recurrent_algorithm import RecurrentOffPolicyAlgorithm
from rrl_sb3.common.utils import (
    IN_CLOSED_UNIT_INTERVAL,
    IN_UNIT_INTERVAL,
    LEARNING_RATE,
    NON_NEGATIVE,
    ON_NON_FINITE,
    POSITIVE,
    Check,
    at_least,
    check_hyperparameters,
    is_int,
    one_of,
    resolve_policy_and_env,
)
from rrl_sb3.dreamer.behavior import ActorGradient, BehaviorSettings, ReplayTargets, behavior_losses
from rrl_sb3.dreamer.policies import DreamerPolicy
from rrl_sb3.dreamer.world_model import Latent

#: start states per replayed sequence of ``imagine_starts="auto"`` (issue #26's screen: 8 of 32)
AUTO_IMAGINE_STARTS = 8


class Dreamer(RecurrentOffPolicyAlgorithm):
    """Dreamer (DreamerV3-style, on a GRU recurrent state-space model).

    A world model learns the environment's dynamics, rewards and terminations from replayed sequences; the actor
    and critic learn from trajectories the model imagines from every replayed posterior state. Acting carries the
    model state ``(h, z, previous action)`` of every env from step to step and resets it at episode start, so the
    agent remembers what it observed: it is built for partially observable tasks.

    ``Dreamer("Pendulum-v1")`` is the shortest call: an env id (or env) as the only argument implies ``MlpPolicy``.

    Dreamer runs on SB3's off-policy loop (``OffPolicyAlgorithm``: collection, callbacks, logging, VecNormalize,
    replay-buffer persistence), one env step per round. Training happens as the env steps: every env step earns
    ``train_ratio`` replayed steps, and each gradient update replays ``batch_size * sequence_length`` of them
    (DreamerV3's train ratio). With the defaults, ``train_ratio=64`` and 16 x 32 = 512 steps per update, there is one
    update every 8 env steps, and imagination starts from the last 8 posterior states of each replayed sequence
    (``imagine_starts="auto"``). The default networks are small (128 units, a 128-unit GRU, 16 x 16 categorical
    latents) so that a 20,000-step run fits in minutes on two CPU cores; raise them through ``policy_kwargs`` for
    harder tasks.

    :param policy: ``"MlpPolicy"``, ``"CnnPolicy"`` (images) or ``"MultiInputPolicy"`` (``Dict`` observations), all
        :class:`DreamerPolicy`, whose world model reads each space as it should; or an env / env id when ``env`` is not
        given
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
    :param train_ratio: replayed steps per env step. The default, 64, with ``imagine_starts="auto"``, was chosen by
        screening (PendulumNoVel, 3 seeds, 16k env steps): median 6k env steps and 115 training CPU seconds to a
        return of -200, against 10k and 280 at the former defaults (32, imagination from every row); at 32 with 8
        start states, one seed of three never got there. On images, where the convolutional world model is most of
        an update, 64 costs about 1.6x the CPU per env step of 32 (MiniGrid through pixels: 84 against 53 ms)
    :param horizon: length of the imagined trajectories
    :param imagine_starts: how many of each replayed sequence's posterior states imagination starts from: an int (at
        most ``sequence_length``), ``None`` (all of them), or ``"auto"``: 8 (all rows of shorter sequences), and all
        rows when ``replay_value_scale > 0`` with ``replay_value_bootstrap="imagined"``, whose loss then has an
        imagined return for every row, as in DreamerV3. Imagination and the actor's and critic's passes cost in
        proportion to the start states and are most of an update: 8 of 32 makes an update about 2.5x cheaper (409
        against 161 ms, PendulumNoVel, one thread)
    :param imagine_subset: which start states, when ``imagine_starts`` is set: ``"last"`` (the last ``imagine_starts``
        rows of each sequence, whose posteriors have filtered the most history; DreamerV3's ``imag_last``) or
        ``"random"`` (that many distinct rows of each sequence, drawn anew each update)
    :param gamma: discount factor
    :param lambda_: lambda of the TD(lambda) returns
    :param entropy_coef: weight of the actor's entropy bonus (on returns normalised to about [0, 1])
    :param actor_gradient: ``"reinforce"`` (likelihood ratio), ``"dynamics"`` (backpropagation through the
        model's imagined dynamics), or ``"auto"``: dynamics for ``Box`` actions, reinforce for ``Discrete`` and
        ``MultiDiscrete``
    :param slow_critic_tau: rate of the exponential moving average of the slow critic, per update
    :param replay_value_scale: weight of the critic's replay value loss: on the replayed posterior states, the
        lambda-returns of the real rewards and terminations, bootstrapped at each step as ``replay_value_bootstrap``
        says (DreamerV3: 0.3); 0 trains the critic on imagined trajectories only
    :param replay_value_bootstrap: the value of each replayed state in those returns: ``"imagined"`` (the imagined
        return from it, as in DreamerV3, where imagination starts from every row; with fewer ``imagine_starts``, the
        rows in between carry the real rewards on to the next start row's imagined return, see
        :func:`~rrl_sb3.common.math.replay_lambda_returns`) or ``"critic"`` (the slow critic's value of its posterior
        state). Either costs one critic pass over the batch beyond imagination
    :param continue_scale: weight of the continue head's loss in the world model's loss (DreamerV3: 1). The continue
        head is where imagined episodes end: an agent that rarely fails stores few terminations, and a head that stops
        marking them lets imagination run past the failures (``rrl_sb3.dreamer.diagnostics`` measures it)
    :param continue_loss: ``"mean"`` (every replayed row weighs the same, as in DreamerV3) or ``"balanced"`` (the
        batch's terminal rows weigh as much, together, as all its other rows: where the head cannot tell a failure from
        its neighbourhood, it then predicts an end rather than a continuation)
    :param terminal_share: share of each batch's sequences that end at a stored termination (the rest are drawn
        uniformly; see :meth:`SequenceReplayBuffer.sample <rrl_sb3.common.SequenceReplayBuffer.sample>`), so that the
        continue head keeps seeing terminations however rare they become; 0 samples uniformly
    :param precision: dtype of the matrix products of imagination and of the actor's and critic's passes (the big,
        batched part of an update): ``"fp32"``, ``"bf16"`` (parameters, optimizer state, gradients, distributions and
        losses stay float32, as in DreamerV3), or ``"auto"``: bf16 where the device runs it natively (CPUs with AMX or
        AVX512-BF16, CUDA GPUs from Ampere on), float32 elsewhere. The world model's sequential filtering stays
        float32: its small per-step batches run no faster in bf16
    :param max_grad_norm: gradient clipping norm of each of the three optimizers
    :param stats_window_size: episodes averaged for ``rollout/ep_rew_mean``
    :param tensorboard_log: tensorboard log directory
    :param policy_kwargs: network sizes and options of :class:`DreamerPolicy` (the actor's and critic's learning
        rates are ``actor_learning_rate`` and ``critic_learning_rate`` above)
    :param verbose: 0 silent, 1 training information, 2 debug
    :param seed: random seed
    :param device: ``"auto"``, ``"cpu"`` or ``"cuda"``
    :param on_non_finite: what an update does with a non-finite loss or gradient: ``"raise"`` (``NonFiniteError``) or
        ``"warn"`` (warn and skip that optimizer step); the weights are untouched either way
    :param _init_setup_model: build the networks and the buffer at construction
    """

    # One policy class for every space (its world model picks an MLP or a CNN per observation part); the names are
    # SB3's, so code written for SB3 works unchanged.
    policy_aliases: ClassVar[dict[str, type[BasePolicy]]] = {
        "MlpPolicy": DreamerPolicy,
        "CnnPolicy": DreamerPolicy,
        "MultiInputPolicy": DreamerPolicy,
    }
    policy: DreamerPolicy

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
        train_ratio: float = 64.0,
        horizon: int = 15,
        imagine_starts: int | str | None = "auto",
        imagine_subset: str = "last",
        gamma: float = 0.99,
        lambda_: float = 0.95,
        entropy_coef: float = 3e-4,
        actor_gradient: ActorGradient | str = "auto",
        slow_critic_tau: float = 0.02,
        replay_value_scale: float = 0.0,
        replay_value_bootstrap: str = "imagined",
        continue_scale: float = 1.0,
        continue_loss: str = "mean",
        terminal_share: float = 0.0,
        precision: str = "fp32",
        max_grad_norm: float = 100.0,
        stats_window_size: int = 100,
        tensorboard_log: str | None = None,
        policy_kwargs: dict[str, Any] | None = None,
        verbose: int = 0,
        seed: int | None = None,
        device: th.device | str = "auto",
        on_non_finite: str = "raise",
        _init_setup_model: bool = True,
    ) -> None:
        policy, env = resolve_policy_and_env(
            "Dreamer",
            self.policy_aliases,
            DreamerPolicy,
            "MlpPolicy",
            policy,
            env,
            verbose,
            DreamerPolicy.check_spaces,
            _init_setup_model,
        )
        taken = sorted({"actor_lr", "critic_lr"} & set(policy_kwargs or {}))
        if taken:
            raise ValueError(
                f"policy_kwargs must not set {taken}: pass actor_learning_rate and critic_learning_rate to Dreamer"
            )
        super().__init__(
            policy,  # type: ignore[arg-type]
            env,  # type: ignore[arg-type]
            learning_rate,
            buffer_size=buffer_size,
            learning_starts=learning_starts,
            batch_size=batch_size,
            gamma=gamma,
            train_freq=1,
            gradient_steps=-1,  # train() gets the env steps of each round and turns them into updates (train_ratio)
            replay_buffer_class=SequenceReplayBuffer,
            policy_kwargs=policy_kwargs,
            stats_window_size=stats_window_size,
            tensorboard_log=tensorboard_log,
            verbose=verbose,
            device=device,
            support_multi_env=True,
            seed=seed,
            sde_support=False,
            supported_action_spaces=(spaces.Box, spaces.Discrete, spaces.MultiDiscrete, spaces.MultiBinary),
        )
        if policy == "CnnPolicy" and not is_image_space(self.observation_space, check_channels=False):
            raise ValueError(
                f"CnnPolicy reads images (a uint8 Box of shape (H, W, C) or (C, H, W)), got "
                f"observation_space={self.observation_space!r}; use MlpPolicy (or MultiInputPolicy for a Dict)"
            )
        self.actor_learning_rate = actor_learning_rate
        self.critic_learning_rate = critic_learning_rate
        self.sequence_length = sequence_length
        self.train_ratio = train_ratio
        self.horizon = horizon
        self.imagine_starts = imagine_starts
        self.imagine_subset = imagine_subset
        self.lambda_ = lambda_
        self.entropy_coef = entropy_coef
        self.actor_gradient = actor_gradient
        self.slow_critic_tau = slow_critic_tau
        self.replay_value_scale = replay_value_scale
        self.replay_value_bootstrap = replay_value_bootstrap
        self.continue_scale = continue_scale
        self.continue_loss = continue_loss
        self.terminal_share = terminal_share
        self.precision = precision
        self.max_grad_norm = max_grad_norm
        self.on_non_finite = on_non_finite
        self._check_hyperparameters()
        self._train_credit = 0.0  # replayed steps earned by env steps and not yet spent on updates
        if _init_setup_model:
            self._setup_model()

    def _check_hyperparameters(self) -> None:
        positive_int = at_least(1)
        checks = dict.fromkeys(("buffer_size", "batch_size", "horizon"), positive_int)
        checks.update(
            sequence_length=at_least(2),  # one row holds no transition: nothing to learn dynamics from
            learning_rate=LEARNING_RATE,
            on_non_finite=ON_NON_FINITE,
            learning_starts=at_least(0),
            train_ratio=POSITIVE,
            gamma=IN_UNIT_INTERVAL,
            lambda_=IN_UNIT_INTERVAL,
            slow_critic_tau=IN_UNIT_INTERVAL,
            entropy_coef=NON_NEGATIVE,
            replay_value_scale=NON_NEGATIVE,
            replay_value_bootstrap=one_of("imagined", "critic"),
            continue_scale=NON_NEGATIVE,
            continue_loss=one_of("mean", "balanced"),
            terminal_share=IN_CLOSED_UNIT_INTERVAL,
            max_grad_norm=POSITIVE,
            actor_learning_rate=POSITIVE,
            critic_learning_rate=POSITIVE,
            actor_gradient=one_of("auto", "reinforce", "dynamics"),
            imagine_subset=one_of("last", "random"),
            precision=one_of(*PRECISIONS),
        )
        checks["imagine_starts"] = Check(
            lambda v: v is None or v == "auto" or (is_int(v) and v >= 1), "'auto', None or an integer >= 1"
        )
        check_hyperparameters(self, checks)
        starts = self._imagine_starts()
        if starts is not None and starts > self.sequence_length:
            raise ValueError(
                f"imagine_starts must be at most sequence_length={self.sequence_length} (or None: every row; or 'auto'), "
                f"got imagine_starts={self.imagine_starts!r}"
            )
        self._check_buffer_holds_a_sequence(self.sequence_length)

    def _imagine_starts(self) -> int | None:
        """The number of start states per replayed sequence that ``imagine_starts`` means (``None``: every row)."""
        if self.imagine_starts == "auto":
            # DreamerV3's replay value loss bootstraps every row with an imagined return
            every_row = self.replay_value_scale > 0 and self.replay_value_bootstrap == "imagined"
            return None if every_row else min(AUTO_IMAGINE_STARTS, self.sequence_length)
        return self.imagine_starts  # type: ignore[return-value]

    def _setup_model(self) -> None:
        # The policy builds the three optimizers; the actor's and critic's rates are arguments of the algorithm.
        self.policy_kwargs = {
            **self.policy_kwargs,
            "actor_lr": self.actor_learning_rate,
            "critic_lr": self.critic_learning_rate,
        }
        super()._setup_model()
        self._compute_dtype = compute_dtype(self.precision, self.device)
        if self.precision == "bf16" and not native_bf16(self.device):
            warnings.warn(
                f"precision='bf16' on {self.device} without native bf16 units: bf16 is emulated there and slower than "
                "float32; precision='auto' picks float32 on this device",
                stacklevel=2,
            )
        if self.actor_gradient == "auto":
            discrete = isinstance(self.action_space, (spaces.Discrete, spaces.MultiDiscrete, spaces.MultiBinary))
            self.actor_gradient = "reinforce" if discrete else "dynamics"

    def _get_torch_save_params(self) -> tuple[list[str], list[str]]:
        return ["policy", "policy.world_model.optimizer", "policy.actor.optimizer", "policy.critic.optimizer"], []

    # --- collecting ----------------------------------------------------------------------------------------------

    def _sample_action(
        self, learning_starts: int, action_noise: ActionNoise | None = None, n_envs: int = 1
    ) -> tuple[np.ndarray, np.ndarray]:
        """Filter the last observations into the carried model state (reset where an episode starts) and act:
        uniformly at random before ``learning_starts``, else with the actor's sample. The state remembers the action
        taken. (``action_noise`` is not used: the actor explores by its own entropy.)

        :return: the actions for the env and for the replay buffer (the index for ``Discrete``, ``[-1, 1]`` for ``Box``)
        """
        action, state = self._policy_step()
        if self.num_timesteps < learning_starts:
            env_actions = np.array([self.action_space.sample() for _ in range(n_envs)])
            stored = th.as_tensor(self.policy.from_env_action(env_actions), device=self.device)
            state = self.policy.remember_action(state, self.policy.model_action(stored.view(n_envs, -1)))
        else:
            env_actions = self.policy.to_env_action(action)
        self._rnn_state = state
        return env_actions, self.policy.from_env_action(env_actions)

    # --- training ------------------------------------------------------------------------------------------------

    def train(self, gradient_steps: int, batch_size: int) -> None:
        """Spend the replay that the env steps have earned on gradient updates.

        SB3 passes the env steps of the round as ``gradient_steps`` (Dreamer sets ``gradient_steps=-1``): each earns
        ``train_ratio`` replayed steps, and an update replays ``batch_size * sequence_length`` of them; the rest is
        kept for the next round.

        :param gradient_steps: env steps collected since the last call
        :param batch_size: sequences per update
        """
        self._train_credit += self.train_ratio * gradient_steps
        chunk = batch_size * self.sequence_length
        n_updates = int(self._train_credit // chunk)
        if n_updates <= 0 or not self._can_sample(self.sequence_length):
            return
        self._train_credit = max(self._train_credit - n_updates * chunk, 0.0)
        self.policy.set_training_mode(True)
        update_learning_rate(self.policy.world_model.optimizer, self.lr_schedule(self._current_progress_remaining))
        metrics: dict[str, list[float]] = {}
        for _ in range(n_updates):
            for key, value in self._update().items():
                metrics.setdefault(key, []).append(value)
        self._n_updates += n_updates
        self.logger.record("train/n_updates", self._n_updates, exclude="tensorboard")
        self.logger.record("train/learning_rate", self.lr_schedule(self._current_progress_remaining))
        for key, values in metrics.items():
            self.logger.record(f"train/{key}", float(np.mean(values)))

    def _update(self) -> dict[str, float]:
        """One gradient update of the world model, then of the actor and critic on imagined trajectories."""
        assert self.replay_buffer is not None
        policy = self.policy
        data = self.replay_buffer.sample(
            self.batch_size, self.sequence_length, env=self._vec_normalize_env, terminal_share=self.terminal_share
        )
        prev_action = policy.model_action(data.prev_actions)
        wm_losses, posterior = policy.world_model.loss(
            data.observations,
            prev_action,
            data.rewards,
            data.terminated,
            data.is_first,
            self.continue_scale,
            self.continue_loss == "balanced",
        )
        self._optimize(policy.world_model, wm_losses.total, "world model")

        # imagination starts from the replayed posterior states (all of them, or imagine_starts per sequence)
        start, start_continue, start_rows = self._imagination_starts(posterior, 1.0 - data.terminated)
        settings = BehaviorSettings(
            self.horizon,
            self.gamma,
            self.lambda_,
            self.entropy_coef,
            self.actor_gradient,  # type: ignore[arg-type]
            replay_value_scale=self.replay_value_scale,
            replay_value_bootstrap=self.replay_value_bootstrap,  # type: ignore[arg-type]
        )
        replay = ReplayTargets.from_batch(posterior.features, data, start_rows) if self.replay_value_scale > 0 else None
        with autocast(self.device, self._compute_dtype):
            losses = behavior_losses(policy, start, start_continue, settings, replay)
        self._optimize(policy.actor, losses.actor, "actor", retain_graph=True)  # the critic's loss shares its pass
        self._optimize(policy.critic, losses.critic, "critic")
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
            "replay_value_loss": losses.replay_value.item(),
            "entropy": losses.entropy.item(),
            "imagined_return": losses.returns.item(),
            "return_scale": losses.scale.item(),
        }

    def _imagination_starts(self, posterior: Latent, continues: th.Tensor) -> tuple[Latent, th.Tensor, th.Tensor | None]:
        """The start states of imagination, flattened to ``(N, ...)``, their ``1 - terminated`` ``(N,)`` and the rows
        they are of each sequence, ``(B, k)`` (``None``: every row): every replayed row, or ``imagine_starts`` rows of
        each sequence (the last ones, or distinct random ones)."""
        batch, length = continues.shape
        k = self._imagine_starts()
        if k is None or k >= length:
            return posterior.flatten(), continues.reshape(-1), None
        if self.imagine_subset == "last":
            rows = th.arange(length - k, length, device=continues.device).expand(batch, k)
            start = Latent(posterior.deter[:, -k:], posterior.stoch[:, -k:]).flatten()
            return start, continues[:, -k:].reshape(-1), rows
        rows = th.rand(batch, length, device=continues.device).argsort(dim=1)[:, :k]  # k distinct rows per sequence

        def pick(x: th.Tensor) -> th.Tensor:
            return x.gather(1, rows.view(batch, k, *([1] * (x.ndim - 2))).expand(batch, k, *x.shape[2:]))

        return Latent(pick(posterior.deter), pick(posterior.stoch)).flatten(), pick(continues).reshape(-1), rows

    def _optimize(self, module: th.nn.Module, loss: th.Tensor, name: str, retain_graph: bool = False) -> None:
        optimizer: th.optim.Optimizer = module.optimizer  # type: ignore[assignment]
        self._optimizer_step(optimizer, loss, module.parameters(), self.max_grad_norm, name, retain_graph)
