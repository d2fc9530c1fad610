"""The import graph of a package, read from its source (an AST walk, nothing imported).

Every ``import``/``from ... import`` counts, at module level or inside a function or an
``if TYPE_CHECKING:`` block, and so does a string constant that names one of the
package's dotted modules exactly (``importlib.import_module("loadray.live.console")``
and the lazy export tables of :mod:`loadray._lazy`): a lazy import is still an import.

Modules are grouped into *units*: ``pkg.X`` for each subpackage ``X`` and each
top-level module, ``pkg`` for the package's own ``__init__``. The checks work on the
unit graph: cycles between units, and edges that break a layering.
"""

from __future__ import annotations

import ast
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Edge:
    source: str  # importing module
    target: str  # imported module (or third-party top-level name)
    line: int

    def __str__(self) -> str:
        return f"{self.source}:{self.line} imports {self.target}"


def modules(root: Path) -> dict[str, Path]:
    """Module name -> file, for every ``.py`` below ``root`` (a package directory)."""
    found = {}
    for path in sorted(root.rglob("*.py")):
        parts = list(path.relative_to(root.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    return found


def _resolve(module: str, is_package: bool, level: int, name: str | None) -> str:
    """The absolute module of a relative ``from`` import."""
    base = module.split(".")
    if not is_package:
        base.pop()
    if level > 1:
        base = base[: len(base) - (level - 1)]
    return ".".join(base + ([name] if name else []))


def imports(root: Path) -> list[Edge]:
    """Every import in the package below ``root``; an import of a name that is itself a
    module (``from pkg.a import b`` with ``pkg/a/b.py``) is an edge to that module."""
    known = modules(root)
    edges = []
    for module, path in known.items():
        tree = ast.parse(path.read_text(), str(path))
        is_package = path.name == "__init__.py"
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                edges += [Edge(module, alias.name, node.lineno) for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = _resolve(module, is_package, node.level, node.module) if node.level else node.module or ""
                for alias in node.names:
                    child = f"{base}.{alias.name}"
                    edges.append(Edge(module, child if child in known else base, node.lineno))
            elif isinstance(node, ast.Constant) and isinstance(node.value, str) and "." in node.value \
                    and node.value in known:
                edges.append(Edge(module, node.value, node.lineno))
    return edges


def unit(module: str) -> str:
    """``pkg.X`` for any module in subpackage or top-level module ``X``; ``pkg`` itself."""
    return ".".join(module.split(".")[:2])


def unit_edges(edges: list[Edge], package: str) -> dict[tuple[str, str], Edge]:
    """(source unit, target unit) -> one edge that makes it, inside ``package`` only."""
    found: dict[tuple[str, str], Edge] = {}
    for edge in edges:
        if edge.target != package and not edge.target.startswith(package + "."):
            continue
        pair = unit(edge.source), unit(edge.target)
        if pair[0] != pair[1]:
            found.setdefault(pair, edge)
    return found


def cycles(pairs: set[tuple[str, str]]) -> list[list[str]]:
    """The strongly connected components of more than one unit (Tarjan), sorted."""
    graph: dict[str, list[str]] = defaultdict(list)
    for a, b in sorted(pairs):
        graph[a].append(b)
        graph.setdefault(b, [])
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return sorted(found)


def cycle_report(root: Path, package: str) -> list[str]:
    """One line per import cycle between units, with the edges that close it."""
    pairs = unit_edges(imports(root), package)
    lines = []
    for component in cycles(set(pairs)):
        inside = [str(edge) for (a, b), edge in sorted(pairs.items()) if a in component and b in component]
        lines.append(f"cycle {' <-> '.join(component)}: " + "; ".join(inside))
    return lines


def third_party_outside(root: Path, name: str, allowed: tuple[str, ...]) -> list[Edge]:
    """Imports of ``name`` (or ``name.*``) by a module not under one of ``allowed``."""
    return [
        edge for edge in imports(root)
        if (edge.target == name or edge.target.startswith(name + "."))
        and not any(edge.source == a or edge.source.startswith(a + ".") for a in allowed)
    ]


def upward(root: Path, package: str, ranks: dict[str, int]) -> tuple[list[str], list[Edge]]:
    """(units without a rank, edges from a unit to one of a higher rank)."""
    edges = unit_edges(imports(root), package)
    units = {unit(m) for m in modules(root)}
    unranked = sorted(units - set(ranks))
    bad = [edge for (a, b), edge in sorted(edges.items()) if a in ranks and b in ranks and ranks[b] > ranks[a]]
    return unranked, bad
