"""The per-worker sample buffer: cheap appends on the hot path, Arrow in batches.

``record`` appends plain ints/strings to lists (monotonic ns); ``flush`` turns what is
there into one :data:`loadray.schema.SCHEMA` record batch, converting times to epoch ns
with the worker's one-off anchor and deriving latency/service vectorised.
"""

from __future__ import annotations

import binascii

import numpy as np
import pyarrow as pa

from loadray.kinds import DROPPED
from loadray.schema import SCHEMA

_NONE = -1  # sent/done of a dropped request
NOT_SENT = _NONE  # the sent time of a row that never went on the wire


class SampleBuffer:
    def __init__(self, worker: int, step_names: list[str], anchor_ns: int, trace_prefix: str = "") -> None:
        self.worker = worker
        self.trace_prefix = trace_prefix
        self.anchor_ns = anchor_ns  # epoch_ns = monotonic_ns + anchor_ns
        self._steps = pa.array(step_names, pa.string())
        self._reset()

    def _reset(self) -> None:
        self._intended: list[int] = []
        self._sent: list[int] = []
        self._done: list[int] = []
        self._status: list[int] = []
        self._error: list[str | None] = []
        self._step: list[int] = []
        self._phase: list[int] = []
        self._bytes: list[int] = []
        self._trace: list[int] = []

    def __len__(self) -> int:
        return len(self._intended)

    def record(self, intended, sent, done, status, error, step, phase, nbytes, trace=0) -> None:
        self._intended.append(intended)
        self._sent.append(sent)
        self._done.append(done)
        self._status.append(status)
        self._error.append(error)
        self._step.append(step)
        self._phase.append(phase)
        self._bytes.append(nbytes)
        self._trace.append(trace)

    @staticmethod
    def arrivals(batch: pa.RecordBatch) -> int:
        """Arrivals among ``batch``'s rows: on the fast path every row is one."""
        return batch.num_rows

    def record_dropped(self, intended: int, step: int, phase: int) -> None:
        self.record(intended, _NONE, _NONE, 0, DROPPED, step, phase, 0)

    def flush(self) -> pa.RecordBatch | None:
        if not self._intended:
            return None
        n = len(self._intended)
        columns = core_columns(
            self._intended, self._sent, self._done, self._status, self._error, self._step,
            self._phase, self._bytes, self.worker, self.anchor_ns, self._steps,
        )
        extra = plain_request_columns(n)
        if self.trace_prefix:
            extra[TRACE_AT] = trace_ids(self.trace_prefix, self._trace)
        self._reset()
        return pa.RecordBatch.from_arrays(columns + extra, schema=SCHEMA)


def core_columns(intended, sent, done, status, error, step, phase, nbytes, worker, anchor_ns, steps) -> list[pa.Array]:
    """The 1.0 columns from plain lists of monotonic ns (``sent`` -1: dropped)."""
    intended = np.asarray(intended, dtype=np.int64)
    sent = np.asarray(sent, dtype=np.int64)
    done = np.asarray(done, dtype=np.int64)
    missing = sent == _NONE
    errors = pa.array(error, pa.string()).dictionary_encode()
    return [
        pa.array(intended + anchor_ns),
        pa.array(sent + anchor_ns, mask=missing),
        pa.array(done - intended, mask=missing),
        pa.array(done - sent, mask=missing),
        pa.array(status, pa.int16()),
        pa.DictionaryArray.from_arrays(errors.indices.cast(pa.int8()), errors.dictionary),
        pa.DictionaryArray.from_arrays(pa.array(step, pa.int16()), steps),
        pa.array(phase, pa.int16()),
        pa.array(np.full(len(intended), worker, dtype=np.int16)),
        pa.array(nbytes, pa.int32()),
    ]

TRACE_AT = 4  # ``trace_id`` among :func:`plain_request_columns`
_DETAIL = pa.dictionary(pa.int32(), pa.string())


def plain_request_columns(n: int) -> list[pa.Array]:
    """The 1.1 and 1.2 columns of ``n`` rows that are plain first attempts outside any
    flow, with no ``error_detail``."""
    return [
        pa.array(np.ones(n, dtype=np.int8)),
        pa.nulls(n, pa.int32()),
        pa.nulls(n, pa.int64()),
        pa.nulls(n, pa.int64()),
        pa.nulls(n, pa.string()),
        pa.nulls(n, _DETAIL),
    ]


def trace_ids(prefix: str, traces: list[int]) -> pa.Array:
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
