"""An archived run opened for analysis: what ``loadray.open_run(path)`` returns.

Everything is read lazily from the run directory and cached: the summary, the
resolved scenario, the rows (as a ``pyarrow.Table``, a ``pyarrow.dataset`` and a
pandas frame) and the analyses of :mod:`loadray.analysis` over them.

Percentiles are exact, from every row, by numpy's default method ``linear``
(Hyndman & Fan type 7: for sorted values ``x`` and ``h = (n - 1) q``, the result is
``x[⌊h⌋] + (h - ⌊h⌋)(x[⌊h⌋+1] - x[⌊h⌋])``), the same numbers as pandas ``quantile``,
DuckDB ``quantile_cont`` and polars ``quantile(q, "linear")``; in ms, rounded to 1 µs.
"""

from __future__ import annotations

import os
from functools import cached_property
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.dataset as ds

from loadray.analysis import (
    BY,
    Comparison,
    SampleArrays,
    breakdown,
    compare_summaries,
    errors_over_time,
    histogram,
    per_second,
    sample_arrays,
    sorted_completed,
    spectrum,
    worker_rates,
)
from loadray.analysis.compare import DEFAULT_MAX_ERROR_RATE_INCREASE, DEFAULT_MAX_P99_INCREASE
from loadray.archive import SAMPLES_DIR, SUMMARY_FILE, RunMeta, open_dataset, read_samples, read_summary
from loadray.errors import ArchiveError
from loadray.report.build import scenario_of, summary_for
from loadray.units import parse_duration

__all__ = ["Run"]


class Run:
    """One run directory (``scenario.yaml``, ``samples/``, ``summary.json``...)."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        if not (self.path / SAMPLES_DIR).is_dir():
            raise ArchiveError(f"{self.path}: not a loadray run directory (no {SAMPLES_DIR}/)")

    def __repr__(self) -> str:
        return f"Run({str(self.path)!r})"

    @property
    def name(self) -> str:
        """The scenario's name (the directory name when the scenario is missing)."""
        return str(self.scenario.get("name") or self.path.name)

    @cached_property
    def scenario(self) -> dict[str, Any]:
        """The resolved scenario document (``scenario.yaml``), {} when missing."""
        return scenario_of(self.path)[0]

    @cached_property
    def summary(self) -> dict[str, Any]:
        """``summary.json``; computed from the rows (not written) when it is missing."""
        if (self.path / SUMMARY_FILE).exists():
            return read_summary(self.path)
        return summary_for(self.path)

    @cached_property
    def _rows(self) -> tuple[pa.Table, RunMeta]:
        return read_samples(self.path)

    @property
    def table(self) -> pa.Table:
        """Every sample row (schema :data:`loadray.schema.SCHEMA`), one chunk per column."""
        return self._rows[0]

    @property
    def meta(self) -> RunMeta:
        """Start/end times and schema version from the sample files."""
        return self._rows[1]

    @property
    def dataset(self) -> ds.Dataset:
        """The samples as a lazy ``pyarrow.dataset`` (filter and project before reading)."""
        return open_dataset(self.path)[0]

    @cached_property
    def df(self) -> pd.DataFrame:
        """The rows as a pandas DataFrame (``error`` and ``step`` categorical)."""
        return self.table.to_pandas()

    @cached_property
    def arrays(self) -> SampleArrays:
        """The rows as numpy arrays with the accounting masks (for the analyses)."""
        return sample_arrays(self.table)

    def percentiles(self, by: str | None = None) -> pd.DataFrame:
        """Counts, rates and exact latency/service percentiles (p50 p75 p90 p95 p99
        p99.9 p99.99 max) of the whole run (``by=None``) or per ``"step"``,
        ``"phase"``, ``"worker"``, ``"status"``, ``"error"``, ``"flow"`` (with the
        flow instances' counts and end-to-end ``flow_<p>_ms``), ``"attempt"`` (1 =
        first tries) or ``"user"`` (closed model); see :func:`loadray.analysis.breakdown`."""
        if by not in BY:
            raise ValueError(f"by must be one of {', '.join(map(str, BY))}; got {by!r}")
        return breakdown(self.arrays, by, self.summary.get("duration_s"))

    def timeseries(self, bucket: str | float = "1s") -> pd.DataFrame:
        """Per-bucket counts, rates and percentiles over the run's duration (see
        :func:`loadray.analysis.per_second`)."""
        return per_second(self.arrays, self.meta.start_ns, parse_duration(bucket), self.summary.get("duration_s"))

    def errors(self, bucket: str | float = "1s") -> pd.DataFrame:
        """Errors per bucket by kind (see :func:`loadray.analysis.errors_over_time`)."""
        return errors_over_time(self.arrays, self.meta.start_ns, parse_duration(bucket))

    def worker_rates(self, bucket: str | float = "1s") -> pd.DataFrame:
        """Requests sent per second by each worker, per bucket."""
        return worker_rates(self.arrays, self.meta.start_ns, parse_duration(bucket))

    def spectrum(self) -> pd.DataFrame:
        """Latency and service percentiles on the HdrHistogram grid (index: percentile,
        ``inv_tail`` = 1/(1-q)); see :func:`loadray.analysis.spectrum`."""
        return spectrum(sorted_completed(self.arrays))

    def histogram(self, bins: int = 60) -> pd.DataFrame:
        """Latency histogram with log-spaced bins and its CDF."""
        return histogram(sorted_completed(self.arrays)["latency"], bins)

    def compare(
        self,
        new: Run | str | os.PathLike[str],
        *,
        max_p99_increase: float | None = DEFAULT_MAX_P99_INCREASE,
        max_error_rate_increase: float | None = DEFAULT_MAX_ERROR_RATE_INCREASE,
    ) -> Comparison:
        """This run as the base, ``new`` as the candidate: see :func:`loadray.compare`."""
        other = new if isinstance(new, Run) else Run(new)
        return compare_summaries(
            self.summary, other.summary, max_p99_increase=max_p99_increase,
            max_error_rate_increase=max_error_rate_increase, labels=(self.path.name, other.path.name),
            scenarios=(self.scenario, other.scenario),
        )
