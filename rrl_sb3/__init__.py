"""rrl_sb3: recurrent reinforcement learning for partially observable tasks, on Stable-Baselines3.

Importing the package registers the ``rrl_sb3/`` Gymnasium ids (see :func:`rrl_sb3.envs.list_env_ids`).
"""

from rrl_sb3.dreamer import Dreamer
from rrl_sb3.envs import list_env_ids, register_envs
from rrl_sb3.reinforce import REINFORCE
from rrl_sb3.sac import RecurrentSAC
from rrl_sb3.version import __version__
from rrl_sb3.wrappers import FlickerObservation, MaskObservation, MaskVelocity, ObservationNoise

register_envs()

__all__ = [
    "REINFORCE",
    "Dreamer",
    "FlickerObservation",
    "MaskObservation",
    "MaskVelocity",
    "ObservationNoise",
    "RecurrentSAC",
    "__version__",
    "list_env_ids",
    "register_envs",
]
