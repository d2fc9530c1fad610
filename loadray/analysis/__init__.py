"""Pure analysis of sample tables: exact percentiles, the run summary, thresholds,
per-second series. Takes Arrow tables / numpy arrays; never opens files, never plots.
"""

from __future__ import annotations

from .percentiles import QUANTILES, latency_stats, percentile_ms, percentiles_ms
from .summary import SampleArrays, sample_arrays, summarize
from .thresholds import evaluate, measure
from .timeseries import per_second

__all__ = [
    "QUANTILES",
    "SampleArrays",
    "evaluate",
    "latency_stats",
    "measure",
    "per_second",
    "percentile_ms",
    "percentiles_ms",
    "sample_arrays",
    "summarize",
]
