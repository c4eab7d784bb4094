"""Dreamer's behaviour: actor and critic learned on trajectories imagined by the world model."""

from __future__ import annotations

from typing import Any, Literal, NamedTuple, Protocol

import torch as th
import torch.nn.functional as F
from torch import nn

from rrl_sb3.common.buffers import SequenceReplayBufferSamples
from rrl_sb3.common.math import ReturnNormalizer, TwoHotBins, lambda_returns, replay_lambda_returns
from rrl_sb3.dreamer.world_model import Latent, WorldModel, mlp, sample_one_hot

ActorGradient = Literal["reinforce", "dynamics"]
ReplayBootstrap = Literal["imagined", "critic"]


class ActionDist(NamedTuple):
    """Action distribution of the actor for a batch of model states.

    Continuous actions live in ``[-1, 1]`` (rescaled to the env's bounds when acting): a Gaussian whose mean is
    squashed by ``tanh`` and whose standard deviation lies in ``[min_std, max_std]``; samples are clipped to the
    bounds. Discrete actions are one-hot samples of a categorical with a small uniform mixture; ``MultiDiscrete`` ones
    one such categorical per variable (``groups``: their sizes), their one-hots concatenated, so that log-probabilities
    and entropies are sums over the variables.
    """

    discrete: bool
    mean_or_probs: th.Tensor
    std: th.Tensor | None
    groups: tuple[int, ...] = ()

    def _per_group(self, fn: Any) -> th.Tensor:
        return th.cat([fn(probs) for probs in self.mean_or_probs.split(list(self.groups), dim=-1)], dim=-1)

    def sample(self) -> th.Tensor:
        if self.discrete:
            # Straight-through, so that dynamics gradients can pass a discrete action.
            return self._per_group(sample_one_hot) + self.mean_or_probs - self.mean_or_probs.detach()
        assert self.std is not None
        return self.mean_or_probs + self.std * th.randn_like(self.std)

    def mode(self) -> th.Tensor:
        if self.discrete:
            return self._per_group(lambda probs: F.one_hot(probs.argmax(-1), probs.shape[-1]).to(probs.dtype))
        return self.mean_or_probs

    def log_prob(self, action: th.Tensor) -> th.Tensor:
        if self.discrete:
            return (action.detach() * self.mean_or_probs.log()).sum(-1)
        assert self.std is not None
        z = (action.detach() - self.mean_or_probs) / self.std
        return (-0.5 * z.pow(2) - self.std.log() - 0.5 * th.log(th.tensor(2 * th.pi))).sum(-1)

    def entropy(self) -> th.Tensor:
        if self.discrete:
            return -(self.mean_or_probs * self.mean_or_probs.log()).sum(-1)
        assert self.std is not None
        return (0.5 + 0.5 * th.log(th.tensor(2 * th.pi)) + self.std.log()).sum(-1)


class Actor(nn.Module):
    """Policy ``pi(a_t | h_t, z_t)`` on the world model's features.

    :param feature_dim: size of the model features ``[h, z]``
    :param action_dim: action size (number of actions for discrete actions; their sum for ``MultiDiscrete``)
    :param discrete: whether actions are discrete
    :param hidden: width of the hidden layers
    :param layers: number of hidden layers
    :param min_std: lower bound of the Gaussian standard deviation
    :param max_std: upper bound of the Gaussian standard deviation
    :param unimix: uniform mixture of the categorical distribution
    :param groups: ``MultiDiscrete`` actions: the number of values of each variable (``action_dim`` is their sum)
    """

    optimizer: th.optim.Optimizer  # set by the policy that owns it

    def __init__(
        self,
        feature_dim: int,
        action_dim: int,
        discrete: bool,
        hidden: int = 256,
        layers: int = 2,
        min_std: float = 0.1,
        max_std: float = 1.0,
        unimix: float = 0.01,
        groups: tuple[int, ...] | None = None,
    ) -> None:
        super().__init__()
        self.discrete, self.action_dim = discrete, action_dim
        self.groups = tuple(groups) if groups else ((action_dim,) if discrete else ())
        self.min_std, self.max_std, self.unimix = min_std, max_std, unimix
        self.net = mlp(feature_dim, action_dim if discrete else 2 * action_dim, hidden, layers)

    def forward(self, features: th.Tensor) -> ActionDist:
        out = self.net(features).float()  # the distribution in float32, also when the network computes in bf16
        if self.discrete:  # one categorical per variable (one variable for a Discrete space)
            parts = out.split(list(self.groups), dim=-1)
            probs = th.cat(
                [
                    (1.0 - self.unimix) * F.softmax(part, dim=-1) + self.unimix / size
                    for part, size in zip(parts, self.groups, strict=True)
                ],
                dim=-1,
            )
            return ActionDist(True, probs, None, self.groups)
        mean, raw_std = out.chunk(2, dim=-1)
        std = (self.max_std - self.min_std) * th.sigmoid(raw_std + 2.0) + self.min_std
        return ActionDist(False, th.tanh(mean), std)


class Critic(nn.Module):
    """Value ``v(h_t, z_t)`` as a two-hot distribution over symlog-spaced bins (robust to the scale of the returns).

    :param twohot_space: where the two-hot interpolation and expectation happen (:class:`TwoHotBins`)
    """

    optimizer: th.optim.Optimizer  # set by the policy that owns it (the slow copy has none)

    def __init__(self, feature_dim: int, hidden: int = 256, layers: int = 2, twohot_space: str = "symlog") -> None:
        super().__init__()
        self.net = mlp(feature_dim, 255, hidden, layers, zero_init_output=True)
        self.bins = TwoHotBins(space=twohot_space)

    def forward(self, features: th.Tensor) -> th.Tensor:
        """Logits over the bins (float32, also when the network computes in bf16)."""
        return self.net(features).float()

    def value(self, features: th.Tensor) -> th.Tensor:
        return self.bins.decode(self(features))


class Imagination(NamedTuple):
    features: th.Tensor  # (H + 1, N, F): s_0 ... s_H
    actions: th.Tensor  # (H, N, A): a_0 ... a_{H-1}
    dists: ActionDist  # pi(. | s_0 ... s_{H-1})


def imagine(world_model: WorldModel, actor: Actor, start: Latent, horizon: int, with_grad: bool) -> Imagination:
    """Roll the actor out in the world model for ``horizon`` steps from each start state ``(N, ...)``.

    With ``with_grad`` the actions are reparameterised and gradients flow through the dynamics (for the
    ``"dynamics"`` actor gradient). Otherwise the rollout is a constant and only the actor's outputs carry gradients
    (for its log-probabilities): the distributions of the rollout are the ones the actor is trained with, computed
    once.
    """
    state = Latent(start.deter.detach(), start.stoch.detach())
    features, actions, dists = [state.features], [], []
    through_dynamics = with_grad and th.is_grad_enabled()
    for _ in range(horizon):
        dist = actor(features[-1])
        with th.set_grad_enabled(through_dynamics):
            action = dist.sample()
            state = world_model.rssm.imagine_step(state, action)
        features.append(state.features)
        actions.append(action)
        dists.append(dist)
    stacked = ActionDist(
        dists[0].discrete,
        th.stack([d.mean_or_probs for d in dists]),
        None if dists[0].std is None else th.stack([d.std for d in dists]),
        dists[0].groups,
    )
    return Imagination(th.stack(features), th.stack(actions), stacked)


class BehaviorSettings(NamedTuple):
    """The hyperparameters of learning in imagination (see :class:`~rrl_sb3.Dreamer` for their meaning).

    :param horizon: length of the imagined trajectories
    :param gamma: discount factor
    :param lambda_: lambda of the TD(lambda) returns
    :param entropy_coef: weight of the actor's entropy bonus
    :param actor_gradient: ``"reinforce"`` or ``"dynamics"``
    :param slow_critic_reg: weight of the critic's regulariser towards its slow copy
    :param replay_value_scale: weight of the critic's loss on replayed sequences (0: imagination only)
    :param replay_value_bootstrap: ``"imagined"`` (each replayed state's imagined return) or ``"critic"`` (its slow
        critic value) as the value of the replayed states in that loss
    """

    horizon: int
    gamma: float
    lambda_: float
    entropy_coef: float
    actor_gradient: ActorGradient
    slow_critic_reg: float = 1.0
    replay_value_scale: float = 0.0
    replay_value_bootstrap: ReplayBootstrap = "imagined"


class ReplayTargets(NamedTuple):
    """What the replay value loss needs from a batch of replayed sequences, batch-major ``(B, L, ...)``.

    :param features: posterior features ``[h, z]`` of every row (no gradient reaches the world model)
    :param rewards: reward received on arriving at each row
    :param terminated: 1 where the row is terminal
    :param last: 1 where the row ends its episode (terminal, truncated, or followed by an episode start)
    :param start_rows: ``(B, k)``, the rows of each sequence that imagination starts from, in the order of the
        flattened start states (sequence-major); ``None``: every row, in order
    """

    features: th.Tensor
    rewards: th.Tensor
    terminated: th.Tensor
    last: th.Tensor
    start_rows: th.Tensor | None = None

    @classmethod
    def from_batch(
        cls, features: th.Tensor, batch: SequenceReplayBufferSamples, start_rows: th.Tensor | None = None
    ) -> ReplayTargets:
        """The targets of a replayed batch; a row ends its episode where it is terminal or truncated, or where the
        next row starts another episode."""
        ends = th.maximum(batch.terminated, batch.truncated)
        ends = th.cat([th.maximum(ends[:, :-1], batch.is_first[:, 1:]), ends[:, -1:]], dim=1)
        return cls(features.detach(), batch.rewards, batch.terminated, ends, start_rows)


class BehaviorModules(Protocol):
    """What :func:`behavior_losses` uses of Dreamer's policy (:class:`~rrl_sb3.dreamer.policies.DreamerPolicy`): the
    world model to imagine in, the actor, the critic and its slow copy, and the return normaliser.

    A protocol, so that this module does not import the policy, which is built from its :class:`Actor` and
    :class:`Critic`.
    """

    @property
    def world_model(self) -> WorldModel: ...

    @property
    def actor(self) -> Actor: ...

    @property
    def critic(self) -> Critic: ...

    @property
    def slow_critic(self) -> Critic: ...

    @property
    def return_normalizer(self) -> ReturnNormalizer: ...


class BehaviorLosses(NamedTuple):
    actor: th.Tensor
    critic: th.Tensor  # imagination and replay value losses together
    replay_value: th.Tensor  # the replay value loss alone (0 when off), for the logs
    entropy: th.Tensor
    returns: th.Tensor
    value: th.Tensor
    scale: th.Tensor


def behavior_losses(
    policy: BehaviorModules,
    start: Latent,
    start_continue: th.Tensor,
    settings: BehaviorSettings,
    replay: ReplayTargets | None = None,
) -> BehaviorLosses:
    """Actor and critic losses on imagined trajectories (DreamerV3).

    Returns are TD(lambda), bootstrapped with the critic and discounted by ``gamma`` times the predicted
    continue flag; each imagined step is weighted by the product of the continues before it (``start_continue``
    for the start state, so imagination from a terminal state counts for nothing). The actor maximises the
    returns divided by the percentile scale of :class:`ReturnNormalizer`, plus ``entropy_coef`` times its entropy;
    the critic regresses the returns (two-hot) and is regularised towards its slow (EMA) copy.

    With ``replay`` (the sequences the start states were replayed from, ``start`` being the rows
    ``replay.start_rows`` of them, flattened) and ``settings.replay_value_scale > 0``, the critic also regresses, on
    the replayed states, the lambda-returns of the real rewards bootstrapped at every step with the imagined return
    from the next state (:func:`~rrl_sb3.common.math.replay_lambda_returns`; DreamerV3's replay value loss, weight
    0.3 there), or with the slow critic's value of it (``settings.replay_value_bootstrap="critic"``), with the same
    regulariser; rows that end an episode are left out. When imagination starts from some rows only, the imagined
    returns bootstrap those rows and the real rewards carry the others' returns on to them (the slow critic's value
    where a sequence or a truncated episode ends before one).

    :param policy: the world model, actor, critic, slow critic and return normaliser
    :param start: posterior states to imagine from, flattened to ``(N, ...)``
    :param start_continue: ``1 - terminated`` of the start states, ``(N,)``
    :param settings: horizon, discount, lambda, entropy weight, actor gradient and the loss weights
    :param replay: the replayed sequences, for the replay value loss
    """
    world_model, critic, gamma = policy.world_model, policy.critic, settings.gamma
    with_grad = settings.actor_gradient == "dynamics"
    traj = imagine(world_model, policy.actor, start, settings.horizon, with_grad)
    feats = traj.features
    # One critic pass over s_0 ... s_H serves both losses: its values bootstrap the returns (through the dynamics
    # for the "dynamics" gradient, a constant otherwise) and its logits of s_0 ... s_{H-1} are what the critic's loss
    # trains (each optimizer backpropagates into its own network only, see guarded_optimizer_step).
    logits = critic(feats)
    with th.set_grad_enabled(with_grad and th.is_grad_enabled()):
        rewards = world_model.reward(feats[1:])
        continues = th.cat([start_continue.unsqueeze(0), world_model.continue_prob(feats[1:])], 0)
        values = critic.bins.decode(logits if with_grad else logits.detach())
        returns = lambda_returns(rewards, values[:-1], continues[1:], values[-1], gamma, settings.lambda_)
    with th.no_grad():
        weights = th.cumprod(gamma * continues[:-1], 0) / gamma
        policy.return_normalizer.update(returns)
        scale = policy.return_normalizer.scale

    entropy = traj.dists.entropy()
    if with_grad:
        objective = returns / scale
    else:
        advantage = (returns - values[:-1]).detach() / scale
        objective = traj.dists.log_prob(traj.actions) * advantage
    actor_loss = -(weights * (objective + settings.entropy_coef * entropy)).mean()

    target = returns.detach()
    with th.no_grad():
        slow_target = policy.slow_critic.value(feats[:-1])
    logits = logits[:-1]
    critic_loss = critic.bins.loss(logits, target) + settings.slow_critic_reg * critic.bins.loss(logits, slow_target)
    critic_loss = (weights * critic_loss).mean()
    replay_loss = th.zeros((), device=critic_loss.device)
    if replay is not None and settings.replay_value_scale > 0:
        imagined = returns[0].detach() if settings.replay_value_bootstrap == "imagined" else None
        replay_loss = _replay_value_loss(policy, replay, imagined, settings)
        critic_loss = critic_loss + settings.replay_value_scale * replay_loss
    return BehaviorLosses(
        actor_loss,
        critic_loss,
        replay_loss.detach(),
        entropy.mean().detach(),
        returns.mean().detach(),
        values.mean().detach(),
        scale,
    )


def _replay_value_loss(
    policy: BehaviorModules, replay: ReplayTargets, imagined_return: th.Tensor | None, settings: BehaviorSettings
) -> th.Tensor:
    """The critic's two-hot loss on replayed states (see :func:`behavior_losses`); ``imagined_return`` is the
    lambda-return of the first imagined step from each start state, ``(B * k,)``, or ``None`` to bootstrap with
    the slow critic's values of the replayed states (``replay_value_bootstrap="critic"``)."""
    critic = policy.critic
    carry = slow = None
    if imagined_return is not None and replay.start_rows is None:
        bootstrap = imagined_return.reshape(replay.rewards.shape)
    else:
        with th.no_grad():
            slow = policy.slow_critic.value(replay.features)
        bootstrap = slow
        if imagined_return is not None:  # imagined from some rows: theirs replace the slow critic's there
            rows = replay.start_rows
            assert rows is not None
            bootstrap = bootstrap.scatter(1, rows, imagined_return.reshape(rows.shape).to(bootstrap.dtype))
            carry = th.ones_like(bootstrap).scatter(1, rows, 0.0)
    targets = replay_lambda_returns(
        replay.rewards, replay.terminated, replay.last, bootstrap, settings.gamma, settings.lambda_, carry
    )
    feats = replay.features[:, :-1].detach()
    logits = critic(feats)
    if slow is not None:  # the bootstrap's pass already has the regulariser's targets
        slow_target = slow[:, :-1]
    else:
        with th.no_grad():
            slow_target = policy.slow_critic.value(feats)
    loss = critic.bins.loss(logits, targets) + settings.slow_critic_reg * critic.bins.loss(logits, slow_target)
    return ((1.0 - replay.last[:, :-1]) * loss).mean()
