"""The notebook API: open archived runs and compare them.

    import loadray
    run = loadray.open_run("runs/20250101T120000Z-smoke")   # or "s3://bucket/prefix/run"
    run.summary["latency_ms"]["p99"]
    run.percentiles(by="step")          # exact, numpy "linear" method
    run.timeseries("1s")
    loadray.compare("runs/base", run).passed
"""

from __future__ import annotations

import os

from loadray.analysis import Comparison
from loadray.analysis.compare import DEFAULT_MAX_ERROR_RATE_INCREASE, DEFAULT_MAX_P99_INCREASE
from loadray.report.comparison import comparison_html
from loadray.run_handle import DEFAULT_MAX_ROWS, Run

__all__ = ["comparison_report", "compare", "open_run"]

RunLike = Run | str | os.PathLike


def open_run(path: RunLike, *, max_rows: int | None = DEFAULT_MAX_ROWS) -> Run:
    """The run archived in directory ``path`` (``runs/<time>-<name>``, or a storage URI
    such as ``s3://bucket/prefix/run``); lazy and cached. Its analyses work at any size;
    ``run.table``/``run.df`` load the rows whole only up to ``max_rows`` (None: no limit).

    Raises :class:`loadray.ArchiveError` when ``path`` is not a run directory.
    """
    return path if isinstance(path, Run) else Run(path, max_rows)


def compare(
    base: RunLike,
    new: RunLike,
    *,
    max_p99_increase: float | None = DEFAULT_MAX_P99_INCREASE,
    max_error_rate_increase: float | None = DEFAULT_MAX_ERROR_RATE_INCREASE,
) -> Comparison:
    """Key figures of ``new`` against ``base`` with absolute and relative change, and a
    regression gate: ``passed`` is False when the new corrected p99 latency is more than
    ``max_p99_increase`` (relative, 0.10 = 10%) above the base's, or the new error rate
    more than ``max_error_rate_increase`` (absolute, 0.01 = one point) above it.
    ``None`` turns a gate off."""
    return open_run(base).compare(
        new, max_p99_increase=max_p99_increase, max_error_rate_increase=max_error_rate_increase
    )


def comparison_report(comparison: Comparison, base: RunLike, new: RunLike) -> str:
    """The comparison as a self-contained HTML page with the two runs' spectra and
    rate/latency time series overlaid."""
    a, b = open_run(base), open_run(new)
    return comparison_html(comparison, *((r.label, r.timeseries(), r.spectrum()) for r in (a, b)))
