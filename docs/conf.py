"""Sphinx configuration of the rrl_sb3 documentation (MyST Markdown pages, autodoc from the reST docstrings).

Builds offline: no intersphinx, nothing fetched at build time. ``make docs`` runs
``sphinx-build -W --keep-going -b html docs docs/_build/html``.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import rrl_sb3  # noqa: E402  (after the path: the checkout's package, also without an install)

project = "rrl_sb3"
author = "rrl_sb3 contributors"
copyright = "rrl_sb3 contributors"
version = rrl_sb3.__version__
release = rrl_sb3.__version__

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.viewcode",
    "myst_parser",
    "sphinx_copybutton",
]

source_suffix = {".md": "markdown"}
root_doc = "index"
exclude_patterns = ["_build", "Thumbs.db", ".DS_Store"]

# MyST: tables and code fences are CommonMark/GFM; ```{eval-rst} blocks hold the autodoc directives.
myst_enable_extensions = ["deflist"]
myst_heading_anchors = 3

# autodoc: the docstrings are SB3-style reST field lists (:param x:), one line per constructor argument.
autoclass_content = "class"
autodoc_member_order = "bysource"
autodoc_typehints = "description"
autodoc_typehints_description_target = "documented"
autodoc_inherit_docstrings = False

# Copy button: leave prompts and outputs out of what is copied.
copybutton_prompt_text = r">>> |\.\.\. |\$ "
copybutton_prompt_is_regexp = True

html_theme = "sphinx_rtd_theme"
html_title = f"rrl_sb3 {version}"
html_show_sourcelink = False
