"""Recurrent soft actor-critic (SAC with GRU/LSTM actor and critics) as an SB3 off-policy algorithm."""

from __future__ import annotations

from typing import Any, ClassVar, NamedTuple

import numpy as np
import torch as th
from gymnasium import spaces
from stable_baselines3.common.noise import ActionNoise
from stable_baselines3.common.policies import BasePolicy
from stable_baselines3.common.type_aliases import GymEnv, Schedule
from stable_baselines3.common.utils import polyak_update

from rrl_sb3.common.buffers import SequenceReplayBuffer, SequenceReplayBufferSamples
from rrl_sb3.common.observations import map_observations
from rrl_sb3.common.recurrent_algorithm import RecurrentOffPolicyAlgorithm
from rrl_sb3.common.utils import (
    IN_UNIT_INTERVAL,
    LEARNING_RATE,
    NON_NEGATIVE,
    ON_NON_FINITE,
    POSITIVE,
    at_least,
    check_hyperparameters,
    is_int,
    is_number,
    require,
    resolve_policy_and_env,
)
from rrl_sb3.sac.policies import (
    ActorState,
    RecurrentActor,
    RecurrentCritic,
    RecurrentSACCnnPolicy,
    RecurrentSACMultiInputPolicy,
    RecurrentSACPolicy,
    SoftCategorical,
    check_spaces,
)


class SequenceMasks(NamedTuple):
    """Which parts of a replayed chunk (time-major, ``(L, B)``) enter the losses.

    :param actor: rows the actor loss averages over: recurrent state warmed up, and not the last observation of an
        episode (no action is taken from it)
    :param critic: transitions ``t -> t + 1`` (``(L - 1, B)``) the critic loss averages over: state warmed up at
        ``t`` and ``t + 1`` in the same episode (not a boundary between two episodes)
    """

    actor: th.Tensor
    critic: th.Tensor


def sequence_masks(is_first: th.Tensor, terminated: th.Tensor, truncated: th.Tensor, burn_in: int) -> SequenceMasks:
    """The loss masks of a chunk, time-major ``(L, B)`` flags as sampled from a :class:`SequenceReplayBuffer`.

    A chunk may begin mid-episode, where its recurrent state starts from zero instead of from the episode's history;
    the first ``burn_in`` rows of such an episode only warm the state up. Rows of an episode that starts inside the
    chunk have their exact state and always count.
    """
    first = is_first.bool()
    length = first.shape[0]
    started = th.cumsum(first.long(), dim=0) > 0
    warm = started | (th.arange(length, device=first.device) >= burn_in).view(-1, *([1] * (first.dim() - 1)))
    final = terminated.bool() | truncated.bool()
    return SequenceMasks(actor=warm & ~final, critic=warm[:-1] & ~first[1:])


class SACLosses(NamedTuple):
    """The losses of one batch of chunks, and what the actor loss reuses from computing them.

    :param critic: critic loss (gradients into the critics)
    :param ent_coef_loss: loss of ``log_ent_coef`` (``None`` for a fixed coefficient)
    :param ent_coef: the entropy coefficient used
    :param log_prob: ``log pi(a|h)`` of the fresh actions, ``(L, B)`` (gradients into the actor)
    :param actions_pi: fresh reparameterised actions ``a ~ pi``, ``(L, B, action_dim)``
    :param h_critic: the critics' encoding of the chunks, detached
    :param critic_features: the critics' features of the observations, time-major, detached
    :param actor_mask: rows the actor loss averages over (see :func:`sequence_masks`)
    :param n_actor: how many rows that is (at least 1)
    :param q_mean: the first critic's mean Q over the valid transitions (for the logs)
    :param probs: ``Discrete`` actions: the actor's probabilities of every action, ``(L, B, n)`` (``log_prob`` is then
        their expected log-probability, the negative entropy)
    :param log_probs: ``Discrete`` actions: their logs
    """

    critic: th.Tensor
    ent_coef_loss: th.Tensor | None
    ent_coef: th.Tensor
    log_prob: th.Tensor
    actions_pi: th.Tensor
    h_critic: th.Tensor
    critic_features: th.Tensor
    actor_mask: th.Tensor
    n_actor: th.Tensor
    q_mean: th.Tensor
    probs: th.Tensor | None = None
    log_probs: th.Tensor | None = None


def soft_td_targets(
    rewards: th.Tensor,
    terminated: th.Tensor,
    next_q: th.Tensor,
    next_log_prob: th.Tensor,
    ent_coef: th.Tensor | float,
    gamma: float,
) -> th.Tensor:
    """Soft Q targets ``r_t + gamma * (1 - terminated_{t+1}) * (Q'(t+1) - ent_coef * log pi(a'_{t+1}))``.

    Only a termination stops the bootstrap: the last observation of a truncated episode is a row of its own in the
    replay buffer, and the target bootstraps from it like from any other.

    :param rewards: ``r_t``
    :param terminated: whether ``o_{t+1}`` is terminal
    :param next_q: the target critics' minimum at ``o_{t+1}`` and a fresh action ``a'_{t+1} ~ pi``
    :param next_log_prob: ``log pi(a'_{t+1})``
    :param ent_coef: entropy coefficient
    :param gamma: discount factor
    """
    soft_value = next_q - ent_coef * next_log_prob
    # where, not a product: a non-finite value beyond a terminal state cannot leak into the target
    return rewards + gamma * th.where(terminated.bool(), th.zeros_like(soft_value), soft_value)


class RecurrentSAC(RecurrentOffPolicyAlgorithm[ActorState]):
    """Soft actor-critic with recurrent (GRU or LSTM) actor and critics, for partially observable tasks.

    The actor reads the history ``(o_t, a_{t-1})`` and the critics the history ``(o_t, a_{t-1}, r_{t-1})`` through
    **separate** recurrent encoders; ``n_critics=2`` Q heads share the critics' encoder, and a Polyak-averaged copy of
    the critics gives the targets. The entropy coefficient is tuned automatically towards a target entropy, and
    actions come from a tanh-squashed Gaussian (``Box``) or a categorical (``Discrete``: SAC for discrete actions, with
    expectations over the actions in the targets and in the actor loss, Christodoulou 2019).

    Experience goes into a :class:`~rrl_sb3.common.SequenceReplayBuffer`. Every gradient step samples
    ``batch_size`` chunks of ``sequence_length`` consecutive steps, unrolls the three encoders (actor, critics, target
    critics) over them, resetting the state where an episode starts inside a chunk, and averages the losses over the
    valid positions only (see :func:`sequence_masks`): never over a transition between two episodes, nor over the
    first ``burn_in`` rows of an episode that began before the chunk (their state is still warming up). Targets
    bootstrap through a truncation (time limit) and not through a termination (see :func:`soft_td_targets`).

    While collecting, the actor's state of every env is carried from step to step and reset at episode start, also
    during the ``learning_starts`` random steps. SB3's ``train_freq`` and ``gradient_steps`` set the number of
    gradient steps per env step (one per step by default, as SAC).

    ``RecurrentSAC("rrl_sb3/PendulumNoVel-v1")`` is the shortest call: an env id (or env) as the only argument implies
    ``"MlpPolicy"``. See :class:`~rrl_sb3.sac.policies.RecurrentSACPolicy` for the layout of the recurrent
    state returned by ``predict`` and for the network options (``policy_kwargs``: ``rnn_type="gru" | "lstm"``,
    ``rnn_hidden_size``, ``embed_dim``, ``net_arch``, ...).

    :param policy: ``"MlpPolicy"`` (or a :class:`RecurrentSACPolicy` subclass), or an env / env id when ``env`` is not
        given
    :param env: the environment (an env id, a ``gymnasium.Env`` or a ``VecEnv``)
    :param learning_rate: learning rate of the actor, the critics and the entropy coefficient (float or schedule of
        the remaining progress)
    :param buffer_size: replay capacity in rows (env steps plus one row per episode start), over all envs
    :param learning_starts: env steps of uniformly random actions before training starts
    :param batch_size: sequences per gradient step
    :param sequence_length: steps per replayed sequence
    :param burn_in: rows at the start of a sequence that only warm up the recurrent state when the sequence begins
        mid-episode
    :param tau: Polyak coefficient of the target critics, per gradient step
    :param gamma: discount factor
    :param train_freq: train every ``train_freq`` steps of the VecEnv (or ``(n, "episode")``)
    :param gradient_steps: gradient steps per training round (``-1``: as many as env steps collected in the round)
    :param action_noise: extra exploration noise added to the sampled actions (not needed by SAC)
    :param ent_coef: entropy coefficient: a float (fixed), ``"auto"`` (learned, starting at 1) or ``"auto_<init>"``
    :param target_entropy: entropy the learned coefficient aims at; ``"auto"`` is ``-dim(A)`` for ``Box`` actions and
        ``0.5 * log(n)`` (half the entropy of the uniform policy) for ``Discrete(n)`` ones
    :param target_update_interval: gradient steps between two updates of the target critics
    :param max_grad_norm: clip the gradient norm of the actor and of the critics to this value (``None``: no clipping)
    :param stats_window_size: episodes averaged for ``rollout/ep_rew_mean``
    :param tensorboard_log: tensorboard log directory
    :param policy_kwargs: keyword arguments of :class:`RecurrentSACPolicy`
    :param verbose: 0 silent, 1 training information, 2 debug
    :param seed: random seed
    :param device: ``"auto"``, ``"cpu"`` or ``"cuda"``
    :param on_non_finite: what an update does with a non-finite loss or gradient: ``"raise"`` (``NonFiniteError``) or
        ``"warn"`` (warn and skip that optimizer step); the weights are untouched either way
    :param _init_setup_model: build the networks and the buffer at construction
    """

    policy_aliases: ClassVar[dict[str, type[BasePolicy]]] = {
        "MlpPolicy": RecurrentSACPolicy,
        "CnnPolicy": RecurrentSACCnnPolicy,
        "MultiInputPolicy": RecurrentSACMultiInputPolicy,
    }
    policy: RecurrentSACPolicy
    actor: RecurrentActor
    critic: RecurrentCritic
    critic_target: RecurrentCritic
    replay_buffer: SequenceReplayBuffer | None

    def __init__(
        self,
        policy: str | type[RecurrentSACPolicy] | GymEnv = "MlpPolicy",
        env: GymEnv | str | None = None,
        learning_rate: float | Schedule = 1e-3,
        buffer_size: int = 1_000_000,
        learning_starts: int = 1000,
        batch_size: int = 32,
        sequence_length: int = 32,
        burn_in: int = 0,
        tau: float = 0.005,
        gamma: float = 0.99,
        train_freq: int | tuple[int, str] = 1,
        gradient_steps: int = 1,
        action_noise: ActionNoise | None = None,
        ent_coef: str | float = "auto",
        target_entropy: str | float = "auto",
        target_update_interval: int = 1,
        max_grad_norm: float | None = None,
        stats_window_size: int = 100,
        tensorboard_log: str | None = None,
        policy_kwargs: dict[str, Any] | None = None,
        verbose: int = 0,
        seed: int | None = None,
        device: th.device | str = "auto",
        on_non_finite: str = "raise",
        _init_setup_model: bool = True,
    ) -> None:
        policy_class, env = resolve_policy_and_env(
            "RecurrentSAC",
            self.policy_aliases,
            RecurrentSACPolicy,
            "MlpPolicy",
            policy,
            env,
            verbose,
            check_spaces,
            _init_setup_model,
        )
        super().__init__(
            policy_class,
            env,
            learning_rate,
            buffer_size=buffer_size,
            learning_starts=learning_starts,
            batch_size=batch_size,
            tau=tau,
            gamma=gamma,
            train_freq=train_freq,
            gradient_steps=gradient_steps,
            action_noise=action_noise,
            replay_buffer_class=SequenceReplayBuffer,
            policy_kwargs=policy_kwargs,
            stats_window_size=stats_window_size,
            tensorboard_log=tensorboard_log,
            verbose=verbose,
            device=device,
            support_multi_env=True,
            seed=seed,
            sde_support=False,
            supported_action_spaces=(spaces.Box, spaces.Discrete),
        )
        self.sequence_length = sequence_length
        self.burn_in = burn_in
        self.ent_coef = ent_coef
        self.target_entropy: str | float = target_entropy  # a number once _setup_model has resolved "auto"
        self.target_update_interval = target_update_interval
        self.max_grad_norm = max_grad_norm
        self.on_non_finite = on_non_finite
        self.log_ent_coef: th.Tensor | None = None
        self.ent_coef_optimizer: th.optim.Optimizer | None = None
        self._check_hyperparameters()
        if _init_setup_model:
            self._setup_model()

    def _check_hyperparameters(self) -> None:
        checks = dict.fromkeys(("buffer_size", "batch_size", "target_update_interval"), at_least(1))
        checks.update(
            sequence_length=at_least(2),
            learning_starts=at_least(0),
            burn_in=at_least(0),
            gamma=IN_UNIT_INTERVAL,
            tau=IN_UNIT_INTERVAL,
            gradient_steps=at_least(-1),
            learning_rate=LEARNING_RATE,
            on_non_finite=ON_NON_FINITE,
        )
        check_hyperparameters(self, checks)
        if self.burn_in >= self.sequence_length - 1:
            raise ValueError(
                f"burn_in must be smaller than sequence_length - 1 = {self.sequence_length - 1} (some transitions must "
                f"remain for the losses), got burn_in={self.burn_in!r}"
            )
        freq = self.train_freq[0] if isinstance(self.train_freq, tuple) else self.train_freq
        require(
            "train_freq",
            self.train_freq,
            is_int(freq) and freq >= 1,
            "an integer >= 1 or a tuple (n >= 1, 'step' | 'episode')",
        )
        if isinstance(self.ent_coef, str):
            init = self.ent_coef[len("auto_") :] if self.ent_coef.startswith("auto_") else "1.0"
            try:
                ok = self.ent_coef == "auto" or (self.ent_coef.startswith("auto_") and float(init) > 0)
            except ValueError:
                ok = False
            require("ent_coef", self.ent_coef, ok, "a number >= 0, 'auto' or 'auto_<initial value > 0>'")
        else:
            require("ent_coef", self.ent_coef, NON_NEGATIVE.ok(self.ent_coef), "a number >= 0")
        target = self.target_entropy
        require(
            "target_entropy",
            target,
            target == "auto" or (is_number(target) and np.isfinite(target)),
            "'auto' or a finite number",
        )
        require(
            "max_grad_norm",
            self.max_grad_norm,
            self.max_grad_norm is None or POSITIVE.ok(self.max_grad_norm),
            "None or a positive number",
        )
        self._check_buffer_holds_a_sequence(self.sequence_length)

    def _setup_model(self) -> None:
        super()._setup_model()
        self._create_aliases()
        if self.target_entropy == "auto" and isinstance(self.action_space, spaces.Discrete):
            # half the uniform policy's entropy; 0.98 log|A| (Christodoulou, 2019) asks for a nearly uniform policy
            self.target_entropy = 0.5 * float(np.log(self.action_space.n))
        elif self.target_entropy == "auto":
            self.target_entropy = -float(np.prod(self.action_space.shape))  # type: ignore[arg-type]
        self.target_entropy = float(self.target_entropy)
        if isinstance(self.ent_coef, str):
            init = float(self.ent_coef.split("_")[1]) if "_" in self.ent_coef else 1.0
            self.log_ent_coef = th.log(th.full((1,), init, device=self.device)).requires_grad_(True)
            self.ent_coef_optimizer = th.optim.Adam([self.log_ent_coef], lr=self.lr_schedule(1))
        else:
            self.ent_coef_tensor = th.tensor(float(self.ent_coef), device=self.device)

    def _create_aliases(self) -> None:
        self.actor = self.policy.actor
        self.critic = self.policy.critic
        self.critic_target = self.policy.critic_target

    def _excluded_save_params(self) -> list[str]:
        return [*super()._excluded_save_params(), "actor", "critic", "critic_target"]

    def _get_torch_save_params(self) -> tuple[list[str], list[str]]:
        state_dicts = ["policy", "actor.optimizer", "critic.optimizer"]
        if self.ent_coef_optimizer is not None:
            state_dicts.append("ent_coef_optimizer")
            return state_dicts, ["log_ent_coef"]
        return state_dicts, ["ent_coef_tensor"]

    # --- collecting ----------------------------------------------------------------------------------------------

    def _sample_action(
        self, learning_starts: int, action_noise: ActionNoise | None = None, n_envs: int = 1
    ) -> tuple[np.ndarray, np.ndarray]:
        """Step the actor with the carried state (reset where an episode starts) and choose the actions: uniformly at
        random before ``learning_starts``, else sampled (plus ``action_noise``). The state remembers the action taken.

        :return: the actions for the env and the same actions in ``[-1, 1]`` for the buffer (indices for ``Discrete``,
            where ``action_noise`` does not apply)
        """
        action, state = self._policy_step()
        if self.policy.discrete:
            if self.num_timesteps < learning_starts:
                index = np.array([self.action_space.sample() for _ in range(n_envs)])
            else:
                index = action.argmax(-1).cpu().numpy()
            one_hot = th.nn.functional.one_hot(th.as_tensor(index, device=self.device), self.policy.action_dim)
            self._rnn_state = self.policy.remember_action(state, one_hot.float())
            return index, index
        if self.num_timesteps < learning_starts:
            scaled = self.policy.scale_action(np.array([self.action_space.sample() for _ in range(n_envs)]))
        else:
            scaled = action.cpu().numpy()
        if action_noise is not None:
            scaled = scaled + action_noise()
        scaled = np.clip(scaled, -1.0, 1.0).astype(np.float32)
        self._rnn_state = self.policy.remember_action(state, th.as_tensor(scaled, device=self.device))
        return self.policy.unscale_action(scaled), scaled

    # --- training ------------------------------------------------------------------------------------------------

    def _current_ent_coef(self) -> th.Tensor:
        if self.log_ent_coef is not None:
            return th.exp(self.log_ent_coef.detach())
        return self.ent_coef_tensor

    def compute_losses(self, data: SequenceReplayBufferSamples) -> SACLosses:
        """The critic loss, the entropy-coefficient loss and what the actor loss needs, on one batch of chunks.

        :param data: batch-major chunks ``(B, L, ...)`` from the replay buffer
        """
        # Time-major (L, B, ...) for the recurrent layers.
        obs = map_observations(lambda x: x.transpose(0, 1), data.observations)
        prev_actions = data.prev_actions.transpose(0, 1)
        if self.policy.discrete:  # stored as indices (L, B, 1): read one-hot
            prev_actions = th.nn.functional.one_hot(prev_actions[..., 0].long(), self.policy.action_dim)
        prev_actions = prev_actions.float()
        rewards = data.rewards.transpose(0, 1)
        terminated, truncated, is_first = (x.transpose(0, 1) for x in (data.terminated, data.truncated, data.is_first))
        masks = sequence_masks(is_first, terminated, truncated, self.burn_in)
        n_actor, n_critic = masks.actor.sum().clamp(min=1), masks.critic.sum().clamp(min=1)

        actor_features = self.actor.features(obs)
        h_actor, _ = self.actor.encoder(actor_features, prev_actions, None, is_first)
        dist = self.actor.distribution(h_actor, actor_features)
        if isinstance(dist, SoftCategorical):
            return self._discrete_losses(dist, obs, prev_actions, rewards, terminated, is_first, masks, n_actor, n_critic)
        actions_pi, log_prob = dist.rsample()

        ent_coef = self._current_ent_coef()
        ent_coef_loss = None
        if self.log_ent_coef is not None:
            gap = th.where(masks.actor, log_prob.detach() + float(self.target_entropy), 0.0)
            ent_coef_loss = -(self.log_ent_coef * gap).sum() / n_actor

        with th.no_grad():
            target_features = self.critic_target.features(obs)
            h_target, _ = self.critic_target.encoder(target_features, prev_actions, rewards, is_first)
            next_q = self.critic_target.q_values(h_target[1:], target_features[1:], actions_pi[1:]).min(dim=0).values
            # a_t is stored with o_{t+1} (row t + 1), as r_t and whether o_{t+1} is terminal
            targets = soft_td_targets(rewards[1:], terminated[1:], next_q, log_prob[1:], ent_coef, self.gamma)
            targets = th.where(masks.critic, targets, 0.0)

        critic_features = self.critic.features(obs)
        h_critic, _ = self.critic.encoder(critic_features, prev_actions, rewards, is_first)
        q_values = self.critic.q_values(h_critic[:-1], critic_features[:-1], prev_actions[1:])
        squared = th.where(masks.critic, (q_values - targets) ** 2, 0.0)
        critic_loss = 0.5 * squared.sum() / n_critic  # summed over the critics, averaged over valid transitions
        q_mean = (th.where(masks.critic, q_values[0], 0.0).sum() / n_critic).detach()
        return SACLosses(
            critic_loss,
            ent_coef_loss,
            ent_coef,
            log_prob,
            actions_pi,
            h_critic.detach(),
            critic_features.detach(),
            masks.actor,
            n_actor,
            q_mean,
        )

    def _discrete_losses(
        self,
        dist: SoftCategorical,
        obs: th.Tensor,
        prev_actions: th.Tensor,
        rewards: th.Tensor,
        terminated: th.Tensor,
        is_first: th.Tensor,
        masks: SequenceMasks,
        n_actor: th.Tensor,
        n_critic: th.Tensor,
    ) -> SACLosses:
        """:meth:`compute_losses` for ``Discrete`` actions (soft actor-critic for discrete actions, Christodoulou
        2019): expectations over the actions replace the samples. The soft value of ``o_{t+1}`` is
        ``sum_a pi(a) (min_i Q_target_i(a) - ent_coef log pi(a))``, each critic regresses ``Q_i(a_t)`` of the action
        taken, and the entropy coefficient follows the policy's entropy ``-sum_a pi(a) log pi(a)``."""
        expected_log_prob = (dist.probs * dist.log_probs).sum(-1)  # the negative entropy, (L, B)
        ent_coef = self._current_ent_coef()
        ent_coef_loss = None
        if self.log_ent_coef is not None:
            gap = th.where(masks.actor, expected_log_prob.detach() + float(self.target_entropy), 0.0)
            ent_coef_loss = -(self.log_ent_coef * gap).sum() / n_actor

        with th.no_grad():
            target_features = self.critic_target.features(obs)
            h_target, _ = self.critic_target.encoder(target_features, prev_actions, rewards, is_first)
            next_q = self.critic_target.q_all(h_target[1:], target_features[1:]).min(dim=0).values
            probs, log_probs = dist.probs.detach()[1:], dist.log_probs.detach()[1:]
            next_value = (probs * (next_q - ent_coef * log_probs)).sum(-1)
            # soft_td_targets with the expectation as the soft value (its log-probability term set to 0)
            targets = soft_td_targets(rewards[1:], terminated[1:], next_value, th.zeros_like(next_value), ent_coef, self.gamma)
            targets = th.where(masks.critic, targets, 0.0)

        critic_features = self.critic.features(obs)
        h_critic, _ = self.critic.encoder(critic_features, prev_actions, rewards, is_first)
        q_all = self.critic.q_all(h_critic[:-1], critic_features[:-1])
        taken = prev_actions[1:].argmax(-1, keepdim=True)  # a_t is stored with o_{t+1}, one-hot here
        q_values = q_all.gather(-1, taken.expand(q_all.shape[0], *taken.shape)).squeeze(-1)
        squared = th.where(masks.critic, (q_values - targets) ** 2, 0.0)
        critic_loss = 0.5 * squared.sum() / n_critic
        q_mean = (th.where(masks.critic, q_values[0], 0.0).sum() / n_critic).detach()
        return SACLosses(
            critic_loss,
            ent_coef_loss,
            ent_coef,
            expected_log_prob,
            None,  # type: ignore[arg-type]
            h_critic.detach(),
            critic_features.detach(),
            masks.actor,
            n_actor,
            q_mean,
            dist.probs,
            dist.log_probs,
        )

    def actor_loss(self, losses: SACLosses) -> th.Tensor:
        """``mean(ent_coef * log pi(a|h) - min_i Q_i(h, a))`` over the actor mask, ``a ~ pi`` reparameterised; for
        ``Discrete`` actions the expectation ``sum_a pi(a) (ent_coef log pi(a) - min_i Q_i(a))``."""
        if losses.probs is not None and losses.log_probs is not None:
            q_all = self.critic.q_all(losses.h_critic, losses.critic_features).min(dim=0).values.detach()
            per_row = (losses.probs * (losses.ent_coef * losses.log_probs - q_all)).sum(-1)
        else:
            q_pi = self.critic.q_values(losses.h_critic, losses.critic_features, losses.actions_pi).min(dim=0).values
            per_row = losses.ent_coef * losses.log_prob - q_pi
        return th.where(losses.actor_mask, per_row, 0.0).sum() / losses.n_actor

    def _step(self, module: th.nn.Module, optimizer: th.optim.Optimizer, loss: th.Tensor, name: str) -> None:
        self._optimizer_step(optimizer, loss, module.parameters(), self.max_grad_norm, name)

    def train(self, gradient_steps: int, batch_size: int = 32) -> None:
        """Run ``gradient_steps`` updates of the critics, the actor, the entropy coefficient and the targets."""
        assert self.replay_buffer is not None
        if not self._can_sample(self.sequence_length):
            return
        self.policy.set_training_mode(True)
        optimizers = [self.actor.optimizer, self.critic.optimizer]
        if self.ent_coef_optimizer is not None:
            optimizers.append(self.ent_coef_optimizer)
        self._update_learning_rate(optimizers)

        metrics: dict[str, list[float]] = {}
        for gradient_step in range(gradient_steps):
            data = self.replay_buffer.sample(batch_size, self.sequence_length, env=self._vec_normalize_env)
            losses = self.compute_losses(data)
            if losses.ent_coef_loss is not None:
                assert self.ent_coef_optimizer is not None
                self._optimizer_step(self.ent_coef_optimizer, losses.ent_coef_loss, [self.log_ent_coef], None, "ent_coef")
                metrics.setdefault("ent_coef_loss", []).append(losses.ent_coef_loss.item())
            self._step(self.critic, self.critic.optimizer, losses.critic, "critic")
            actor_loss = self.actor_loss(losses)
            self._step(self.actor, self.actor.optimizer, actor_loss, "actor")
            if gradient_step % self.target_update_interval == 0:
                polyak_update(self.critic.parameters(), self.critic_target.parameters(), self.tau)
            log_prob = th.where(losses.actor_mask, losses.log_prob.detach(), 0.0).sum() / losses.n_actor
            for key, value in (
                ("actor_loss", actor_loss.item()),
                ("critic_loss", losses.critic.item()),
                ("ent_coef", losses.ent_coef.item()),
                ("entropy", -log_prob.item()),
                ("q_mean", losses.q_mean.item()),
            ):
                metrics.setdefault(key, []).append(value)
        self._n_updates += gradient_steps
        self.logger.record("train/n_updates", self._n_updates, exclude="tensorboard")
        self.logger.record("train/learning_rate", self.lr_schedule(self._current_progress_remaining))
        for key, values in metrics.items():
            self.logger.record(f"train/{key}", float(np.mean(values)))
