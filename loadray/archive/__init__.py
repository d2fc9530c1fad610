"""The run directory: Parquet samples, resolved scenario, summary.json, report.html.

Knows nothing of analysis or rendering; see :mod:`loadray.report.build` for the step
that turns an archive into ``summary.json`` and ``report.html``.
"""

from __future__ import annotations

from .reader import RunMeta, read_samples
from .rundir import (
    REPORT_FILE,
    SAMPLES_DIR,
    SCENARIO_FILE,
    SUMMARY_FILE,
    create_run_dir,
    default_run_dir,
    read_scenario_doc,
    read_summary,
    write_scenario,
    write_summary,
    write_text_atomic,
)
from .sink import DEFAULT_ROWS_PER_FILE, SampleSink

__all__ = [
    "DEFAULT_ROWS_PER_FILE",
    "REPORT_FILE",
    "SAMPLES_DIR",
    "SCENARIO_FILE",
    "SUMMARY_FILE",
    "RunMeta",
    "SampleSink",
    "create_run_dir",
    "default_run_dir",
    "read_samples",
    "read_scenario_doc",
    "read_summary",
    "write_scenario",
    "write_summary",
    "write_text_atomic",
]
