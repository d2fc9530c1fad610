"""The fast loop (``pytest -m "not ray and not cluster"``) starts no Ray: every test
module that does carries a marker (read from the source, nothing imported)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parents[1]
#: modules that name a run but never start Ray, and why
NO_RAY = {
    "test_cli_input.py": "each run it starts is refused (bad input, unwritable --out) before Ray starts",
    "test_markers.py": "this file: it only names the needles",
}


def module_marks(path: Path) -> set[str]:
    """The marks of ``pytestmark = pytest.mark.X`` (or a list of them) in ``path``."""
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", "") == "pytestmark" for t in node.targets):
            values = node.value.elts if isinstance(node.value, (ast.List, ast.Tuple)) else [node.value]
            return {v.attr for v in values if isinstance(v, ast.Attribute)}
    return set()


def starts_ray(path: Path) -> bool:
    """Uses the shared local Ray, runs ``loadray run``/``submit`` in a child, or starts Ray itself."""
    text = path.read_text()
    return any(needle in text for needle in ("ray_local", '"run", QUICKSTART', "RunOptions(", "ray.init(", "Launcher("))


@pytest.mark.parametrize("path", sorted((TESTS / "ray").glob("test_*.py")), ids=lambda p: p.name)
def test_every_module_in_tests_ray_is_marked_ray(path: Path) -> None:
    assert "ray" in module_marks(path)


@pytest.mark.parametrize("path", sorted((TESTS / "cluster").glob("test_*.py")), ids=lambda p: p.name)
def test_every_module_in_tests_cluster_is_marked_cluster(path: Path) -> None:
    assert "cluster" in module_marks(path)


def test_no_unmarked_unit_or_e2e_module_starts_ray() -> None:
    unmarked = [p.name for d in ("unit", "e2e") for p in sorted((TESTS / d).glob("test_*.py"))
                if p.name not in NO_RAY and starts_ray(p) and not module_marks(p) & {"ray", "cluster"}]
    assert unmarked == []
