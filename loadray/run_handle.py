"""An archived run opened for analysis: what ``loadray.open_run(path)`` returns.

``path`` is a run directory or a storage URI (``s3://bucket/prefix/run``: see
:mod:`loadray.archive.fs` for the endpoint and credentials). Everything is read lazily
and cached: the summary, the resolved scenario and the analyses of
:mod:`loadray.analysis`, each folded from the Parquet parts batch by batch in bounded
memory (an archive of a billion rows is fine). The rows themselves as one
``pyarrow.Table`` / pandas frame (:attr:`Run.table`, :attr:`Run.df`) only for archives
of at most ``max_rows`` rows; :attr:`Run.dataset` (lazy) works at any size.

Percentiles are exact, from every row, by numpy's default method ``linear``
(Hyndman & Fan type 7: for sorted values ``x`` and ``h = (n - 1) q``, the result is
``x[⌊h⌋] + (h - ⌊h⌋)(x[⌊h⌋+1] - x[⌊h⌋])``), the same numbers as pandas ``quantile``,
DuckDB ``quantile_cont`` and polars ``quantile(q, "linear")``; in ms, rounded to 1 µs.
"""

from __future__ import annotations

import os
from functools import cached_property
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.dataset as ds

from loadray.analysis import (
    BY,
    BreakdownFold,
    Comparison,
    DistributionFold,
    SampleArrays,
    Stream,
    TimeFold,
    compare_summaries,
    sample_arrays,
)
from loadray.analysis.compare import DEFAULT_MAX_ERROR_RATE_INCREASE, DEFAULT_MAX_P99_INCREASE
from loadray.archive import SAMPLES_DIR, SUMMARY_FILE, RunMeta, open_dataset, read_samples
from loadray.archive.fs import RunLocation, locate
from loadray.archive.source import SampleSource, open_source
from loadray.errors import ArchiveError
from loadray.report.build import run_window, scenario_of, summary_for
from loadray.units import parse_duration

__all__ = ["DEFAULT_MAX_ROWS", "Run"]

#: Rows :attr:`Run.table` / :attr:`Run.df` load at most (about 40 B a row in Arrow, more
#: in pandas); the analyses have no limit.
DEFAULT_MAX_ROWS = 20_000_000


class Run:
    """One run directory (``scenario.yaml``, ``samples/``, ``summary.json``...)."""

    def __init__(self, path: str | os.PathLike[str] | RunLocation, max_rows: int | None = DEFAULT_MAX_ROWS) -> None:
        self.location = locate(path)
        self.path = self.location.local if self.location.local is not None else self.location.display
        self.max_rows = max_rows
        if not self.location.is_dir(SAMPLES_DIR):
            raise ArchiveError(f"{self.location}: not a loadray run directory (no {SAMPLES_DIR}/)")

    def __repr__(self) -> str:
        return f"Run({str(self.location)!r})"

    @property
    def label(self) -> str:
        """The run directory's own name (the last part of its path or URI)."""
        return self.location.name

    @property
    def name(self) -> str:
        """The scenario's name (the directory name when the scenario is missing)."""
        return str(self.scenario.get("name") or self.label)

    @cached_property
    def scenario(self) -> dict[str, Any]:
        """The resolved scenario document (``scenario.yaml``), {} when missing."""
        return scenario_of(self.location)[0]

    @cached_property
    def summary(self) -> dict[str, Any]:
        """``summary.json``; computed from the rows (not written) when it is missing."""
        if self.location.is_file(SUMMARY_FILE):
            import json

            try:
                return json.loads(self.location.read_bytes(SUMMARY_FILE))
            except (OSError, ValueError) as exc:
                raise ArchiveError(f"{self.location.shown(SUMMARY_FILE)}: cannot read: {exc}") from None
        return summary_for(self.location)

    @cached_property
    def source(self) -> SampleSource:
        """The rows as re-iterable batches (what every analysis here folds)."""
        return open_source(self.location)

    @property
    def meta(self) -> RunMeta:
        """Start/end times and schema version from the sample files."""
        return self.source.meta

    @property
    def rows(self) -> int:
        """Rows in the archive (from the Parquet footers; nothing is read)."""
        return self.source.rows

    @cached_property
    def _rows(self) -> tuple[pa.Table, RunMeta]:
        if self.max_rows is not None and self.rows > self.max_rows:
            raise ArchiveError(
                f"{self.location}: {self.rows:,} rows is too many to load whole (max_rows={self.max_rows:,}): "
                "use run.percentiles(), run.timeseries(), run.dataset (filter and project before reading), "
                "DuckDB or polars, or open_run(path, max_rows=None) if the memory is there")
        return read_samples(self.location)

    @property
    def table(self) -> pa.Table:
        """Every sample row (schema :data:`loadray.schema.SCHEMA`), one chunk per column
        (archives of at most ``max_rows`` rows)."""
        return self._rows[0]

    @property
    def files(self) -> list[str]:
        """The run's sample files as paths or URIs (``s3://bucket/run/samples/...``): the
        parts its manifest lists, what to give DuckDB's ``read_parquet`` or polars'
        ``scan_parquet`` (a glob of ``samples/*.parquet`` would also take a part a worker
        completed after the run was closed, which is not part of it)."""
        loc = self.location
        if loc.local is not None:
            return [str(loc.local / SAMPLES_DIR / p.name) for p in self.source.parts]
        scheme = loc.display.split("://", 1)[0]
        return [f"{scheme}://{loc.path(SAMPLES_DIR, p.name)}" for p in self.source.parts]

    @property
    def dataset(self) -> ds.Dataset:
        """The samples as a lazy ``pyarrow.dataset`` (filter and project before reading)."""
        return open_dataset(self.location)[0]

    @cached_property
    def df(self) -> pd.DataFrame:
        """The rows as a pandas DataFrame (``error`` and ``step`` categorical; archives of
        at most ``max_rows`` rows)."""
        return self.table.to_pandas()

    @cached_property
    def arrays(self) -> SampleArrays:
        """The rows as numpy arrays with the accounting masks (archives of at most ``max_rows`` rows)."""
        return sample_arrays(self.table)

    def _fold(self, fold) -> Stream:
        stream = Stream(self.source)
        stream.run([fold])
        return stream

    def percentiles(self, by: str | None = None) -> pd.DataFrame:
        """Counts, rates and exact latency/service percentiles (p50 p75 p90 p95 p99
        p99.9 p99.99 max) of the whole run (``by=None``) or per ``"step"``,
        ``"phase"``, ``"worker"``, ``"status"``, ``"error"``, ``"flow"`` (with the
        flow instances' counts and end-to-end ``flow_<p>_ms``), ``"attempt"`` (1 =
        first tries) or ``"user"`` (closed model); see :func:`loadray.analysis.breakdown`."""
        if by not in BY:
            raise ValueError(f"by must be one of {', '.join(map(str, BY))}; got {by!r}")
        fold = BreakdownFold(by)
        return fold.frame(self._fold(fold).registry, self.summary.get("duration_s"))

    def _time(self, bucket: str | float, percentiles: bool, duration: bool = True) -> tuple[TimeFold, Stream]:
        start, _ = run_window(self.source)
        fold = TimeFold(start or 0, parse_duration(bucket), self.summary.get("duration_s") if duration else None,
                        percentiles)
        return fold, self._fold(fold)

    def timeseries(self, bucket: str | float = "1s") -> pd.DataFrame:
        """Per-bucket counts, rates and percentiles over the run's duration (see
        :func:`loadray.analysis.per_second`)."""
        return self._time(bucket, True)[0].series()

    def errors(self, bucket: str | float = "1s") -> pd.DataFrame:
        """Errors per bucket by kind (see :func:`loadray.analysis.errors_over_time`)."""
        fold, stream = self._time(bucket, False, duration=False)
        return fold.error_frame(stream.registry)

    def worker_rates(self, bucket: str | float = "1s") -> pd.DataFrame:
        """Requests sent per second by each worker, per bucket."""
        fold, stream = self._time(bucket, False, duration=False)
        return fold.worker_frame(stream.registry)

    @cached_property
    def _distribution(self) -> DistributionFold:
        fold = DistributionFold()
        self._fold(fold)
        return fold

    def spectrum(self) -> pd.DataFrame:
        """Latency and service percentiles on the HdrHistogram grid (index: percentile,
        ``inv_tail`` = 1/(1-q)); see :func:`loadray.analysis.spectrum`."""
        return self._distribution.spectrum()

    def histogram(self, bins: int = 60) -> pd.DataFrame:
        """Latency histogram with log-spaced bins and its CDF."""
        if bins == self._distribution.bins:
            return self._distribution.histogram()
        fold = DistributionFold(bins=bins)
        self._fold(fold)
        return fold.histogram()

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
            max_error_rate_increase=max_error_rate_increase, labels=(self.label, other.label),
            scenarios=(self.scenario, other.scenario),
        )
