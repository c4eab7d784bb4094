"""Wrappers that turn a Gymnasium MDP into a POMDP."""

from rrl_sb3.wrappers.flicker import FlickerObservation
from rrl_sb3.wrappers.masking import (
    MUJOCO_VELOCITY_INDICES,
    VELOCITY_INDICES,
    MaskObservation,
    MaskVelocity,
    supported_velocity_ids,
    velocity_indices,
)
from rrl_sb3.wrappers.noise import ObservationNoise

__all__ = [
    "MUJOCO_VELOCITY_INDICES",
    "VELOCITY_INDICES",
    "FlickerObservation",
    "MaskObservation",
    "MaskVelocity",
    "ObservationNoise",
    "supported_velocity_ids",
    "velocity_indices",
]
