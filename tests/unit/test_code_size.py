"""DESIGN.md §6's sizes, held: no module of ``loadray/`` over 400 lines, no function
over 60 (its ``def`` line to its last, docstring and decorators' lines aside)."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2] / "loadray"
MAX_MODULE_LINES = 400
MAX_FUNCTION_LINES = 60


def long_modules(root: Path, most: int = MAX_MODULE_LINES) -> list[str]:
    """``path: N lines`` of every module under ``root`` longer than ``most`` lines."""
    sizes = ((path, len(path.read_text().splitlines())) for path in sorted(root.rglob("*.py")))
    return [f"{path.relative_to(root.parent)}: {n} lines" for path, n in sizes if n > most]


def long_functions(root: Path, most: int = MAX_FUNCTION_LINES) -> list[str]:
    """``path:line name: N lines`` of every function (or method) longer than ``most``."""
    found = []
    for path in sorted(root.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                lines = (node.end_lineno or node.lineno) - node.lineno + 1
                if lines > most:
                    found.append(f"{path.relative_to(root.parent)}:{node.lineno} {node.name}: {lines} lines")
    return found


def test_no_module_over_400_lines() -> None:
    assert long_modules(ROOT) == []


def test_no_function_over_60_lines() -> None:
    assert long_functions(ROOT) == []


def test_the_checks_find_a_long_module_and_a_long_function(tmp_path: Path) -> None:
    package = tmp_path / "pkg"
    package.mkdir()
    body = "".join(f"    x{i} = {i}\n" for i in range(60))
    (package / "short.py").write_text(f"def fits():\n{body[: -len('    x59 = 59')-1]}\n")
    (package / "long.py").write_text(f"class A:\n    def grown(self):\n    {body.replace(chr(10), chr(10) + '    ')}\n"
                                     + "y = 1\n" * 340)
    assert long_functions(package) == ["pkg/long.py:2 grown: 61 lines"]
    assert long_modules(package) == ["pkg/long.py: 403 lines"]
