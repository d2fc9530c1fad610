"""The streaming analysis: folds fed batch by batch, then exact ranks, in bounded memory.

A *source* yields a run's rows as re-iterable batches (``batches(columns, stop)``, the
same batches in the same order every time): :class:`TableSource` over an in-memory
table, or the archive's :class:`loadray.archive.source.SampleSource` over the Parquet
parts (local or on an object store). :class:`Stream` makes one pass over it, handing
each batch to every *fold* (counters and :class:`~.ranks.Ranked` families declared by
the folds); then the folds say which ranks they need, and the cells the families did
not keep are read in a second pass over only the columns (and the leading batches)
they need, in rounds of at most ``collect_cap`` values.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any, Protocol, cast

import numpy as np
import pyarrow as pa

from loadray.schema import SCHEMA

from .arrays import SampleArrays, row_class, sample_arrays
from .batch import Batch, Registry
from .bins import LogBins
from .groupings import METRICS, RANGE_COLUMN, Grouping
from .rank_view import View
from .ranks import DEFAULT_WARMUP_ROWS, Ranked
from .side import SideThread, on_side
from .table_source import TableSource, first_and_last

__all__ = ["BASE_COLUMNS", "DEFAULT_COLLECT_CAP", "Fold", "Source", "Stream", "TableSource", "bits_for", "first_and_last"]

#: Columns :func:`~.arrays.sample_arrays` needs; the others are read only when a fold needs them.
BASE_COLUMNS = ("intended_ns", "sent_ns", "latency_ns", "service_ns", "status", "error", "step", "phase", "worker")
#: Values a second pass keeps at most at once (8 B each): more cells take more rounds.
DEFAULT_COLLECT_CAP = 1 << 25
#: Rows at most between two re-aimings of the stores (between them, the kept cells' values
#: pile up: every 64M rows, a billion-row pass holds a 64M-row stretch of them at most).
REFRESH_EVERY_MAX = 1 << 26
_CELLS = 1 << 22  # histogram cells a family aims at (bins per group x groups)
_OCTAVES = 32
#: Finest bins (log2 per octave, a bin 0.006% wide). The store keeps the values of the
#: cells around each tracked quantile: past a few million rows those windows are one or
#: two bins wide, so the store holds a share of the rows proportional to a bin's width.
_MAX_BITS = 14


def bits_for(groups: int, octaves: float = _OCTAVES) -> int:
    """Bins per octave (log2) for a family of ``groups`` groups over ``octaves`` octaves
    of values: about 4M cells, 2**4 to 2**14 bins per octave."""
    return int(min(_MAX_BITS, max(4, math.floor(math.log2(_CELLS / (max(groups, 1) * max(octaves, 1.0)))))))


class Source(Protocol):
    rows: int

    def __len__(self) -> int: ...
    def batches(self, columns: Sequence[str], stop: int | None = None,
                prepare: Callable[[Any], Any] | None = None) -> Iterator[Any]: ...
    def in_time(self, columns: Sequence[str], prepare: Callable[[Any], Any] | None = None,
                stop: int | None = None) -> Iterator[tuple[Any, int | None]]: ...
    def value_range(self, name: str) -> tuple[int, int] | None: ...
    def all_null(self, name: str) -> bool: ...


class Fold(Protocol):
    """A consumer of the pass: ``columns`` it reads beyond :data:`BASE_COLUMNS`;
    ``declare`` its families before the pass, ``add`` each batch, ``require`` the ranks
    it will read once the pass is over. A fold with ``side`` true is fed on the side
    thread (:mod:`.side`): it reads nothing shared but the batch, and ``warm(b)`` computes
    on the main thread the batch's keys it will read (a fold's ``warm``, if it has one,
    is called before its ``add`` wherever that runs)."""

    columns: frozenset[str]

    def declare(self, stream: Stream) -> None: ...
    def add(self, b: Batch) -> None: ...
    def require(self, stream: Stream) -> None: ...


class LaterFold(Fold, Protocol):
    """A fold with ranks it can name only once others are read (a histogram's edges
    need the minimum and the maximum): ``ready`` says whether they are at hand now."""

    def ready(self, stream: Stream) -> bool: ...
    def require_more(self, stream: Stream) -> None: ...


class SweepFold(Fold, Protocol):
    """A fold that also sweeps the rows in time order (``sweeps`` true): ``sweep(b,
    frontier)`` per batch, then ``sweep(None, None)`` at the end."""

    sweeps: bool
    sweep_columns: frozenset[str]

    def sweep(self, b: Batch | None, frontier: int | None) -> None: ...


def _side_batch(folds: Sequence[SideFold], sweeping: Sequence[SweepFold], b: Batch, frontier: int | None) -> None:
    for side_fold in folds:
        side_fold.add(b)
    for sweeper in sweeping:
        sweeper.sweep(b, frontier)


class SideFold(Fold, Protocol):
    """A fold fed on the side thread (``side`` true): ``warm(b)`` codes on the main
    thread the keys of batch ``b`` its ``add`` reads (:mod:`.side`)."""

    side: bool

    def warm(self, b: Batch) -> None: ...


def _later(folds: Sequence[Fold]) -> list[LaterFold]:
    return [cast(LaterFold, f) for f in folds if hasattr(f, "require_more")]


def _sweeping(folds: Sequence[Fold]) -> list[SweepFold]:
    return [cast(SweepFold, f) for f in folds if getattr(f, "sweeps", False)]


def arrays_of(item: pa.Table | SampleArrays) -> SampleArrays:
    """A batch as arrays; base columns it was read without read as nulls."""
    if isinstance(item, SampleArrays):
        return item
    missing = [c for c in BASE_COLUMNS if c not in item.column_names]
    for name in missing:
        item = item.append_column(SCHEMA.field(name), pa.nulls(item.num_rows, SCHEMA.field(name).type))
    return sample_arrays(item)


class Stream:
    """One analysis of one source (see the module docstring)."""

    def __init__(self, source: Source, *, warmup_rows: int = DEFAULT_WARMUP_ROWS,
                 collect_cap: int = DEFAULT_COLLECT_CAP) -> None:
        self.source, self.warmup_rows, self.collect_cap = source, warmup_rows, collect_cap
        self.registry = Registry()
        self.in_time = False  # the passes go in time order (a fold sweeps)
        self.families: dict[tuple[str, str], tuple[Ranked, Grouping]] = {}
        self.views: dict[tuple[str, str], View] = {}  # (metric, grouping name) -> where it is read
        self.passes = 0

    def _bins_for(self, metric: str, bits: int | None, groups: int) -> tuple[LogBins, int | None]:
        """The bins of ``metric`` over its column's range (``bits`` per octave, else as
        many as :func:`bits_for` gives ``groups`` groups over that range), and a bound of
        its values (None: unknown)."""
        column = RANGE_COLUMN[metric]
        window = self.source.value_range(column)
        bound = None if window is None or metric == "lag" else max(abs(window[0]), abs(window[1]))
        if window is not None and metric == "lag":  # sent - intended <= done - intended (mostly)
            window = (1, window[1])
        if bits is None:
            lo, hi = (max(1, window[0]), max(1, window[1])) if window else (1, 1 << _OCTAVES)
            bits = bits_for(groups, math.log2(hi / lo) + 1)
        return LogBins(bits, *(window or (None, None))), bound

    def family(self, metric: str, grouping: Grouping, track: Iterable[float] = (), sums: bool = False,
               bits: int | None = None) -> View:
        """The values of ``metric`` by ``grouping`` (one family shared by every fold that
        asks, or the view of a joint family declared first: :meth:`joint`)."""
        key = (metric, grouping.name)
        if key not in self.views:
            bins, bound = self._bins_for(metric, bits, grouping.size_hint)
            fam = Ranked(bins, track, sums=sums, bound=bound)
            self.families[key] = (fam, grouping)
            self.views[key] = fam.view()
        view = self.views[key]
        view.fam.track_also(track, view.name)  # a second fold may track more quantiles of this view
        if sums and view.fam.sums is None:
            view.fam.sums = np.zeros(view.fam.groups, object)
        return view

    def joint(self, metric: str, grouping: Grouping, views: dict[Grouping, Callable[[np.ndarray], np.ndarray]],
              track: Iterable[float] = (), sums: bool = False, bits: int | None = None) -> dict[str, View]:
        """One family of ``metric`` by ``grouping`` read through ``views`` (grouping ->
        map from its keys): one histogram update per row serves them all."""
        fresh = {g: lut for g, lut in views.items() if (metric, g.name) not in self.views}
        bins, bound = self._bins_for(metric, bits, grouping.size_hint)
        fam = Ranked(bins, track, sums=sums, views={g.name: lut for g, lut in fresh.items()}, bound=bound)
        self.families[(metric, grouping.name)] = (fam, grouping)
        for g in fresh:
            self.views[(metric, g.name)] = fam.view(g.name)
        return {g.name: self.family(metric, g, track, sums) for g in views}

    def run(self, folds: Sequence[Fold]) -> None:
        """Both passes; afterwards every fold's required ranks can be read.

        The passes go in the source's stratified order, or in time order when a fold
        sweeps the rows in time (the time series' percentiles: :mod:`.sweep`)."""
        for fold in folds:
            fold.declare(self)
        self.in_time = bool(_sweeping(folds))
        self._first_pass(folds)
        for fold in folds:
            fold.require(self)
        later = _later(folds)
        for fold in [f for f in later if f.ready(self)]:  # a histogram's edges: the min and max are at hand
            fold.require_more(self)
            later.remove(fold)
        self.resolve()
        for fold in later:
            fold.require_more(self)
        if later:
            self.resolve()

    def _columns(self, wanted: Iterable[str], base: bool = True) -> list[str]:
        """The columns to read: ``wanted`` (and :data:`BASE_COLUMNS` with ``base``),
        those no row has a value in left out."""
        names = (set(BASE_COLUMNS) if base else set()) | set(wanted)
        return [c for c in SCHEMA.names if c in names and not (c not in BASE_COLUMNS and self.source.all_null(c))]

    def _prepare(self, families: Sequence[Ranked], item: Any) -> tuple[SampleArrays, dict, dict]:
        """What a batch's rows give before any code is translated: its arrays, row
        classes, each metric's rows and values, and their bins (on the reading thread:
        nothing here touches the pass's state)."""
        a = arrays_of(item)
        row_class(a)
        metrics: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        bins: dict[tuple, np.ndarray] = {}
        for key, (fam, _) in self.families.items():
            if fam not in families:
                continue
            if key[0] not in metrics:
                metrics[key[0]] = METRICS[key[0]][1](a)
            shared = (key[0], fam.bins.bits, fam.bins.base, fam.bins.size)
            if shared not in bins:
                bins[shared] = fam.bins.of(metrics[key[0]][1])
        return a, metrics, bins

    def _batches(self, columns: list[str], families: Sequence[Ranked],
                 stop: int | None = None) -> Iterator[tuple[Batch, int | None]]:
        """The batches (in the pass's order, the first ``stop``) with their frontier
        (:meth:`loadray.archive.source.SampleSource.in_time`; None in stratified order)."""
        prepare = functools.partial(self._prepare, families)
        if self.in_time:
            items = self.source.in_time(columns, prepare, stop)
        else:
            items = ((item, None) for item in self.source.batches(columns, stop, prepare))
        for k, ((a, metrics, bins), frontier) in enumerate(items):
            if stop is not None and k >= stop:
                return
            b = Batch(a, k, self.registry)
            b.__dict__.update(_metrics=metrics, _bins=bins)
            yield b, frontier

    def _first_pass(self, folds: Sequence[Fold]) -> None:
        wanted = set().union(*(f.columns for f in folds)) if folds else set()
        wanted |= {c for (m, _), (_, g) in self.families.items() for c in METRICS[m][0] | g.columns}
        sweeping = _sweeping(folds)
        wanted |= set().union(*(f.sweep_columns for f in sweeping))
        mine, theirs = on_side(folds)
        side = SideThread()
        try:
            self._fold_all(self._columns(wanted), mine, theirs, sweeping, side)
            side.finish()
        finally:
            side.close()
        for fold in sweeping:
            fold.sweep(None, None)
        self.passes = 1

    def _fold_all(self, columns: list[str], mine: Sequence[Fold], theirs: Sequence[SideFold],
                  sweeping: Sequence[SweepFold], side: SideThread) -> None:
        """Every batch to every family and fold (``theirs`` on the side thread)."""
        rows, refresh_at = 0, self.warmup_rows
        families = [fam for fam, _ in self.families.values()]
        groups = 0
        side_sweeps = [f for f in sweeping if f in theirs]
        main_sweeps = [f for f in sweeping if f not in theirs]
        warming = [f for f in [*theirs, *mine] if hasattr(f, "warm")]
        for b, frontier in self._batches(columns, families):
            for fold in warming:  # registry codes, on this thread (also a main fold's: its add may count on them)
                fold.warm(b)
            if theirs:
                side.submit(functools.partial(_side_batch, theirs, side_sweeps, b, frontier))
            for (metric, _), (fam, grouping) in self.families.items():
                keys, values = self.extract(metric, grouping, b)
                fam.add(keys, values, self._bins(metric, fam, b, values))
            for fold in mine:
                fold.add(b)
            for sweeper in main_sweeps:
                sweeper.sweep(b, frontier)
            rows += b.n
            refresh_at = self._next_refresh(rows, refresh_at, groups, families)
            groups = sum(fam.groups for fam in families)
            if rows >= refresh_at:
                for fam in families:
                    fam.refresh()
                refresh_at = rows + min(rows, REFRESH_EVERY_MAX)

    def _next_refresh(self, rows: int, refresh_at: int, groups: int, families: Sequence[Ranked]) -> int:
        """When to re-aim the stores next: as the rows double (every REFRESH_EVERY_MAX rows
        at most), and ``warmup_rows`` rows after a group first seen since the warm-up (a
        phase that starts late in a pass in time order: its cells are all kept until its
        quantiles are aimed at)."""
        if rows > self.warmup_rows and sum(fam.groups for fam in families) > groups:
            return min(refresh_at, rows + self.warmup_rows)
        return refresh_at

    @staticmethod
    def extract(metric: str, grouping: Grouping, b: Batch) -> tuple[np.ndarray | None, np.ndarray]:
        """The keys and values ``metric`` by ``grouping`` takes from batch ``b``."""
        cache = b.__dict__.setdefault("_metrics", {})
        if metric not in cache:
            cache[metric] = METRICS[metric][1](b.a)
        rows, values = cache[metric]
        keys = grouping.keys(b)
        return (None if keys is None else keys[rows]), values

    @staticmethod
    def _bins(metric: str, fam: Ranked, b: Batch, values: np.ndarray) -> np.ndarray:
        """The bins of a batch's values, shared by the families of a metric on the same bins."""
        cache = b.__dict__.setdefault("_bins", {})
        key = (metric, fam.bins.bits, fam.bins.base, fam.bins.size)
        if key not in cache:
            cache[key] = fam.bins.of(values)
        return cache[key]

    def _rounds(self) -> list[list[tuple[tuple[str, str], str, dict[int, int]]]]:
        """The pending cells, as (family, view, cells), in rounds of at most
        ``collect_cap`` values each."""
        rounds: list[list] = [[]]
        held = 0
        for key, (fam, _) in self.families.items():
            for name, view in fam.views.items():
                part: dict[int, int] = {}
                for cell, stop in sorted(view.pending().items()):
                    count = view.cell_count(cell)
                    if held + count > self.collect_cap and held:
                        if part:
                            rounds[-1].append((key, name, part))
                        rounds.append([])
                        part, held = {}, 0
                    part[cell] = stop
                    held += count
                if part:
                    rounds[-1].append((key, name, part))
        return [r for r in rounds if r]

    def resolve(self) -> None:
        """Read the cells the views still lack (see the module docstring)."""
        for round_ in self._rounds():
            # batches of the pass's own order (the time order may cut more of them than the
            # stratified one: no cap by len(source)); a cell never kept reads them all
            stop = max(s for _, _, cells in round_ for s in cells.values())
            wanted = set().union(*(METRICS[key[0]][0] | self.families[key][1].columns for key, _, _ in round_))
            families = [self.families[key][0] for key, _, _ in round_]
            for b, _ in self._batches(self._columns(wanted, False), families, stop):
                for key, name, cells in round_:
                    fam, grouping = self.families[key]
                    keys, values = self.extract(key[0], grouping, b)
                    fam.view(name).collect(keys, values, self._bins(key[0], fam, b, values), b.index, cells)
            for key, name, cells in round_:
                self.families[key][0].view(name).collected(cells)
            self.passes += 1
