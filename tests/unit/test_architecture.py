"""The package's import graph (DESIGN.md §1): no cycle between packages, Ray only in
``loadray/cluster``, and every import pointing down the layers.

Layers, top to bottom (an import may stay in its layer or go down, never up; a cycle
inside a layer is caught by the cycle check)::

    cli, the facade        loadray, loadray.cli, loadray.__main__
    entry points           driver, api, run_handle, export
    cluster                cluster (the only one that imports ray)
    run time               fleet, engine, live, preflight
    the run's plan         scenario, plan, report (reads archives: never engine/cluster)
    data                   metric, flow, target, archive, analysis (pure: never engine/cluster)
    leaves                 errors, kinds, units, counters, schema, fields, env_text, stream, ...
"""

from __future__ import annotations

import shutil
from pathlib import Path

import import_graph as graph  # tests/import_graph.py
import pytest

ROOT = Path(__file__).resolve().parents[2] / "loadray"

LEAVES = ("errors", "kinds", "units", "counters", "schema", "fields", "env_text", "_lazy", "redaction", "input_files",
          "stream", "reaper")
LAYERS: tuple[tuple[str, ...], ...] = (  # bottom first
    LEAVES,
    ("metric", "flow", "grpc", "target", "archive", "analysis"),
    ("scenario", "plan", "report"),
    ("fleet", "engine", "live", "preflight"),
    ("cluster",),
    ("driver", "driver_archive", "driver_signals", "api", "run_handle", "export"),
    ("cli", "__main__", ""),
)
RANKS = {f"loadray.{name}" if name else "loadray": rank for rank, layer in enumerate(LAYERS) for name in layer}


def test_no_import_cycle_between_packages() -> None:
    assert graph.cycle_report(ROOT, "loadray") == []


def test_ray_is_imported_only_in_cluster() -> None:
    assert [str(e) for e in graph.third_party_outside(ROOT, "ray", ("loadray.cluster",))] == []


def test_matplotlib_only_in_report_and_httptools_only_in_the_engine() -> None:
    assert [str(e) for e in graph.third_party_outside(ROOT, "matplotlib", ("loadray.report",))] == []
    assert [str(e) for e in graph.third_party_outside(ROOT, "httptools", ("loadray.engine",))] == []


def test_every_import_points_down_the_layers() -> None:
    unranked, upward = graph.upward(ROOT, "loadray", RANKS)
    assert unranked == [], "give each new package or top-level module a layer in LAYERS"
    assert [str(e) for e in upward] == []


def test_analysis_and_report_never_import_the_engine_or_the_cluster() -> None:
    edges = graph.unit_edges(graph.imports(ROOT), "loadray")
    for low in ("loadray.analysis", "loadray.report"):
        assert {b for a, b in edges if a == low} & {"loadray.engine", "loadray.cluster", "loadray.fleet"} == set()


# -- the checks catch what they are for ---------------------------------------------------


def _package(tmp_path: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return tmp_path / "pkg"


def test_a_cycle_through_relative_lazy_and_string_imports_is_found(tmp_path: Path) -> None:
    root = _package(tmp_path, {
        "pkg/__init__.py": "",
        "pkg/a/__init__.py": "",
        "pkg/a/x.py": "def f():\n    from ..b import y  # lazy and relative\n",
        "pkg/b/__init__.py": "",
        "pkg/b/y.py": "import importlib\nM = importlib.import_module('pkg.c.z')\n",
        "pkg/c/__init__.py": "",
        "pkg/c/z.py": "from pkg.a import x\n",
        "pkg/d.py": "from pkg.a import x\n",  # one way only: no cycle
    })
    assert graph.cycles(set(graph.unit_edges(graph.imports(root), "pkg"))) == [["pkg.a", "pkg.b", "pkg.c"]]
    report = graph.cycle_report(root, "pkg")
    assert len(report) == 1 and "pkg.c.z:1 imports pkg.a.x" in report[0]


def test_a_cycle_and_a_ray_import_planted_in_a_copy_of_loadray_are_found(tmp_path: Path) -> None:
    copy = tmp_path / "loadray"
    shutil.copytree(ROOT, copy, ignore=shutil.ignore_patterns("__pycache__"))
    with open(copy / "scenario" / "model.py", "a") as f:
        f.write("\n\ndef _planted():\n    from loadray.engine.worker import LoadWorker\n")
    with open(copy / "engine" / "clock.py", "a") as f:
        f.write("\nimport ray.util\n")
    cycles = graph.cycle_report(copy, "loadray")
    assert len(cycles) == 1 and "loadray.engine" in cycles[0] and "loadray.scenario" in cycles[0]
    assert "loadray.scenario.model:" in cycles[0] and "imports loadray.engine.worker" in cycles[0]
    planted = [str(e) for e in graph.third_party_outside(copy, "ray", ("loadray.cluster",))]
    assert len(planted) == 1 and planted[0].startswith("loadray.engine.clock:")
    _, upward = graph.upward(copy, "loadray", RANKS)
    assert [(e.source, e.target) for e in upward] == [("loadray.scenario.model", "loadray.engine.worker")]


@pytest.mark.parametrize("layer", [0, 1])
def test_an_upward_import_without_a_cycle_is_found(tmp_path: Path, layer: int) -> None:
    copy = tmp_path / "loadray"
    shutil.copytree(ROOT, copy, ignore=shutil.ignore_patterns("__pycache__"))
    source, target = (("kinds.py", "loadray.target.options"), ("analysis/__init__.py", "loadray.plan.profile"))[layer]
    with open(copy / source, "a") as f:
        f.write(f"\nimport {target}\n")
    assert graph.cycle_report(copy, "loadray") == []  # nothing below imports these back
    _, upward = graph.upward(copy, "loadray", RANKS)
    assert [e.target for e in upward] == [target]
