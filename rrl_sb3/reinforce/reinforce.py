"""REINFORCE (Monte-Carlo policy gradient over whole episodes) with recurrent policies, as an SB3 algorithm."""

from __future__ import annotations

from typing import Any, ClassVar, NamedTuple, TypedDict

import numpy as np
import torch as th
from gymnasium import spaces
from stable_baselines3.common.buffers import RolloutBuffer
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.on_policy_algorithm import OnPolicyAlgorithm
from stable_baselines3.common.policies import BasePolicy
from stable_baselines3.common.type_aliases import GymEnv, PyTorchObs, Schedule
from stable_baselines3.common.utils import obs_as_tensor, update_learning_rate
from stable_baselines3.common.vec_env import VecEnv

from rrl_sb3.common.guards import report_non_finite
from rrl_sb3.common.observations import Observations, observation_row, pad_time_major, stack_observations
from rrl_sb3.common.recurrent import RnnState
from rrl_sb3.common.recurrent_algorithm import RecurrentStateCarry
from rrl_sb3.common.utils import (
    BOOLEAN,
    IN_UNIT_INTERVAL,
    LEARNING_RATE,
    NON_NEGATIVE,
    ON_NON_FINITE,
    POSITIVE,
    at_least,
    check_hyperparameters,
    resolve_policy_and_env,
)
from rrl_sb3.reinforce.policies import (
    ReinforceCnnGruPolicy,
    ReinforceCnnLstmPolicy,
    ReinforceCnnPolicy,
    ReinforceGruPolicy,
    ReinforceLstmPolicy,
    ReinforceMultiInputGruPolicy,
    ReinforceMultiInputLstmPolicy,
    ReinforceMultiInputPolicy,
    ReinforcePolicy,
    check_spaces,
)


class Episode(NamedTuple):
    """One complete episode as collected.

    :param observations: ``(T + 1, ...)`` (per key for ``Dict`` spaces, in the space's dtype): the ``T``
        observations acted on, then the final observation
    :param actions: ``(T,)`` (``Discrete``) or ``(T, action_dim)`` (``Box``: unclipped samples; ``MultiDiscrete``,
        ``MultiBinary``)
    :param rewards: ``(T,)``
    :param truncated: the episode ended by a time limit (``TimeLimit.truncated``), not by a terminal state
    """

    observations: Observations
    actions: np.ndarray
    rewards: np.ndarray
    truncated: bool


def monte_carlo_returns(
    rewards: th.Tensor,
    lengths: th.Tensor,
    gamma: float,
    truncated: th.Tensor,
    final_values: th.Tensor | None = None,
) -> th.Tensor:
    """Discounted returns ``G_t = r_t + gamma * G_{t+1}`` of a batch of zero-padded episodes.

    After an episode's last step the return continues with ``final_values`` (the baseline's value of the final
    observation) if the episode was **truncated** and a baseline exists, and with 0 otherwise: a terminated episode
    has no future, and without a baseline a truncated return is the plain sum of the rewards received.

    :param rewards: ``(T, B)``, episode ``b`` in column ``b``, zero after its end
    :param lengths: ``(B,)`` episode lengths
    :param gamma: discount factor
    :param truncated: ``(B,)`` booleans
    :param final_values: ``(B,)`` value estimates of the final observations (in return units), or ``None``
    :return: ``(T, B)`` returns, zero after each episode's end
    """
    horizon, batch = rewards.shape
    bootstrap = th.zeros(batch, dtype=rewards.dtype, device=rewards.device)
    if final_values is not None:
        bootstrap = th.where(truncated.bool(), final_values.to(rewards.dtype), bootstrap)
    returns = th.zeros_like(rewards)
    next_return = th.zeros_like(bootstrap)
    for t in range(horizon - 1, -1, -1):
        # The step after the last one of an episode contributes the bootstrap; steps beyond it contribute nothing.
        next_return = th.where(lengths == t + 1, bootstrap, next_return)
        returns[t] = th.where(lengths > t, rewards[t] + gamma * next_return, th.zeros_like(bootstrap))
        next_return = returns[t]
    return returns


class EpisodeBatch(TypedDict):
    """Episodes padded to the longest one, time-major (see :meth:`REINFORCE._batch`)."""

    observations: PyTorchObs  # (T + 1, B, ...), a dict of them for Dict observations
    actions: th.Tensor  # (T, B, ...)
    rewards: th.Tensor  # (T, B)
    lengths: th.Tensor  # (B,)
    truncated: th.Tensor  # (B,)
    mask: th.Tensor  # (T, B): true on the steps of each episode


class REINFORCE(RecurrentStateCarry[RnnState], OnPolicyAlgorithm):
    """REINFORCE: Monte-Carlo policy gradient over complete episodes, with GRU, LSTM or memoryless policies.

    The agent collects complete episodes from ``n_envs`` envs, carrying each env's recurrent state from step to step
    and resetting it at episode start. Once ``n_episodes`` episodes (over all envs) are complete it makes one gradient
    step on ``-mean_t[log pi(a_t | o_0..o_t) * A_t] + vf_coef * value_loss - ent_coef * entropy``, where the
    log-probabilities are recomputed by unrolling the recurrent net over every stored episode from the zero state
    (episodes are padded to equal length and the padding is masked), ``A_t`` is the discounted return ``G_t`` minus the
    value head's estimate when ``baseline=True``, and every valid step of the batch weighs the same.

    It runs on SB3's ``OnPolicyAlgorithm`` loop (``learn``, callbacks, logging); only the collection differs: whole
    episodes (``n_episodes`` of them per update) instead of ``n_steps`` steps, and no rollout buffer.

    ``REINFORCE("CartPole-v1")`` is the shortest call: an env id (or env) as the only argument implies
    ``"MlpGruPolicy"``.

    **Recurrent state.** ``predict(obs, state, episode_start, deterministic)`` returns the state as a tuple of numpy
    arrays of shape ``(n_rnn_layers, n_envs, rnn_hidden_size)``, env axis **second**: ``(h,)`` for ``"MlpGruPolicy"``,
    ``(h, c)`` for ``"MlpLstmPolicy"``, and ``None`` for ``"MlpPolicy"``. ``state=None`` is the zero state, and an env
    whose ``episode_start`` is true starts from the zero state, so ``evaluate_policy`` and ``EvalCallback`` work as is.

    **Truncation.** A time limit is not a terminal state. When an episode ends by truncation
    (``info["TimeLimit.truncated"]``) and ``baseline=True``, its returns are bootstrapped:
    ``G_{T-1} = r_{T-1} + gamma * V(o_T)``, where ``o_T`` is the final observation (``info["terminal_observation"]``)
    and ``V`` is the current value head, evaluated with the recurrent state after the whole episode. With
    ``baseline=False`` there is no value estimate: the truncated return is used as is (the discounted sum of the
    rewards received), which undervalues the last steps of long episodes. A terminated episode never bootstraps.

    **Episodes straddling an update.** With several envs, the episodes still running when an update happens are
    kept and finished under the updated parameters, then used in the next update; their first steps were taken by
    the previous parameters (a small off-policy part that REINFORCE ignores, as A2C/PPO rollouts that straddle
    updates do). ``learn`` stops collecting as soon as ``total_timesteps`` env steps are done; complete episodes not
    yet used stay for a following ``learn(..., reset_num_timesteps=False)``.

    **Return normalisation.** With ``normalize_returns=True`` the returns are standardised with running estimates
    of their mean and standard deviation (kept in the policy, saved with it) before they weight the log-probabilities
    and serve as value targets, so the value head predicts standardised returns; bootstrap values are converted back
    to return units first.

    **Tuning.** Plain REINFORCE is high-variance: on ``rrl_sb3/CartPoleNoVel-v1`` the defaults reach a return of 500
    but can fall back later (see ``benchmarks/results/reinforce/``); a learning rate that decays to 0 (SB3's
    ``LinearSchedule``) and larger ``n_episodes`` make the end of training steadier.

    :param policy: ``"MlpGruPolicy"``, ``"MlpLstmPolicy"``, ``"MlpPolicy"`` (memoryless) or a
        :class:`~rrl_sb3.reinforce.policies.ReinforcePolicy` subclass; or an env / env id when ``env`` is not given
    :param env: the environment (an env id, a ``gymnasium.Env`` or a ``VecEnv``)
    :param learning_rate: learning rate (float or schedule of the remaining progress)
    :param n_episodes: complete episodes (over all envs) per gradient update
    :param gamma: discount factor
    :param baseline: learn a value head and subtract its estimate from the returns (and bootstrap truncations)
    :param normalize_returns: standardise the returns with running mean and standard deviation
    :param ent_coef: weight of the entropy bonus
    :param vf_coef: weight of the value loss
    :param max_grad_norm: gradient clipping norm
    :param stats_window_size: episodes averaged for ``rollout/ep_rew_mean``
    :param tensorboard_log: tensorboard log directory
    :param policy_kwargs: keyword arguments of the policy (``rnn_hidden_size``, ``n_rnn_layers``, ``net_arch``, ...)
    :param verbose: 0 silent, 1 training information, 2 debug
    :param seed: random seed
    :param device: ``"auto"``, ``"cpu"`` or ``"cuda"``
    :param on_non_finite: what an update does with a non-finite loss or gradient: ``"raise"`` (``NonFiniteError``) or
        ``"warn"`` (warn and skip that optimizer step); the weights are untouched either way
    :param _init_setup_model: build the networks at construction
    """

    policy_aliases: ClassVar[dict[str, type[BasePolicy]]] = {
        "MlpPolicy": ReinforcePolicy,
        "MlpGruPolicy": ReinforceGruPolicy,
        "MlpLstmPolicy": ReinforceLstmPolicy,
        "CnnPolicy": ReinforceCnnPolicy,
        "CnnGruPolicy": ReinforceCnnGruPolicy,
        "CnnLstmPolicy": ReinforceCnnLstmPolicy,
        "MultiInputPolicy": ReinforceMultiInputPolicy,
        "MultiInputGruPolicy": ReinforceMultiInputGruPolicy,
        "MultiInputLstmPolicy": ReinforceMultiInputLstmPolicy,
    }
    policy: ReinforcePolicy  # type: ignore[assignment]  # SB3's OnPolicyAlgorithm types it as an ActorCriticPolicy

    def __init__(
        self,
        policy: str | type[ReinforcePolicy] | GymEnv = "MlpGruPolicy",
        env: GymEnv | str | None = None,
        learning_rate: float | Schedule = 3e-3,
        n_episodes: int = 4,
        gamma: float = 0.99,
        baseline: bool = True,
        normalize_returns: bool = True,
        ent_coef: float = 0.0,
        vf_coef: float = 0.5,
        max_grad_norm: float = 0.5,
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
            "REINFORCE",
            self.policy_aliases,
            ReinforcePolicy,
            "MlpGruPolicy",
            policy,
            env,
            verbose,
            check_spaces,
            _init_setup_model,
        )
        super().__init__(
            policy,  # type: ignore[arg-type]
            env,
            learning_rate,
            n_steps=0,  # unused: REINFORCE collects whole episodes (n_episodes), not n_steps steps
            gamma=gamma,
            gae_lambda=1.0,  # Monte-Carlo returns
            ent_coef=ent_coef,
            vf_coef=vf_coef,
            max_grad_norm=max_grad_norm,
            use_sde=False,
            sde_sample_freq=-1,
            stats_window_size=stats_window_size,
            tensorboard_log=tensorboard_log,
            policy_kwargs=policy_kwargs,
            verbose=verbose,
            seed=seed,
            device=device,
            _init_setup_model=False,
            supported_action_spaces=(spaces.Box, spaces.Discrete, spaces.MultiDiscrete, spaces.MultiBinary),
        )
        self.n_episodes = n_episodes
        self.baseline = baseline
        self.normalize_returns = normalize_returns
        self.on_non_finite = on_non_finite
        self._check_hyperparameters()
        self._running: list[dict[str, list[Any]]] = []  # per env: the episode being collected
        self._complete: list[Episode] = []  # complete episodes not yet used for an update
        if _init_setup_model:
            self._setup_model()

    def _check_hyperparameters(self) -> None:
        checks = dict(n_episodes=at_least(1), gamma=IN_UNIT_INTERVAL, ent_coef=NON_NEGATIVE, vf_coef=NON_NEGATIVE)
        checks.update(max_grad_norm=POSITIVE, baseline=BOOLEAN, normalize_returns=BOOLEAN, learning_rate=LEARNING_RATE)
        checks.update(on_non_finite=ON_NON_FINITE)
        check_hyperparameters(self, checks)

    def _setup_model(self) -> None:
        self._setup_lr_schedule()
        self.set_random_seed(self.seed)
        self.policy = self.policy_class(  # type: ignore[assignment]
            self.observation_space, self.action_space, self.lr_schedule, **self.policy_kwargs
        )
        self.policy = self.policy.to(self.device)
        self.rollout_buffer = None  # type: ignore[assignment]  # whole episodes are kept instead (_complete)

    _carried_attributes = ("_rnn_state", "_running", "_complete")  # a checkpoint keeps the episodes in progress

    def _excluded_save_params(self) -> list[str]:
        return [*super()._excluded_save_params(), "_running", "_complete"]

    # --- learning ------------------------------------------------------------------------------------------------

    def _start_afresh(self) -> None:
        super()._start_afresh()
        # Interrupted episodes cannot be completed after a reset: drop them, keep the complete ones.
        self._running = [self._empty_episode() for _ in range(self.n_envs)]

    @staticmethod
    def _empty_episode() -> dict[str, list[Any]]:
        return {"observations": [], "actions": [], "rewards": []}

    def collect_rollouts(
        self, env: VecEnv, callback: BaseCallback, rollout_buffer: RolloutBuffer | None = None, n_rollout_steps: int = 0
    ) -> bool:
        """Step the envs with the carried recurrent state until ``n_episodes`` episodes are complete.

        The episodes are kept until :meth:`train` uses them (REINFORCE has no rollout buffer and no fixed number of
        steps: ``rollout_buffer`` and ``n_rollout_steps`` are SB3's arguments, unused).

        :return: ``False`` if a callback asked to stop training, or if the budget of ``learn`` ran out before the batch
            was complete (the complete episodes stay for a following ``learn(..., reset_num_timesteps=False)``)
        """
        assert self._last_obs is not None
        self.policy.set_training_mode(False)
        callback.on_rollout_start()
        while len(self._complete) < self.n_episodes and self.num_timesteps < self._total_timesteps:
            actions, self._rnn_state = self._policy_step()
            new_obs, rewards, dones, infos = env.step(self.policy.to_env_action(actions))
            self.num_timesteps += env.num_envs
            callback.update_locals(locals())
            if not callback.on_step():
                return False
            self._check_env_step(new_obs, rewards, dones, infos)  # before anything of this step is stored
            self._update_info_buffer(infos, dones)

            actions_np = actions.cpu().numpy()
            for i in range(env.num_envs):
                running = self._running[i]
                running["observations"].append(observation_row(self._last_obs, i))
                running["actions"].append(actions_np[i])
                running["rewards"].append(float(rewards[i]))
                if dones[i]:
                    # The VecEnv has already reset env i; the real last observation is in the info dict.
                    final = infos[i].get("terminal_observation", observation_row(new_obs, i))
                    self._complete.append(
                        Episode(
                            stack_observations([*running["observations"], final]),
                            np.stack(running["actions"]),
                            np.asarray(running["rewards"], dtype=np.float32),
                            bool(infos[i].get("TimeLimit.truncated", False)),
                        )
                    )
                    self._running[i] = self._empty_episode()
            self._last_obs = new_obs  # type: ignore[assignment]
            self._last_episode_starts = dones
            self._episode_num += int(np.sum(dones))
        callback.on_rollout_end()
        return len(self._complete) >= self.n_episodes

    def _batch(self, episodes: list[Episode]) -> EpisodeBatch:
        """Pad episodes to the longest one, time-major: ``observations (T + 1, B, ...)``, ``rewards (T, B)``..."""
        lengths = np.array([len(ep.rewards) for ep in episodes])
        horizon = int(lengths.max())
        obs = pad_time_major([ep.observations for ep in episodes], horizon + 1)
        actions = pad_time_major([ep.actions for ep in episodes], horizon)
        rewards = pad_time_major([ep.rewards for ep in episodes], horizon)
        device = self.device
        return {
            "observations": obs_as_tensor(obs, device),
            "actions": th.as_tensor(actions, device=device),
            "rewards": th.as_tensor(rewards, device=device),
            "lengths": th.as_tensor(lengths, device=device),
            "truncated": th.as_tensor([ep.truncated for ep in episodes], device=device),
            "mask": th.as_tensor(np.arange(horizon)[:, None] < lengths[None, :], device=device),
        }

    def _update_return_stats(self, returns: th.Tensor) -> None:
        """Merge a batch of returns into the policy's running mean and variance (parallel-variance formula)."""
        policy = self.policy
        count, batch_count = policy.return_count.double(), float(returns.numel())
        batch_mean, batch_var = returns.double().mean(), returns.double().var(unbiased=False)
        delta = batch_mean - policy.return_mean.double()
        total = count + batch_count
        mean = policy.return_mean.double() + delta * batch_count / total
        m2 = policy.return_var.double() * count + batch_var * batch_count + delta**2 * count * batch_count / total
        policy.return_mean.copy_(mean)
        policy.return_var.copy_(m2 / total)
        policy.return_count.copy_(total)

    def train(self) -> None:
        """One gradient update on the complete episodes collected since the last one."""
        episodes, self._complete = self._complete, []
        if not episodes:
            return
        policy = self.policy
        policy.set_training_mode(True)
        update_learning_rate(policy.optimizer, self.lr_schedule(self._current_progress_remaining))
        data = self._batch(episodes)
        horizon, batch = data["rewards"].shape
        mask = data["mask"].float()
        n_valid = mask.sum()

        features = policy.unroll(data["observations"])  # (T + 1, B, dim), every episode from the zero state
        dist = policy.distribution(features[:horizon])
        actions = data["actions"].reshape(horizon * batch, *data["actions"].shape[2:])
        log_prob = dist.log_prob(actions).view(horizon, batch)
        entropy = dist.entropy()
        entropy = entropy.view(horizon, batch) if entropy is not None else -log_prob.detach()

        scale = th.sqrt(policy.return_var + 1e-8) if self.normalize_returns else th.ones(())
        shift = policy.return_mean if self.normalize_returns else th.zeros(())
        values = policy.value(features) if self.baseline else None  # (T + 1, B), normalised units
        final_values = None
        if values is not None:
            last = values.detach()[data["lengths"], th.arange(batch, device=self.device)]
            final_values = last * scale + shift  # back to return units
        returns = monte_carlo_returns(data["rewards"], data["lengths"], self.gamma, data["truncated"], final_values)
        if not bool(th.isfinite(returns[data["mask"]]).all()):
            # before the running return statistics take them in: the policy and its statistics stay untouched
            report_non_finite(
                "non-finite returns in the batch of episodes: the policy update was skipped and its weights and "
                "return statistics are unchanged",
                self.on_non_finite,
            )
            return
        if self.normalize_returns:
            self._update_return_stats(returns[data["mask"]])
            targets = (returns - policy.return_mean) / th.sqrt(policy.return_var + 1e-8)
        else:
            targets = returns
        targets = targets * mask  # padding: zero, and masked out below

        advantages = targets - values[:horizon].detach() if values is not None else targets
        policy_loss = -(log_prob * advantages * mask).sum() / n_valid
        value_loss = (((values[:horizon] - targets) ** 2) * mask).sum() / n_valid if values is not None else th.zeros(())
        entropy_mean = (entropy * mask).sum() / n_valid
        loss = policy_loss + self.vf_coef * value_loss - self.ent_coef * entropy_mean

        grad_norm = self._optimizer_step(policy.optimizer, loss, policy.parameters(), self.max_grad_norm, "policy")
        if grad_norm is None:  # skipped (on_non_finite="warn"): nothing was learned from this batch
            return
        self._n_updates += 1

        self.logger.record("train/n_updates", self._n_updates, exclude="tensorboard")
        self.logger.record("train/learning_rate", self.lr_schedule(self._current_progress_remaining))
        self.logger.record("train/policy_loss", policy_loss.item())
        self.logger.record("train/value_loss", value_loss.item())
        self.logger.record("train/entropy", entropy_mean.item())
        self.logger.record("train/loss", loss.item())
        self.logger.record("train/grad_norm", float(grad_norm))
        self.logger.record("train/episodes", batch)
        self.logger.record("train/mean_return", float((returns * mask).sum() / n_valid))
        if isinstance(self.action_space, spaces.Box):
            self.logger.record("train/std", th.exp(policy.log_std).mean().item())
