"""Dreamer's behaviour: actor and critic learned on trajectories imagined by the world model."""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal, NamedTuple

import torch as th
import torch.nn.functional as F
from torch import nn

from rrl_sb3.common.math import TwoHotBins, lambda_returns
from rrl_sb3.dreamer.world_model import Latent, WorldModel, mlp, sample_one_hot

if TYPE_CHECKING:
    from rrl_sb3.dreamer.policies import DreamerPolicy

ActorGradient = Literal["reinforce", "dynamics"]


class ActionDist(NamedTuple):
    """Action distribution of the actor for a batch of model states.

    Continuous actions live in ``[-1, 1]`` (rescaled to the env's bounds when acting): a Gaussian whose mean is
    squashed by ``tanh`` and whose standard deviation lies in ``[min_std, max_std]``; samples are clipped to the
    bounds. Discrete actions are one-hot samples of a categorical with a small uniform mixture.
    """

    discrete: bool
    mean_or_probs: th.Tensor
    std: th.Tensor | None

    def sample(self) -> th.Tensor:
        if self.discrete:
            # Straight-through, so that dynamics gradients can pass a discrete action.
            return sample_one_hot(self.mean_or_probs) + self.mean_or_probs - self.mean_or_probs.detach()
        assert self.std is not None
        return self.mean_or_probs + self.std * th.randn_like(self.std)

    def mode(self) -> th.Tensor:
        if self.discrete:
            return F.one_hot(self.mean_or_probs.argmax(-1), self.mean_or_probs.shape[-1]).to(self.mean_or_probs.dtype)
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
    :param action_dim: action size (number of actions for discrete actions)
    :param discrete: whether actions are discrete
    :param hidden: width of the hidden layers
    :param layers: number of hidden layers
    :param min_std: lower bound of the Gaussian standard deviation
    :param max_std: upper bound of the Gaussian standard deviation
    :param unimix: uniform mixture of the categorical distribution
    """

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
    ) -> None:
        super().__init__()
        self.discrete, self.action_dim = discrete, action_dim
        self.min_std, self.max_std, self.unimix = min_std, max_std, unimix
        self.net = mlp(feature_dim, action_dim if discrete else 2 * action_dim, hidden, layers)

    def forward(self, features: th.Tensor) -> ActionDist:
        out = self.net(features)
        if self.discrete:
            probs = (1.0 - self.unimix) * F.softmax(out, dim=-1) + self.unimix / self.action_dim
            return ActionDist(True, probs, None)
        mean, raw_std = out.chunk(2, dim=-1)
        std = (self.max_std - self.min_std) * th.sigmoid(raw_std + 2.0) + self.min_std
        return ActionDist(False, th.tanh(mean), std)


class Critic(nn.Module):
    """Value ``v(h_t, z_t)`` as a two-hot distribution over symlog bins (robust to the scale of the returns)."""

    def __init__(self, feature_dim: int, hidden: int = 256, layers: int = 2) -> None:
        super().__init__()
        self.net = mlp(feature_dim, 255, hidden, layers, zero_init_output=True)
        self.bins = TwoHotBins()

    def forward(self, features: th.Tensor) -> th.Tensor:
        """Logits over the bins."""
        return self.net(features)

    def value(self, features: th.Tensor) -> th.Tensor:
        return self.bins.decode(self.net(features))


class Imagination(NamedTuple):
    features: th.Tensor  # (H + 1, N, F): s_0 ... s_H
    actions: th.Tensor  # (H, N, A): a_0 ... a_{H-1}
    dists: ActionDist  # pi(. | s_0 ... s_{H-1})


def imagine(world_model: WorldModel, actor: Actor, start: Latent, horizon: int, with_grad: bool) -> Imagination:
    """Roll the actor out in the world model for ``horizon`` steps from each start state ``(N, ...)``.

    With ``with_grad`` the actions are reparameterised and gradients flow through the dynamics (for the
    ``"dynamics"`` actor gradient). Otherwise the rollout is a constant and the action distributions are
    recomputed afterwards in one batch, so that only the actor's log-probabilities carry gradients.
    """
    state = Latent(start.deter.detach(), start.stoch.detach())
    features, actions, dists = [state.features], [], []
    with th.set_grad_enabled(with_grad and th.is_grad_enabled()):
        for _ in range(horizon):
            dist = actor(features[-1])
            action = dist.sample()
            state = world_model.rssm.imagine_step(state, action)
            features.append(state.features)
            actions.append(action)
            dists.append(dist)
    feats = th.stack(features)
    if with_grad:
        stacked = ActionDist(
            dists[0].discrete,
            th.stack([d.mean_or_probs for d in dists]),
            None if dists[0].std is None else th.stack([d.std for d in dists]),  # type: ignore[misc]
        )
    else:
        stacked = actor(feats[:-1])
    return Imagination(feats, th.stack(actions), stacked)


class BehaviorSettings(NamedTuple):
    """The hyperparameters of learning in imagination (see :class:`~rrl_sb3.Dreamer` for their meaning).

    :param horizon: length of the imagined trajectories
    :param gamma: discount factor
    :param lambda_: lambda of the TD(lambda) returns
    :param entropy_coef: weight of the actor's entropy bonus
    :param actor_gradient: ``"reinforce"`` or ``"dynamics"``
    :param slow_critic_reg: weight of the critic's regulariser towards its slow copy
    """

    horizon: int
    gamma: float
    lambda_: float
    entropy_coef: float
    actor_gradient: ActorGradient
    slow_critic_reg: float = 1.0


class BehaviorLosses(NamedTuple):
    actor: th.Tensor
    critic: th.Tensor
    entropy: th.Tensor
    returns: th.Tensor
    value: th.Tensor
    scale: th.Tensor


def behavior_losses(
    policy: DreamerPolicy, start: Latent, start_continue: th.Tensor, settings: BehaviorSettings
) -> BehaviorLosses:
    """Actor and critic losses on imagined trajectories (DreamerV3).

    Returns are TD(lambda), bootstrapped with the critic and discounted by ``gamma`` times the predicted
    continue flag; each imagined step is weighted by the product of the continues before it (``start_continue``
    for the start state, so imagination from a terminal state counts for nothing). The actor maximises the
    returns divided by the percentile scale of :class:`ReturnNormalizer`, plus ``entropy_coef`` times its entropy;
    the critic regresses the returns (two-hot) and is regularised towards its slow (EMA) copy.

    :param policy: the world model, actor, critic, slow critic and return normaliser
    :param start: posterior states to imagine from, flattened to ``(N, ...)``
    :param start_continue: ``1 - terminated`` of the start states, ``(N,)``
    :param settings: horizon, discount, lambda, entropy weight and actor gradient
    """
    world_model, critic, gamma = policy.world_model, policy.critic, settings.gamma
    with_grad = settings.actor_gradient == "dynamics"
    traj = imagine(world_model, policy.actor, start, settings.horizon, with_grad)
    feats = traj.features
    with th.set_grad_enabled(with_grad and th.is_grad_enabled()):
        rewards = world_model.reward(feats[1:])
        continues = th.cat([start_continue.unsqueeze(0), world_model.continue_prob(feats[1:])], 0)
        values = critic.value(feats)
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

    critic_feats = feats[:-1].detach()
    logits = critic(critic_feats)
    target = returns.detach()
    with th.no_grad():
        slow_target = policy.slow_critic.value(critic_feats)
    critic_loss = critic.bins.loss(logits, target) + settings.slow_critic_reg * critic.bins.loss(logits, slow_target)
    critic_loss = (weights * critic_loss).mean()
    return BehaviorLosses(
        actor_loss, critic_loss, entropy.mean().detach(), returns.mean().detach(), values.mean().detach(), scale
    )
