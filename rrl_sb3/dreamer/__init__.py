"""Dreamer: a GRU recurrent state-space world model with an actor and critic learned in imagination."""

from rrl_sb3.dreamer.dreamer import Dreamer
from rrl_sb3.dreamer.policies import DreamerPolicy

MlpPolicy = DreamerPolicy

__all__ = ["Dreamer", "DreamerPolicy", "MlpPolicy"]
