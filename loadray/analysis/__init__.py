"""Pure analysis of sample tables: exact percentiles, the run summary, thresholds,
breakdowns (per step, phase, worker, status, error), time series, the percentile
spectrum, run-to-run comparison, and what k6/Gatling reports show besides: bytes and
status codes per step, check pass counts, requests in flight, error samples. Takes Arrow
tables, or any source of batches (:mod:`.stream`: an archive's rows are folded batch by
batch in bounded memory); never opens files, never plots.

Percentiles are exact, from every row, by numpy's default method (``linear``, Hyndman
& Fan type 7): the same numbers as pandas ``quantile``, DuckDB ``quantile_cont`` and
polars ``quantile(..., "linear")``.
"""

from __future__ import annotations

from .arrays import COLUMNS as ANALYSIS_COLUMNS
from .arrays import SampleArrays, sample_arrays
from .breakdown import BY, BreakdownFold, breakdown
from .check_results import check_results, checks_of
from .compare import Comparison, Gate, compare_summaries, scenario_differences
from .distribution import DistributionFold, histogram, spectrum
from .error_samples import ErrorWays, error_samples
from .grouped import SortedGroups, sort_groups
from .in_flight import in_flight
from .overview import Overview, OverviewFold, overview
from .percentiles import BREAKDOWN_QUANTILES, QUANTILES, latency_stats, percentile_ms, percentiles_ms
from .stream import Stream, TableSource
from .summary import SummaryFold, summarize
from .thresholds import evaluate, measure
from .timeseries import TimeFold, errors_over_time, per_second, phase_starts, worker_rates
from .transfer import bytes_in, status_by_step

__all__ = [
    "ANALYSIS_COLUMNS",
    "BREAKDOWN_QUANTILES",
    "BY",
    "QUANTILES",
    "BreakdownFold",
    "Comparison",
    "DistributionFold",
    "ErrorWays",
    "Gate",
    "Overview",
    "OverviewFold",
    "SampleArrays",
    "SortedGroups",
    "Stream",
    "SummaryFold",
    "TableSource",
    "TimeFold",
    "breakdown",
    "bytes_in",
    "check_results",
    "checks_of",
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
    "spectrum",
    "status_by_step",
    "summarize",
    "worker_rates",
]
