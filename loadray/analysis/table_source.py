"""An in-memory table as a source of batches for the streaming analysis (:mod:`.stream`),
and the first and last intended send of any source."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from .arrays import SampleArrays

if TYPE_CHECKING:
    import numpy as np

    from .stream import Source

__all__ = ["TableSource", "first_and_last"]


class TableSource:
    """An in-memory table (or its :class:`SampleArrays`) as a source of one batch per
    ``batch_rows`` rows."""

    def __init__(self, data: pa.Table | SampleArrays, batch_rows: int = 1 << 20) -> None:
        self.data = data
        self.rows = data.n if isinstance(data, SampleArrays) else data.num_rows
        self.batch_rows = batch_rows
        self._count = 1 if isinstance(data, SampleArrays) else max(1, math.ceil(self.rows / batch_rows))

    def __len__(self) -> int:
        return self._count

    def in_time(self, columns: Sequence[str], prepare: Callable[[Any], Any] | None = None,
                stop: int | None = None) -> Iterator[tuple[Any, int | None]]:
        """The batches with no frontier (an in-memory table's rows are all held)."""
        return ((item, None) for item in self.batches(columns, stop, prepare))

    def batches(self, columns: Sequence[str], stop: int | None = None,
                prepare: Callable[[Any], Any] | None = None) -> Iterator[Any]:
        done = prepare or (lambda item: item)
        if isinstance(self.data, SampleArrays):
            yield from ([done(self.data)] if stop is None or stop > 0 else [])
            return
        for k in range(self._count if stop is None else min(stop, self._count)):
            yield done(self.data.slice(k * self.batch_rows, self.batch_rows))

    def _column(self, name: str) -> np.ndarray | None:
        if isinstance(self.data, SampleArrays):
            a = self.data
            return {"intended_ns": a.intended_ns, "sent_ns": a.sent_ns[a.has_sent_ns]}.get(name)
        if name not in self.data.column_names:
            return None
        return self.data.column(name).drop_null().to_numpy()

    def value_range(self, name: str) -> tuple[int, int] | None:
        values = self._column(name)
        return None if values is None or values.size == 0 else (int(values.min()), int(values.max()))

    def all_null(self, name: str) -> bool:
        return not isinstance(self.data, SampleArrays) and (
            name not in self.data.column_names or self.data.column(name).null_count == self.rows)


def first_and_last(source: Source) -> tuple[int, int] | None:
    """The first and last intended send of a source: from its statistics, else a pass
    over that one column (None: no rows)."""
    found = source.value_range("intended_ns")
    if found is not None or not source.rows:
        return found
    lo = hi = None
    for item in source.batches(["intended_ns"]):
        values = item.column("intended_ns").to_numpy() if isinstance(item, pa.Table) else item.intended_ns
        if values.size:
            lo = int(values.min()) if lo is None else min(lo, int(values.min()))
            hi = int(values.max()) if hi is None else max(hi, int(values.max()))
    return None if lo is None or hi is None else (lo, hi)
