"""The run directory: Parquet samples, resolved scenario, summary.json, report.html.

Knows nothing of analysis or rendering; see :mod:`loadray.report.build` for the step
that turns an archive into ``summary.json`` and ``report.html``.
"""

from __future__ import annotations

from .diskspace import is_disk_error
from .manifest import MANIFEST_FILE, Manifest, PartEntry, read_manifest
from .reader import RunMeta, open_dataset, read_samples, sample_files
from .rundir import (
    PLOTS_DIR,
    REPORT_FILE,
    SAMPLES_DIR,
    SCENARIO_FILE,
    SUMMARY_FILE,
    create_run_dir,
    default_run_dir,
    read_scenario_doc,
    read_summary,
    write_bytes_atomic,
    write_scenario,
    write_summary,
    write_text_atomic,
)
from .sink import DEFAULT_ROLL_S, DEFAULT_ROWS_PER_FILE, SampleSink

__all__ = [
    "DEFAULT_ROLL_S",
    "DEFAULT_ROWS_PER_FILE",
    "MANIFEST_FILE",
    "Manifest",
    "PartEntry",
    "PLOTS_DIR",
    "REPORT_FILE",
    "SAMPLES_DIR",
    "SCENARIO_FILE",
    "SUMMARY_FILE",
    "RunMeta",
    "SampleSink",
    "create_run_dir",
    "default_run_dir",
    "is_disk_error",
    "open_dataset",
    "read_manifest",
    "read_samples",
    "read_scenario_doc",
    "read_summary",
    "sample_files",
    "write_bytes_atomic",
    "write_scenario",
    "write_summary",
    "write_text_atomic",
]
