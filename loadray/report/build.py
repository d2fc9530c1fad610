"""Archive -> summary.json + plots/*.png + report.html. The one code path behind both
the end of ``loadray run`` and ``loadray report RUN_DIR``, so the two always agree.

The run directory may be local or a storage URI (``s3://bucket/prefix/run``, see
:mod:`loadray.archive.fs`). Its rows are folded in one streaming pass (and a second one
for the exact percentiles the first did not keep: :mod:`loadray.analysis.stream`), so
an archive of any size is reported in bounded memory.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from loadray.analysis import OverviewFold, Stream, SummaryFold, checks_of
from loadray.analysis.llm import POOLED, LlmFold, llm_fold, merge_into
from loadray.analysis.stream import first_and_last
from loadray.analysis.thresholds import percentiles_judged
from loadray.archive import PLOTS_DIR, REPORT_FILE, SCENARIO_FILE, SUMMARY_FILE, read_scenario_doc
from loadray.archive.chunk_source import open_chunks
from loadray.archive.fs import locate
from loadray.archive.rundir import scenario_from_text, summary_json
from loadray.archive.source import SampleSource, open_source
from loadray.errors import ArchiveError
from loadray.redaction import redact

from .check_plan import check_plan
from .facts import run_events, run_facts
from .figures import render_plots
from .html import render_html
from .llm_section import llm_plot

if TYPE_CHECKING:
    import os
    from typing import TypeAlias

    from loadray.archive.fs import RunLocation
    from loadray.metric import Threshold

    RunDir: TypeAlias = "str | os.PathLike[str] | RunLocation"

__all__ = ["rebuild", "run_window", "scenario_of", "summary_for", "thresholds_of"]



def thresholds_of(doc: dict[str, Any]) -> list[Threshold]:
    """Parse ``doc["thresholds"]`` (YAML paths ``thresholds[i]`` in errors)."""
    if not doc.get("thresholds"):
        return []
    from loadray.scenario.thresholds import parse_thresholds  # lazy: scenario sits above report

    return list(parse_thresholds(doc["thresholds"]))


def scenario_of(run_dir: RunDir) -> tuple[dict[str, Any], list[str]]:
    """The archived scenario document, redacted ({} and a warning when it is missing)."""
    loc = locate(run_dir)
    if loc.local is not None:
        if (loc.local / SCENARIO_FILE).exists():
            return redact(read_scenario_doc(loc.local)), []  # again: archives of older versions
    elif loc.is_file(SCENARIO_FILE):
        try:
            text = loc.read_bytes(SCENARIO_FILE).decode("utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise ArchiveError(f"{loc.shown(SCENARIO_FILE)}: cannot read: {exc}") from None
        return redact(scenario_from_text(text, loc.shown(SCENARIO_FILE))), []
    return {}, [f"{SCENARIO_FILE} is missing: no thresholds were evaluated"]


def run_window(source: SampleSource) -> tuple[int | None, float]:
    """The run's start and duration (s, as ``summary.json`` rounds it): from the
    archive's metadata, else its first and last intended send."""
    meta = source.meta
    start, end = meta.start_ns, meta.end_ns
    if start is None or end is None:
        found = first_and_last(source)
        if found is not None:
            start = found[0] if start is None else start
            end = found[1] if end is None else end
    if start is None or end is None:
        return start, 0.0
    return start, round(max(0.0, (end - start) / 1e9), 6)


def _fold(source: SampleSource, doc: dict[str, Any], thresholds: tuple[Threshold, ...], name: str,
          report: bool, llm: LlmFold | None = None):
    """(summary, the overview fold or None, the stream) of one pass over the run."""
    summary_fold = SummaryFold(thresholds)
    folds: list = [summary_fold]
    overview = None
    if report:
        start, duration = run_window(source)
        overview = OverviewFold(start or 0, duration, ways=summary_fold.ways)
        folds += overview.folds()
    stream = Stream(source)
    stream.run(folds)
    summary = summary_fold.summary(stream.registry, source.meta, name, llm=llm)
    summary["check_results"] = checks_of(summary_fold.counts, summary_fold.ways, stream.registry, check_plan(doc))
    return summary, overview, stream


def _summarized(run_dir: RunDir, thresholds: Iterable[Threshold] | None = None, name: str | None = None,
                report: bool = False):
    loc = locate(run_dir)
    doc, warnings = scenario_of(loc)
    source = open_source(loc)
    title = str(doc.get("name") or loc.name) if name is None else name
    judged = tuple(thresholds_of(doc) if thresholds is None else thresholds)
    llm = llm_fold(open_chunks(loc), {of: percentiles_judged(judged, of) for of in POOLED})  # chunks/ of streamed steps
    summary, overview, stream = _fold(source, doc, judged, title, report, llm)
    summary["warnings"].extend(warnings)
    merge_into(summary, llm)
    return loc, doc, source, summary, overview, stream, llm


def summary_for(
    run_dir: RunDir,
    thresholds: Iterable[Threshold] | None = None,
    name: str | None = None,
) -> dict[str, Any]:
    """The summary of the archived run; writes nothing.

    ``thresholds`` default to the scenario's; ``name`` to ``scenario.yaml``'s name,
    else the directory name.
    """
    return _summarized(run_dir, thresholds, name)[3]


def rebuild(run_dir: RunDir) -> dict[str, Any]:
    """Read the archive, write ``summary.json``, ``plots/*.png`` and ``report.html``;
    return the summary.

    Name and thresholds come from ``scenario.yaml``; without it the run is summarized
    under its directory name with no thresholds (and a warning says so). Deterministic:
    rebuilding twice gives the same files (nothing depends on the current time).
    """
    loc, doc, source, summary, overview, stream, llm = _summarized(run_dir, report=True)
    loc.write_bytes(summary_json(summary).encode("utf-8"), SUMMARY_FILE)
    folded = overview.overview(stream.registry)
    meta = source.meta
    plots = {**render_plots(folded, run_events(meta.record)), **llm_plot(llm)}
    for name, png in plots.items():
        loc.write_bytes(png, PLOTS_DIR, f"{name}.png")
    facts = run_facts(summary, doc, meta.start_ns, meta.end_ns, meta.record)
    loc.write_bytes(render_html(summary, folded, plots, facts, doc).encode("utf-8"), REPORT_FILE)
    return summary
