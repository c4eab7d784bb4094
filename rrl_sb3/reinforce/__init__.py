"""REINFORCE (Monte-Carlo policy gradient) with GRU, LSTM or memoryless policies."""

from rrl_sb3.reinforce.policies import (
    MlpGruPolicy,
    MlpLstmPolicy,
    MlpPolicy,
    ReinforceGruPolicy,
    ReinforceLstmPolicy,
    ReinforcePolicy,
)
from rrl_sb3.reinforce.reinforce import REINFORCE, Episode, monte_carlo_returns

__all__ = [
    "REINFORCE",
    "Episode",
    "MlpGruPolicy",
    "MlpLstmPolicy",
    "MlpPolicy",
    "ReinforceGruPolicy",
    "ReinforceLstmPolicy",
    "ReinforcePolicy",
    "monte_carlo_returns",
]
