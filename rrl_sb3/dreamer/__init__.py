"""Dreamer: a GRU recurrent state-space world model with an actor and critic learned in imagination."""

from rrl_sb3.dreamer.diagnostics import (
    ContinueDiagnostics,
    ContinueDiagnosticsCallback,
    GroupStats,
    cartpole_regions,
    continue_diagnostics,
    ends_and_others,
)
from rrl_sb3.dreamer.dreamer import Dreamer
from rrl_sb3.dreamer.policies import DreamerPolicy

MlpPolicy = DreamerPolicy

__all__ = [
    "ContinueDiagnostics",
    "ContinueDiagnosticsCallback",
    "Dreamer",
    "DreamerPolicy",
    "GroupStats",
    "MlpPolicy",
    "cartpole_regions",
    "continue_diagnostics",
    "ends_and_others",
]
