"""Fold the sample rows of a run into the ``summary.json`` dictionary.

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
request has no latency and a cut one has no end. The rows are folded batch by batch
(:mod:`.stream`): counts as they go, percentiles exact from the values near them
(:mod:`.ranks`), so an archive of any size is summarised in bounded memory; an
in-memory table is the one-source case (:func:`summarize`).

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

from collections.abc import Iterable
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, cast

import pyarrow as pa

from loadray.schema import SCHEMA_VERSION

from .arrays import SampleArrays, check_name, error_kind, split_classes
from .batch import Batch, Registry
from .counts import Counts
from .error_samples import ErrorWays
from .flows import FlowFold
from .groupings import ALL, BY_STEP, STEP_PHASE, step_phase_views
from .llm import POOLED
from .percentiles import QUANTILES, ms
from .quantiles import require, stats, table
from .record import live_record, live_warnings
from .step_scope import StepScopes
from .stream import DEFAULT_COLLECT_CAP, Source, Stream, TableSource
from .thresholds import evaluate, percentiles_judged
from .transfer import bytes_of
from .verdict import FAILED_ABORTS, archive_damaged, error_details, generator_error, nothing_succeeded

if TYPE_CHECKING:
    from loadray.archive.reader import RunMeta
    from loadray.metric import Threshold

    from .llm import LlmFold

__all__ = ["DEFAULT_SEND_LAG_WARN_MS", "SummaryFold", "summarize"]

#: A send-lag p99 above this means requests left late: the generator was saturated
#: or waited for a free in-flight slot.
DEFAULT_SEND_LAG_WARN_MS = 10.0


def _iso_utc(ns: int | None) -> str | None:
    if ns is None:
        return None
    dt = datetime.fromtimestamp(ns / 1e9, tz=timezone.utc)
    return dt.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _by_count(counts: dict[str, int]) -> dict[str, int]:
    return dict(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))


def _threshold_quantiles(thresholds: Iterable[Threshold], of: str, scoped: bool = False) -> list[float]:
    """Fractions of the percentile thresholds on ``of`` (latency, service or ttfb), over
    the run or (``scoped``) over a step."""
    return [q / 100 for q in percentiles_judged(thresholds, of, scoped)]


def _judges(thresholds: Iterable[Threshold], of: str) -> bool:
    """Whether a threshold is on ``of`` (time to first byte is folded only then)."""
    return any(t.rule.metric.of == of for t in thresholds)


class SummaryFold:
    """Everything ``summary.json`` needs, folded batch by batch; :meth:`summary` once
    the stream has run."""

    columns = Counts.columns | FlowFold.columns | ErrorWays.columns
    side = True  # folded on the side thread (:mod:`.side`), next to the main thread's histograms

    def __init__(self, thresholds: Iterable[Threshold] = ()) -> None:
        self.thresholds = list(thresholds)
        self.counts, self.flows, self.ways = Counts(), FlowFold(), ErrorWays()
        self.scopes = StepScopes(self.thresholds)
        self.llm: LlmFold | None = None

    def declare(self, stream: Stream) -> None:
        self.counts.declare(stream)
        track = list(QUANTILES.values())
        q = [v / 100 for v in track]
        latency = q + _threshold_quantiles(self.thresholds, "latency")
        latency += _threshold_quantiles(self.thresholds, "latency", scoped=True)
        views = stream.joint("latency", STEP_PHASE, step_phase_views(stream.registry), latency, True)
        self.latency, self.by_step, self.by_phase = views[ALL.name], views[BY_STEP.name], views["phase"]
        self.scopes.declare(stream, self.by_step)
        self.service = stream.family("service", ALL, q + _threshold_quantiles(self.thresholds, "service"), True)
        self.lag = stream.family("lag", ALL, q, sums=True)
        self.ttfb = (stream.family("ttfb", ALL, q + _threshold_quantiles(self.thresholds, "ttfb"), True)
                     if _judges(self.thresholds, "ttfb") else None)
        self.flows.declare(stream)

    def warm(self, b: Batch) -> None:
        """The keys :meth:`add` reads, coded on the pass's thread (:mod:`.side`)."""
        self.counts.warm(b)
        self.flows.warm(b)
        self.ways.warm(b)

    def add(self, b: Batch) -> None:
        self.counts.add(b)
        self.flows.add(b)
        self.ways.add(b)

    def require(self, stream: Stream) -> None:
        for fam in (self.latency, self.service, self.lag, self.by_step, self.by_phase, self.ttfb):
            if fam is not None:
                require(fam)
        for metric in ("latency", "service", "ttfb"):
            qs = [v * 100 for v in _threshold_quantiles(self.thresholds, metric)]
            if qs:
                require(getattr(self, metric), qs)
        self.scopes.require()
        self.flows.require(stream)

    def percentile_ms(self, of: str, q: float) -> float | None:
        """Exact percentile ``q`` (0..100) of ``of`` (latency, service, ttfb, ttft, itl, tpot) in ms."""
        if of in POOLED:  # an LLM figure, from the chunks/ fold
            return None if self.llm is None else self.llm.pooled_ms(of, q)
        fam = getattr(self, of)
        if fam is None or not fam.counts().any():
            return None
        return float(ms(table(fam, [q]))[0, 0])

    def summary(self, registry: Registry, meta: RunMeta | None = None, name: str = "",
                send_lag_warn_ms: float = DEFAULT_SEND_LAG_WARN_MS, llm: LlmFold | None = None) -> dict[str, Any]:
        """The ``summary.json`` dict (see the module docstring for the accounting);
        ``llm``: the run's ``chunks/`` fold (for the ``ttft_*``, ``itl_*``, ``tpot_*`` thresholds)."""
        s = {"name": name, "schema_version": getattr(meta, "schema_version", None) or SCHEMA_VERSION}
        s.update(self._figures(registry, meta))
        self.llm = llm
        for of in POOLED:
            if _judges(self.thresholds, of):
                s[f"{of}_ms"] = llm.pooled_stats(of) if llm is not None else stats_none()
        results = evaluate(self.thresholds, self.percentile_ms, s,
                           lambda step: self.scopes.scope(step, registry, self.counts, float(s["duration_s"])))
        s["thresholds"] = results
        s["passed"] = all(r["passed"] for r in results)
        warnings = _warnings(s, meta, send_lag_warn_ms)
        record = getattr(meta, "record", None) or {}
        s.update(live_record(record))
        s["generator_error"] = failure = generator_error(s, record.get("planned"))
        s["nothing_succeeded"] = no_success = nothing_succeeded(s)
        s["archive_damaged"] = damaged = archive_damaged(meta)
        failures = [line for line in (failure, no_success, damaged) if line]
        if failures or s["abort_kind"] in FAILED_ABORTS:  # the abort's line is among the live warnings
            s["passed"] = False
        s["warnings"] = failures + warnings + live_warnings(record)
        return s

    def _figures(self, registry: Registry, meta: RunMeta | None) -> dict[str, Any]:
        c = self.counts
        dropped, cut, errors, ok = (int(v) for v in c.classes())
        intended = dropped + cut + errors + ok
        start_ns, duration_s = _times(meta, c, intended)
        sent, completed = intended - dropped, errors + ok
        latency = stats(self.latency)[0] if self.latency.groups else stats_none()
        by_kind, checks = _errors(c, registry)
        return {
            "started_at": _iso_utc(start_ns), "duration_s": round(duration_s, 6), "intended": intended, "sent": sent,
            "dropped": dropped, "cut": cut, "completed": completed, "ok": ok, "errors": errors,
            "error_rate": errors / completed if completed else 0.0,
            "rate": round(sent / duration_s, 3) if duration_s > 0 else 0.0,
            "intended_rate": round(intended / duration_s, 3) if duration_s > 0 else 0.0,
            "latency_ms": latency, "service_ms": _overall(self.service), "send_lag_ms": _overall(self.lag),
            "errors_by_kind": by_kind, "status": {str(k): v for k, v in c.status_counts().items()},
            "steps": _steps(c, registry, self.by_step), "phases": _phases(c, registry, self.by_phase),
            "workers": len(registry.workers), "retries": c.retries, "flows": self.flows.summary(registry),
            "checks": checks, "bytes_in": bytes_of(c, registry, duration_s),
            "error_details": error_details(self.ways.details(registry)),
            **({"ttfb_ms": _overall(self.ttfb)} if self.ttfb is not None else {}),
        }


def stats_none() -> dict[str, None]:
    return {k: None for k in (*QUANTILES, "max", "mean", "min")}


def _overall(fam) -> dict[str, Any]:
    return stats(fam)[0] if fam.groups else stats_none()


def _times(meta: RunMeta | None, c: Counts, intended: int) -> tuple[int | None, float]:
    """The run's start and duration: from the archive, else first to last intended send."""
    start_ns = getattr(meta, "start_ns", None)
    end_ns = getattr(meta, "end_ns", None)
    if start_ns is None and intended:
        start_ns = c.first_ns
    if end_ns is None and intended:
        end_ns = c.last_ns
    if start_ns is not None and end_ns is not None:
        return start_ns, max(0.0, (end_ns - start_ns) / 1e9)
    return start_ns, 0.0


def _errors(c: Counts, registry: Registry) -> tuple[dict[str, int], dict[str, int]]:
    """``errors_by_kind`` and ``checks`` (both most frequent first)."""
    kinds: dict[str, int] = {}
    checks: dict[str, int] = {}
    for name, count in zip(registry.errors.names, c.error_counts(registry).tolist()):
        if count:
            kinds[error_kind(name)] = kinds.get(error_kind(name), 0) + count
            check = check_name(name)
            if check is not None:
                checks[check] = checks.get(check, 0) + count
    return _by_count(kinds), _by_count(checks)


def _steps(c: Counts, registry: Registry, fam) -> dict[str, dict[str, Any]]:
    names = registry.step_labels()
    counts = c.step_classes(registry)
    _, _, errors, ok = split_classes(counts)
    latency = stats(fam)
    present = [k for k in range(len(names)) if counts[k].sum()]
    return {names[k]: {"count": int(counts[k].sum()), "ok": int(ok[k]), "errors": int(errors[k]),
                       "latency_ms": latency[k] if k < len(latency) else stats_none()}
            for k in sorted(present, key=lambda k: names[k])}  # by name: stable output


def _phases(c: Counts, registry: Registry, fam) -> list[dict[str, Any]]:
    counts = c.phase_classes(registry)
    dropped, _, errors, ok = split_classes(counts)
    latency = stats(fam)
    out = []
    for key, phase in sorted(enumerate(registry.phases.values), key=lambda kv: kv[1]):
        if counts[key].sum():
            out.append({"phase": phase, "intended": int(counts[key].sum()), "sent": int(counts[key].sum() - dropped[key]),
                        "ok": int(ok[key]), "errors": int(errors[key]),
                        "latency_ms": latency[key] if key < len(latency) else stats_none()})
    return out


def _warnings(s: dict[str, Any], meta: RunMeta | None, send_lag_warn_ms: float) -> list[str]:
    warnings: list[str] = []
    if s["dropped"]:
        warnings.append(f"{s['dropped']} requests were dropped because the in-flight cap was reached: "
                        "results under-state the load the target could not take")
    if s["cut"]:
        warnings.append(f"{s['cut']} requests were still in flight when the run stopped: "
                        "they have no latency and are not in the percentiles")
    lag_p99 = s["send_lag_ms"].get("p99")
    if lag_p99 is not None and lag_p99 > send_lag_warn_ms:
        warnings.append(f"send lag p99 was {lag_p99:g} ms (> {send_lag_warn_ms:g} ms): requests left late "
                        "(generator saturated, or waiting for a free in-flight slot); latency counts from "
                        "the intended send time, so it includes that delay")
    if meta is not None and getattr(meta, "end_ns", None) is None and s["intended"]:
        warnings.append("the run's end time was not recorded (interrupted run?): "
                        "duration is estimated from the last intended send")
    for rel in getattr(meta, "skipped", ()) or ():
        warnings.append(f"{rel}: unreadable (interrupted run?), its rows are missing")
    for rel in getattr(meta, "unlisted", ()) or ():
        warnings.append(f"{rel}: completed after the run was closed, not in the manifest: not read "
                        "(its rows are counted as unknown)")
    return warnings


def summarize(
    table_or_source: pa.Table | SampleArrays | Any,
    meta: RunMeta | None = None,
    thresholds: Iterable[Threshold] = (),
    name: str = "",
    *,
    send_lag_warn_ms: float = DEFAULT_SEND_LAG_WARN_MS,
    batch_rows: int = 1 << 20,
    warmup_rows: int | None = None,
    collect_cap: int = DEFAULT_COLLECT_CAP,
) -> dict[str, Any]:
    """The ``summary.json`` dict of a run (see the module docstring for the accounting).

    ``table_or_source``: the sample table, its :class:`SampleArrays`, or a source of
    batches (an archive's :class:`loadray.archive.source.SampleSource`). ``meta`` gives
    the run start/end (from the archive); without it the start is the first intended
    send and the end the last one. ``batch_rows`` (a table's batches), ``warmup_rows``
    and ``collect_cap`` tune the stream (:class:`~.stream.Stream`); the result does not
    depend on them.
    """
    source = cast(Source, table_or_source if hasattr(table_or_source, "batches")
                  else TableSource(table_or_source, batch_rows))
    fold = SummaryFold(thresholds)
    stream = Stream(source, collect_cap=collect_cap, **({} if warmup_rows is None else {"warmup_rows": warmup_rows}))
    stream.run([fold])
    return fold.summary(stream.registry, meta, name, send_lag_warn_ms)
