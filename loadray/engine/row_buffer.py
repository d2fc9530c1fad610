"""The one sample buffer of a worker: a row is one tuple appended on the hot path, the
rows become one :data:`loadray.schema.SCHEMA` record batch per flush.

A row holds the raw values its columns come from (:data:`ROW`), in this order:

======================  =================================================================
raw field               becomes the column
======================  =================================================================
``intended``            ``intended_ns`` (monotonic ns; + the worker's anchor: epoch ns)
``sent``                ``sent_ns`` (:data:`NOT_SENT`: null, and so are the durations)
``done``                ``latency_ns`` = done - intended, ``service_ns`` = done - sent
``status``, ``phase``,  the columns of the same name
``bytes_in``, ...
``error``               ``error`` (a kind or ``check:<name>``; None on success)
``step``                ``step``: an index into the buffer's step names
``trace``               ``trace_id``: the worker's prefix + 16 hex digits (0: null)
======================  =================================================================

``worker`` is the buffer's own. The fast path appends the first nine fields and
``ttfb``, ``chunks`` (:data:`FAST_ROW`): its rows are first attempts outside any flow,
the other columns take their defaults (``attempt`` 1, the rest null). The flow path
appends every field (:data:`FLOW_ROW`); ``flow_ns`` is last so a flow's last row gets
it with :func:`with_flow_ns`.
"""

from __future__ import annotations

import binascii
from collections.abc import Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from loadray.kinds import DROPPED
from loadray.schema import SCHEMA

__all__ = ["BASE_ROW", "FAST_ROW", "FLOW_ROW", "NOT_SENT", "ROW", "RowBuffer", "trace_ids", "with_flow_ns"]

NOT_SENT = -1  # the sent (and done) time of a row that never went on the wire

#: raw field -> the SCHEMA column whose type it ends in (a dictionary column: its value
#: type; ``step``: its index type, the value is an index into the step names). Rows
#: convert as int64 (Arrow's conversion is quickest without range checks per value)
#: and are cast to the narrower types a column at a time.
_COLUMN = {
    "intended": "intended_ns", "sent": "sent_ns", "done": "latency_ns", "status": "status", "error": "error",
    "step": "step", "phase": "phase", "bytes_in": "bytes_in", "trace": None, "attempt": "attempt",
    "user": "user", "flow_id": "flow_id", "error_detail": "error_detail",
    "ttfb": "ttfb_ns", "chunks": "chunks", "flow_ns": "flow_ns",
}
ROW = tuple(_COLUMN)
BASE_ROW = ROW[:9]  # what every row holds; a dropped row is these and the defaults
FAST_ROW = (*BASE_ROW, "ttfb", "chunks")
FLOW_ROW = ROW
DONE = ROW.index("done")  # positions the flow runner reads
_DEFAULTS = {"attempt": 1}  # a column no row field fills: this value, else null


def _final_type(field: str) -> pa.DataType:
    column = _COLUMN[field]
    if column is None:
        return pa.uint64()
    kind = SCHEMA.field(column).type
    if not pa.types.is_dictionary(kind):
        return kind
    return kind.index_type if field == "step" else kind.value_type


def _raw_type(field: str) -> pa.DataType:
    kind = _final_type(field)
    return pa.int64() if pa.types.is_signed_integer(kind) else kind


def with_flow_ns(row: tuple, flow_ns: int) -> tuple:
    """``row`` (a :data:`FLOW_ROW`) as a flow instance's last row, carrying ``flow_ns``."""
    return (*row[:-1], flow_ns)


class RowBuffer:
    """Rows of one worker. ``add`` is the bound ``append`` of the row list (the hot path
    calls it directly); ``first_step[f]`` is the step of flow ``f``'s first request
    (on the fast path request ``f`` is its own first step)."""

    def __init__(
        self, worker: int, step_names: Sequence[str], anchor_ns: int, fields: tuple[str, ...] = FLOW_ROW,
        first_step: Sequence[int] | None = None, trace_prefix: str = "",
    ) -> None:
        if fields[: len(BASE_ROW)] != BASE_ROW or [f for f in ROW if f in fields] != list(fields):
            raise ValueError(f"a row holds the fields {BASE_ROW}, then some of the others in the order of {ROW}")
        self.worker = worker
        self.anchor_ns = anchor_ns  # epoch_ns = monotonic_ns + anchor_ns
        self.fields = fields
        self.first_step = list(range(len(step_names)) if first_step is None else first_step)
        self.trace_prefix = trace_prefix
        self.step_names = list(step_names)
        self._steps = pa.array(step_names, pa.string())
        self._struct = pa.struct([(name, _raw_type(name)) for name in fields])
        self._narrow = [name for name in fields if _raw_type(name) != _final_type(name)]
        self._pad = tuple(_DEFAULTS.get(name) for name in fields[len(BASE_ROW):])
        self._first = pa.array(sorted(set(self.first_step)), pa.int16())
        self._rows: list[tuple] = []
        self.add = self._rows.append

    def __len__(self) -> int:
        return len(self._rows)

    def record_dropped(self, intended: int, flow: int, phase: int) -> None:
        """An arrival that never started (the in-flight cap): its first step's row."""
        self.add((intended, NOT_SENT, NOT_SENT, 0, DROPPED, self.first_step[flow], phase, 0, 0, *self._pad))

    def arrivals(self, batch: pa.RecordBatch) -> int:
        """Arrivals among ``batch``'s rows: first attempts of a flow's first step (one per
        flow instance begun, or dropped at the in-flight cap); on the fast path every row."""
        if "attempt" not in self.fields:
            return batch.num_rows
        first = pc.is_in(batch.column("step").indices, self._first)
        return int(pc.sum(pc.and_(first, pc.equal(batch.column("attempt"), 1))).as_py() or 0)

    def flush(self) -> pa.RecordBatch | None:
        """The rows so far as one record batch (None when there are none); the buffer
        is empty afterwards."""
        if not self._rows:
            return None
        # the tuples become columns in one conversion (Arrow's, by position), not per value
        raw = dict(zip(self.fields, pa.array(self._rows, self._struct).flatten()))
        self._rows.clear()
        for name in self._narrow:
            raw[name] = raw[name].cast(_final_type(name))
        columns = self._times(raw)
        error = raw["error"].dictionary_encode()
        columns["error"] = pa.DictionaryArray.from_arrays(error.indices.cast(pa.int8()), error.dictionary)
        columns["step"] = pa.DictionaryArray.from_arrays(raw["step"], self._steps)
        columns["worker"] = pa.array(np.full(len(raw["step"]), self.worker, dtype=np.int16))
        if self.trace_prefix:
            columns["trace_id"] = trace_ids(self.trace_prefix, raw["trace"])
        if "error_detail" in raw:
            columns["error_detail"] = raw["error_detail"].dictionary_encode()
        n = len(raw["step"])
        by_column = {_COLUMN[name]: array for name, array in raw.items()}
        arrays = [columns.get(f.name, by_column.get(f.name)) for f in SCHEMA]
        arrays = [a if a is not None else _default(f, n) for a, f in zip(arrays, SCHEMA)]
        return pa.RecordBatch.from_arrays(arrays, schema=SCHEMA)

    def _times(self, raw: dict[str, pa.Array]) -> dict[str, pa.Array]:
        """Epoch times and durations from the monotonic ones (``sent`` NOT_SENT: null)."""
        intended = np.asarray(raw["intended"])
        sent = np.asarray(raw["sent"])
        done = np.asarray(raw["done"])
        missing = sent == NOT_SENT
        return {
            "intended_ns": pa.array(intended + self.anchor_ns),
            "sent_ns": pa.array(sent + self.anchor_ns, mask=missing),
            "latency_ns": pa.array(done - intended, mask=missing),
            "service_ns": pa.array(done - sent, mask=missing),
        }


def _default(field: pa.Field, n: int) -> pa.Array:
    if field.name in _DEFAULTS:
        return pa.array(np.full(n, _DEFAULTS[field.name], dtype=field.type.to_pandas_dtype()))
    return pa.nulls(n, field.type)


def trace_ids(prefix: str, traces: pa.Array | Sequence[int]) -> pa.Array:
    """``prefix`` + 16 hex digits of each trace number (0: null), built vectorised: one
    32-byte string per row written straight into an Arrow string buffer."""
    numbers = np.asarray(traces, dtype=np.uint64)
    n = len(numbers)
    hex_digits = np.frombuffer(binascii.hexlify(numbers.astype(">u8").tobytes()), dtype=np.uint8)
    data = np.empty((n, 32), dtype=np.uint8)
    data[:, :16] = np.frombuffer(prefix.encode("ascii"), dtype=np.uint8)
    data[:, 16:] = hex_digits.reshape(n, 16)
    offsets = np.arange(0, 32 * n + 1, 32, dtype=np.int32)
    valid = numbers != 0
    bitmap = None if valid.all() else pa.py_buffer(np.packbits(valid, bitorder="little"))
    return pa.StringArray.from_buffers(n, pa.py_buffer(offsets), pa.py_buffer(data), bitmap)
