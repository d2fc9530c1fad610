"""Pure analysis of sample tables: exact percentiles, the run summary, thresholds,
breakdowns (per step, phase, worker, status, error), time series, the percentile
spectrum and run-to-run comparison. Takes Arrow tables / numpy arrays; never opens
files, never plots.

Percentiles are exact, from every row, by numpy's default method (``linear``, Hyndman
& Fan type 7): the same numbers as pandas ``quantile``, DuckDB ``quantile_cont`` and
polars ``quantile(..., "linear")``.
"""

from __future__ import annotations

from .arrays import COLUMNS as ANALYSIS_COLUMNS
from .arrays import SampleArrays, sample_arrays
from .breakdown import BY, breakdown
from .compare import Comparison, Gate, compare_summaries
from .distribution import histogram, spectrum
from .grouped import SortedGroups, sort_groups
from .overview import Overview, overview, sorted_completed
from .percentiles import BREAKDOWN_QUANTILES, QUANTILES, latency_stats, percentile_ms, percentiles_ms
from .summary import summarize
from .thresholds import evaluate, measure
from .timeseries import TimeBuckets, errors_over_time, per_second, phase_starts, worker_rates

__all__ = [
    "ANALYSIS_COLUMNS",
    "BREAKDOWN_QUANTILES",
    "BY",
    "QUANTILES",
    "Comparison",
    "Gate",
    "Overview",
    "SampleArrays",
    "SortedGroups",
    "TimeBuckets",
    "breakdown",
    "compare_summaries",
    "errors_over_time",
    "evaluate",
    "histogram",
    "latency_stats",
    "measure",
    "overview",
    "per_second",
    "percentile_ms",
    "percentiles_ms",
    "phase_starts",
    "sample_arrays",
    "sort_groups",
    "sorted_completed",
    "spectrum",
    "summarize",
    "worker_rates",
]
