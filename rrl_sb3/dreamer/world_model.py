"""Dreamer's world model: a GRU recurrent state-space model (RSSM) with observation, reward and continue heads."""

from __future__ import annotations

from typing import Literal, NamedTuple

import numpy as np
import torch as th
import torch.nn.functional as F
from gymnasium import spaces
from stable_baselines3.common.preprocessing import is_image_space, is_image_space_channels_first
from torch import nn

from rrl_sb3.common.math import TwoHotBins, symlog
from rrl_sb3.common.observations import Observations

LatentKind = Literal["categorical", "gaussian"]


def sample_one_hot(probs: th.Tensor) -> th.Tensor:
    """One-hot samples of categorical distributions over the last axis (inverse CDF: one uniform per variable,
    several times cheaper on CPU than ``torch.multinomial``)."""
    u = th.rand((*probs.shape[:-1], 1), device=probs.device, dtype=probs.dtype)
    index = (probs.cumsum(-1) < u).sum(-1).clamp_(max=probs.shape[-1] - 1)
    return F.one_hot(index, probs.shape[-1]).to(probs.dtype)


def mlp(in_dim: int, out_dim: int, hidden: int, layers: int, zero_init_output: bool = False) -> nn.Sequential:
    """``layers`` hidden layers of Linear -> LayerNorm -> SiLU, then a linear output (DreamerV3's block)."""
    modules: list[nn.Module] = []
    for i in range(layers):
        modules += [nn.Linear(in_dim if i == 0 else hidden, hidden), nn.LayerNorm(hidden), nn.SiLU()]
    out = nn.Linear(hidden if layers else in_dim, out_dim)
    if zero_init_output:
        # Heads that regress returns or rewards start by predicting 0, so early targets do not explode the loss.
        nn.init.zeros_(out.weight)
        nn.init.zeros_(out.bias)
    modules.append(out)
    return nn.Sequential(*modules)


class ObservationCodec:
    """How the world model reads and reconstructs the observations of a space (any number of leading axes).

    - ``Box`` (any shape, flattened): read as ``symlog(x)``, reconstructed by regression in symlog space (squared
      error summed over the components);
    - ``Discrete`` and ``MultiDiscrete``: read one-hot (one group per variable), reconstructed as categoricals
      (cross-entropy summed over the variables);
    - ``MultiBinary``: read as 0/1, reconstructed as Bernoullis (binary cross-entropy summed over the bits);
    - images (``uint8`` ``Box`` of shape ``(H, W, C)`` or ``(C, H, W)``): read channel-first in ``[-0.5, 0.5]`` by a
      convolutional encoder, reconstructed by a transposed-convolution decoder (squared error summed over the pixels,
      in the same scale).

    :param space: the observation space
    """

    def __init__(self, space: spaces.Space) -> None:
        self.space = space
        self.image_shape: tuple[int, int, int] | None = None  # (C, H, W) of image observations
        self.channels_first = True
        if is_image_space(space, check_channels=False):
            self.channels_first = is_image_space_channels_first(space)  # type: ignore[arg-type]
            shape = space.shape  # type: ignore[union-attr]
            c, h, w = shape if self.channels_first else (shape[2], shape[0], shape[1])  # type: ignore[index,misc]
            self.image_shape = (int(c), int(h), int(w))
        if isinstance(space, spaces.Discrete):
            self.classes = [int(space.n)]
        elif isinstance(space, spaces.MultiDiscrete):
            self.classes = [int(n) for n in np.asarray(space.nvec).reshape(-1)]
        else:
            self.classes = []
        if self.classes:
            self.in_dim = self.out_dim = sum(self.classes)
        else:
            self.in_dim = self.out_dim = int(np.prod(space.shape))  # type: ignore[arg-type]

    def images(self, obs: th.Tensor, n_lead: int) -> th.Tensor:
        """Image observations as one batch ``(N, C, H, W)`` of floats in ``[-0.5, 0.5]``, ``N`` = the leading axes."""
        assert self.image_shape is not None
        flat = obs.reshape(-1, *obs.shape[n_lead:]).float() / 255.0 - 0.5
        return flat if self.channels_first else flat.permute(0, 3, 1, 2)

    def _flat(self, obs: th.Tensor, n_lead: int) -> th.Tensor:
        lead = obs.shape[:n_lead]
        if self.classes:  # one index per variable; a Discrete index is (..., 1) from the buffer, (...) from a VecEnv
            return obs.reshape(*lead, len(self.classes)).long()
        return obs.reshape(*lead, self.in_dim).float()

    def inputs(self, obs: th.Tensor, n_lead: int) -> th.Tensor:
        """What the encoder reads: ``(*lead, in_dim)`` floats."""
        flat = self._flat(obs, n_lead)
        if self.classes:
            return th.cat([F.one_hot(flat[..., i], n).float() for i, n in enumerate(self.classes)], dim=-1)
        return flat if isinstance(self.space, spaces.MultiBinary) else symlog(flat)

    def loss(self, output: th.Tensor, obs: th.Tensor, n_lead: int) -> th.Tensor:
        """Reconstruction loss ``(*lead,)`` of the decoder's ``output`` ``(*lead, out_dim)`` (images: ``(N, C, H, W)``)."""
        if self.image_shape is not None:
            return (output - self.images(obs, n_lead)).pow(2).sum((1, 2, 3)).view(obs.shape[:n_lead])
        flat = self._flat(obs, n_lead)
        if self.classes:
            groups = output.split(self.classes, dim=-1)
            return sum(  # type: ignore[return-value]
                F.cross_entropy(g.reshape(-1, n), flat[..., i].reshape(-1), reduction="none").view(flat.shape[:-1])
                for i, (g, n) in enumerate(zip(groups, self.classes, strict=True))
            )
        if isinstance(self.space, spaces.MultiBinary):
            return F.binary_cross_entropy_with_logits(output, flat, reduction="none").sum(-1)
        return (output - symlog(flat)).pow(2).sum(-1)


def _leaf_spaces(space: spaces.Space) -> dict[str, spaces.Space]:
    """The spaces the world model reads: ``{"": space}``, or the keys of a ``Dict`` space."""
    if not isinstance(space, spaces.Dict):
        return {"": space}
    for key in space.spaces:
        if not key or "." in key:  # ModuleDict names
            raise ValueError(f"Dreamer needs Dict observation keys that are non-empty and without '.', got {key!r}")
    return dict(space.spaces)


def _encoder(codec: ObservationCodec, hidden: int, layers: int, cnn_depth: int) -> nn.Module:
    if codec.image_shape is not None:
        return ConvEncoder(codec.image_shape, cnn_depth, hidden)
    return mlp(codec.in_dim, hidden, hidden, layers - 1)


def _decoder(codec: ObservationCodec, feat_dim: int, hidden: int, layers: int, cnn_depth: int) -> nn.Module:
    if codec.image_shape is not None:
        return ConvDecoder(feat_dim, codec.image_shape, cnn_depth)
    return mlp(feat_dim, codec.out_dim, hidden, layers)


def _conv_sizes(height: int, width: int, min_size: int = 6) -> list[tuple[int, int]]:
    """The spatial sizes through stride-2 convolutions (kernel 4, padding 1: each halves, rounding down) until the
    smaller side is at most ``min_size``, the input size first."""
    sizes = [(height, width)]
    while min(sizes[-1]) > min_size:
        sizes.append((sizes[-1][0] // 2, sizes[-1][1] // 2))
    return sizes


class ConvEncoder(nn.Module):
    """Images ``(N, C, H, W)`` -> ``(N, out_dim)``: stride-2 convolutions (``depth``, ``2 depth``, ... channels, each
    with a layer norm and SiLU) down to at most 6 x 6, then a linear layer.

    :param image_shape: ``(C, H, W)``
    :param depth: channels of the first convolution
    :param out_dim: size of the embedding
    """

    def __init__(self, image_shape: tuple[int, int, int], depth: int, out_dim: int) -> None:
        super().__init__()
        channels, height, width = image_shape
        sizes = _conv_sizes(height, width)
        layers: list[nn.Module] = []
        in_channels = channels
        for i in range(len(sizes) - 1):
            out_channels = depth * 2**i
            layers += [nn.Conv2d(in_channels, out_channels, 4, 2, 1), nn.GroupNorm(1, out_channels), nn.SiLU()]
            in_channels = out_channels
        layers += [nn.Flatten(), nn.Linear(in_channels * sizes[-1][0] * sizes[-1][1], out_dim)]
        self.net = nn.Sequential(*layers)

    def forward(self, images: th.Tensor) -> th.Tensor:
        return self.net(images)


class ConvDecoder(nn.Module):
    """Features ``(N, in_dim)`` -> images ``(N, C, H, W)``: the mirror of :class:`ConvEncoder` (a linear layer to the
    smallest feature map, then stride-2 transposed convolutions back to exactly ``H x W``).

    :param in_dim: size of the features
    :param image_shape: ``(C, H, W)``
    :param depth: channels of the encoder's first convolution
    """

    def __init__(self, in_dim: int, image_shape: tuple[int, int, int], depth: int) -> None:
        super().__init__()
        channels, height, width = image_shape
        sizes = _conv_sizes(height, width)
        n = len(sizes) - 1
        self.first = (depth * 2 ** (n - 1) if n else channels, *sizes[-1])
        self.linear = nn.Linear(in_dim, int(np.prod(self.first)))
        layers: list[nn.Module] = []
        in_channels = self.first[0]
        for i in reversed(range(n)):
            out_channels = depth * 2 ** (i - 1) if i else channels
            (small_h, small_w), (big_h, big_w) = sizes[i + 1], sizes[i]
            padding = (big_h - 2 * small_h, big_w - 2 * small_w)  # 0 or 1: back to the exact size
            layers.append(nn.ConvTranspose2d(in_channels, out_channels, 4, 2, 1, output_padding=padding))
            if i:
                layers += [nn.GroupNorm(1, out_channels), nn.SiLU()]
            in_channels = out_channels
        self.net = nn.Sequential(*layers)

    def forward(self, features: th.Tensor) -> th.Tensor:
        return self.net(self.linear(features).view(-1, *self.first))


class Latent(NamedTuple):
    """Model state of a batch: deterministic GRU state ``h`` and flattened stochastic latent ``z``."""

    deter: th.Tensor
    stoch: th.Tensor

    @property
    def features(self) -> th.Tensor:
        return th.cat([self.deter, self.stoch], dim=-1)

    def flatten(self) -> Latent:
        """All leading axes (batch, time, ...) merged into one: ``(N, deter)`` and ``(N, stoch_dim)``."""
        return Latent(self.deter.reshape(-1, self.deter.shape[-1]), self.stoch.reshape(-1, self.stoch.shape[-1]))


class RSSM(nn.Module):
    """Recurrent state-space model.

    ``h_t = GRU(h_{t-1}, [z_{t-1}, a_{t-1}])``, prior ``p(z_t | h_t)``, posterior ``q(z_t | h_t, e(o_t))``. The stochastic
    latent is either ``stoch`` categorical variables of ``classes`` classes each (straight-through samples, mixed with
    ``unimix`` uniform probability so no class has probability 0), or a ``stoch``-dimensional diagonal Gaussian whose
    standard deviation is floored at ``min_std``.

    :param action_dim: size of the action input (one-hot for discrete actions)
    :param embed_dim: size of the observation embedding
    :param deter: size of the GRU state
    :param stoch: number of categorical variables, or Gaussian dimensions
    :param classes: classes per categorical variable
    :param hidden: width of the hidden layers
    :param latent: ``"categorical"`` or ``"gaussian"``
    :param unimix: uniform mixture of the categorical distributions
    :param min_std: floor of the Gaussian standard deviation
    """

    def __init__(
        self,
        action_dim: int,
        embed_dim: int,
        deter: int = 256,
        stoch: int = 16,
        classes: int = 16,
        hidden: int = 256,
        latent: LatentKind = "categorical",
        unimix: float = 0.01,
        min_std: float = 0.1,
    ) -> None:
        super().__init__()
        if latent not in ("categorical", "gaussian"):
            raise ValueError(f"latent must be 'categorical' or 'gaussian', got latent={latent!r}")
        self.latent, self.deter_dim, self.stoch, self.classes = latent, deter, stoch, classes
        self.unimix, self.min_std = unimix, min_std
        self.stoch_dim = stoch * classes if latent == "categorical" else stoch
        stats_dim = stoch * classes if latent == "categorical" else 2 * stoch
        self.img_in = nn.Sequential(nn.Linear(self.stoch_dim + action_dim, hidden), nn.LayerNorm(hidden), nn.SiLU())
        self.gru = nn.GRUCell(hidden, deter)
        self.prior_net = mlp(deter, stats_dim, hidden, 1)
        # The posterior's first layer is split so the embedding part runs once for a whole sequence.
        self.post_deter = nn.Linear(deter, hidden, bias=False)
        self.post_embed = nn.Linear(embed_dim, hidden)
        self.post_out = nn.Sequential(nn.LayerNorm(hidden), nn.SiLU(), nn.Linear(hidden, stats_dim))

    def initial(self, batch_size: int, device: th.device) -> Latent:
        """The state before the first step of an episode (zeros; the first step also sees a zero action)."""
        return Latent(th.zeros(batch_size, self.deter_dim, device=device), th.zeros(batch_size, self.stoch_dim, device=device))

    # --- distributions -----------------------------------------------------------------------------------------

    def _probs(self, stats: th.Tensor) -> th.Tensor:
        probs = F.softmax(stats.unflatten(-1, (self.stoch, self.classes)), dim=-1)
        return (1.0 - self.unimix) * probs + self.unimix / self.classes

    def _mean_std(self, stats: th.Tensor) -> tuple[th.Tensor, th.Tensor]:
        mean, raw_std = stats.chunk(2, dim=-1)
        return mean, F.softplus(raw_std) + self.min_std

    def sample(self, stats: th.Tensor) -> th.Tensor:
        """Sample ``z`` (straight-through gradients for categorical latents, reparameterised for Gaussian)."""
        if self.latent == "gaussian":
            mean, std = self._mean_std(stats)
            return mean + std * th.randn_like(mean)
        probs = self._probs(stats)
        return (sample_one_hot(probs) + probs - probs.detach()).flatten(-2)

    def mode(self, stats: th.Tensor) -> th.Tensor:
        if self.latent == "gaussian":
            return self._mean_std(stats)[0]
        probs = self._probs(stats)
        return F.one_hot(probs.argmax(-1), self.classes).to(probs.dtype).flatten(-2)

    def kl(self, lhs: th.Tensor, rhs: th.Tensor) -> th.Tensor:
        """``KL(lhs || rhs)`` summed over the latent, for distribution statistics of the same shape."""
        if self.latent == "gaussian":
            m1, s1 = self._mean_std(lhs)
            m2, s2 = self._mean_std(rhs)
            return (th.log(s2 / s1) + (s1**2 + (m1 - m2) ** 2) / (2 * s2**2) - 0.5).sum(-1)
        p, q = self._probs(lhs), self._probs(rhs)
        return (p * (p.log() - q.log())).sum((-2, -1))

    def kl_loss(
        self, post_stats: th.Tensor, prior_stats: th.Tensor, free_bits: float
    ) -> tuple[th.Tensor, th.Tensor, th.Tensor]:
        """DreamerV3's balanced KL: the dynamics term trains the prior towards the (fixed) posterior, the
        representation term the posterior towards the (fixed) prior; each is clipped below at ``free_bits`` nats,
        so a KL already that small gives no gradient.

        :return: dynamics loss, representation loss and the KL itself, each per element
        """
        dyn = self.kl(post_stats.detach(), prior_stats)
        rep = self.kl(post_stats, prior_stats.detach())
        return th.clamp(dyn, min=free_bits), th.clamp(rep, min=free_bits), dyn.detach()

    # --- dynamics ------------------------------------------------------------------------------------------------

    def step_deter(self, state: Latent, action: th.Tensor) -> th.Tensor:
        """``h_t`` from ``h_{t-1}``, ``z_{t-1}`` and ``a_{t-1}``."""
        return self.gru(self.img_in(th.cat([state.stoch, action], dim=-1)), state.deter)

    def prior(self, deter: th.Tensor) -> th.Tensor:
        return self.prior_net(deter).float()  # distribution statistics in float32, also under bf16 compute

    def imagine_step(self, state: Latent, action: th.Tensor) -> Latent:
        """One step of the learned dynamics without an observation: ``z_t`` sampled from the prior."""
        deter = self.step_deter(state, action)
        return Latent(deter, self.sample(self.prior(deter)))

    def observe_step(
        self, state: Latent, prev_action: th.Tensor, embed: th.Tensor, is_first: th.Tensor, sample: bool = True
    ) -> tuple[Latent, th.Tensor]:
        """Filter one observation: reset where ``is_first``, advance with ``a_{t-1}``, then condition on ``e(o_t)``.

        :return: the posterior state and the posterior statistics
        """
        return self._posterior_step(state, prev_action, self.post_embed(embed), is_first, sample)

    def _posterior_step(
        self, state: Latent, prev_action: th.Tensor, embed_proj: th.Tensor, is_first: th.Tensor, sample: bool = True
    ) -> tuple[Latent, th.Tensor]:
        """:meth:`observe_step` from the embedding's share of the posterior's first layer (``post_embed(e(o_t))``),
        which :meth:`observe` computes for a whole sequence at once."""
        keep = (1.0 - is_first.float()).unsqueeze(-1)
        state = Latent(state.deter * keep, state.stoch * keep)
        deter = self.step_deter(state, prev_action * keep)
        stats = self.post_out(self.post_deter(deter) + embed_proj)
        return Latent(deter, self.sample(stats) if sample else self.mode(stats)), stats

    def observe(
        self, embed: th.Tensor, prev_action: th.Tensor, is_first: th.Tensor, state: Latent | None = None
    ) -> tuple[Latent, th.Tensor, th.Tensor]:
        """Filter whole sequences (batch-major ``(B, L, ...)``), resetting the state where ``is_first``.

        :return: posterior states ``(B, L, ...)``, posterior and prior statistics ``(B, L, stats)``
        """
        batch, length = embed.shape[:2]
        state = self.initial(batch, embed.device) if state is None else state
        embed_proj = self.post_embed(embed)
        deters, stochs, stats_list = [], [], []
        for t in range(length):
            state, stats = self._posterior_step(state, prev_action[:, t], embed_proj[:, t], is_first[:, t])
            deters.append(state.deter)
            stochs.append(state.stoch)
            stats_list.append(stats)
        deter_seq = th.stack(deters, 1)
        post_stats = th.stack(stats_list, 1)
        return Latent(deter_seq, th.stack(stochs, 1)), post_stats, self.prior(deter_seq)


class WorldModelLosses(NamedTuple):
    total: th.Tensor
    observation: th.Tensor
    reward: th.Tensor
    continuation: th.Tensor
    dynamics: th.Tensor
    representation: th.Tensor
    kl: th.Tensor


class WorldModel(nn.Module):
    """Encoder, RSSM and the observation, reward and continue heads, trained on replayed sequences.

    Observations are read and reconstructed as :class:`ObservationCodec` says (vectors in symlog space, discrete
    parts as categoricals, bits as Bernoullis); rewards are regressed with a two-hot
    cross-entropy on symlog-spaced bins; the continue head is a Bernoulli of ``1 - terminated`` (a time limit is not a
    termination). The KL term is balanced between the dynamics (``dyn_scale``, trains the prior) and the
    representation (``rep_scale``, trains the posterior), each clipped below at ``free_bits`` nats.

    :param observation_space: the observation space (see :class:`ObservationCodec`)
    :param action_dim: size of the action input (one-hot for discrete actions)
    :param hidden: width of the MLP layers
    :param layers: hidden layers of the encoder, decoder and heads
    :param free_bits: KL below this many nats is not penalised
    :param dyn_scale: weight of the dynamics KL term
    :param rep_scale: weight of the representation KL term
    :param rssm_kwargs: keyword arguments of :class:`RSSM`
    :param twohot_space: where the reward head's two-hot interpolation and expectation happen (:class:`TwoHotBins`)
    :param cnn_depth: channels of the first convolution of the image encoder (doubling at each halving of the size)
    """

    #: the world model's optimizer (set by :class:`~rrl_sb3.dreamer.DreamerPolicy`)
    optimizer: th.optim.Optimizer

    def __init__(
        self,
        observation_space: spaces.Space,
        action_dim: int,
        hidden: int = 256,
        layers: int = 2,
        free_bits: float = 1.0,
        dyn_scale: float = 0.5,
        rep_scale: float = 0.1,
        rssm_kwargs: dict | None = None,
        twohot_space: str = "symlog",
        cnn_depth: int = 16,
    ) -> None:
        super().__init__()
        self.free_bits, self.dyn_scale, self.rep_scale = free_bits, dyn_scale, rep_scale
        # A Dict space gets an encoder and a decoder per key (ModuleDicts); the embeddings are concatenated.
        self.codecs = {key: ObservationCodec(sub) for key, sub in _leaf_spaces(observation_space).items()}
        self.codec = self.codecs.get("", None)
        # (built in this order: encoder, RSSM, decoder, so that a seed gives the same initial weights as before)
        encoders = {key: _encoder(codec, hidden, layers, cnn_depth) for key, codec in self.codecs.items()}
        self.encoder: nn.Module = encoders[""] if self.codec else nn.ModuleDict(encoders)
        self.rssm = RSSM(action_dim, hidden * len(self.codecs), hidden=hidden, **(rssm_kwargs or {}))
        feat_dim = self.rssm.deter_dim + self.rssm.stoch_dim
        decoders = {key: _decoder(codec, feat_dim, hidden, layers, cnn_depth) for key, codec in self.codecs.items()}
        self.decoder: nn.Module = decoders[""] if self.codec else nn.ModuleDict(decoders)
        self.reward_head = mlp(feat_dim, 255, hidden, layers, zero_init_output=True)
        self.continue_head = mlp(feat_dim, 1, hidden, layers)
        self.bins = TwoHotBins(space=twohot_space)

    @property
    def feature_dim(self) -> int:
        return self.rssm.deter_dim + self.rssm.stoch_dim

    def _parts(self, modules: nn.Module) -> list[tuple[str, ObservationCodec, nn.Module]]:
        if self.codec is not None:
            return [("", self.codec, modules)]
        return [(key, codec, modules[key]) for key, codec in self.codecs.items()]  # type: ignore[index]

    def encode(self, obs: Observations, n_lead: int = 1) -> th.Tensor:
        """Embeddings ``(*lead, embed_dim)`` of observations with ``n_lead`` leading axes (a dict of them for a ``Dict``
        space: the keys' embeddings concatenated)."""
        embeds = []
        for key, codec, encoder in self._parts(self.encoder):
            part = obs[key] if key else obs
            lead = part.shape[:n_lead]
            if codec.image_shape is not None:
                embeds.append(encoder(codec.images(part, n_lead)).view(*lead, -1))
            else:
                embeds.append(encoder(codec.inputs(part, n_lead)))
        return embeds[0] if len(embeds) == 1 else th.cat(embeds, dim=-1)

    def observation_loss(self, features: th.Tensor, obs: Observations, n_lead: int) -> th.Tensor:
        """Reconstruction loss ``(*lead,)`` of ``obs`` from the model features (summed over the keys of a ``Dict``)."""
        total = th.zeros((), device=features.device)
        for key, codec, decoder in self._parts(self.decoder):
            flat = features.reshape(-1, features.shape[-1]) if codec.image_shape is not None else features
            total = total + codec.loss(decoder(flat), obs[key] if key else obs, n_lead)
        return total

    def reward(self, features: th.Tensor) -> th.Tensor:
        return self.bins.decode(self.reward_head(features).float())

    def continue_prob(self, features: th.Tensor) -> th.Tensor:
        return th.sigmoid(self.continue_head(features).squeeze(-1).float())

    def loss(
        self,
        obs: Observations,
        prev_action: th.Tensor,
        reward: th.Tensor,
        terminated: th.Tensor,
        is_first: th.Tensor,
        continue_scale: float = 1.0,
        continue_balanced: bool = False,
    ) -> tuple[WorldModelLosses, Latent]:
        """Losses on a batch of sequences ``(B, L, ...)`` in the replay layout (row ``t``: ``o_t``, ``a_{t-1}``,
        ``r_{t-1}``, ``terminated_t``, ``is_first_t``), and the posterior states to imagine from.

        :param continue_scale: weight of the continue head's loss in the total (DreamerV3's ``cont`` loss scale)
        :param continue_balanced: weigh the continue loss so that the batch's terminal rows and its other rows count
            half each (``N / (2 n)`` per row of a class of ``n`` rows; unweighted when the batch has only one class)
        """
        posterior, post_stats, prior_stats = self.rssm.observe(self.encode(obs, 2), prev_action, is_first)
        features = posterior.features
        obs_loss = self.observation_loss(features, obs, 2)
        reward_loss = self.bins.loss(self.reward_head(features), reward)
        cont_loss = F.binary_cross_entropy_with_logits(
            self.continue_head(features).squeeze(-1), 1.0 - terminated, reduction="none"
        )
        if continue_balanced:
            cont_loss = cont_loss * _balanced_weights(terminated)
        dyn_loss, rep_loss, kl = self.rssm.kl_loss(post_stats, prior_stats, self.free_bits)
        total = obs_loss + reward_loss + continue_scale * cont_loss + self.dyn_scale * dyn_loss + self.rep_scale * rep_loss
        losses = WorldModelLosses(
            total.mean(), obs_loss.mean(), reward_loss.mean(), cont_loss.mean(), dyn_loss.mean(), rep_loss.mean(), kl.mean()
        )
        return losses, posterior


def _balanced_weights(terminated: th.Tensor) -> th.Tensor:
    """Per-row weights under which the terminal rows and the other rows of a batch weigh half each (all 1 when the
    batch holds only one of the two)."""
    n = terminated.numel()
    n_terminal = terminated.sum()
    if n_terminal == 0 or n_terminal == n:
        return th.ones_like(terminated)
    return th.where(terminated > 0.5, n / (2 * n_terminal), n / (2 * (n - n_terminal)))
