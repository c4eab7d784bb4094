"""The package's layering (docs/architecture.md): no import cycle among the modules of ``rrl_sb3``.

Every module is parsed with :mod:`ast` (nothing is imported), and every import of an ``rrl_sb3`` module counts as an
edge: top-level ones, those under ``if TYPE_CHECKING:`` (a cycle that only the type checker sees is still a cycle in
the design) and those inside functions (a lazy import hides a cycle from Python, not from the layering). An import
names the module it imports: ``from rrl_sb3.benchmark.store import ResultStore`` is an edge to
``rrl_sb3.benchmark.store``, ``from rrl_sb3.benchmark import store`` too, and ``from rrl_sb3.benchmark import Suite``
an edge to the package's ``__init__`` (``rrl_sb3.benchmark``). Importing a submodule also runs its packages'
``__init__`` files, but those implicit edges are not counted: a package's ``__init__`` re-exports its submodules, so
every submodule would sit in a cycle with it. The ``__init__`` files' own (re-export) imports are edges like any other.
"""

from __future__ import annotations

import ast
import functools
from dataclasses import dataclass
from pathlib import Path

PACKAGE = "rrl_sb3"
PACKAGE_DIR = Path(__file__).resolve().parents[1] / PACKAGE


@dataclass(frozen=True)
class Edge:
    """``source`` imports ``target`` at ``line``; ``where``: ``"module"`` (top level), ``"type checking"`` (under ``if
    TYPE_CHECKING:``) or ``"function"`` (inside a function or method)."""

    source: str
    target: str
    line: int
    where: str = "module"

    def __str__(self) -> str:
        path = module_path(self.source).relative_to(PACKAGE_DIR.parent)
        return f"{self.source} -> {self.target} ({path}:{self.line}, {self.where})"


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE_DIR.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


@functools.cache
def modules() -> dict[str, Path]:
    """Every module of the package, by dotted name (a package by its own name, for its ``__init__.py``)."""
    return {module_name(path): path for path in sorted(PACKAGE_DIR.rglob("*.py"))}


def module_path(name: str) -> Path:
    return modules()[name]


def _resolve(name: str, known: dict[str, Path]) -> str | None:
    """The module that ``name`` (a module, or a name inside one) lives in: its longest prefix that is a module."""
    parts = name.split(".")
    for end in range(len(parts), 0, -1):
        candidate = ".".join(parts[:end])
        if candidate in known:
            return candidate
    return None


def _is_type_checking(test: ast.expr) -> bool:
    """``TYPE_CHECKING`` or ``typing.TYPE_CHECKING``."""
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imported_names(node: ast.Import | ast.ImportFrom, name: str, is_package: bool, known: dict[str, Path]) -> list[str]:
    """The dotted names an import statement of module ``name`` imports."""
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    if node.level:  # relative: from the module's package (its own name for an __init__), up level - 1
        base = name.split(".") if is_package else name.split(".")[:-1]
        base = base[: len(base) - (node.level - 1)]
        module = ".".join([*base, *([node.module] if node.module else [])])
    else:
        module = node.module or ""
    # ``from package import submodule`` imports the submodule; any other name comes from ``module`` itself.
    return [f"{module}.{alias.name}" if f"{module}.{alias.name}" in known else module for alias in node.names]


def imports_of(name: str, path: Path, known: dict[str, Path]) -> list[Edge]:
    """The ``rrl_sb3`` modules that ``name`` imports, anywhere in its source (``TYPE_CHECKING`` blocks and function
    bodies included; the examples in docstrings are text, not imports)."""
    is_package = path.name == "__init__.py"
    edges: list[Edge] = []

    def visit(node: ast.AST, where: str) -> None:
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            for target in _imported_names(node, name, is_package, known):
                if target != PACKAGE and not target.startswith(PACKAGE + "."):
                    continue
                resolved = _resolve(target, known)
                assert resolved is not None, f"{path}:{node.lineno} imports {target}, which is not a module of {PACKAGE}"
                if resolved != name:
                    edges.append(Edge(name, resolved, node.lineno, where))
            return
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            where = "function"
        if isinstance(node, ast.If) and _is_type_checking(node.test) and where == "module":
            for child in node.body:
                visit(child, "type checking")
            for child in node.orelse:
                visit(child, where)
            return
        for child in ast.iter_child_nodes(node):
            visit(child, where)

    visit(ast.parse(path.read_text(encoding="utf-8"), filename=str(path)), "module")
    return edges


@functools.cache
def import_graph() -> dict[str, list[Edge]]:
    known = modules()
    return {name: imports_of(name, path, known) for name, path in known.items()}


def find_cycle(graph: dict[str, list[Edge]]) -> list[Edge] | None:
    """One import cycle, as its edges in order, or ``None`` if the graph has none (depth-first search)."""
    done: set[str] = set()
    path: list[Edge] = []
    on_path: dict[str, int] = {}  # module -> its index in the path of modules being visited

    def visit(node: str) -> list[Edge] | None:
        on_path[node] = len(on_path)
        for edge in graph.get(node, []):
            if edge.target in on_path:
                return [*path[on_path[edge.target] :], edge]
            if edge.target in done:
                continue
            path.append(edge)
            found = visit(edge.target)
            if found is not None:
                return found
            path.pop()
        del on_path[node]
        done.add(node)
        return None

    for start in sorted(graph):
        if start not in done:
            found = visit(start)
            if found is not None:
                return found
    return None


def test_no_import_cycle() -> None:
    cycle = find_cycle(import_graph())
    assert cycle is None, "import cycle among the modules of rrl_sb3:\n  " + "\n  ".join(map(str, cycle or []))


def test_graph_sees_every_kind_of_import() -> None:
    """The graph is not empty for lack of parsing: it holds a top-level import, a ``TYPE_CHECKING`` one, one inside a
    function and a ``from package import submodule``."""
    edges = {(edge.source, edge.target): edge.where for edges in import_graph().values() for edge in edges}
    assert edges[("rrl_sb3.dreamer.dreamer", "rrl_sb3.dreamer.behavior")] == "module"
    assert edges[("rrl_sb3.benchmark.records", "rrl_sb3.benchmark.algorithms")] == "type checking"
    assert edges[("rrl_sb3.zoo", "rrl_sb3.benchmark.search_spaces")] == "function"
    assert ("rrl_sb3.benchmark", "rrl_sb3.benchmark._requirements") in edges


def test_find_cycle_reports_the_cycle() -> None:
    edges = {"a": [Edge("a", "b", 1)], "b": [Edge("b", "c", 2)], "c": [Edge("c", "a", 3), Edge("c", "d", 4)], "d": []}
    assert [(edge.source, edge.target) for edge in find_cycle(edges) or []] == [("a", "b"), ("b", "c"), ("c", "a")]
    assert find_cycle({"a": [Edge("a", "b", 1)], "b": [Edge("b", "c", 1)], "c": []}) is None


#: The layers docs/architecture.md states, lowest first: a module imports only modules of lower layers of its package
#: (modules not listed here, and the packages' __init__ and __main__, are left to the cycle test)
LAYERS = {
    "rrl_sb3.benchmark": [
        {"errors", "stats", "search_spaces", "_requirements"},
        {"hyperparams"},
        {"algorithms"},
        {"records"},
        {"store"},
        {"suite"},
        {"worker"},
        {"runner"},
        {"report", "tune"},
        {"cli"},
    ],
    "rrl_sb3.dreamer": [{"world_model"}, {"behavior"}, {"policies"}, {"dreamer"}],
}


def test_modules_import_only_lower_layers() -> None:
    graph, upward = import_graph(), []
    for package, layers in LAYERS.items():
        rank = {f"{package}.{module}": i for i, layer in enumerate(layers) for module in layer}
        assert set(rank) <= set(modules()), f"LAYERS names modules that do not exist: {sorted(set(rank) - set(modules()))}"
        for module in rank:
            upward += [edge for edge in graph[module] if edge.target in rank and rank[edge.target] >= rank[module]]
    assert not upward, "imports against the layers of docs/architecture.md:\n  " + "\n  ".join(map(str, upward))
