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

from dataclasses import dataclass
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, Iterable

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


def _int(arr: pa.Array, dtype: type) -> tuple[np.ndarray, np.ndarray | None]:
    """Values (nulls as 0) and a validity mask (None when there are no nulls)."""
    if arr.null_count:
        valid = arr.is_valid().to_numpy(zero_copy_only=False)
        values = pc.fill_null(arr, 0).to_numpy(zero_copy_only=False)
    else:
        valid = None
        values = arr.to_numpy(zero_copy_only=False)
    return values.astype(dtype, copy=False), valid


def _codes(arr: pa.Array) -> tuple[np.ndarray, list[str]]:
    """Dictionary codes (-1 for null) and the distinct names they index."""
    if not pa.types.is_dictionary(arr.type):
        arr = pc.dictionary_encode(arr.cast(pa.string()))
    dictionary = arr.dictionary.to_pylist()
    indices = arr.indices
    if indices.null_count:
        codes = pc.fill_null(indices, -1).to_numpy(zero_copy_only=False)
    else:
        codes = indices.to_numpy(zero_copy_only=False)
    codes = codes.astype(np.int32, copy=False)
    names: list[str] = []
    first: dict[Any, int] = {}
    remap = np.empty(len(dictionary) + 1, dtype=np.int32)
    remap[-1] = -1  # code -1 (null) stays -1
    for i, value in enumerate(dictionary):
        if value is None:
            remap[i] = -1
            continue
        if value not in first:
            first[value] = len(names)
            names.append(str(value))
        remap[i] = first[value]
    if not (len(names) == len(dictionary) and all(remap[: len(names)] == np.arange(len(names)))):
        codes = remap[codes]
    return codes, names


def _kind_mask(codes: np.ndarray, names: list[str], kind: str) -> np.ndarray:
    if kind in names:
        return codes == names.index(kind)
    return np.zeros(codes.shape, dtype=bool)


@dataclass
class SampleArrays:
    """The sample table as numpy arrays plus the accounting masks (one per row)."""

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

    def completed_latency_ns(self, mask: np.ndarray | None = None) -> np.ndarray:
        m = self.has_latency if mask is None else (self.has_latency & mask)
        return self.latency_ns[m]

    def completed_service_ns(self, mask: np.ndarray | None = None) -> np.ndarray:
        m = self.has_service if mask is None else (self.has_service & mask)
        return self.service_ns[m]


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


def _bincount_labels(values: np.ndarray) -> list[tuple[int, int]]:
    """(value, count) for every distinct value of a small-int array, ascending."""
    if values.size == 0:
        return []
    v = values.astype(np.int64, copy=False)
    lo = int(v.min())
    counts = np.bincount(v - lo)
    nz = np.flatnonzero(counts)
    return [(int(i) + lo, int(counts[i])) for i in nz]


def _steps(a: SampleArrays) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    if a.n == 0:
        return out
    counts = np.bincount(a.step_codes + 1, minlength=len(a.step_names) + 1)
    order = [(-1, UNNAMED_STEP)] + list(enumerate(a.step_names))
    for code, name in order:
        if counts[code + 1] == 0:
            continue
        m = a.step_codes == code
        out[name] = {
            "count": int(counts[code + 1]),
            "ok": _count(a.ok & m),
            "errors": _count(a.error & m),
            "latency_ms": latency_stats(a.completed_latency_ns(m)),
        }
    return out


def _phases(a: SampleArrays) -> list[dict[str, Any]]:
    out = []
    for phase, count in _bincount_labels(a.phase):
        m = a.phase == phase
        out.append(
            {
                "phase": phase,
                "intended": count,
                "sent": _count(a.sent & m),
                "ok": _count(a.ok & m),
                "errors": _count(a.error & m),
                "latency_ms": latency_stats(a.completed_latency_ns(m)),
            }
        )
    return out


def _errors_by_kind(a: SampleArrays) -> dict[str, int]:
    has = a.error_codes >= 0
    if not has.any():
        return {}
    counts = np.bincount(a.error_codes[has], minlength=len(a.error_names))
    pairs = [(a.error_names[i], int(c)) for i, c in enumerate(counts) if c]
    pairs.sort(key=lambda kv: (-kv[1], kv[0]))
    return dict(pairs)


def _status(a: SampleArrays) -> dict[str, int]:
    return {str(code): count for code, count in _bincount_labels(a.status[a.completed])}


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

    latency_ms = latency_stats(a.completed_latency_ns())
    service_ms = latency_stats(a.completed_service_ns())
    send_lag_ms = latency_stats(a.sent_ns[a.has_sent_ns] - a.intended_ns[a.has_sent_ns])

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
        "steps": _steps(a),
        "phases": _phases(a),
        "workers": len(_bincount_labels(a.worker)),
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
            "(generator saturated or waiting for an in-flight slot); the achieved rate is "
            "below the intended one"
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
