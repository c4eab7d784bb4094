"""Recurrent soft actor-critic: SAC with GRU or LSTM actor and critics, trained on replayed sequences."""

from rrl_sb3.sac.policies import RecurrentSACCnnPolicy, RecurrentSACMultiInputPolicy, RecurrentSACPolicy
from rrl_sb3.sac.recurrent_sac import RecurrentSAC, SequenceMasks, sequence_masks, soft_td_targets

MlpPolicy = RecurrentSACPolicy
CnnPolicy = RecurrentSACCnnPolicy
MultiInputPolicy = RecurrentSACMultiInputPolicy

__all__ = [
    "CnnPolicy",
    "MlpPolicy",
    "MultiInputPolicy",
    "RecurrentSAC",
    "RecurrentSACCnnPolicy",
    "RecurrentSACMultiInputPolicy",
    "RecurrentSACPolicy",
    "SequenceMasks",
    "sequence_masks",
    "soft_td_targets",
]
