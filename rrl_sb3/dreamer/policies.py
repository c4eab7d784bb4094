"""The SB3 policy of Dreamer: world model, actor and critic, and recurrent acting."""

from __future__ import annotations

from typing import Any, NamedTuple, cast

import numpy as np
import torch as th
from gymnasium import spaces
from stable_baselines3.common.type_aliases import PyTorchObs, Schedule
from stable_baselines3.common.utils import ConstantSchedule
from torch import nn

from rrl_sb3.common.math import ReturnNormalizer
from rrl_sb3.common.observations import check_observation_space
from rrl_sb3.common.policies import RecurrentStatePolicy
from rrl_sb3.common.utils import (
    IN_CLOSED_UNIT_INTERVAL,
    NON_NEGATIVE,
    POSITIVE,
    check_hyperparameters,
    one_of,
)
from rrl_sb3.dreamer.behavior import Actor, Critic
from rrl_sb3.dreamer.world_model import Latent, LatentKind, ObservationCodec, WorldModel


class DreamerState(NamedTuple):
    """What Dreamer carries from one env step to the next, env axis first.

    :param deter: the RSSM's GRU state ``h``, ``(n_envs, deter)``
    :param stoch: the stochastic latent ``z``, ``(n_envs, stoch_dim)``
    :param prev_action: the action taken, in the model's representation (in ``[-1, 1]`` for ``Box`` actions,
        one-hot for ``Discrete``), ``(n_envs, action_dim)``
    """

    deter: th.Tensor
    stoch: th.Tensor
    prev_action: th.Tensor

    @property
    def latent(self) -> Latent:
        return Latent(self.deter, self.stoch)


#: The rules of :class:`DreamerPolicy`'s numeric and choice keyword arguments (the network sizes are checked apart)
POLICY_KWARG_CHECKS = dict(
    latent=one_of("categorical", "gaussian"),
    unimix=IN_CLOSED_UNIT_INTERVAL,
    latent_min_std=POSITIVE,
    free_bits=NON_NEGATIVE,
    dyn_scale=NON_NEGATIVE,
    rep_scale=NON_NEGATIVE,
    actor_min_std=POSITIVE,
    actor_max_std=POSITIVE,
    actor_lr=POSITIVE,
    critic_lr=POSITIVE,
    twohot_space=one_of("symlog", "raw"),
    deterministic_latent=one_of("mode", "sample"),
)


class DreamerPolicy(RecurrentStatePolicy[DreamerState]):
    """World model, actor, critic (and its slow copy) of :class:`~rrl_sb3.Dreamer`, and recurrent acting.

    The recurrent state of ``predict`` is a tuple of three arrays, env axis first:
    ``(h, z, a)`` = the GRU state ``(n_envs, deter)``, the stochastic latent ``(n_envs, stoch_dim)`` and the
    previous action in the model's representation ``(n_envs, action_dim)`` (in ``[-1, 1]`` for ``Box`` actions,
    one-hot for ``Discrete``). ``state=None`` or ``episode_start=True`` for an env starts it from the initial state.

    :param observation_space: a ``Box`` (any shape; ``uint8`` images read by a convolutional encoder), ``Discrete``,
        ``MultiDiscrete`` or ``MultiBinary`` space, or a ``Dict`` of them (an encoder and a decoder per key)
    :param action_space: ``Box`` or ``Discrete`` action space
    :param lr_schedule: learning rate schedule of the world model
    :param actor_lr: learning rate of the actor
    :param critic_lr: learning rate of the critic
    :param hidden: width of every MLP layer
    :param layers: hidden layers of the encoder, decoder, heads, actor and critic
    :param deter: size of the GRU state
    :param stoch: number of categorical latent variables (or Gaussian latent dimensions)
    :param classes: classes per categorical latent variable
    :param latent: ``"categorical"`` (DreamerV2/V3) or ``"gaussian"`` (PlaNet/DreamerV1)
    :param unimix: uniform mixture of the categorical latents and of the discrete actor
    :param latent_min_std: floor of the Gaussian latent standard deviation
    :param free_bits: KL below this many nats is not penalised
    :param dyn_scale: weight of the dynamics KL term
    :param rep_scale: weight of the representation KL term
    :param actor_min_std: lower bound of the continuous actor's standard deviation
    :param actor_max_std: upper bound of the continuous actor's standard deviation
    :param twohot_space: where the reward and value heads' two-hot interpolation and expectation happen:
        ``"symlog"`` (the expectation of symlog bins, mapped back: below the mean of a spread of targets) or
        ``"raw"`` (DreamerV3's current heads: symexp-spaced bins, the expectation in the original scale, so a spread
        of returns is predicted by its mean); see :class:`~rrl_sb3.common.math.TwoHotBins`
    :param deterministic_latent: the posterior latent of a deterministic step (``predict(deterministic=True)``,
        evaluations): ``"mode"`` (the most likely class of each latent variable) or ``"sample"`` (a sample, as when
        training and collecting, which is what DreamerV3 always does; the action is the actor's mode either way)
    :param cnn_depth: image observations: channels of the first convolution of the encoder (doubling as the image
        halves, down to at most 6 x 6), mirrored by the decoder
    :param optimizer_class: optimizer of the three networks
    :param optimizer_kwargs: extra keyword arguments of the optimizer
    """

    state_layout = "env axis first"

    def __init__(
        self,
        observation_space: spaces.Space,
        action_space: spaces.Space,
        lr_schedule: Schedule,
        actor_lr: float = 1e-4,
        critic_lr: float = 1e-4,
        hidden: int = 128,
        layers: int = 2,
        deter: int = 128,
        stoch: int = 16,
        classes: int = 16,
        latent: LatentKind = "categorical",
        unimix: float = 0.01,
        latent_min_std: float = 0.1,
        free_bits: float = 1.0,
        dyn_scale: float = 0.5,
        rep_scale: float = 0.1,
        actor_min_std: float = 0.1,
        actor_max_std: float = 1.0,
        twohot_space: str = "symlog",
        deterministic_latent: str = "mode",
        cnn_depth: int = 16,
        optimizer_class: type[th.optim.Optimizer] = th.optim.Adam,
        optimizer_kwargs: dict[str, Any] | None = None,
    ) -> None:
        self.check_spaces(observation_space, action_space)
        sizes = (("hidden", hidden), ("layers", layers), ("deter", deter), ("stoch", stoch), ("classes", classes))
        for name, value in (*sizes, ("cnn_depth", cnn_depth)):
            if isinstance(value, bool) or not isinstance(value, int) or value < (0 if name == "layers" else 1):
                raise ValueError(f"policy_kwargs {name} must be a positive integer, got {name}={value!r}")
        values: dict[str, Any] = dict(latent=latent, unimix=unimix, latent_min_std=latent_min_std, free_bits=free_bits)
        values.update(dyn_scale=dyn_scale, rep_scale=rep_scale, actor_min_std=actor_min_std, actor_max_std=actor_max_std)
        values.update(actor_lr=actor_lr, critic_lr=critic_lr, twohot_space=twohot_space)
        values.update(deterministic_latent=deterministic_latent)
        check_hyperparameters(values, POLICY_KWARG_CHECKS, prefix="policy_kwargs ")
        if actor_min_std >= actor_max_std:
            raise ValueError(
                f"policy_kwargs actor_min_std must be smaller than actor_max_std={actor_max_std!r}, "
                f"got actor_min_std={actor_min_std!r}"
            )
        super().__init__(observation_space, action_space, optimizer_class=optimizer_class, optimizer_kwargs=optimizer_kwargs)
        self.discrete = isinstance(action_space, (spaces.Discrete, spaces.MultiDiscrete, spaces.MultiBinary))
        # several categorical variables: MultiDiscrete, or MultiBinary as that many two-valued ones
        self.factored = isinstance(action_space, (spaces.MultiDiscrete, spaces.MultiBinary))
        if isinstance(action_space, spaces.MultiDiscrete):
            self.action_groups: tuple[int, ...] = tuple(int(n) for n in np.asarray(action_space.nvec).reshape(-1))
        elif isinstance(action_space, spaces.MultiBinary):
            self.action_groups = (2,) * int(cast(int, action_space.n))  # flat: checked by check_spaces
        else:
            self.action_groups = (int(action_space.n),) if isinstance(action_space, spaces.Discrete) else ()
        if self.discrete:
            self.action_dim = sum(self.action_groups)
        else:
            assert isinstance(action_space, spaces.Box)
            self.action_dim = int(action_space.shape[0])
        self.net_kwargs = dict(
            hidden=hidden,
            layers=layers,
            deter=deter,
            stoch=stoch,
            classes=classes,
            latent=latent,
            unimix=unimix,
            latent_min_std=latent_min_std,
            free_bits=free_bits,
            dyn_scale=dyn_scale,
            rep_scale=rep_scale,
            actor_min_std=actor_min_std,
            actor_max_std=actor_max_std,
            twohot_space=twohot_space,
            deterministic_latent=deterministic_latent,
            cnn_depth=cnn_depth,
        )
        self.deterministic_latent = deterministic_latent
        self.actor_lr, self.critic_lr = actor_lr, critic_lr
        rssm_kwargs = dict(deter=deter, stoch=stoch, classes=classes, latent=latent, unimix=unimix, min_std=latent_min_std)
        self.world_model = WorldModel(
            observation_space,
            self.action_dim,
            hidden,
            layers,
            free_bits,
            dyn_scale,
            rep_scale,
            rssm_kwargs,
            twohot_space,
            cnn_depth,
        )
        feature_dim = self.world_model.feature_dim
        self.actor = Actor(
            feature_dim,
            self.action_dim,
            self.discrete,
            hidden,
            layers,
            actor_min_std,
            actor_max_std,
            unimix,
            self.action_groups or None,
        )
        self.critic = Critic(feature_dim, hidden, layers, twohot_space)
        self.slow_critic = Critic(feature_dim, hidden, layers, twohot_space)
        self.slow_critic.load_state_dict(self.critic.state_dict())
        self.slow_critic.requires_grad_(False)
        self.return_normalizer = ReturnNormalizer()
        kwargs = self.optimizer_kwargs
        # call-arg: Optimizer's own signature has no lr (SB3 ignores it the same way)
        self.world_model.optimizer = self.optimizer_class(  # type: ignore[call-arg]
            self.world_model.parameters(), lr=lr_schedule(1), **kwargs
        )
        self.actor.optimizer = self.optimizer_class(self.actor.parameters(), lr=actor_lr, **kwargs)  # type: ignore[call-arg]
        self.critic.optimizer = self.optimizer_class(self.critic.parameters(), lr=critic_lr, **kwargs)  # type: ignore[call-arg]

    @staticmethod
    def check_spaces(observation_space: spaces.Space, action_space: spaces.Space) -> None:
        """Raise ``ValueError`` unless the observation space is a ``Box`` (images of at least 8 x 8 included),
        ``Discrete``, ``MultiDiscrete`` or ``MultiBinary`` space, or a ``Dict`` of them, and the action space a ``Box``
        (finite bounds), ``Discrete``, ``MultiDiscrete`` or a flat ``MultiBinary`` (one two-valued categorical per bit)."""
        check_observation_space("Dreamer", observation_space)
        leaves = observation_space.spaces if isinstance(observation_space, spaces.Dict) else {"": observation_space}
        for key, space in leaves.items():
            image = ObservationCodec(space).image_shape
            if image is not None and min(image[1:]) < 8:
                where = f"observation_space[{key!r}]" if key else "observation_space"
                raise ValueError(f"Dreamer's image encoder needs images of at least 8 x 8, got {where}={space!r}")
        flat_box = isinstance(action_space, spaces.Box) and len(action_space.shape) == 1
        flat_bits = isinstance(action_space, spaces.MultiBinary) and isinstance(action_space.n, (int, np.integer))
        if not (flat_box or flat_bits or isinstance(action_space, (spaces.Discrete, spaces.MultiDiscrete))):
            raise ValueError(
                f"Dreamer supports flat Box, Discrete, MultiDiscrete and flat MultiBinary action spaces, got {action_space!r}"
            )
        if (
            isinstance(action_space, spaces.Box)
            and flat_box
            and not np.all(np.isfinite([action_space.low, action_space.high]))
        ):
            raise ValueError(f"Dreamer needs finite bounds on a Box action space, got {action_space!r}")

    def _get_constructor_parameters(self) -> dict[str, Any]:
        return dict(
            observation_space=self.observation_space,
            action_space=self.action_space,
            lr_schedule=ConstantSchedule(self.world_model.optimizer.param_groups[0]["lr"]),
            actor_lr=self.actor_lr,
            critic_lr=self.critic_lr,
            optimizer_class=self.optimizer_class,
            optimizer_kwargs=self.optimizer_kwargs,
            **self.net_kwargs,
        )

    # --- acting ----------------------------------------------------------------------------------------------------

    def initial_state(self, n_envs: int) -> DreamerState:
        latent = self.world_model.rssm.initial(n_envs, self.device)
        return DreamerState(latent.deter, latent.stoch, th.zeros(n_envs, self.action_dim, device=self.device))

    def step(
        self, obs: PyTorchObs, state: DreamerState, episode_start: th.Tensor, deterministic: bool = False
    ) -> tuple[th.Tensor, DreamerState]:
        """Filter ``obs`` into the carried state (reset where ``episode_start``) and choose an action.

        :return: the action in the model's representation (in ``[-1, 1]`` or one-hot) and the new state
        """
        embed = self.world_model.encode(obs)
        latent, _ = self.world_model.rssm.observe_step(
            state.latent,
            state.prev_action,
            embed,
            episode_start,
            sample=not deterministic or self.deterministic_latent == "sample",
        )
        dist = self.actor(latent.features)
        action = dist.mode() if deterministic else dist.sample()
        if not self.discrete:
            action = action.clamp(-1.0, 1.0)
        action = action.detach()
        return action, DreamerState(latent.deter, latent.stoch, action)

    def remember_action(self, state: DreamerState, action: th.Tensor) -> DreamerState:
        """``state`` with ``action`` (model representation) as the action taken."""
        return state._replace(prev_action=action)

    def state_from_arrays(self, arrays: tuple[th.Tensor, ...]) -> DreamerState:
        return DreamerState(*arrays)

    def to_env_action(self, action: th.Tensor) -> np.ndarray:
        """Model action -> env action: index for ``Discrete`` (one per variable for ``MultiDiscrete``, a 0/1 per bit for
        ``MultiBinary``), rescaled from ``[-1, 1]`` for ``Box``."""
        if self.factored:
            parts = action.split(list(self.action_groups), dim=-1)
            return th.stack([part.argmax(-1) for part in parts], dim=-1).cpu().numpy()
        if self.discrete:
            return action.argmax(-1).cpu().numpy()
        return self.unscale_action(action.cpu().numpy())

    def from_env_action(self, action: np.ndarray) -> np.ndarray:
        """Env action -> what the replay buffer stores: the index (indices, bits) for ``Discrete`` (``MultiDiscrete``,
        ``MultiBinary``), ``[-1, 1]`` for ``Box``."""
        if self.factored:
            return np.asarray(action).reshape(-1, len(self.action_groups))
        if self.discrete:
            return np.asarray(action).reshape(-1)
        return self.scale_action(np.asarray(action, dtype=np.float32))

    def model_action(self, stored: th.Tensor) -> th.Tensor:
        """Stored buffer actions ``(..., 1 or action_dim)`` -> model representation (one-hot, concatenated over the
        variables of a ``MultiDiscrete`` or ``MultiBinary`` space)."""
        if self.factored:
            indices = stored.long()
            return th.cat(
                [nn.functional.one_hot(indices[..., i], n) for i, n in enumerate(self.action_groups)], dim=-1
            ).float()
        if self.discrete:
            return nn.functional.one_hot(stored.long().squeeze(-1), self.action_dim).float()
        return stored.float()
