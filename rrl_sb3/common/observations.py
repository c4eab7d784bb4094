"""Observations of every space SB3's policies take, for the algorithms that keep their own histories.

SB3's policies turn any supported observation into a flat feature vector with ``preprocess_obs`` (one-hot
``Discrete`` and ``MultiDiscrete``, images scaled to ``[0, 1]``) and a features extractor (``FlattenExtractor``,
``NatureCNN``, ``CombinedExtractor`` for ``Dict``); the recurrent policies here reuse both. What SB3 does not need
and this module gives: the check of a space at the constructor, and observations handled as *batches of steps*
(an array, or a dict of arrays for ``Dict`` spaces) when episodes are stored and replayed.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch as th
from gymnasium import spaces
from stable_baselines3.common.preprocessing import is_image_space, preprocess_obs
from stable_baselines3.common.torch_layers import BaseFeaturesExtractor, FlattenExtractor, NatureCNN
from torch import nn

#: the observation spaces SB3's ``preprocess_obs`` handles, alone or as the values of a ``Dict``
SUPPORTED_OBSERVATION_SPACES = (spaces.Box, spaces.Discrete, spaces.MultiDiscrete, spaces.MultiBinary)

Observations = Any  # an array or tensor, or a dict of them (Dict observation spaces)


def check_observation_space(algo: str, space: spaces.Space) -> None:
    """Raise ``ValueError`` unless ``space`` is a ``Box`` (any shape; images included), ``Discrete``,
    ``MultiDiscrete`` or ``MultiBinary`` space, or a ``Dict`` of them, naming ``algo``, the space and the fix."""
    if isinstance(space, spaces.Dict):
        for key, subspace in space.spaces.items():
            if isinstance(subspace, spaces.Dict):
                raise ValueError(
                    f"{algo} does not take nested Dict observation spaces (nor does SB3), got {key!r}: {subspace!r}; "
                    "flatten the inner Dict (gymnasium.wrappers.FlattenObservation on it)"
                )
            _check_leaf(algo, subspace, f"observation_space[{key!r}]")
        return
    _check_leaf(algo, space, "observation_space")


def resolve_extractor(
    policy: type,
    observation_space: spaces.Space,
    features_extractor_class: type[BaseFeaturesExtractor] | None,
    normalize_images: bool,
) -> type[BaseFeaturesExtractor]:
    """The features extractor a policy class builds (``features_extractor_class``, else its
    ``default_features_extractor_class``), checked to fit the observation space (:func:`check_extractor_fits`)."""
    extractor = features_extractor_class or policy.default_features_extractor_class  # type: ignore[attr-defined]
    check_extractor_fits(policy.__name__, observation_space, extractor, normalize_images)
    return extractor


def check_extractor_fits(
    policy: str, observation_space: spaces.Space, extractor_class: type[BaseFeaturesExtractor], normalize_images: bool
) -> None:
    """Raise ``ValueError`` where SB3's extractor would fail later with an assertion or a shape error: ``NatureCNN``
    (the ``Cnn*`` policies) on anything but images, a flattening or CNN extractor on a ``Dict`` space.

    :param policy: the policy's name, for the message
    """
    if isinstance(observation_space, spaces.Dict) and issubclass(extractor_class, (FlattenExtractor, NatureCNN)):
        raise ValueError(
            f"Dict observations need a MultiInput policy or a features_extractor_class for Dicts, got {policy} "
            f"with {extractor_class.__name__}"
        )
    if issubclass(extractor_class, NatureCNN) and not is_image_space(
        observation_space, check_channels=False, normalized_image=not normalize_images
    ):
        raise ValueError(
            f"{policy} reads images (NatureCNN: a uint8 Box of shape (H, W, C) or (C, H, W), H and W >= 36), got "
            f"observation_space={observation_space!r}; use the Mlp policy"
        )


def _check_leaf(algo: str, space: spaces.Space, name: str) -> None:
    if not isinstance(space, SUPPORTED_OBSERVATION_SPACES):
        raise ValueError(
            f"{algo} takes Box, Discrete, MultiDiscrete and MultiBinary observations and Dicts of them, got "
            f"{name}={space!r}; flatten it first (gymnasium.wrappers.FlattenObservation)"
        )


def map_observations(fn: Callable[[Any], Any], obs: Observations) -> Observations:
    """``fn`` applied to the array (or tensor) of every key of a dict observation, or to ``obs`` itself."""
    if isinstance(obs, dict):
        return {key: fn(value) for key, value in obs.items()}
    return fn(obs)


def observation_row(obs: Observations, index: int) -> Observations:
    """The observation of one env from a batch (a copy, so that the VecEnv's buffers can be reused)."""
    return map_observations(lambda value: np.array(value[index]), obs)


def stack_observations(rows: Sequence[Observations]) -> Observations:
    """Stack single observations along a new first axis (per key for dict observations), keeping their dtype."""
    if isinstance(rows[0], dict):
        return {key: np.stack([np.asarray(row[key]) for row in rows]) for key in rows[0]}
    return np.stack([np.asarray(row) for row in rows])


def pad_time_major(episodes: Sequence[Observations], length: int) -> Observations:
    """Episodes of observations (each ``(T_i, ...)``, per key for dicts) as one zero-padded time-major batch
    ``(length, B, ...)`` of their dtype."""
    if isinstance(episodes[0], dict):
        return {key: pad_time_major([ep[key] for ep in episodes], length) for key in episodes[0]}
    first = np.asarray(episodes[0])
    batch = np.zeros((length, len(episodes), *first.shape[1:]), dtype=first.dtype)
    for b, episode in enumerate(episodes):
        batch[: len(episode), b] = episode
    return batch


def merge_leading_axes(obs: Observations) -> tuple[Observations, tuple[int, int]]:
    """``(T, B, ...)`` observations as ``(T * B, ...)``, and ``(T, B)`` to restore the features' shape."""
    first = next(iter(obs.values())) if isinstance(obs, dict) else obs
    leading = (int(first.shape[0]), int(first.shape[1]))
    return map_observations(lambda value: value.reshape(leading[0] * leading[1], *value.shape[2:]), obs), leading


def batch_size(obs: Observations) -> int:
    """The number of observations in a batch (the first axis; of any key for dict observations)."""
    first = next(iter(obs.values())) if isinstance(obs, dict) else obs
    return int(first.shape[0])


def sequence_features(
    extractor: BaseFeaturesExtractor, observation_space: spaces.Space, normalize_images: bool, obs: Observations
) -> th.Tensor:
    """SB3's ``preprocess_obs`` and ``extractor`` over time-major observations ``(T, B, ...)`` (a dict of them for
    ``Dict`` spaces): features ``(T, B, features_dim)``."""
    flat, (steps, batch) = merge_leading_axes(obs)
    return extractor(preprocess_obs(flat, observation_space, normalize_images)).view(steps, batch, -1)


class SequenceFeatures(nn.Module):
    """:func:`sequence_features` as a module that owns its extractor: what an SB3 policy does to a batch, for networks
    that read time-major histories ``(L, B, ...)``.

    :param observation_space: the observation space
    :param extractor: an SB3 features extractor built for it (``FlattenExtractor``, ``NatureCNN``, ...)
    :param normalize_images: scale image observations to ``[0, 1]``, as SB3's policies do
    """

    def __init__(
        self, observation_space: spaces.Space, extractor: BaseFeaturesExtractor, normalize_images: bool = True
    ) -> None:
        super().__init__()
        self.observation_space = observation_space
        self.extractor = extractor
        self.normalize_images = normalize_images
        self.features_dim = int(extractor.features_dim)

    def forward(self, obs: Observations) -> th.Tensor:
        """Features ``(L, B, features_dim)`` of ``obs`` ``(L, B, ...)`` (tensors; a dict of them for ``Dict`` spaces)."""
        return sequence_features(self.extractor, self.observation_space, self.normalize_images, obs)
