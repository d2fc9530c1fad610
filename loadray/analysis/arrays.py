"""The sample table as numpy arrays: zero-copy column views, dictionary codes, and one
boolean mask per accounting class (dropped, cut, sent, completed, error, ok).

Schema 1.1 columns (``attempt``, ``user``, ``flow_id``, ``flow_ns``) that the table
lacks (a 1.0 table, or a projection without them) read as in
:func:`loadray.schema.complete`: ``attempt`` 1, the others null.

Shared by every analysis (summary, breakdowns, time series, spectra): build it once
with :func:`sample_arrays` and pass it around instead of the table.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from loadray.kinds import CHECK, CHECK_PREFIX, CUT, DROPPED, NEVER_SENT

__all__ = [
    "CLASSES",
    "COLUMNS",
    "CUT",
    "CHECK_KIND",
    "CHECK_PREFIX",
    "CUT_CLASS",
    "DROPPED_CLASS",
    "ERROR_CLASS",
    "OK_CLASS",
    "DROPPED",
    "UNNAMED_STEP",
    "SampleArrays",
    "bincount",
    "check_name",
    "error_kind",
    "flow_name",
    "row_class",
    "sample_arrays",
    "split_classes",
]

#: The sample columns the summary and the report read (all but ``trace_id``).
COLUMNS = (
    "intended_ns", "sent_ns", "latency_ns", "service_ns", "status", "error", "step", "phase", "worker",
    "bytes_in", "attempt", "user", "flow_id", "flow_ns", "error_detail",
)

UNNAMED_STEP = "(unnamed)"
#: A failed check is recorded as error ``check:<check name>``; its kind is ``check``.
CHECK_KIND = CHECK
FLOW_SEPARATOR = "/"  # a step of a multi-step flow is named FLOW/STEP


def error_kind(error: str) -> str:
    """The kind of an ``error`` value: ``check`` for every ``check:<name>``, else itself
    (so error kinds stay the engine's fixed set)."""
    return CHECK_KIND if error.startswith(CHECK_PREFIX) else error


def check_name(error: str) -> str | None:
    """The check named by an ``error`` value ``check:<name>``; None for other errors."""
    if error == CHECK_KIND:
        return UNNAMED_STEP
    if not error.startswith(CHECK_PREFIX):
        return None
    return error[len(CHECK_PREFIX) :] or UNNAMED_STEP


def flow_name(step: str) -> str:
    """The flow of a step: ``checkout`` for ``checkout/login``; a one-step flow's row
    carries the request name, which is the flow's name."""
    return step.split(FLOW_SEPARATOR, 1)[0]


# --------------------------------------------------------------------------------------
# Columns as numpy arrays


def _single(table: pa.Table, name: str) -> pa.Array:
    col = table.column(name)
    if col.num_chunks == 1:
        return col.chunk(0)
    if col.num_chunks == 0:
        return pa.array([], type=col.type)
    if pa.types.is_dictionary(col.type):
        col = pa.Table.from_arrays([col], names=[name]).unify_dictionaries().column(0)
    return pa.concat_arrays(col.chunks)


def _validity(arr: pa.Array) -> np.ndarray | None:
    """Boolean validity of ``arr`` (None when it has no nulls), from the bitmap."""
    if arr.null_count == 0:
        return None
    bitmap = arr.buffers()[0]
    bits = np.unpackbits(np.frombuffer(bitmap, dtype=np.uint8), bitorder="little")
    return bits[arr.offset : arr.offset + len(arr)].view(bool)


def _values(arr: pa.Array) -> np.ndarray:
    """Zero-copy numpy view of a primitive array's values (garbage where null)."""
    dtype = np.dtype(arr.type.to_pandas_dtype())
    if len(arr) == 0:
        return np.empty(0, dtype=dtype)
    data = np.frombuffer(arr.buffers()[1], dtype=dtype, count=arr.offset + len(arr))
    return data[arr.offset :]


def _int(arr: pa.Array, dtype: type) -> tuple[np.ndarray, np.ndarray | None]:
    """Values (unspecified where null) and a validity mask (None when no nulls)."""
    if not pa.types.is_integer(arr.type):
        arr = arr.cast(pa.from_numpy_dtype(np.dtype(dtype)))
    return _values(arr).astype(dtype, copy=False), _validity(arr)


def _codes(arr: pa.Array) -> tuple[np.ndarray, list[str]]:
    """Dictionary codes (int16/int32, -1 for null) and the distinct names they index."""
    if not pa.types.is_dictionary(arr.type):
        arr = pc.dictionary_encode(arr.cast(pa.string()))
    dictionary = arr.dictionary.to_pylist()
    codes, valid = _int(arr.indices, np.int32 if len(dictionary) >= 32767 else np.int16)
    if valid is not None:
        codes = np.where(valid, codes, -1).astype(codes.dtype, copy=False)
    names: list[str] = []
    first: dict[Any, int] = {}
    remap = np.empty(len(dictionary) + 1, dtype=codes.dtype)
    remap[-1] = -1  # code -1 (null) stays -1
    for i, value in enumerate(dictionary):
        if value is None:
            remap[i] = -1
            continue
        if value not in first:
            first[value] = len(names)
            names.append(str(value))
        remap[i] = first[value]
    if not np.array_equal(remap[:-1], np.arange(len(dictionary))):
        codes = remap[codes]  # duplicate or null dictionary entries
    return codes, names


def _kind_mask(codes: np.ndarray, names: list[str], kind: str) -> np.ndarray:
    if kind in names:
        return codes == names.index(kind)
    return np.zeros(codes.shape, dtype=bool)


@dataclass
class SampleArrays:
    """The sample table as numpy arrays plus the accounting masks (one per row).

    Value arrays are unspecified where the column is null: always combine them with
    the ``has_*`` masks.
    """

    n: int
    intended_ns: np.ndarray
    sent_ns: np.ndarray
    latency_ns: np.ndarray
    service_ns: np.ndarray
    status: np.ndarray
    error_codes: np.ndarray  # -1 = no error
    error_names: list[str]
    step_codes: np.ndarray  # -1 = null step
    step_names: list[str]
    phase: np.ndarray
    worker: np.ndarray
    dropped: np.ndarray  # never sent
    cut: np.ndarray  # sent, in flight at stop
    sent: np.ndarray  # ~dropped
    completed: np.ndarray  # sent and not cut
    error: np.ndarray  # completed with an error
    ok: np.ndarray  # completed without error
    has_latency: np.ndarray  # completed with latency_ns present
    has_service: np.ndarray  # completed with service_ns present
    has_sent_ns: np.ndarray  # sent with sent_ns present
    attempt: np.ndarray  # int8, 1 = first try
    flow_id: np.ndarray  # int64, with has_flow_id
    has_flow_id: np.ndarray
    flow_ns: np.ndarray  # int64, with has_flow_ns (the last row of each flow instance)
    has_flow_ns: np.ndarray
    user: np.ndarray  # int32, with has_user (closed model only)
    has_user: np.ndarray
    ttfb_ns: np.ndarray  # int64, with has_ttfb (completed rows that measured one; 1.3)
    has_ttfb: np.ndarray
    error_detail: pa.Array | None = None  # the 1.2 column as Arrow (None: the table lacks it)
    bytes_in: np.ndarray | None = None  # int32 body bytes received (None: the table lacks it)
    _cache: dict = field(default_factory=dict, repr=False)

    def completed_latency_ns(self, mask: np.ndarray | None = None) -> np.ndarray:
        """Latencies of completed rows (optionally also within ``mask``).

        Without ``mask``: sorted ascending, cached and shared (do not modify it).
        """
        if mask is None:
            return self._sorted("lat", self.latency_ns, self.has_latency)
        return self.latency_ns[self.has_latency & mask]

    def completed_service_ns(self, mask: np.ndarray | None = None) -> np.ndarray:
        """Service times of completed rows (optionally also within ``mask``); without
        ``mask`` sorted, cached and shared like :meth:`completed_latency_ns`."""
        if mask is None:
            return self._sorted("svc", self.service_ns, self.has_service)
        return self.service_ns[self.has_service & mask]

    def _sorted(self, key: str, values: np.ndarray, mask: np.ndarray) -> np.ndarray:
        if key not in self._cache:
            chosen = values[mask]
            chosen.sort()  # in place: one fresh array, not two
            self._cache[key] = chosen
        return self._cache[key]


def _optional(table: pa.Table, name: str, dtype: type, default: int | None) -> tuple[np.ndarray, np.ndarray]:
    """Values and validity of a 1.1 column; the column's default when the table lacks it
    (``default`` None: all null). Missing columns cost no memory (broadcast views)."""
    n = table.num_rows
    if name in table.column_names:
        values, valid = _int(_single(table, name), dtype)
        if default is not None and valid is not None:  # a 1.0 file's rows among 1.1 ones
            values, valid = np.where(valid, values, dtype(default)), None
        return values, np.broadcast_to(True, (n,)) if valid is None else valid
    fill = dtype(default if default is not None else 0)
    return np.broadcast_to(fill, (n,)), np.broadcast_to(default is not None, (n,))


def sample_arrays(table: pa.Table) -> SampleArrays:
    """Extract the columns of a sample table (schema :data:`loadray.schema.SCHEMA`;
    the 1.1 columns may be missing, see the module docstring)."""
    n = table.num_rows
    intended, _ = _int(_single(table, "intended_ns"), np.int64)
    sent_ns, sent_valid = _int(_single(table, "sent_ns"), np.int64)
    latency, lat_valid = _int(_single(table, "latency_ns"), np.int64)
    service, svc_valid = _int(_single(table, "service_ns"), np.int64)
    status, _ = _int(_single(table, "status"), np.int16)
    phase, _ = _int(_single(table, "phase"), np.int16)
    worker, _ = _int(_single(table, "worker"), np.int16)
    err_codes, err_names = _codes(_single(table, "error"))
    step_codes, step_names = _codes(_single(table, "step"))

    dropped = np.logical_or.reduce([_kind_mask(err_codes, err_names, kind) for kind in NEVER_SENT])
    cut = _kind_mask(err_codes, err_names, CUT)
    sent = ~dropped
    completed = sent & ~cut
    error = completed & (err_codes >= 0)
    ok = completed & ~error
    has_latency = completed if lat_valid is None else completed & lat_valid
    has_service = completed if svc_valid is None else completed & svc_valid
    has_sent_ns = sent if sent_valid is None else sent & sent_valid
    return SampleArrays(
        n=n,
        intended_ns=intended,
        sent_ns=sent_ns,
        latency_ns=latency,
        service_ns=service,
        status=status,
        error_codes=err_codes,
        error_names=err_names,
        step_codes=step_codes,
        step_names=step_names,
        phase=phase,
        worker=worker,
        dropped=dropped,
        cut=cut,
        sent=sent,
        completed=completed,
        error=error,
        ok=ok,
        has_latency=has_latency,
        has_service=has_service,
        has_sent_ns=has_sent_ns,
        **_later_columns(table, completed),
    )


def _later_columns(table: pa.Table, completed: np.ndarray) -> dict[str, Any]:
    """:class:`SampleArrays`' fields from the columns a table may lack (a 1.0 table, an
    older archive, a projection without them): their defaults then (module docstring)."""
    attempt, _ = _optional(table, "attempt", np.int8, 1)
    flow_id, has_flow_id = _optional(table, "flow_id", np.int64, None)
    flow_ns, has_flow_ns = _optional(table, "flow_ns", np.int64, None)
    user, has_user = _optional(table, "user", np.int32, None)
    ttfb, ttfb_valid = _optional(table, "ttfb_ns", np.int64, None)
    names = table.column_names
    return {
        "attempt": attempt, "flow_id": flow_id, "has_flow_id": has_flow_id, "flow_ns": flow_ns,
        "has_flow_ns": has_flow_ns, "user": user, "has_user": has_user, "ttfb_ns": ttfb,
        "has_ttfb": completed & ttfb_valid,
        "error_detail": _single(table, "error_detail") if "error_detail" in names else None,
        "bytes_in": _int(_single(table, "bytes_in"), np.int32)[0] if "bytes_in" in names else None,
    }


# --------------------------------------------------------------------------------------
# Counting


_CHUNK = 1 << 20


def bincount(values: np.ndarray, minlength: int = 0) -> np.ndarray:
    """np.bincount in 1M-row chunks: numpy casts small ints to intp (8 B/row) first,
    and chunking keeps that temporary small (fresh memory is what costs on small VMs)."""
    if values.size <= _CHUNK:
        return np.bincount(values, minlength=minlength)
    counts = np.zeros(max(minlength, int(values.max()) + 1), dtype=np.int64)
    for i in range(0, values.size, _CHUNK):
        part = np.bincount(values[i : i + _CHUNK])
        counts[: part.size] += part
    return counts


#: Row classes, exclusive: every row is exactly one of these (see :func:`row_class`).
DROPPED_CLASS, CUT_CLASS, ERROR_CLASS, OK_CLASS = 0, 1, 2, 3
CLASSES = 4


def split_classes(counts: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Columns ``dropped, cut, errors, ok`` of :func:`class_counts`' result."""
    return counts[:, DROPPED_CLASS], counts[:, CUT_CLASS], counts[:, ERROR_CLASS], counts[:, OK_CLASS]


def row_class(a: SampleArrays) -> np.ndarray:
    """int8 class of every row: DROPPED_CLASS, CUT_CLASS, ERROR_CLASS or OK_CLASS (cached)."""
    cls = a._cache.get("cls")
    if cls is None:
        cls = a.ok.view(np.int8) * np.int8(OK_CLASS)
        cls += a.error.view(np.int8) * np.int8(ERROR_CLASS)
        cls += a.cut.view(np.int8)
        a._cache["cls"] = cls
    return cls

