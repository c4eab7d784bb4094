"""Pieces shared by the algorithms: the sequence replay buffer and DreamerV3-style math."""

from rrl_sb3.common.buffers import SequenceReplayBuffer, SequenceReplayBufferSamples, final_observations
from rrl_sb3.common.math import ReturnNormalizer, TwoHotBins, lambda_returns, symexp, symlog

__all__ = [
    "ReturnNormalizer",
    "SequenceReplayBuffer",
    "SequenceReplayBufferSamples",
    "TwoHotBins",
    "final_observations",
    "lambda_returns",
    "symexp",
    "symlog",
]
