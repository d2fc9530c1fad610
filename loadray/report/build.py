"""Archive -> summary.json + plots/*.png + report.html. The one code path behind both
the end of ``loadray run`` and ``loadray report RUN_DIR``, so the two always agree.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from loadray.analysis import ANALYSIS_COLUMNS, check_results, overview, sample_arrays, summarize
from loadray.archive import (
    PLOTS_DIR,
    REPORT_FILE,
    SCENARIO_FILE,
    read_samples,
    read_scenario_doc,
    write_bytes_atomic,
    write_summary,
    write_text_atomic,
)
from loadray.redaction import redact

from .check_plan import check_plan
from .facts import run_events, run_facts
from .figures import render_plots
from .html import render_html

if TYPE_CHECKING:
    from loadray.metric import Threshold

__all__ = ["rebuild", "scenario_of", "summary_for", "thresholds_of"]


def thresholds_of(doc: dict[str, Any]) -> list[Threshold]:
    """Parse ``doc["thresholds"]`` (YAML paths ``thresholds[i]`` in errors)."""
    if not doc.get("thresholds"):
        return []
    from loadray.scenario.thresholds import parse_thresholds  # lazy: scenario sits above report

    return list(parse_thresholds(doc["thresholds"]))


def scenario_of(run_dir: Path) -> tuple[dict[str, Any], list[str]]:
    """The archived scenario document, redacted ({} and a warning when it is missing)."""
    if (run_dir / SCENARIO_FILE).exists():
        return redact(read_scenario_doc(run_dir)), []  # again: archives of older versions
    return {}, [f"{SCENARIO_FILE} is missing: no thresholds were evaluated"]


def _summarized(run_dir: Path, thresholds: Iterable[Threshold] | None = None, name: str | None = None):
    """(summary, sample arrays, run meta, scenario document) of the archived run."""
    doc, warnings = scenario_of(run_dir)
    table, meta = read_samples(run_dir, ANALYSIS_COLUMNS)
    arrays = sample_arrays(table)
    summary = summarize(
        arrays, meta, thresholds_of(doc) if thresholds is None else tuple(thresholds),
        name=str(doc.get("name") or run_dir.name) if name is None else name,
    )
    summary["check_results"] = check_results(arrays, check_plan(doc))
    summary["warnings"].extend(warnings)
    return summary, arrays, meta, doc


def summary_for(
    run_dir: str | os.PathLike[str],
    thresholds: Iterable[Threshold] | None = None,
    name: str | None = None,
) -> dict[str, Any]:
    """The summary of the archived run; writes nothing.

    ``thresholds`` default to the scenario's; ``name`` to ``scenario.yaml``'s name,
    else the directory name.
    """
    return _summarized(Path(run_dir), thresholds, name)[0]


def _write_plots(run_dir: Path, plots: dict[str, bytes]) -> None:
    plots_dir = run_dir / PLOTS_DIR
    plots_dir.mkdir(exist_ok=True)
    for name, png in plots.items():
        write_bytes_atomic(plots_dir / f"{name}.png", png)


def rebuild(run_dir: str | os.PathLike[str]) -> dict[str, Any]:
    """Read the archive, write ``summary.json``, ``plots/*.png`` and ``report.html``;
    return the summary.

    Name and thresholds come from ``scenario.yaml``; without it the run is summarized
    under its directory name with no thresholds (and a warning says so). Deterministic:
    rebuilding twice gives the same files (nothing depends on the current time).
    """
    run_dir = Path(run_dir)
    summary, arrays, meta, doc = _summarized(run_dir)
    write_summary(run_dir, summary)

    folded = overview(arrays, meta.start_ns, summary["duration_s"])
    del arrays
    info = meta.record
    plots = render_plots(folded, run_events(info))
    _write_plots(run_dir, plots)
    facts = run_facts(summary, doc, meta.start_ns, meta.end_ns, info)
    write_text_atomic(run_dir / REPORT_FILE, render_html(summary, folded, plots, facts, doc))
    return summary
