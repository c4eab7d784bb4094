"""The documentation site (``docs/``): every public name is in an autodoc directive, each documented class's
``:param:`` entries match its constructor, and the site builds with warnings as errors (``make docs``)."""

from __future__ import annotations

import contextlib
import importlib
import inspect
import pkgutil
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

import rrl_sb3

DOCS = Path(__file__).resolve().parents[1] / "docs"

# ``.. autoclass:: target`` (reST, inside ```{eval-rst} blocks) or ```{autoclass} target (a MyST directive).
DIRECTIVE = re.compile(r"^\s*(?:\.\.\s+(?P<rst>auto\w+)::|```+\{(?P<myst>auto\w+)\})\s*(?P<target>\S+)\s*$")
OPTION = re.compile(r"^\s*:(?P<name>[\w-]+):")
# Directives whose object counts as documented only with ``:members:`` (its public methods listed too).
NEEDS_MEMBERS = {"autoclass", "autoexception", "automodule"}
PARAM = re.compile(r"^\s*:param\s+(?:[^:\n]*\s)?(?P<name>\w+)\s*:", re.MULTILINE)


@dataclass(frozen=True)
class Directive:
    kind: str
    target: str
    options: frozenset[str]
    page: str


def autodoc_directives() -> list[Directive]:
    """Every autodoc directive of the docs pages, with the names of its options."""
    found = []
    for page in sorted(DOCS.rglob("*.md")):
        if "_build" in page.parts:
            continue
        lines = page.read_text(encoding="utf-8").splitlines()
        for i, line in enumerate(lines):
            match = DIRECTIVE.match(line)
            if match is None:
                continue
            options = set()
            for following in lines[i + 1 :]:
                option = OPTION.match(following)
                if option is None:
                    break
                options.add(option["name"])
            kind = match["rst"] or match["myst"]
            found.append(Directive(kind, match["target"], frozenset(options), str(page.relative_to(DOCS))))
    return found


def resolve(target: str) -> Any:
    """The object a dotted autodoc target names: the longest importable module, then attributes."""
    parts = target.split(".")
    for split in range(len(parts), 0, -1):
        try:
            obj: Any = importlib.import_module(".".join(parts[:split]))
        except ImportError:
            continue
        for attr in parts[split:]:
            obj = getattr(obj, attr)
        return obj
    raise ImportError(f"cannot import any module of {target!r}")


def public_modules() -> list[ModuleType]:
    """``rrl_sb3`` and each of its subpackages that defines ``__all__``."""
    modules = [rrl_sb3]
    for info in pkgutil.walk_packages(rrl_sb3.__path__, "rrl_sb3."):
        if info.ispkg:
            module = importlib.import_module(info.name)
            if hasattr(module, "__all__"):
                modules.append(module)
    return modules


def public_names() -> dict[str, Any]:
    """Every name of every ``__all__`` (dunders such as ``__version__`` aside), as ``module.name`` -> object."""
    return {
        f"{module.__name__}.{name}": getattr(module, name)
        for module in public_modules()
        for name in module.__all__
        if not (name.startswith("__") and name.endswith("__"))
    }


def documented_objects() -> list[Any]:
    """The objects the autodoc directives document (a class or module only with ``:members:``)."""
    objects = []
    for directive in autodoc_directives():
        if directive.kind in NEEDS_MEMBERS and "members" not in directive.options:
            continue
        obj = resolve(directive.target)
        if inspect.ismodule(obj):
            names = getattr(obj, "__all__", [n for n in vars(obj) if not n.startswith("_")])
            objects.extend(getattr(obj, name) for name in names)
        else:
            objects.append(obj)
    return objects


def test_every_page_has_autodoc_directives_that_resolve() -> None:
    directives = autodoc_directives()
    assert directives, f"no autodoc directive found under {DOCS}"
    for directive in directives:
        resolve(directive.target)  # raises naming the target


def test_every_public_name_is_autodocumented() -> None:
    documented = documented_objects()
    names = public_names()
    # An alias (``MlpPolicy = DreamerPolicy``) is covered by its class's directive: compare objects, not names.
    missing = sorted(name for name, obj in names.items() if not any(obj is d for d in documented))
    assert not missing, (
        f"{len(missing)} public names of {len(names)} are in no autodoc directive (with :members: for classes) of "
        f"docs/**/*.md: {', '.join(missing)}"
    )


def constructor_params(cls: type) -> set[str]:
    signature = inspect.signature(cls)
    return {
        p.name
        for p in signature.parameters.values()
        if p.name != "self" and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD) and not p.name.startswith("_")
    }


def docstring_params(cls: type) -> set[str]:
    skipped = {"self", "args", "kwargs"}
    with contextlib.suppress(TypeError, ValueError):  # exceptions and builtins: no signature
        skipped |= {p.name for p in inspect.signature(cls).parameters.values() if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD)}
    doc = cls.__dict__.get("__doc__") or ""
    return {name for name in PARAM.findall(doc) if name not in skipped and not name.startswith("_")}


def documented_classes() -> dict[str, type]:
    classes = {}
    for directive in autodoc_directives():
        obj = resolve(directive.target)
        if inspect.isclass(obj):
            classes[directive.target] = obj
    return classes


def test_documented_classes_param_lists_match_their_constructors() -> None:
    mismatches = []
    for target, cls in documented_classes().items():
        documented = docstring_params(cls)
        # A subclass that keeps its parent's constructor and documents no parameter (``ReinforceGruPolicy``) is
        # described by its parent's docstring, which is checked where the parent is documented.
        if not documented and "__init__" not in cls.__dict__ and "__new__" not in cls.__dict__:
            continue
        params = constructor_params(cls)
        if documented != params:
            mismatches.append(
                f"{target}: not in the docstring {sorted(params - documented)}, "
                f"documented but not in the signature {sorted(documented - params)}"
            )
    assert not mismatches, "\n".join(mismatches)


def test_the_site_builds_without_warnings(tmp_path: Path) -> None:
    for module in ("sphinx", "myst_parser", "sphinx_rtd_theme", "sphinx_copybutton"):
        pytest.importorskip(module, reason="needs the docs extra: pip install -e '.[docs]'")
    command = [sys.executable, "-m", "sphinx", "-W", "--keep-going", "-b", "html", "-q"]
    command += ["-d", str(tmp_path / "doctrees"), str(DOCS), str(tmp_path / "html")]
    result = subprocess.run(command, capture_output=True, text=True, timeout=600)
    output = f"{result.stdout[-4000:]}\n{result.stderr[-8000:]}"
    assert result.returncode == 0, f"sphinx-build failed ({result.returncode}):\n{output}"
    assert (tmp_path / "html" / "index.html").is_file()
    assert (tmp_path / "html" / "modules" / "dreamer.html").is_file()
