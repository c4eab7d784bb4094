"""MiniGrid's memory task seen through pixels: the ``rrl_sb3/MiniGrid-Memory*Pixels-v0`` ids.

The agent sees only its egocentric 7 x 7-cell view, rendered as an RGB image (``tile_size`` pixels per cell): the
object shown in the start room is out of view by the time the agent reaches the two candidates at the end of the
corridor, so a memoryless policy picks the right one half the time at best. Needs the ``minigrid`` package
(``pip install "rrl-sb3[minigrid]"``); the ids are registered without it and say so when made.
"""

from __future__ import annotations

import importlib

import gymnasium as gym
from gymnasium.error import DependencyNotInstalled

from rrl_sb3.common.utils import is_int, require

#: MiniGrid's memory tasks (registered by ``import minigrid``) that get a pixel variant.
MEMORY_IDS = (
    "MiniGrid-MemoryS7-v0",
    "MiniGrid-MemoryS9-v0",
    "MiniGrid-MemoryS11-v0",
    "MiniGrid-MemoryS13-v0",
    "MiniGrid-MemoryS13Random-v0",
    "MiniGrid-MemoryS17Random-v0",
)

INSTALL_HINT = 'pip install "rrl-sb3[minigrid]"  (or: pip install minigrid)'


def import_minigrid() -> None:
    """Import ``minigrid`` (which registers its ids), or raise ``DependencyNotInstalled`` with the install command."""
    try:
        importlib.import_module("minigrid")
    except ImportError as exc:
        raise DependencyNotInstalled(
            f"the MiniGrid ids need the minigrid package ({exc}). Install it with: {INSTALL_HINT}"
        ) from exc


def pixel_view(env: gym.Env, tile_size: int = 8) -> gym.Env:
    """Replace a MiniGrid env's observation by its partial view as a ``uint8`` image of shape
    ``(7 * tile_size, 7 * tile_size, 3)`` (minigrid's ``RGBImgPartialObsWrapper`` then ``ImgObsWrapper``; the mission
    string, constant in the memory tasks, is dropped).

    :param env: a MiniGrid env
    :param tile_size: pixels per grid cell: 8 gives 56 x 56 images (SB3's ``NatureCNN`` needs at least 36 x 36),
        4 gives 28 x 28
    """
    require("tile_size", tile_size, is_int(tile_size) and tile_size >= 1, "a positive int (pixels per grid cell)")
    from minigrid.wrappers import ImgObsWrapper, RGBImgPartialObsWrapper

    return ImgObsWrapper(RGBImgPartialObsWrapper(env, tile_size=int(tile_size)))
