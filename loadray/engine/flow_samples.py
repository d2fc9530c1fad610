"""The sample buffer of the flow path: one row per step attempt, every 1.2 column.

Rows are appended as plain values (monotonic ns) and turned into one
:data:`loadray.schema.SCHEMA` record batch per flush, like
:class:`~loadray.engine.samples.SampleBuffer` does for the fast path.
"""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc

from loadray.kinds import DROPPED
from loadray.engine.samples import _NONE, core_columns
from loadray.schema import SCHEMA

_NAMES = (
    "intended", "sent", "done", "status", "error", "step", "phase", "bytes_in",
    "attempt", "user", "flow_id", "flow_ns", "trace_id", "error_detail",
)
_TYPES = (
    pa.int64(), pa.int64(), pa.int64(), pa.int16(), pa.string(), pa.int16(), pa.int16(), pa.int32(),
    pa.int8(), pa.int32(), pa.int64(), pa.int64(), pa.string(), pa.string(),
)
_ROW = pa.struct(list(zip(_NAMES, _TYPES)))  # a row tuple, by position


class FlowBuffer:
    """``step`` values index ``step_names``; ``first_step[f]`` is flow ``f``'s first step."""

    def __init__(self, worker: int, step_names: list[str], first_step: list[int], anchor_ns: int) -> None:
        self.worker = worker
        self.anchor_ns = anchor_ns  # epoch_ns = monotonic_ns + anchor_ns
        self.first_step = first_step
        self._steps = pa.array(step_names, pa.string())
        self._reset()

    def _reset(self) -> None:
        self._rows: list[tuple] = []

    def __len__(self) -> int:
        return len(self._rows)

    def add(self, row: tuple) -> None:
        """One row as a tuple in :data:`_NAMES` order (one append; transposed at flush)."""
        self._rows.append(row)

    def arrivals(self, batch: pa.RecordBatch) -> int:
        """Arrivals among ``batch``'s rows: first attempts of a flow's first step (one per
        flow instance begun, or dropped at the in-flight cap)."""
        first = pc.is_in(batch.column("step").indices, pa.array(sorted(set(self.first_step)), pa.int16()))
        return int(pc.sum(pc.and_(first, pc.equal(batch.column("attempt"), 1))).as_py() or 0)

    def record_dropped(self, intended: int, flow: int, phase: int, user=None) -> None:
        """A flow instance that never started (the in-flight cap): its first step's row."""
        self._rows.append(
            (intended, _NONE, _NONE, 0, DROPPED, self.first_step[flow], phase, 0, 1, user, None, None, None, None)
        )

    def flush(self) -> pa.RecordBatch | None:
        if not self._rows:
            return None
        # the tuples become columns in one conversion (Arrow's, by position), not per value
        (intended, sent, done, status, error, step, phase, nbytes,
         attempt, user, flow_id, flow_ns, trace_id, detail) = pa.array(self._rows, _ROW).flatten()
        self._reset()
        columns = core_columns(
            intended, sent, done, status, error, step, phase, nbytes, self.worker, self.anchor_ns, self._steps
        )
        columns += [attempt, user, flow_id, flow_ns, trace_id, detail.dictionary_encode()]
        return pa.RecordBatch.from_arrays(columns, schema=SCHEMA)
