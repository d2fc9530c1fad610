"""The LLM profile of a run: per request time to first token, inter-token latency,
output tokens and tokens/s, by step, folded over the ``chunks/`` side table
(:mod:`loadray.stream.table`) one row group at a time in bounded memory, with exact
percentiles (:mod:`.ranks`: the values near the tracked quantiles are kept as the rows
go, a second pass reads the cells still missing).

A request counts when its stream carried at least one token (rows with ``tokens``: a
step with ``llm:``). Its figures, from the chunk arrival times (``t_ns``, from send):

- ``ttft_ms``: time to first token: the arrival of the first chunk that carried one
  (a role chunk or a comment before it is not a token);
- ``itl_ms``: inter-token latency: every gap between two successive token chunks of
  the request (pooled over all requests, as vLLM's ITL);
- ``tpot_ms``: time per output token after the first, per request: (last token - first
  token) / (output tokens - tokens of the first chunk): llmperf's and vLLM's per-request
  inter-token latency (TPOT), which chunks merged in transit do not skew;
- ``output_tokens``: the stream's reported ``usage.completion_tokens`` when it sent
  one, else the tokens counted;
- ``tokens_per_s``: the decode rate after the first token, 1 / ``tpot``; ``tpot`` and
  this are none for a one-chunk answer. (llmperf's
  "output throughput" divides by the whole request time instead: that is the step's
  latency, in ``steps``.)

The run's ``ttft_ms``, ``itl_ms`` and ``tpot_ms`` over every request whose chunks
carried token counts (all LLM steps pooled) are what the ``ttft_*``, ``itl_*`` and
``tpot_*`` thresholds judge (:meth:`LlmFold.pooled_ms`, :meth:`LlmFold.pooled_stats`).

A streamed step without an LLM profile (``stream: sse|chunks``) gets the same figures
with every chunk for a token, named for what they are: ``first_chunk_ms``, ``gap_ms``
(every gap between chunks), ``per_chunk_ms``, ``chunks``, ``chunks_per_s``.

Counts and token figures go through the same exact-rank machinery as durations: a
count ``n`` is held as ``n * 1e6`` so that the ms conversion of :func:`.quantiles.stats`
gives it back in its own unit.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any, Protocol

import numpy as np
import pyarrow as pa

from .bins import LogBins
from .percentiles import QUANTILES, STAT_KEYS, ms
from .quantiles import require, stats
from .quantiles import table as percentile_table
from .ranks import DEFAULT_WARMUP_ROWS, Ranked

__all__ = ["COLUMNS", "FIGURES", "STREAM_FIGURES", "LlmFold", "cdf_points", "llm_fold", "merge_into"]

COLUMNS = ("step", "index", "t_ns", "tokens", "usage")
FIGURES = ("ttft_ms", "itl_ms", "tpot_ms", "output_tokens", "tokens_per_s")
#: threshold metric -> its figure, pooled over every request of an LLM step (one group)
POOLED = {"ttft": "ttft_ms", "itl": "itl_ms", "tpot": "tpot_ms"}
STREAM_FIGURES = ("first_chunk_ms", "gap_ms", "per_chunk_ms", "chunks", "chunks_per_s")  # a step without tokens
_UNIT = 1_000_000  # counts as "ns" so that stats() in "ms" gives them back
_BITS = 10


class ChunkBatches(Protocol):
    def __len__(self) -> int: ...
    def batches(self, columns: Sequence[str], stop: int | None = None) -> Iterator[pa.Table]: ...


def per_request(table: pa.Table, codes: dict[str, int],
                llm: set[int] | None = None) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Figure -> (step codes, values) of the requests in ``table`` (whole requests, in
    order); new step names get the next codes in ``codes``, and the codes of steps with
    tokens go into ``llm``. A chunk of a step without tokens counts as one unit."""
    empty = {name: (np.zeros(0, np.int64), np.zeros(0, np.int64)) for name in (*FIGURES, *POOLED)}
    if table.num_rows == 0:
        return empty
    tokens = table.column("tokens")
    request = np.cumsum(np.asarray(table.column("index")) == 0) - 1
    step = _codes(table.column("step"), codes)
    if llm is not None and tokens.null_count < table.num_rows:
        llm.update(np.unique(step[np.asarray(tokens.is_valid())]).tolist())
    t = np.asarray(table.column("t_ns"), np.int64)
    tok = np.asarray(tokens.fill_null(1), np.int64)
    usage = table.column("usage")
    reported = np.full(int(request[-1]) + 1, -1, np.int64)
    if usage.null_count < table.num_rows:
        has = np.asarray(usage.is_valid())
        reported[request[has]] = np.asarray(usage.filter(usage.is_valid()), np.int64)
    counts_tokens = np.zeros(int(request[-1]) + 1, bool)  # a request of an LLM step: its chunks say tokens
    counts_tokens[request[np.asarray(tokens.is_valid())]] = True
    hit = tok > 0
    r, t, tok, step = request[hit], t[hit], tok[hit], step[hit]
    if r.size == 0:
        return empty
    first = np.r_[True, r[1:] != r[:-1]]
    last = np.r_[r[1:] != r[:-1], True]
    counted = np.add.reduceat(tok, np.flatnonzero(first))
    output = np.where(reported[r[first]] >= 0, reported[r[first]], counted)
    span = t[last] - t[first]
    after = output - tok[first]
    rate_ok = (span > 0) & (after > 0)
    tpot = span[rate_ok] / after[rate_ok]
    gap = ~first
    llm_first = counts_tokens[r[first]]
    return {
        "ttft_ms": (step[first], t[first]),
        "itl_ms": (step[gap], np.diff(t)[gap[1:]]),
        "tpot_ms": (step[first][rate_ok], np.round(tpot).astype(np.int64)),
        "output_tokens": (step[first], output * _UNIT),
        "tokens_per_s": (step[first][rate_ok], np.round(1e9 / tpot * _UNIT).astype(np.int64)),
        "ttft": _pooled(t[first][llm_first]),
        "itl": _pooled(np.diff(t)[gap[1:]][counts_tokens[r[gap]]]),
        "tpot": _pooled(np.round(tpot[llm_first[rate_ok]]).astype(np.int64)),
    }


def _pooled(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``values`` in the one group of a pooled figure."""
    return np.zeros(values.size, np.int64), values


def _codes(column: pa.ChunkedArray | pa.Array, codes: dict[str, int]) -> np.ndarray:
    """Step codes of a dictionary column of step names."""
    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks()
    names = column.dictionary.to_pylist()
    lut = np.array([codes.setdefault(n, len(codes)) for n in names], np.int64)
    return lut[np.asarray(column.indices.fill_null(0), np.int64)] if len(lut) else np.zeros(len(column), np.int64)


class LlmFold:
    """The LLM figures of every step: :meth:`run` over a chunk source, then :meth:`summary`."""

    def __init__(self, warmup_rows: int = DEFAULT_WARMUP_ROWS, keep: bool = True,
                 judged: Mapping[str, Sequence[float]] | None = None) -> None:
        """``keep`` False: keep no values in the first pass (every rank is read by the
        second: the same figures, more reading). ``judged``: pooled figure (``ttft``,
        ``itl``, ``tpot``) -> the percentiles (0..100) thresholds will read of it."""
        self.codes: dict[str, int] = {}
        self.llm: set[int] = set()  # steps whose chunks carry tokens
        self.requests: dict[int, int] = {}
        track = [q / 100 for q in QUANTILES.values()] if keep else []
        self.families = {name: Ranked(LogBins(_BITS), track, sums=True) for name in FIGURES}
        self.judged = {name: list((judged or {}).get(name, ())) for name in POOLED}
        for name, qs in self.judged.items():
            self.families[name] = Ranked(LogBins(_BITS), track + [q / 100 for q in qs], sums=True)
        self.warmup_rows = warmup_rows
        self.second_pass = False  # whether the exact ranks needed a second pass

    def run(self, source: ChunkBatches) -> None:
        rows, refresh_at = 0, self.warmup_rows
        for table in source.batches(COLUMNS):
            figures = per_request(table, self.codes, self.llm)
            for name, (keys, values) in figures.items():
                self.families[name].add(keys, values)
            for code in figures["ttft_ms"][0].tolist():
                self.requests[code] = self.requests.get(code, 0) + 1
            rows += table.num_rows
            if rows >= refresh_at:
                for fam in self.families.values():
                    fam.refresh()
                refresh_at = 2 * rows
        self._resolve(source)

    def _resolve(self, source: ChunkBatches) -> None:
        """The second pass: the cells the stores did not keep."""
        views = {name: fam.view() for name, fam in self.families.items()}
        for view in views.values():
            require(view)
        for name, qs in self.judged.items():
            if qs:
                require(views[name], qs)
        pending = {name: view.pending() for name, view in views.items()}
        if not any(pending.values()):
            return
        self.second_pass = True
        stop = max(max(cells.values()) for cells in pending.values() if cells)
        codes = dict(self.codes)
        for k, table in enumerate(source.batches(COLUMNS, min(stop, len(source)))):
            for name, (keys, values) in per_request(table, codes).items():
                if pending[name]:
                    fam = self.families[name]
                    views[name].collect(keys, values, fam.bins.of(values), k, pending[name])
        for name, view in views.items():
            view.collected(pending[name])

    def pooled_stats(self, name: str) -> dict[str, float | None]:
        """The run's ``name`` (``ttft``, ``itl``, ``tpot``) over every LLM request,
        ``{p50 p90 p95 p99 p999 max mean min}`` in ms (Nones without one)."""
        rows = stats(self.families[name].view())
        return rows[0] if rows else dict.fromkeys(STAT_KEYS)

    def pooled_ms(self, name: str, q: float) -> float | None:
        """Exact percentile ``q`` (0..100, one ``judged`` or the summary's) of the run's
        ``name`` (``ttft``, ``itl``, ``tpot``), in ms; None without an LLM request."""
        view = self.families[name].view()
        if not view.counts().any():
            return None
        return float(ms(percentile_table(view, [q]))[0, 0])

    def summary(self) -> dict[str, tuple[str, dict[str, Any]]]:
        """``{step: ("llm", {requests, ttft_ms, itl_ms, tpot_ms, output_tokens,
        tokens_per_s})}`` for a step with tokens, ``{step: ("stream", {requests,
        first_chunk_ms, gap_ms, per_chunk_ms, chunks, chunks_per_s})}`` (the same
        figures, a chunk for a token) for any other streamed step; each figure ``{p50 p90
        p95 p99 p999 max mean min}``; steps by name."""
        figures = {name: stats(self.families[name].view()) for name in FIGURES}
        out = {}
        for step, code in sorted(self.codes.items()):
            if not self.requests.get(code):
                continue
            kind, names = ("llm", FIGURES) if code in self.llm else ("stream", STREAM_FIGURES)
            entry: dict[str, Any] = {"requests": self.requests[code]}
            for figure, name in zip(FIGURES, names):
                rows = figures[figure]
                entry[name] = rows[code] if code < len(rows) else dict.fromkeys(STAT_KEYS)
            out[step] = (kind, entry)
        return out


def llm_fold(source: ChunkBatches | None, judged: Mapping[str, Sequence[float]] | None = None) -> LlmFold | None:
    """The fold of a chunk source, run; None without one or without any chunk."""
    if source is None or not len(source):
        return None
    fold = LlmFold(judged=judged)
    fold.run(source)
    return fold if any(fold.requests.values()) else None


def merge_into(summary: dict[str, Any], fold: LlmFold | None) -> None:
    """Put each step's figures under ``summary["steps"][step]["llm"]`` (a step with
    tokens) or ``["stream"]`` (any other streamed step)."""
    if fold is None:
        return
    steps = summary.setdefault("steps", {})
    for step, (kind, figures) in fold.summary().items():
        steps.setdefault(step, {})[kind] = figures


def cdf_points(fam: Ranked, code: int) -> tuple[np.ndarray, np.ndarray]:
    """(upper bin edges in ms, cumulative fraction) of group ``code`` of ``fam``: its CDF
    from the histogram (bins 0.07% wide), for a plot; empty arrays when it has no values."""
    if code >= fam.groups or not fam.hist[code].any():
        return np.zeros(0), np.zeros(0)
    counts = fam.hist[code]
    bins = fam.bins
    keys = (np.arange(bins.size, dtype=np.int64) + bins.base + 1) << bins.shift  # each bin's upper edge
    upper = keys.view(np.float64) / 1e6
    used = np.flatnonzero(counts)
    lo, hi = used[0], used[-1] + 1
    return upper[lo:hi], np.cumsum(counts[lo:hi]) / counts.sum()
