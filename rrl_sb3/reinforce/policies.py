"""Policies of :class:`~rrl_sb3.REINFORCE`: a GRU, LSTM or memoryless trunk with an action head and a value head."""

from __future__ import annotations

from functools import partial
from typing import Any, ClassVar, Literal, cast

import numpy as np
import torch as th
from gymnasium import spaces
from stable_baselines3.common.distributions import (
    BernoulliDistribution,
    CategoricalDistribution,
    DiagGaussianDistribution,
    Distribution,
    MultiCategoricalDistribution,
    make_proba_distribution,
)
from stable_baselines3.common.torch_layers import BaseFeaturesExtractor, CombinedExtractor, FlattenExtractor, NatureCNN
from stable_baselines3.common.type_aliases import PyTorchObs, Schedule
from stable_baselines3.common.utils import ConstantSchedule
from torch import nn

from rrl_sb3.common.observations import check_observation_space, resolve_extractor, sequence_features
from rrl_sb3.common.policies import RecurrentStatePolicy
from rrl_sb3.common.recurrent import RnnState, initial_rnn_state, rnn_unroll
from rrl_sb3.common.utils import FINITE, LAYER_SIZES, at_least, check_hyperparameters

RnnType = Literal["gru", "lstm"]


class ReinforcePolicy(RecurrentStatePolicy[RnnState]):
    """Policy of :class:`~rrl_sb3.REINFORCE`: observation -> features extractor -> [GRU/LSTM] -> MLP -> action
    distribution and value.

    Observations go through SB3's ``preprocess_obs`` (one-hot ``Discrete``/``MultiDiscrete``, images scaled to
    ``[0, 1]``) and a features extractor: ``FlattenExtractor`` for the ``Mlp*`` policies, ``NatureCNN`` for the
    ``Cnn*`` ones (images) and ``CombinedExtractor`` for the ``MultiInput*`` ones (``Dict`` observations).

    With ``rnn_type=None`` (``"MlpPolicy"``) there is no recurrence and :meth:`predict` returns ``state=None``.
    Otherwise the recurrent state returned by :meth:`predict` is a tuple of numpy arrays of shape
    ``(n_rnn_layers, n_envs, rnn_hidden_size)`` (**env axis second**, as sb3-contrib's RecurrentPPO): ``(h,)`` for a
    GRU and ``(h, c)`` for an LSTM. ``state=None`` means the zero state; an env whose ``episode_start`` is true
    starts from the zero state whatever ``state`` holds.

    The action head and the value head share the trunk (recurrent layer and MLP). ``Box`` actions are a diagonal
    Gaussian with a state-independent log standard deviation; the sampled action is clipped to the bounds only when
    it is sent to the env (as SB3's PPO does); ``Discrete`` and ``MultiDiscrete`` actions are (independent)
    categoricals, ``MultiBinary`` ones Bernoullis.

    :param observation_space: a ``Box`` (any shape; images), ``Discrete``, ``MultiDiscrete`` or ``MultiBinary``
        space, or a ``Dict`` of them
    :param action_space: ``Box``, ``Discrete``, ``MultiDiscrete`` or ``MultiBinary``
    :param lr_schedule: learning rate schedule (its value at progress 1 sets the optimizer's initial rate)
    :param rnn_type: ``"gru"``, ``"lstm"`` or ``None`` (memoryless)
    :param rnn_hidden_size: size of the recurrent state
    :param n_rnn_layers: number of stacked recurrent layers
    :param net_arch: hidden layer sizes of the MLP between the trunk's input (or recurrent output) and the heads
    :param activation_fn: activation of the MLP
    :param log_std_init: initial log standard deviation of Gaussian actions
    :param features_extractor_class: SB3 features extractor of the observations (``None``: the policy's default,
        see above)
    :param features_extractor_kwargs: its keyword arguments (e.g. ``features_dim`` of ``NatureCNN``)
    :param normalize_images: scale image observations to ``[0, 1]`` (SB3's option)
    :param optimizer_class: optimizer
    :param optimizer_kwargs: extra keyword arguments of the optimizer
    """

    default_rnn_type: ClassVar[RnnType | None] = None
    default_features_extractor_class: ClassVar[type[BaseFeaturesExtractor]] = FlattenExtractor
    state_layout = "env axis second"
    # Buffers (register_buffer): the running statistics of the Monte-Carlo returns
    return_mean: th.Tensor
    return_var: th.Tensor
    return_count: th.Tensor

    def __init__(
        self,
        observation_space: spaces.Space,
        action_space: spaces.Space,
        lr_schedule: Schedule,
        rnn_type: RnnType | str | None = "default",
        rnn_hidden_size: int = 64,
        n_rnn_layers: int = 1,
        net_arch: list[int] | None = None,
        activation_fn: type[nn.Module] = nn.Tanh,
        log_std_init: float = 0.0,
        features_extractor_class: type[BaseFeaturesExtractor] | None = None,
        features_extractor_kwargs: dict[str, Any] | None = None,
        normalize_images: bool = True,
        optimizer_class: type[th.optim.Optimizer] = th.optim.Adam,
        optimizer_kwargs: dict[str, Any] | None = None,
    ) -> None:
        check_spaces(observation_space, action_space)
        extractor = resolve_extractor(type(self), observation_space, features_extractor_class, normalize_images)
        if rnn_type == "default":
            rnn_type = self.default_rnn_type
        if rnn_type not in ("gru", "lstm", None):
            raise ValueError(f"policy_kwargs rnn_type must be 'gru', 'lstm' or None, got rnn_type={rnn_type!r}")
        if net_arch is None:
            net_arch = [64] if rnn_type is not None else [64, 64]
        check_hyperparameters(
            dict(rnn_hidden_size=rnn_hidden_size, n_rnn_layers=n_rnn_layers, net_arch=net_arch, log_std_init=log_std_init),
            dict(rnn_hidden_size=at_least(1), n_rnn_layers=at_least(1), net_arch=LAYER_SIZES, log_std_init=FINITE),
            prefix="policy_kwargs ",
        )
        super().__init__(
            observation_space,
            action_space,
            features_extractor_class=extractor,
            features_extractor_kwargs=features_extractor_kwargs,
            normalize_images=normalize_images,
            optimizer_class=optimizer_class,
            optimizer_kwargs=optimizer_kwargs,
        )
        self.features_extractor = self.make_features_extractor()
        self.rnn_type: RnnType | None = rnn_type  # type: ignore[assignment]
        self.rnn_hidden_size = int(rnn_hidden_size)
        self.n_rnn_layers = int(n_rnn_layers)
        self.net_arch = [int(n) for n in net_arch]
        self.activation_fn = activation_fn
        self.log_std_init = log_std_init

        in_dim = int(self.features_extractor.features_dim)
        self.rnn: nn.GRU | nn.LSTM | None = None
        if rnn_type is not None:
            rnn_cls = nn.GRU if rnn_type == "gru" else nn.LSTM
            self.rnn = rnn_cls(in_dim, self.rnn_hidden_size, num_layers=self.n_rnn_layers)
            in_dim = self.rnn_hidden_size
        layers: list[nn.Module] = []
        for size in self.net_arch:
            layers += [nn.Linear(in_dim, size), activation_fn()]
            in_dim = size
        self.mlp = nn.Sequential(*layers)
        self.action_dist = make_proba_distribution(action_space)
        if isinstance(self.action_dist, DiagGaussianDistribution):
            self.action_net, self.log_std = self.action_dist.proba_distribution_net(in_dim, log_std_init)
        else:  # categorical, multi-categorical or Bernoulli: logits
            assert isinstance(self.action_dist, (CategoricalDistribution, MultiCategoricalDistribution, BernoulliDistribution))
            self.action_net = self.action_dist.proba_distribution_net(in_dim)
        self.value_net = nn.Linear(in_dim, 1)
        # Orthogonal init with a small action head (as SB3's ActorCriticPolicy): starts near uniform / unit std.
        self.features_extractor.apply(partial(self.init_weights, gain=np.sqrt(2)))  # no parameters when flattening
        for module in self.mlp:
            if isinstance(module, nn.Linear):
                nn.init.orthogonal_(module.weight, gain=np.sqrt(2))
                nn.init.zeros_(module.bias)
        action_head = cast(nn.Linear, self.action_net)  # every SB3 distribution's head is one linear layer
        nn.init.orthogonal_(action_head.weight, gain=0.01)
        nn.init.zeros_(action_head.bias)
        nn.init.orthogonal_(self.value_net.weight, gain=1.0)
        nn.init.zeros_(self.value_net.bias)
        # Running statistics of the Monte-Carlo returns (used when the algorithm normalises returns). Buffers, so
        # that they are saved and loaded with the parameters.
        self.register_buffer("return_mean", th.zeros(()))
        self.register_buffer("return_var", th.ones(()))
        self.register_buffer("return_count", th.zeros((), dtype=th.float64))
        # call-arg: Optimizer's own signature has no lr (SB3 ignores it the same way)
        self.optimizer = self.optimizer_class(self.parameters(), lr=lr_schedule(1), **self.optimizer_kwargs)  # type: ignore[call-arg]

    def _get_constructor_parameters(self) -> dict[str, Any]:
        data = super()._get_constructor_parameters()
        data.update(
            rnn_type=self.rnn_type,
            rnn_hidden_size=self.rnn_hidden_size,
            n_rnn_layers=self.n_rnn_layers,
            net_arch=self.net_arch,
            activation_fn=self.activation_fn,
            log_std_init=self.log_std_init,
            features_extractor_class=self.features_extractor_class,
            features_extractor_kwargs=self.features_extractor_kwargs,
            normalize_images=self.normalize_images,
            lr_schedule=ConstantSchedule(self.optimizer.param_groups[0]["lr"]),
            optimizer_class=self.optimizer_class,
            optimizer_kwargs=self.optimizer_kwargs,
        )
        return data

    # --- the recurrent trunk -------------------------------------------------------------------------------------

    def initial_state(self, n_envs: int) -> RnnState:
        """The zero state of ``n_envs`` envs: ``(h,)`` for a GRU, ``(h, c)`` for an LSTM, ``()`` without recurrence."""
        return () if self.rnn is None else initial_rnn_state(self.rnn, n_envs, self.device)

    def features(self, obs: PyTorchObs, state: RnnState, episode_start: th.Tensor) -> tuple[th.Tensor, RnnState]:
        """One step of every env: reset the state where ``episode_start``, and return the heads' input and new state.

        :param obs: observations ``(n_envs, ...)`` (a dict of them for ``Dict`` spaces)
        :param state: the carried state (see :meth:`initial_state`)
        :param episode_start: ``(n_envs,)``, true where this observation is the first of an episode
        :return: features ``(n_envs, net_arch[-1])`` and the state after this step
        """
        inputs = self.extract_features(obs, self.features_extractor)
        if self.rnn is None:
            return self.mlp(inputs), ()
        out, new_state = rnn_unroll(self.rnn, inputs.unsqueeze(0), state, episode_start.view(1, -1))
        return self.mlp(out.squeeze(0)), new_state

    def step(
        self, obs: PyTorchObs, state: RnnState, episode_start: th.Tensor, deterministic: bool = False
    ) -> tuple[th.Tensor, RnnState]:
        """One step of every env (see :meth:`features`): the actions, sampled or the mode, and the new state."""
        features, new_state = self.features(obs, state, episode_start)
        return self.distribution(features).get_actions(deterministic=deterministic), new_state

    def unroll(self, obs: PyTorchObs) -> th.Tensor:
        """Features of whole episodes, time-major ``(T, B, ...)`` (per key for dicts), each column starting from the
        zero state.

        Padding after an episode's end does not change its earlier outputs (the recurrence is causal).
        """
        inputs = sequence_features(self.features_extractor, self.observation_space, self.normalize_images, obs)
        if self.rnn is not None:
            inputs, _ = rnn_unroll(self.rnn, inputs, initial_rnn_state(self.rnn, inputs.shape[1], inputs.device))
        return self.mlp(inputs)

    def distribution(self, features: th.Tensor) -> Distribution:
        """The action distribution for features ``(..., dim)`` flattened to ``(N, dim)``."""
        logits = self.action_net(features.reshape(-1, features.shape[-1]))
        if isinstance(self.action_dist, DiagGaussianDistribution):
            return self.action_dist.proba_distribution(logits, self.log_std)
        return self.action_dist.proba_distribution(action_logits=logits)

    def value(self, features: th.Tensor) -> th.Tensor:
        """The value head (in the units of the training targets: normalised returns when returns are normalised)."""
        return self.value_net(features).squeeze(-1)

    # --- acting --------------------------------------------------------------------------------------------------

    def to_env_action(self, actions: th.Tensor) -> np.ndarray:
        """Actions as the env takes them: clipped to the bounds of a ``Box``, in the dtype of the other spaces."""
        actions_np = actions.cpu().numpy()
        if isinstance(self.action_space, spaces.Box):
            box = self.action_space
            return np.clip(actions_np.reshape(-1, *box.shape), box.low, box.high)
        return actions_np.astype(self.action_space.dtype)


def check_spaces(observation_space: spaces.Space, action_space: spaces.Space) -> None:
    """Raise ``ValueError`` unless the observation space is one SB3's policies take (see
    :func:`~rrl_sb3.common.observations.check_observation_space`) and the action space a ``Box``, ``Discrete``,
    ``MultiDiscrete`` or ``MultiBinary`` space."""
    check_observation_space("REINFORCE", observation_space)
    if not isinstance(action_space, (spaces.Box, spaces.Discrete, spaces.MultiDiscrete, spaces.MultiBinary)):
        raise ValueError(
            f"REINFORCE supports Box, Discrete, MultiDiscrete and MultiBinary action spaces, got {action_space!r}"
        )


class ReinforceGruPolicy(ReinforcePolicy):
    """:class:`ReinforcePolicy` with a GRU (``"MlpGruPolicy"``): state ``(h,)``, ``h`` of shape
    ``(n_rnn_layers, n_envs, rnn_hidden_size)``."""

    default_rnn_type: ClassVar[RnnType | None] = "gru"


class ReinforceLstmPolicy(ReinforcePolicy):
    """:class:`ReinforcePolicy` with an LSTM (``"MlpLstmPolicy"``): state ``(h, c)``, each of shape
    ``(n_rnn_layers, n_envs, rnn_hidden_size)``."""

    default_rnn_type: ClassVar[RnnType | None] = "lstm"


class ReinforceCnnPolicy(ReinforcePolicy):
    """:class:`ReinforcePolicy` without memory on images (``"CnnPolicy"``): ``NatureCNN`` features."""

    default_features_extractor_class = NatureCNN


class ReinforceCnnGruPolicy(ReinforceGruPolicy):
    """:class:`ReinforceGruPolicy` on images (``"CnnGruPolicy"``): ``NatureCNN`` features into the GRU."""

    default_features_extractor_class = NatureCNN


class ReinforceCnnLstmPolicy(ReinforceLstmPolicy):
    """:class:`ReinforceLstmPolicy` on images (``"CnnLstmPolicy"``): ``NatureCNN`` features into the LSTM."""

    default_features_extractor_class = NatureCNN


class ReinforceMultiInputPolicy(ReinforcePolicy):
    """:class:`ReinforcePolicy` without memory on ``Dict`` observations (``"MultiInputPolicy"``)."""

    default_features_extractor_class = CombinedExtractor


class ReinforceMultiInputGruPolicy(ReinforceGruPolicy):
    """:class:`ReinforceGruPolicy` on ``Dict`` observations (``"MultiInputGruPolicy"``): ``CombinedExtractor``."""

    default_features_extractor_class = CombinedExtractor


class ReinforceMultiInputLstmPolicy(ReinforceLstmPolicy):
    """:class:`ReinforceLstmPolicy` on ``Dict`` observations (``"MultiInputLstmPolicy"``): ``CombinedExtractor``."""

    default_features_extractor_class = CombinedExtractor


MlpPolicy = ReinforcePolicy
MlpGruPolicy = ReinforceGruPolicy
MlpLstmPolicy = ReinforceLstmPolicy
CnnPolicy = ReinforceCnnPolicy
CnnGruPolicy = ReinforceCnnGruPolicy
CnnLstmPolicy = ReinforceCnnLstmPolicy
MultiInputPolicy = ReinforceMultiInputPolicy
MultiInputGruPolicy = ReinforceMultiInputGruPolicy
MultiInputLstmPolicy = ReinforceMultiInputLstmPolicy
