"""Fold the sample table of a run into the ``summary.json`` dictionary.

Accounting (DESIGN.md §2), every intended request is one row::

    intended  = rows
    dropped   = rows with error "dropped"     (never sent: in-flight cap, when_full: drop)
                or "fenced"                   (never sent: a flow step after its worker fenced itself)
    sent      = intended - dropped
    cut       = rows with error "cut"         (sent, still in flight when the run stopped)
    completed = sent - cut
    errors    = completed rows with an error  (timeouts, resets, HTTP 4xx/5xx, ...)
    ok        = completed - errors

Latency and service percentiles are over *completed* rows (ok and errors): a dropped
request has no latency and a cut one has no end. All work is vectorised numpy on the
Arrow buffers (no Python loop over rows).

Schema 1.1 keys:

- ``retries``: rows with ``attempt`` > 1 (each retry is a row of its own and counts in
  ``intended``/``sent``/``errors`` like any request);
- ``flows``: ``{flow: {count, ok, failed, flow_ms}}`` per flow name, from the rows that
  carry ``flow_ns`` (see :mod:`loadray.analysis.flows`); {} when there are none;
- ``checks``: ``{check: failures}`` from the errors ``check:<name>``; ``errors_by_kind``
  counts them all under the one kind ``check``, so its kinds stay the engine's fixed set;
- ``steps``: ``{step: {count, ok, errors, latency_ms}}`` for every step (a step of a
  flow is ``FLOW/STEP``), ``latency_ms`` with the same keys as the run's.

``bytes_in`` (``{total, per_s, steps: {step: {total, per_s, per_response}}}``, body
bytes received, see :mod:`loadray.analysis.transfer`; {} without the column).

Schema 1.2 keys: ``error_details`` (``[{error, detail, count}]``, the most frequent
exceptions behind errors) and ``generator_error``: the one line that fails the run when
the generator itself failed (see :mod:`loadray.analysis.verdict`; ``passed`` is then
false and the line is the first warning), else null; ``nothing_succeeded``: likewise
when requests were intended and none succeeded; ``interrupted``: ``"SIGINT at 12.3 s"``
when a signal stopped the run (the figures cover the part that ran), else null.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa

from loadray.schema import SCHEMA_VERSION

from .arrays import (
    UNNAMED_STEP,
    SampleArrays,
    as_arrays,
    bincount,
    bincount_labels,
    check_name,
    class_counts,
    error_kind,
    split_classes,
)
from .flows import flow_summary
from .grouped import group_stats, sort_with_keys
from .percentiles import latency_stats, sorted_stats
from .record import live_record, live_warnings
from .thresholds import evaluate
from .transfer import bytes_in
from .verdict import error_details, generator_error, nothing_succeeded

if TYPE_CHECKING:
    from loadray.archive.reader import RunMeta
    from loadray.metric import Threshold

__all__ = ["summarize", "DEFAULT_SEND_LAG_WARN_MS"]

#: A send-lag p99 above this means requests left late: the generator was saturated
#: or waited for a free in-flight slot.
DEFAULT_SEND_LAG_WARN_MS = 10.0


def _count(mask: np.ndarray) -> int:
    return int(np.count_nonzero(mask))


def _iso_utc(ns: int | None) -> str | None:
    if ns is None:
        return None
    dt = datetime.fromtimestamp(ns / 1e9, tz=timezone.utc)
    return dt.isoformat(timespec="milliseconds").replace("+00:00", "Z")


_PARALLEL_MIN_ROWS = 1 << 20  # below this, threads cost more than they save
_CHUNK = 1 << 20


class _Done:
    """A finished 'future' for the serial path."""

    def __init__(self, value: Any) -> None:
        self._value = value

    def result(self) -> Any:
        return self._value


def _now(fn: Callable, *args: Any, **kwargs: Any) -> _Done:
    return _Done(fn(*args, **kwargs))


class _Groups:
    """Rows grouped by a small-int key (step code or phase): counts by row class are
    set by :meth:`count` (see :func:`_count_groups`), ``latency`` per group by
    :func:`_latency`."""

    def __init__(self, keys: np.ndarray) -> None:
        self.lo = int(keys.min()) if keys.size else 0
        self.keys = (keys - keys.dtype.type(self.lo)) if self.lo else keys
        self.size = int(self.keys.max()) + 1 if self.keys.size else 0
        self.latency: dict[int, dict[str, Any]] = {}

    def count(self, counts: np.ndarray) -> None:
        self.dropped, self.cut, self.errors, self.ok = split_classes(counts)
        self.intended = counts.sum(axis=1)
        self.sent = self.intended - self.dropped
        self.labels = [int(i) + self.lo for i in np.flatnonzero(self.intended)]

    def stats(self, label: int, overall: dict[str, Any]) -> dict[str, Any]:
        return self.latency[label] if self.latency else dict(overall)


_JOINT_KEYS_MAX = 1 << 10  # two groupings share one key (counts, sort) up to this many pairs


def _joint(first: _Groups, second: _Groups) -> np.ndarray | None:
    """One key for both groupings (``first * second.size + second``) when the pairs
    are few (steps x phases), else None."""
    if 0 < first.size * second.size <= _JOINT_KEYS_MAX:
        return first.keys.astype(np.int16) * np.int16(second.size) + second.keys.astype(np.int16)
    return None


def _count_groups(a: SampleArrays, first: _Groups, second: _Groups, joint: np.ndarray | None) -> None:
    """Row-class counts of two groupings, in one pass over the joint key if there is one."""
    if joint is None:
        for g in (first, second):
            g.count(class_counts(a, g.keys, g.size))
        return
    counts = class_counts(a, joint, first.size * second.size).reshape(first.size, second.size, -1)
    first.count(counts.sum(axis=1))
    second.count(counts.sum(axis=0))


def _latency(a: SampleArrays, first: _Groups, second: _Groups, joint: np.ndarray | None, spawn: Callable) -> dict[str, Any]:
    """Run-wide latency stats, and each grouping's per group, from one sort of the
    latencies with the group keys in their low bits (the sorted latencies are kept in
    ``a`` for the report's spectrum); the per-group stats run beside the run-wide ones."""
    multi = [g for g in (first, second) if len(g.labels) > 1]
    if joint is not None and len(multi) == 2:
        keys = np.arange(first.size * second.size)
        views = [keys // second.size, keys % second.size]
        values, (sorted_joint,) = sort_with_keys(a.latency_ns, [(joint, first.size * second.size)], a.has_latency)
        futures = [spawn(group_stats, values, sorted_joint, first.size * second.size, views)]
    else:
        values, sorted_keys = sort_with_keys(a.latency_ns, [(g.keys, g.size) for g in multi], a.has_latency)
        futures = [spawn(group_stats, values, k, g.size) for g, k in zip(multi, sorted_keys)]
    a.keep_sorted_latency(values)
    overall = sorted_stats(values)
    stats = [per_group for future in futures for per_group in future.result()]
    for g, per_group in zip(multi, stats):
        g.latency = {lb: per_group[lb - g.lo] for lb in g.labels}
    return overall


def _step_keys(a: SampleArrays) -> np.ndarray:
    return a.step_codes + 1 if len(a.step_names) < 32766 else a.step_codes.astype(np.int32) + 1


def _send_lag_ms(a: SampleArrays) -> dict[str, Any]:
    """Stats of ``sent - intended`` over the first attempts that were sent (a retry
    waits for its backoff on purpose: that is not the generator being late)."""
    was_sent = a.has_sent_ns
    if (a.attempt != 1).any():
        was_sent = was_sent & (a.attempt == 1)
    if was_sent.all():
        lag = a.sent_ns - a.intended_ns
    else:  # in chunks: one fresh array, not three
        lag = np.empty(_count(was_sent), np.int64)
        at = 0
        for i in range(0, a.n, _CHUNK):
            sent = was_sent[i : i + _CHUNK]
            part = a.sent_ns[i : i + _CHUNK][sent]
            part -= a.intended_ns[i : i + _CHUNK][sent]
            lag[at : at + part.size] = part
            at += part.size
    return latency_stats(lag, overwrite=True)


def _service_and_lag(a: SampleArrays) -> tuple[dict[str, Any], dict[str, Any]]:
    """Service-time and send-lag stats of the whole run (partitioned, not sorted)."""
    return latency_stats(a.service_ns[a.has_service], overwrite=True), _send_lag_ms(a)


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


def _by_count(counts: dict[str, int]) -> dict[str, int]:
    return dict(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))


def _errors(a: SampleArrays) -> tuple[dict[str, int], dict[str, int]]:
    """``errors_by_kind`` and ``checks`` (both most frequent first)."""
    has = a.error_codes >= 0
    if not has.any():
        return {}, {}
    counts = bincount(a.error_codes[has], minlength=len(a.error_names))
    kinds: dict[str, int] = {}
    checks: dict[str, int] = {}
    for name, count in zip(a.error_names, counts.tolist()):
        if count:
            kinds[error_kind(name)] = kinds.get(error_kind(name), 0) + count
            check = check_name(name)
            if check is not None:
                checks[check] = checks.get(check, 0) + count
    return _by_count(kinds), _by_count(checks)


def _status(a: SampleArrays) -> dict[str, int]:
    values = a.status if a.completed.all() else a.status[a.completed]
    return {str(code): count for code, count in bincount_labels(values)}


def _counted(a: SampleArrays) -> tuple[tuple[dict[str, int], dict[str, int]], dict[str, int], int, int, dict]:
    """The figures that need no latency order: ``(errors_by_kind, checks)``,
    ``status``, ``workers``, ``retries`` and ``flows`` (beside the latency sort)."""
    return _errors(a), _status(a), len(bincount_labels(a.worker)), _count(a.attempt > 1), flow_summary(a)


def summarize(
    table: pa.Table | SampleArrays,
    meta: RunMeta | None = None,
    thresholds: Iterable[Threshold] = (),
    name: str = "",
    *,
    send_lag_warn_ms: float = DEFAULT_SEND_LAG_WARN_MS,
) -> dict[str, Any]:
    """The ``summary.json`` dict of a run (see the module docstring for the accounting).

    ``table`` may also be its :class:`SampleArrays` (shared with other analyses: the
    sorted completed-row latencies it caches serve them too).
    ``meta`` gives the run start/end (from the archive); without it the start is the
    first intended send and the end the last one.
    """
    a = as_arrays(table)

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

    # Sorting and partitioning release the GIL: latencies (one sort for the run and every
    # group) and the service/lag stats run on two threads for large tables.
    pool = ThreadPoolExecutor(2) if a.n >= _PARALLEL_MIN_ROWS else None
    try:
        spawn = pool.submit if pool is not None else _now
        service_and_lag = spawn(_service_and_lag, a)
        counted = spawn(_counted, a)
        step_groups, phase_groups = _Groups(_step_keys(a)), _Groups(a.phase)
        joint = _joint(step_groups, phase_groups)
        _count_groups(a, step_groups, phase_groups, joint)
        latency_ms = _latency(a, step_groups, phase_groups, joint, spawn)
        service_ms, send_lag_ms = service_and_lag.result()
        (errors_by_kind, checks), status, workers, retries, flows = counted.result()
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
        "errors_by_kind": errors_by_kind,
        "status": status,
        "steps": _steps(a, step_groups, latency_ms),
        "phases": _phases(a, phase_groups, latency_ms),
        "workers": workers,
        "retries": retries,
        "flows": flows,
        "checks": checks,
        "bytes_in": bytes_in(a, duration_s),
        "error_details": error_details(a),
    }

    results = evaluate(thresholds, a, summary)  # sorts service times only if a threshold needs them
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
    record = getattr(meta, "record", None) or {}
    summary.update(live_record(record))
    summary["generator_error"] = failure = generator_error(summary, record.get("planned"))
    summary["nothing_succeeded"] = no_success = nothing_succeeded(summary)
    failures = [line for line in (failure, no_success) if line]
    if failures:
        summary["passed"] = False
    summary["warnings"] = failures + warnings + live_warnings(record)
    return summary
