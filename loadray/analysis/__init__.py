"""Pure analysis of sample tables: exact percentiles, the run summary, thresholds,
breakdowns (per step, phase, worker, status, error), time series, the percentile
spectrum, run-to-run comparison, and what k6/Gatling reports show besides: bytes and
status codes per step, check pass counts, requests in flight, error samples. Takes Arrow tables / numpy arrays; never opens
files, never plots.

Percentiles are exact, from every row, by numpy's default method (``linear``, Hyndman
& Fan type 7): the same numbers as pandas ``quantile``, DuckDB ``quantile_cont`` and
polars ``quantile(..., "linear")``.
"""

from __future__ import annotations

from .arrays import COLUMNS as ANALYSIS_COLUMNS
from .arrays import SampleArrays, sample_arrays
from .breakdown import BY, breakdown
from .check_results import check_results
from .compare import Comparison, Gate, compare_summaries, scenario_differences
from .distribution import histogram, spectrum
from .error_samples import error_samples
from .grouped import SortedGroups, sort_groups
from .in_flight import in_flight
from .overview import Overview, overview, sorted_completed
from .percentiles import BREAKDOWN_QUANTILES, QUANTILES, latency_stats, percentile_ms, percentiles_ms
from .summary import summarize
from .thresholds import evaluate, measure
from .timeseries import TimeBuckets, errors_over_time, per_second, phase_starts, worker_rates
from .transfer import bytes_in, status_by_step

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
    "bytes_in",
    "check_results",
    "compare_summaries",
    "error_samples",
    "errors_over_time",
    "evaluate",
    "histogram",
    "in_flight",
    "latency_stats",
    "measure",
    "overview",
    "per_second",
    "percentile_ms",
    "percentiles_ms",
    "phase_starts",
    "sample_arrays",
    "scenario_differences",
    "sort_groups",
    "sorted_completed",
    "spectrum",
    "status_by_step",
    "summarize",
    "worker_rates",
]
