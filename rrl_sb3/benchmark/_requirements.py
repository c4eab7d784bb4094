"""Fail early, with the install command, when the benchmark extra is missing."""

import importlib.util

_MISSING = [module for module in ("scipy", "yaml", "matplotlib") if importlib.util.find_spec(module) is None]
if _MISSING:
    raise ImportError(f'rrl_sb3.benchmark needs {", ".join(_MISSING)} (pyyaml for yaml): pip install "rrl-sb3[benchmark]"')
