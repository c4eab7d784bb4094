"""Recurrent actor-critic policies for model-free algorithms.

The GRU policies plug into sb3-contrib's ``RecurrentPPO`` unchanged: ``RecurrentPPO(MlpGruPolicy, env)``.
See :mod:`rrl_sb3.policies.recurrent` for the recurrent state they use and how they meet sb3-contrib's LSTM code.
"""

from rrl_sb3.policies.recurrent import (
    GRU_POLICY_ALIASES,
    CnnGruPolicy,
    GruActorCriticCnnPolicy,
    GruActorCriticPolicy,
    GruMultiInputActorCriticPolicy,
    MlpGruPolicy,
    MultiInputGruPolicy,
    gru_unroll,
    resolve_recurrent_policy,
)

__all__ = [
    "GRU_POLICY_ALIASES",
    "CnnGruPolicy",
    "GruActorCriticCnnPolicy",
    "GruActorCriticPolicy",
    "GruMultiInputActorCriticPolicy",
    "MlpGruPolicy",
    "MultiInputGruPolicy",
    "gru_unroll",
    "resolve_recurrent_policy",
]
