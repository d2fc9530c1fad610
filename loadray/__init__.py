"""loadray: HTTP load testing on Ray, with exact percentiles from every request.

The curated public API (everything else is internal and may change)::

    import loadray
    run = loadray.open_run("runs/20250101T120000Z-smoke")
    run.summary, run.table, run.dataset, run.df
    run.percentiles(by="step"), run.timeseries("1s"), run.spectrum()
    loadray.compare("runs/base", run).passed

Percentiles are exact, by numpy's default method (``linear``). Names are imported
lazily: ``import loadray`` stays cheap (Ray workers import this package too).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from loadray.errors import ArchiveError, ClusterError, LoadrayError, ScenarioError, TargetError, UsageError

if TYPE_CHECKING:
    from loadray.analysis import Comparison
    from loadray.api import compare, comparison_report, open_run
    from loadray.run_handle import Run

__all__ = [
    "ArchiveError",
    "ClusterError",
    "Comparison",
    "LoadrayError",
    "Run",
    "ScenarioError",
    "TargetError",
    "UsageError",
    "__version__",
    "compare",
    "comparison_report",
    "open_run",
]

_LAZY = {
    "Comparison": "loadray.analysis",
    "Run": "loadray.run_handle",
    "compare": "loadray.api",
    "comparison_report": "loadray.api",
    "open_run": "loadray.api",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    if name == "__version__":
        from importlib.metadata import version

        return version("loadray")
    raise AttributeError(f"module 'loadray' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
