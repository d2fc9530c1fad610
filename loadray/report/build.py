"""Archive -> summary.json + report.html. The one code path behind both the end of
``loadray run`` and ``loadray report RUN_DIR``, so the two always agree.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable

from loadray.analysis import per_second, summarize
from loadray.archive import (
    REPORT_FILE,
    SCENARIO_FILE,
    read_samples,
    read_scenario_doc,
    write_summary,
    write_text_atomic,
)

from .html import render_html

if TYPE_CHECKING:
    from loadray.scenario.model import Threshold

__all__ = ["rebuild", "summary_for", "thresholds_of"]


def thresholds_of(doc: dict[str, Any]) -> list["Threshold"]:
    """Parse ``doc["thresholds"]`` (YAML paths ``thresholds[i]`` in errors)."""
    exprs = doc.get("thresholds") or []
    if not exprs:
        return []
    from loadray.scenario import parse_threshold  # lazy: scenario sits above report

    if isinstance(exprs, (str, bytes)) or not isinstance(exprs, (list, tuple)):
        exprs = [exprs]
    return [parse_threshold(expr, f"thresholds[{i}]") for i, expr in enumerate(exprs)]


def _doc(run_dir: Path) -> tuple[dict[str, Any], list[str]]:
    if (run_dir / SCENARIO_FILE).exists():
        return read_scenario_doc(run_dir), []
    return {}, [f"{SCENARIO_FILE} is missing: no thresholds were evaluated"]


def summary_for(
    run_dir: str | os.PathLike[str],
    thresholds: Iterable["Threshold"] = (),
    name: str | None = None,
) -> dict[str, Any]:
    """The summary of the archived run with explicit ``thresholds``; writes nothing.

    ``name`` defaults to ``scenario.yaml``'s name, else the directory name.
    """
    run_dir = Path(run_dir)
    if name is None:
        doc, _ = _doc(run_dir)
        name = str(doc.get("name") or run_dir.name)
    table, meta = read_samples(run_dir)
    return summarize(table, meta, tuple(thresholds), name=name)


def rebuild(run_dir: str | os.PathLike[str]) -> dict[str, Any]:
    """Read the archive, write ``summary.json`` and ``report.html``; return the summary.

    Name and thresholds come from ``scenario.yaml``; without it the run is summarized
    under its directory name with no thresholds (and a warning says so). Deterministic:
    rebuilding twice gives the same summary (nothing depends on the current time).
    """
    run_dir = Path(run_dir)
    doc, extra_warnings = _doc(run_dir)
    thresholds = thresholds_of(doc)
    name = str(doc.get("name") or run_dir.name)

    table, meta = read_samples(run_dir)
    summary = summarize(table, meta, thresholds, name=name)
    summary["warnings"].extend(extra_warnings)
    series = per_second(table, meta.start_ns)
    del table

    write_summary(run_dir, summary)
    write_text_atomic(run_dir / REPORT_FILE, render_html(summary, series, doc))
    return summary
