"""Gymnasium ids in the ``rrl_sb3/`` namespace and small memory-probe environments."""

from rrl_sb3.envs.memory import MemoryCueContinuous, MemoryCueDiscrete
from rrl_sb3.envs.registration import NAMESPACE, list_env_ids, make_pomdp, pomdp_id, register_envs

__all__ = [
    "NAMESPACE",
    "MemoryCueContinuous",
    "MemoryCueDiscrete",
    "list_env_ids",
    "make_pomdp",
    "pomdp_id",
    "register_envs",
]
