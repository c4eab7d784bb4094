"""Policy of :class:`~rrl_sb3.RecurrentSAC`: a recurrent actor, recurrent twin critics and their target copy."""

from __future__ import annotations

import copy
from typing import Any, Literal, NamedTuple

import numpy as np
import torch as th
from gymnasium import spaces
from stable_baselines3.common.torch_layers import BaseFeaturesExtractor, CombinedExtractor, FlattenExtractor, NatureCNN
from stable_baselines3.common.type_aliases import PyTorchObs, Schedule
from stable_baselines3.common.utils import ConstantSchedule
from torch import nn
from torch.nn import functional as F

from rrl_sb3.common.math import symlog
from rrl_sb3.common.observations import SequenceFeatures, check_observation_space, map_observations, resolve_extractor
from rrl_sb3.common.policies import RecurrentStatePolicy
from rrl_sb3.common.recurrent import RnnState, initial_rnn_state, rnn_unroll
from rrl_sb3.common.utils import LAYER_SIZES, at_least, check_hyperparameters

RnnType = Literal["gru", "lstm"]


class ActorState(NamedTuple):
    """What the actor carries from one env step to the next: its recurrent layer's state and the action it took.

    :param rnn: ``(h,)`` (GRU) or ``(h, c)`` (LSTM), each ``(n_rnn_layers, n_envs, rnn_hidden_size)``
    :param prev_action: ``a_{t-1}`` in ``[-1, 1]``, ``(1, n_envs, action_dim)``
    """

    rnn: RnnState
    prev_action: th.Tensor


# Bounds of the actor's log standard deviation (as SB3's SAC): exp(-20) is a deterministic action, exp(2) ~ uniform.
LOG_STD_MIN, LOG_STD_MAX = -20.0, 2.0


def check_spaces(observation_space: spaces.Space, action_space: spaces.Space) -> None:
    """Raise ``ValueError`` unless the observation space is a ``Box`` (any shape; images), ``Discrete``,
    ``MultiDiscrete`` or ``MultiBinary`` space, or a ``Dict`` of them, and the action space ``Discrete`` or a flat
    ``Box`` with finite bounds (SAC's squashed Gaussian needs them)."""
    check_observation_space("RecurrentSAC", observation_space)
    if isinstance(action_space, spaces.Discrete):
        return
    if not isinstance(action_space, spaces.Box) or len(action_space.shape) != 1:
        raise ValueError(
            f"RecurrentSAC supports flat Box (a squashed Gaussian policy) and Discrete action spaces, got "
            f"{action_space!r}; for MultiDiscrete actions use REINFORCE or RecurrentPPO"
        )
    if not np.all(np.isfinite(action_space.low)) or not np.all(np.isfinite(action_space.high)):
        raise ValueError(f"RecurrentSAC needs finite bounds on the Box action space, got {action_space!r}")


def mlp(in_dim: int, sizes: list[int], out_dim: int, activation_fn: type[nn.Module]) -> nn.Sequential:
    layers: list[nn.Module] = []
    for size in sizes:
        layers += [nn.Linear(in_dim, size), activation_fn()]
        in_dim = size
    layers.append(nn.Linear(in_dim, out_dim))
    return nn.Sequential(*layers)


class RecurrentEncoder(nn.Module):
    """History encoder: ``[f(o_t), a_{t-1}(, symlog r_{t-1})]`` -> linear embedding -> GRU/LSTM -> ``h_t``, where
    ``f(o_t)`` are the observation's features (:class:`~rrl_sb3.common.observations.SequenceFeatures`).

    The previous action and reward are zeroed where an episode starts (they belong to the previous episode).

    :param obs_dim: size of the observation features
    :param action_dim: action size
    :param use_reward: read the previous reward too (the critics do; the actor cannot, see :class:`RecurrentSACPolicy`)
    :param embed_dim: size of the embedding before the recurrent layer
    :param rnn_type: ``"gru"`` or ``"lstm"``
    :param hidden_size: size of the recurrent state
    :param n_layers: stacked recurrent layers
    :param activation_fn: activation of the embedding
    """

    def __init__(
        self,
        obs_dim: int,
        action_dim: int,
        use_reward: bool,
        embed_dim: int,
        rnn_type: RnnType,
        hidden_size: int,
        n_layers: int,
        activation_fn: type[nn.Module],
    ) -> None:
        super().__init__()
        self.use_reward = use_reward
        self.embed = nn.Sequential(nn.Linear(obs_dim + action_dim + int(use_reward), embed_dim), activation_fn())
        self.rnn: nn.GRU | nn.LSTM = (nn.GRU if rnn_type == "gru" else nn.LSTM)(embed_dim, hidden_size, n_layers)

    def initial_state(self, batch: int, device: th.device) -> RnnState:
        return initial_rnn_state(self.rnn, batch, device)

    def forward(
        self,
        obs: th.Tensor,
        prev_action: th.Tensor,
        prev_reward: th.Tensor | None,
        is_first: th.Tensor,
        state: RnnState | None = None,
    ) -> tuple[th.Tensor, RnnState]:
        """Encode time-major sequences ``(L, B, ...)`` of observation features (``is_first``, ``prev_reward``: ``(L, B)``).

        :return: ``h`` ``(L, B, hidden_size)`` and the state after the last step
        """
        start = is_first.bool().unsqueeze(-1)
        parts = [obs.float(), th.where(start, 0.0, prev_action.float())]
        if self.use_reward:
            assert prev_reward is not None
            parts.append(th.where(start, 0.0, symlog(prev_reward.float()).unsqueeze(-1)))
        inputs = self.embed(th.cat(parts, dim=-1))
        if state is None:
            state = self.initial_state(obs.shape[1], obs.device)
        return rnn_unroll(self.rnn, inputs, state, is_first)


class SquashedGaussian:
    """``a = tanh(u)``, ``u ~ N(mean, std)``, with the log-density of ``a`` (change of variables, numerically stable).

    :param mean: mean of ``u``
    :param log_std: log standard deviation of ``u``
    """

    def __init__(self, mean: th.Tensor, log_std: th.Tensor) -> None:
        self.mean, self.log_std = mean, log_std
        self.normal = th.distributions.Normal(mean, log_std.exp())

    @staticmethod
    def log_abs_det_jacobian(u: th.Tensor) -> th.Tensor:
        """``log(1 - tanh(u)^2) = 2 * (log 2 - u - softplus(-2u))``: finite even where ``tanh(u)`` rounds to +-1."""
        return 2.0 * (np.log(2.0) - u - F.softplus(-2.0 * u))

    def rsample(self) -> tuple[th.Tensor, th.Tensor]:
        """A reparameterised sample and its log-density, summed over the action dimensions."""
        u = self.normal.rsample()
        return th.tanh(u), self.log_prob_pre_tanh(u)

    def log_prob_pre_tanh(self, u: th.Tensor) -> th.Tensor:
        return (self.normal.log_prob(u) - self.log_abs_det_jacobian(u)).sum(-1)

    def mode(self) -> th.Tensor:
        return th.tanh(self.mean)


class SoftCategorical:
    """The actor's distribution over ``n`` discrete actions (SAC for discrete actions): probabilities and their logs
    are explicit, so the losses take expectations over the actions instead of sampling them.

    :param logits: unnormalised log-probabilities ``(..., n)``
    """

    def __init__(self, logits: th.Tensor) -> None:
        self.log_probs = F.log_softmax(logits, dim=-1)
        self.probs = self.log_probs.exp()

    def sample(self) -> th.Tensor:
        """One-hot samples ``(..., n)``."""
        index = th.multinomial(self.probs.reshape(-1, self.probs.shape[-1]), 1).view(self.probs.shape[:-1])
        return F.one_hot(index, self.probs.shape[-1]).to(self.probs.dtype)

    def mode(self) -> th.Tensor:
        """One-hot most likely actions ``(..., n)``."""
        return F.one_hot(self.probs.argmax(-1), self.probs.shape[-1]).to(self.probs.dtype)


class RecurrentActor(nn.Module):
    """``pi(a_t | o_0..o_t, a_0..a_{t-1})``: observation features, a recurrent encoder, then an MLP on
    ``[h_t, f(o_t)]`` to a squashed Gaussian (``Box`` actions) or a categorical (``Discrete``, ``action_dim`` actions,
    previous actions read one-hot)."""

    optimizer: th.optim.Optimizer  # set by the policy that owns it

    def __init__(
        self,
        features: SequenceFeatures,
        action_dim: int,
        embed_dim: int,
        rnn_type: RnnType,
        hidden_size: int,
        n_layers: int,
        net_arch: list[int],
        activation_fn: type[nn.Module],
        discrete: bool = False,
    ) -> None:
        super().__init__()
        self.features = features
        self.discrete = discrete
        obs_dim = features.features_dim
        self.encoder = RecurrentEncoder(obs_dim, action_dim, False, embed_dim, rnn_type, hidden_size, n_layers, activation_fn)
        self.head = mlp(hidden_size + obs_dim, net_arch, action_dim if discrete else 2 * action_dim, activation_fn)

    def distribution(self, h: th.Tensor, features: th.Tensor) -> SquashedGaussian | SoftCategorical:
        out = self.head(th.cat([h, features], dim=-1))
        if self.discrete:
            return SoftCategorical(out)
        mean, log_std = out.chunk(2, dim=-1)
        return SquashedGaussian(mean, log_std.clamp(LOG_STD_MIN, LOG_STD_MAX))


class RecurrentCritic(nn.Module):
    """Twin (or ``n_critics``) Q heads on ``[h_t, f(o_t), a_t]`` over one recurrent encoder of the full history
    (observation features, previous actions and previous rewards); for ``Discrete`` actions each head reads
    ``[h_t, f(o_t)]`` and outputs the value of every action."""

    optimizer: th.optim.Optimizer  # set by the policy that owns it (the target copy has none)

    def __init__(
        self,
        features: SequenceFeatures,
        action_dim: int,
        embed_dim: int,
        rnn_type: RnnType,
        hidden_size: int,
        n_layers: int,
        net_arch: list[int],
        activation_fn: type[nn.Module],
        n_critics: int,
        discrete: bool = False,
    ) -> None:
        super().__init__()
        self.features = features
        obs_dim = features.features_dim
        self.encoder = RecurrentEncoder(obs_dim, action_dim, True, embed_dim, rnn_type, hidden_size, n_layers, activation_fn)
        in_dim, out_dim = (hidden_size + obs_dim, action_dim) if discrete else (hidden_size + obs_dim + action_dim, 1)
        self.q_heads = nn.ModuleList([mlp(in_dim, net_arch, out_dim, activation_fn) for _ in range(n_critics)])

    def q_values(self, h: th.Tensor, features: th.Tensor, action: th.Tensor) -> th.Tensor:
        """Every head's ``Q(h_t, o_t, a_t)``, stacked on a new first axis: ``(n_critics, ...)``."""
        x = th.cat([h, features, action], dim=-1)
        return th.stack([head(x).squeeze(-1) for head in self.q_heads])

    def q_all(self, h: th.Tensor, features: th.Tensor) -> th.Tensor:
        """``Discrete`` actions: every head's ``Q(h_t, o_t, a)`` for every action, ``(n_critics, ..., n_actions)``."""
        x = th.cat([h, features], dim=-1)
        return th.stack([head(x) for head in self.q_heads])


class RecurrentSACPolicy(RecurrentStatePolicy[ActorState]):
    """Actor, critics and target critics of :class:`~rrl_sb3.RecurrentSAC`, and recurrent acting.

    The actor and the critics have **separate** recurrent encoders (sharing one destabilises training); the
    ``n_critics`` Q heads share the critics' encoder, and the target critics are a Polyak-averaged copy of the
    critics. Each of the actor and the critics reads the observations through its own SB3 features extractor (after
    ``preprocess_obs``: one-hot ``Discrete``/``MultiDiscrete``, images scaled to ``[0, 1]``): ``FlattenExtractor``
    for ``"MlpPolicy"``, ``NatureCNN`` for ``"CnnPolicy"`` (images), ``CombinedExtractor`` for ``"MultiInputPolicy"``
    (``Dict`` observations), as SB3's SAC does. The critics read
    ``(o_t, a_{t-1}, r_{t-1})``; the actor reads ``(o_t, a_{t-1})``: SB3's ``predict`` (and so ``evaluate_policy``)
    never sees rewards, so an actor that needed them could not act outside ``learn``.

    **Recurrent state.** :meth:`predict` returns a tuple of numpy arrays with the **env axis second**: the actor's
    recurrent state ``(h,)`` (GRU) or ``(h, c)`` (LSTM), each ``(n_rnn_layers, n_envs, rnn_hidden_size)``, followed
    by the previous action (in ``[-1, 1]``) as ``(1, n_envs, action_dim)``. ``state=None`` is the initial state, and an
    env whose ``episode_start`` is true starts from it.

    :param observation_space: a ``Box`` (any shape; images), ``Discrete``, ``MultiDiscrete`` or ``MultiBinary`` space,
        or a ``Dict`` of them (``"MultiInputPolicy"``)
    :param action_space: flat ``Box`` action space with finite bounds, or ``Discrete`` (a categorical actor and Q heads
        with one output per action; the previous action is read one-hot)
    :param lr_schedule: learning rate schedule (its value at progress 1 sets the optimizers' initial rate)
    :param rnn_type: ``"gru"`` or ``"lstm"``
    :param rnn_hidden_size: size of each recurrent state
    :param n_rnn_layers: stacked recurrent layers of each encoder
    :param embed_dim: size of the linear embedding of ``[o_t, a_{t-1}(, r_{t-1})]`` before the recurrent layer
    :param net_arch: hidden layers of the actor head and of each Q head: a list, or ``dict(pi=[...], qf=[...])``
    :param activation_fn: activation of the embeddings and heads
    :param n_critics: number of Q heads (the target is their minimum)
    :param features_extractor_class: SB3 features extractor of the observations (``None``: the policy's default)
    :param features_extractor_kwargs: its keyword arguments (e.g. ``features_dim`` of ``NatureCNN``)
    :param normalize_images: scale image observations to ``[0, 1]`` (SB3's option)
    :param optimizer_class: optimizer of the actor and of the critics
    :param optimizer_kwargs: extra keyword arguments of the optimizer
    """

    state_layout = "env axis second"
    default_features_extractor_class: type[BaseFeaturesExtractor] = FlattenExtractor

    def __init__(
        self,
        observation_space: spaces.Space,
        action_space: spaces.Space,
        lr_schedule: Schedule,
        rnn_type: RnnType = "gru",
        rnn_hidden_size: int = 64,
        n_rnn_layers: int = 1,
        embed_dim: int = 32,
        net_arch: list[int] | dict[str, list[int]] | None = None,
        activation_fn: type[nn.Module] = nn.ReLU,
        n_critics: int = 2,
        features_extractor_class: type[BaseFeaturesExtractor] | None = None,
        features_extractor_kwargs: dict[str, Any] | None = None,
        normalize_images: bool = True,
        optimizer_class: type[th.optim.Optimizer] = th.optim.Adam,
        optimizer_kwargs: dict[str, Any] | None = None,
    ) -> None:
        check_spaces(observation_space, action_space)
        extractor = resolve_extractor(type(self), observation_space, features_extractor_class, normalize_images)
        if rnn_type not in ("gru", "lstm"):
            raise ValueError(f"policy_kwargs rnn_type must be 'gru' or 'lstm', got rnn_type={rnn_type!r}")
        sizes = dict(rnn_hidden_size=rnn_hidden_size, n_rnn_layers=n_rnn_layers, embed_dim=embed_dim, n_critics=n_critics)
        check_hyperparameters(sizes, dict.fromkeys(sizes, at_least(1)), prefix="policy_kwargs ")
        if net_arch is None:
            net_arch = [64, 64]
        arch = net_arch if isinstance(net_arch, dict) else {"pi": net_arch, "qf": net_arch}
        if set(arch) != {"pi", "qf"} or not all(LAYER_SIZES.ok(v) for v in arch.values()):
            raise ValueError(
                "policy_kwargs net_arch must be a list of layer sizes >= 1 or dict(pi=[...], qf=[...]), "
                f"got net_arch={net_arch!r}"
            )
        super().__init__(
            observation_space,
            action_space,
            features_extractor_class=extractor,
            features_extractor_kwargs=features_extractor_kwargs,
            normalize_images=normalize_images,
            optimizer_class=optimizer_class,
            optimizer_kwargs=optimizer_kwargs,
            squash_output=not isinstance(action_space, spaces.Discrete),
        )
        self.rnn_type: RnnType = rnn_type
        self.rnn_hidden_size, self.n_rnn_layers, self.embed_dim = int(rnn_hidden_size), int(n_rnn_layers), int(embed_dim)
        self.net_arch = net_arch
        self.activation_fn = activation_fn
        self.n_critics = int(n_critics)
        self.discrete = isinstance(action_space, spaces.Discrete)
        if isinstance(action_space, spaces.Discrete):
            self.action_dim = int(action_space.n)
        else:
            assert isinstance(action_space, spaces.Box)  # see check_spaces
            self.action_dim = int(action_space.shape[0])
        rnn: dict[str, Any] = dict(
            embed_dim=self.embed_dim, rnn_type=rnn_type, hidden_size=self.rnn_hidden_size, n_layers=self.n_rnn_layers
        )
        self.actor = RecurrentActor(
            self._sequence_features(),
            self.action_dim,
            **rnn,
            net_arch=list(arch["pi"]),
            activation_fn=activation_fn,
            discrete=self.discrete,
        )
        self.critic = RecurrentCritic(
            self._sequence_features(),
            self.action_dim,
            **rnn,
            net_arch=list(arch["qf"]),
            activation_fn=activation_fn,
            n_critics=self.n_critics,
            discrete=self.discrete,
        )
        self.critic_target = copy.deepcopy(self.critic)
        self.critic_target.requires_grad_(False)
        # call-arg: Optimizer's own signature has no lr (SB3 ignores it the same way)
        self.actor.optimizer = self.optimizer_class(  # type: ignore[call-arg]
            self.actor.parameters(), lr=lr_schedule(1), **self.optimizer_kwargs
        )
        self.critic.optimizer = self.optimizer_class(  # type: ignore[call-arg]
            self.critic.parameters(), lr=lr_schedule(1), **self.optimizer_kwargs
        )

    def _sequence_features(self) -> SequenceFeatures:
        """A features extractor of its own, over time-major observations."""
        return SequenceFeatures(self.observation_space, self.make_features_extractor(), self.normalize_images)

    def _get_constructor_parameters(self) -> dict[str, Any]:
        data = super()._get_constructor_parameters()
        data.update(
            features_extractor_class=self.features_extractor_class,
            features_extractor_kwargs=self.features_extractor_kwargs,
            normalize_images=self.normalize_images,
            lr_schedule=ConstantSchedule(self.actor.optimizer.param_groups[0]["lr"]),
            rnn_type=self.rnn_type,
            rnn_hidden_size=self.rnn_hidden_size,
            n_rnn_layers=self.n_rnn_layers,
            embed_dim=self.embed_dim,
            net_arch=self.net_arch,
            activation_fn=self.activation_fn,
            n_critics=self.n_critics,
            optimizer_class=self.optimizer_class,
            optimizer_kwargs=self.optimizer_kwargs,
        )
        data.pop("squash_output", None)
        return data

    def set_training_mode(self, mode: bool) -> None:
        self.actor.train(mode)
        self.critic.train(mode)
        self.training = mode

    # --- acting ----------------------------------------------------------------------------------------------------

    def initial_state(self, n_envs: int) -> ActorState:
        """The actor's state before an episode: zero recurrent state and zero previous action (see the class doc)."""
        rnn_state = self.actor.encoder.initial_state(n_envs, self.device)
        return ActorState(rnn_state, th.zeros(1, n_envs, self.action_dim, device=self.device))

    def step(
        self, obs: PyTorchObs, state: ActorState, episode_start: th.Tensor, deterministic: bool = False
    ) -> tuple[th.Tensor, ActorState]:
        """One step of every env: reset the state where ``episode_start``, read ``(o_t, a_{t-1})``, choose ``a_t``.

        :param obs: ``(n_envs, ...)``
        :param state: the carried state (see :meth:`initial_state`)
        :param episode_start: ``(n_envs,)``
        :param deterministic: act with ``tanh(mean)`` (the most likely action) instead of sampling
        :return: the action in ``[-1, 1]`` ``(n_envs, action_dim)`` (one-hot for ``Discrete``) and the new state, which
            remembers that action
        """
        starts = episode_start.float().view(1, -1)
        features = self.actor.features(map_observations(lambda x: x.unsqueeze(0), obs))  # a sequence of one step
        h, new_rnn = self.actor.encoder(features, state.prev_action, None, starts, state.rnn)
        dist = self.actor.distribution(h[0], features[0])
        if isinstance(dist, SoftCategorical):
            action = dist.mode() if deterministic else dist.sample()
        else:
            action = dist.mode() if deterministic else dist.rsample()[0]
        return action, ActorState(new_rnn, action.unsqueeze(0))

    def remember_action(self, state: ActorState, action: th.Tensor) -> ActorState:
        """``state`` with ``action`` (``(n_envs, action_dim)`` in ``[-1, 1]``) as the action taken."""
        return state._replace(prev_action=action.unsqueeze(0))

    def state_arrays(self, state: ActorState) -> tuple[np.ndarray, ...]:
        """``(h, prev_action)`` or ``(h, c, prev_action)`` as numpy arrays, env axis second."""
        return tuple(s.cpu().numpy() for s in (*state.rnn, state.prev_action))

    def state_from_arrays(self, arrays: tuple[th.Tensor, ...]) -> ActorState:
        return ActorState(tuple(arrays[:-1]), arrays[-1])

    def to_env_action(self, action: th.Tensor) -> np.ndarray:
        """Model action in ``[-1, 1]`` -> the env's action range (one-hot -> index for ``Discrete``)."""
        if self.discrete:
            return action.argmax(-1).cpu().numpy()
        return self.unscale_action(action.cpu().numpy())


class RecurrentSACCnnPolicy(RecurrentSACPolicy):
    """:class:`RecurrentSACPolicy` on images (``"CnnPolicy"``): ``NatureCNN`` features for the actor and the critics."""

    default_features_extractor_class = NatureCNN


class RecurrentSACMultiInputPolicy(RecurrentSACPolicy):
    """:class:`RecurrentSACPolicy` on ``Dict`` observations (``"MultiInputPolicy"``): ``CombinedExtractor`` features
    (``NatureCNN`` for image keys, flattened other keys) for the actor and the critics."""

    default_features_extractor_class = CombinedExtractor
