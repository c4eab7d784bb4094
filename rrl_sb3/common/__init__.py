"""Pieces shared by the algorithms: the sequence replay buffer, DreamerV3-style math, the finite-value guards and
exact checkpoints."""

from rrl_sb3.common.buffers import SequenceReplayBuffer, SequenceReplayBufferSamples, final_observations
from rrl_sb3.common.checkpoints import ResumableCheckpointCallback, latest_checkpoint
from rrl_sb3.common.guards import NonFiniteError, VecCheckFinite
from rrl_sb3.common.math import ReturnNormalizer, TwoHotBins, lambda_returns, symexp, symlog

__all__ = [
    "NonFiniteError",
    "ResumableCheckpointCallback",
    "ReturnNormalizer",
    "SequenceReplayBuffer",
    "SequenceReplayBufferSamples",
    "TwoHotBins",
    "VecCheckFinite",
    "final_observations",
    "lambda_returns",
    "latest_checkpoint",
    "symexp",
    "symlog",
]
