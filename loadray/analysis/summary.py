"""Fold the sample table of a run into the ``summary.json`` dictionary.

Accounting (DESIGN.md §2), every intended request is one row::

    intended  = rows
    dropped   = rows with error "dropped"     (never sent: in-flight cap, when_full: drop)
    sent      = intended - dropped
    cut       = rows with error "cut"         (sent, still in flight when the run stopped)
    completed = sent - cut
    errors    = completed rows with an error  (timeouts, resets, HTTP 4xx/5xx, ...)
    ok        = completed - errors

Latency and service percentiles are over *completed* rows (ok and errors): a dropped
request has no latency and a cut one has no end. All work is vectorised numpy on the
Arrow buffers (no Python loop over rows).
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, Callable, Iterable

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from loadray.schema import SCHEMA_VERSION

from .percentiles import latency_stats
from .thresholds import evaluate

if TYPE_CHECKING:
    from loadray.archive.reader import RunMeta
    from loadray.scenario.model import Threshold

__all__ = ["SampleArrays", "sample_arrays", "summarize", "DEFAULT_SEND_LAG_WARN_MS"]

DROPPED = "dropped"  # == loadray.engine.errors.DROPPED (analysis does not import engine)
CUT = "cut"  # == loadray.engine.errors.CUT
UNNAMED_STEP = "(unnamed)"

#: A send-lag p99 above this means requests left late: the generator was saturated
#: or waited for a free in-flight slot.
DEFAULT_SEND_LAG_WARN_MS = 10.0


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
    _cache: dict = field(default_factory=dict, repr=False)

    def completed_latency_ns(self, mask: np.ndarray | None = None) -> np.ndarray:
        """Latencies of completed rows (optionally also within ``mask``).

        Without ``mask`` the result is cached and shared: callers may reorder it in
        place (its multiset never changes) but must not write other values into it.
        """
        if mask is None:
            if "lat" not in self._cache:
                self._cache["lat"] = self.latency_ns[self.has_latency]
            return self._cache["lat"]
        return self.latency_ns[self.has_latency & mask]

    def completed_service_ns(self, mask: np.ndarray | None = None) -> np.ndarray:
        """Service times of completed rows (optionally also within ``mask``)."""
        if mask is None:
            if "svc" not in self._cache:
                self._cache["svc"] = self.service_ns[self.has_service]
            return self._cache["svc"]
        return self.service_ns[self.has_service & mask]


def sample_arrays(table: pa.Table) -> SampleArrays:
    """Extract the columns of a sample table (schema :data:`loadray.schema.SCHEMA`)."""
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

    dropped = _kind_mask(err_codes, err_names, DROPPED)
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
    )


# --------------------------------------------------------------------------------------
# Summary


def _count(mask: np.ndarray) -> int:
    return int(np.count_nonzero(mask))


def _iso_utc(ns: int | None) -> str | None:
    if ns is None:
        return None
    dt = datetime.fromtimestamp(ns / 1e9, tz=timezone.utc)
    return dt.isoformat(timespec="milliseconds").replace("+00:00", "Z")


_CHUNK = 1 << 20


def _bincount(values: np.ndarray, minlength: int = 0) -> np.ndarray:
    """np.bincount in 1M-row chunks: numpy casts small ints to intp (8 B/row) first,
    and chunking keeps that temporary small (fresh memory is what costs on small VMs)."""
    if values.size <= _CHUNK:
        return np.bincount(values, minlength=minlength)
    counts = np.zeros(max(minlength, int(values.max()) + 1), dtype=np.int64)
    for i in range(0, values.size, _CHUNK):
        part = np.bincount(values[i : i + _CHUNK])
        counts[: part.size] += part
    return counts


def _bincount_labels(values: np.ndarray) -> list[tuple[int, int]]:
    """(value, count) for every distinct value of a small-int array, ascending."""
    if values.size == 0:
        return []
    lo = int(values.min())
    counts = _bincount((values - lo) if lo else values)
    nz = np.flatnonzero(counts)
    return [(int(i) + lo, int(counts[i])) for i in nz]


# Row classes, exclusive: every row is exactly one of these.
_DROPPED, _CUT, _ERROR, _OK = 0, 1, 2, 3
_MASK_GROUPS_MAX = 8  # up to this many groups, select each group's rows by a mask
_PARALLEL_MIN_ROWS = 1 << 20  # below this, threads cost more than they save


class _Done:
    """A finished 'future' for the serial path."""

    def __init__(self, value: Any) -> None:
        self._value = value

    def result(self) -> Any:
        return self._value


def _now(fn: Callable, *args: Any, **kwargs: Any) -> _Done:
    return _Done(fn(*args, **kwargs))


def _row_class(a: SampleArrays) -> np.ndarray:
    cls = a._cache.get("cls")
    if cls is None:
        cls = a.ok.view(np.int8) * np.int8(_OK)
        cls += a.error.view(np.int8) * np.int8(_ERROR)
        cls += a.cut.view(np.int8)
        a._cache["cls"] = cls
    return cls


class _Groups:
    """Rows grouped by a small-int key (step code or phase): counts and latency stats.

    Counts come from one bincount of ``key * 4 + row class``. Latency stats per group
    are computed here, eagerly, from the completed rows' latencies (which must still be
    aligned with the rows, i.e. before the run-wide stats reorder them in place): by a
    mask per group when there are few groups, else by one stable radix argsort.
    """

    def __init__(self, a: SampleArrays, keys: np.ndarray, scratch: np.ndarray, pmap: Callable) -> None:
        self.lo = int(keys.min()) if keys.size else 0
        k = (keys - self.lo) if self.lo else keys
        self.size = size = int(k.max()) + 1 if k.size else 0
        dtype = np.int16 if size * 4 < np.iinfo(np.int16).max else np.int64
        combined = k.astype(dtype) * dtype(4)
        combined += _row_class(a)
        counts = _bincount(combined, minlength=size * 4).reshape(size, 4)
        del combined
        self.dropped, self.cut = counts[:, _DROPPED], counts[:, _CUT]
        self.errors, self.ok = counts[:, _ERROR], counts[:, _OK]
        self.intended = counts.sum(axis=1)
        self.sent = self.intended - self.dropped
        self.labels = [int(i) + self.lo for i in np.flatnonzero(self.intended)]
        self.latency: dict[int, dict[str, Any]] = {}
        if len(self.labels) == 1:
            self._single = True
            return
        self._single = False
        ck = k[a.has_latency]
        lat = a.completed_latency_ns()
        bounds = np.concatenate(([0], np.cumsum(_bincount(ck, minlength=size))))
        if len(self.labels) <= _MASK_GROUPS_MAX:
            for label in self.labels:  # each group into its own region of the scratch
                i = label - self.lo
                np.compress(ck == i, lat, out=scratch[bounds[i] : bounds[i + 1]])
        else:
            order = np.argsort(ck, kind="stable")  # radix sort for int16 keys
            np.take(lat, order, out=scratch[: lat.size])  # grouped by key
            del order
        parts = [scratch[bounds[lb - self.lo] : bounds[lb - self.lo + 1]] for lb in self.labels]
        # Disjoint regions of the scratch: partitioning each in place is safe.
        stats = pmap(lambda part: latency_stats(part, overwrite=True), parts)
        self.latency = dict(zip(self.labels, stats))

    def stats(self, label: int, overall: dict[str, Any]) -> dict[str, Any]:
        return dict(overall) if self._single else self.latency[label]


def _step_groups(a: SampleArrays, scratch: np.ndarray, pmap: Callable) -> _Groups:
    keys = a.step_codes + 1 if len(a.step_names) < 32766 else a.step_codes.astype(np.int32) + 1
    return _Groups(a, keys, scratch, pmap)


def _steps(a: SampleArrays, g: _Groups, overall: dict[str, Any]) -> dict[str, dict[str, Any]]:
    if a.n == 0:
        return {}
    names = [UNNAMED_STEP, *a.step_names]
    out: dict[str, dict[str, Any]] = {}
    for label in sorted(g.labels, key=lambda lb: names[lb]):  # by name: stable output
        i = label - g.lo
        out[names[label]] = {
            "count": int(g.intended[i]),
            "ok": int(g.ok[i]),
            "errors": int(g.errors[i]),
            "latency_ms": g.stats(label, overall),
        }
    return out


def _phases(a: SampleArrays, g: _Groups, overall: dict[str, Any]) -> list[dict[str, Any]]:
    if a.n == 0:
        return []
    out = []
    for label in g.labels:
        i = label - g.lo
        out.append(
            {
                "phase": label,
                "intended": int(g.intended[i]),
                "sent": int(g.sent[i]),
                "ok": int(g.ok[i]),
                "errors": int(g.errors[i]),
                "latency_ms": g.stats(label, overall),
            }
        )
    return out


def _errors_by_kind(a: SampleArrays) -> dict[str, int]:
    has = a.error_codes >= 0
    if not has.any():
        return {}
    counts = _bincount(a.error_codes[has], minlength=len(a.error_names))
    pairs = [(a.error_names[i], int(c)) for i, c in enumerate(counts) if c]
    pairs.sort(key=lambda kv: (-kv[1], kv[0]))
    return dict(pairs)


def _status(a: SampleArrays) -> dict[str, int]:
    values = a.status if a.completed.all() else a.status[a.completed]
    return {str(code): count for code, count in _bincount_labels(values)}


def summarize(
    table: pa.Table,
    meta: "RunMeta | None" = None,
    thresholds: Iterable["Threshold"] = (),
    name: str = "",
    *,
    send_lag_warn_ms: float = DEFAULT_SEND_LAG_WARN_MS,
) -> dict[str, Any]:
    """The ``summary.json`` dict of a run (see the module docstring for the accounting).

    ``meta`` gives the run start/end (from the archive); without it the start is the
    first intended send and the end the last one.
    """
    a = sample_arrays(table)

    intended = a.n
    dropped = _count(a.dropped)
    sent = intended - dropped
    cut = _count(a.cut)
    completed = sent - cut
    errors = _count(a.error)
    ok = completed - errors
    error_rate = errors / completed if completed else 0.0

    start_ns = getattr(meta, "start_ns", None)
    end_ns = getattr(meta, "end_ns", None)
    if start_ns is None and intended:
        start_ns = int(a.intended_ns.min())
    if end_ns is None and intended:
        end_ns_est: int | None = int(a.intended_ns.max())
    else:
        end_ns_est = end_ns
    if start_ns is not None and end_ns_est is not None:
        duration_s = max(0.0, (end_ns_est - start_ns) / 1e9)
    else:
        duration_s = 0.0
    rate = sent / duration_s if duration_s > 0 else 0.0
    intended_rate = intended / duration_s if duration_s > 0 else 0.0

    # Percentiles partition in place (no copy) and numpy releases the GIL while it
    # partitions, so independent statistics run on two threads for large tables.
    # One scratch buffer (8 B/row) serves every per-group copy and then the send lag:
    # fresh memory is what costs most on small VMs.
    pool = ThreadPoolExecutor(2) if a.n >= _PARALLEL_MIN_ROWS else None
    try:
        pmap: Callable = pool.map if pool is not None else map  # type: ignore[assignment]
        spawn = pool.submit if pool is not None else _now
        service_f = spawn(latency_stats, a.completed_service_ns(), overwrite=True)
        scratch = np.empty(max(sent, 1), dtype=np.int64)
        step_groups = _step_groups(a, scratch, pmap)
        phase_groups = _Groups(a, a.phase, scratch, pmap)
        # Groups are done with the row alignment: the cached latencies may now be
        # reordered in place (every later use is order-free).
        latency_f = spawn(latency_stats, a.completed_latency_ns(), overwrite=True)
        if a.has_sent_ns.all():
            lag = np.subtract(a.sent_ns, a.intended_ns, out=scratch[: a.n])
        else:
            lag = np.compress(a.has_sent_ns, a.sent_ns, out=scratch[: int(np.count_nonzero(a.has_sent_ns))])
            lag -= a.intended_ns[a.has_sent_ns]
        send_lag_ms = latency_stats(lag, overwrite=True)
        latency_ms = latency_f.result()
        service_ms = service_f.result()
        del lag, scratch
    finally:
        if pool is not None:
            pool.shutdown(wait=True)

    summary: dict[str, Any] = {
        "name": name,
        "schema_version": getattr(meta, "schema_version", None) or SCHEMA_VERSION,
        "started_at": _iso_utc(start_ns),
        "duration_s": round(duration_s, 6),
        "intended": intended,
        "sent": sent,
        "dropped": dropped,
        "cut": cut,
        "completed": completed,
        "ok": ok,
        "errors": errors,
        "error_rate": error_rate,
        "rate": round(rate, 3),
        "intended_rate": round(intended_rate, 3),
        "latency_ms": latency_ms,
        "service_ms": service_ms,
        "send_lag_ms": send_lag_ms,
        "errors_by_kind": _errors_by_kind(a),
        "status": _status(a),
        "steps": _steps(a, step_groups, latency_ms),
        "phases": _phases(a, phase_groups, latency_ms),
        "workers": int(pc.count_distinct(table.column("worker")).as_py()) if intended else 0,
    }

    results = evaluate(
        thresholds,
        {"latency_ns": a.completed_latency_ns(), "service_ns": a.completed_service_ns()},
        summary,
    )
    summary["thresholds"] = results
    summary["passed"] = all(r["passed"] for r in results)

    warnings: list[str] = []
    if dropped:
        warnings.append(
            f"{dropped} requests were dropped because the in-flight cap was reached: "
            "results under-state the load the target could not take"
        )
    if cut:
        warnings.append(
            f"{cut} requests were still in flight when the run stopped: "
            "they have no latency and are not in the percentiles"
        )
    lag_p99 = send_lag_ms.get("p99")
    if lag_p99 is not None and lag_p99 > send_lag_warn_ms:
        warnings.append(
            f"send lag p99 was {lag_p99:g} ms (> {send_lag_warn_ms:g} ms): requests left late "
            "(generator saturated, or waiting for a free in-flight slot); latency counts from "
            "the intended send time, so it includes that delay"
        )
    if meta is not None and getattr(meta, "end_ns", None) is None and intended:
        warnings.append(
            "the run's end time was not recorded (interrupted run?): "
            "duration is estimated from the last intended send"
        )
    for rel in getattr(meta, "skipped", ()) or ():
        warnings.append(f"{rel}: unreadable (interrupted run?), its rows are missing")
    summary["warnings"] = warnings
    return summary
