"""The run report: one self-contained HTML page (inline CSS, plots as base64 PNG data
URIs, no scripts and no external resources of any kind)."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd
import yaml

from loadray.analysis import Overview

from .figures import PLOT_SECTIONS, RUN_PLOTS
from .llm_section import llm_section
from .markup import Raw, e, img, num, page, table
from .tables import bytes_section, checks_section, error_samples_section, format_bytes, status_section
from .text import format_ms, format_threshold_value

__all__ = ["render_html"]

_STATS = (("p50", "p50"), ("p90", "p90"), ("p95", "p95"), ("p99", "p99"), ("p999", "p99.9"), ("max", "max"), ("mean", "mean"))
_BREAKDOWN_MS = (("latency", "p50"), ("latency", "p90"), ("latency", "p99"), ("latency", "p999"), ("latency", "max"),
                 ("service", "p50"), ("service", "p99"))


def _pct(value: Any) -> str:
    return "-" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value * 100:.3g}%"


def _ms_cell(value: Any) -> str:
    return "-" if value is None or (isinstance(value, float) and math.isnan(value)) else format_ms(float(value))


def _badge(s: Mapping[str, Any]) -> str:
    if not s.get("thresholds"):
        return '<span class="badge none">no thresholds</span>'
    return '<span class="badge pass">PASSED</span>' if s.get("passed") else '<span class="badge fail">FAILED</span>'


def _thresholds(s: Mapping[str, Any]) -> list[str]:
    rows = [
        [Raw('<span class="ok">✓ pass</span>' if r.get("passed") else '<span class="bad">✗ fail</span>'), r.get("expr"),
         format_threshold_value(str(r.get("expr", "")), r.get("value"))]
        for r in s.get("thresholds") or []
    ]
    return ["<h2>thresholds</h2>", table(["", "threshold", "measured"], rows, left=2)] if rows else []


def _flows_per_s(s: Mapping[str, Any]) -> float | None:
    flows = s.get("flows") or {}
    duration = s.get("duration_s") or 0.0
    return sum(f.get("count") or 0 for f in flows.values()) / duration if flows and duration else None


def _requests(s: Mapping[str, Any], doc: Mapping[str, Any]) -> list[str]:
    headers = ["intended", "sent", "dropped", "cut", "ok", "errors", "retries", "error rate", "achieved requests/s",
               "intended requests/s"]
    row = [num(s.get(k)) for k in ("intended", "sent", "dropped", "cut", "ok", "errors", "retries")]
    row += [f"{(s.get('error_rate') or 0.0) * 100:.3f}%", f"{s.get('rate') or 0.0:,.1f}/s",
            f"{s.get('intended_rate') or 0.0:,.1f}/s"]
    flows = _flows_per_s(s)
    if flows is not None:
        headers.append("flows/s")
        row.append(f"{flows:,.1f}/s")
    received = s.get("bytes_in") or {}
    if received:
        headers.append("bytes in")
        row.append(f"{format_bytes(received.get('total'))} ({format_bytes(received.get('per_s'))}/s)")
    out = ["<h2>requests</h2>", table(headers, [row], left=0)]
    if flows is not None:
        out.append(f'<p class="meta">{e(_flows_note(doc))}</p>')
    return out


def _flows_note(doc: Mapping[str, Any]) -> str:
    load = doc["load"] if isinstance(doc.get("load"), Mapping) else {}
    if load.get("model") == "closed":
        return ("flows/s: flow instances started per second (each user's iteration is one, and sends one request "
                "per step it reaches); requests/s counts every request")
    return ("the scenario's rate counts flows per second (each flow instance sends one request per step it "
            "reaches); requests/s counts every request")


def _flows(s: Mapping[str, Any]) -> list[str]:
    """Flow instances per flow: count, ok, failed and end-to-end latency."""
    flows = s.get("flows") or {}
    if not flows:
        return []
    rows = [
        [name, num(f.get("count")), num(f.get("ok")), num(f.get("failed")),
         *(format_ms((f.get("flow_ms") or {}).get(k)) for k, _ in _STATS)]
        for name, f in flows.items()
    ]
    headers = ["flow", "count", "ok", "failed", *(lbl for _, lbl in _STATS)]
    return ["<h2>flows</h2>", '<p class="meta">end-to-end: from the intended start of each instance to its last response</p>', table(headers, rows)]


def _latency(s: Mapping[str, Any]) -> list[str]:
    rows = []
    for key, label in (("latency_ms", "latency (done − intended)"), ("service_ms", "service (done − sent)"),
                       ("send_lag_ms", "send lag (sent − intended)")):
        st = s.get(key) or {}
        rows.append([label, *(format_ms(st.get(k)) for k, _ in _STATS)])
    return ["<h2>latency</h2>", table(["", *(lbl for _, lbl in _STATS)], rows)]


def _has_grpc(doc: Mapping[str, Any]) -> bool:
    """Whether a request or a flow step of the scenario document is a gRPC call."""
    steps = list(doc.get("requests") or [])
    steps += [st for f in doc.get("flows") or [] if isinstance(f, Mapping) for st in f.get("steps") or []]
    return any(isinstance(step, Mapping) and "grpc" in step for step in steps)


def _outcomes(s: Mapping[str, Any], grpc: bool = False) -> list[str]:
    kinds, status = s.get("errors_by_kind") or {}, s.get("status") or {}
    out = ["<h2>outcomes</h2>"] if kinds or status else []
    if status:
        zero = "0 (gRPC OK; HTTP: no response)" if grpc else "0 (no response)"
        out.append(table(["HTTP status" if not grpc else "status", "count"],
                         [[k if k != "0" else zero, num(v)] for k, v in status.items()]))
    if kinds:
        out.append(table(["error kind", "count"], [[k, num(v)] for k, v in kinds.items()]))
    return out


def _breakdown(title: str, label: str, frame: pd.DataFrame) -> list[str]:
    """A per-step / per-worker table from :func:`loadray.analysis.breakdown`."""
    if not len(frame):
        return []
    headers = [label, "requests", "sent", "rate", "success", "errors",
               *(f"{'' if m == 'latency' else 'service '}{k.replace('p999', 'p99.9')}" for m, k in _BREAKDOWN_MS)]
    rows = [
        [name, num(r["intended"]), num(r["sent"]), f"{r['rate']:,.1f}/s", _pct(r["success_rate"]), num(r["errors"]),
         *(_ms_cell(r[f"{m}_{k}_ms"]) for m, k in _BREAKDOWN_MS)]
        for name, r in frame.iterrows()
    ]
    return [f"<h2>{e(title)}</h2>", table(headers, rows)]


def _phases(s: Mapping[str, Any], starts: pd.Series) -> list[str]:
    phases = s.get("phases") or []
    if not phases:
        return []
    rows = [
        [int(ph.get("phase", 0)) + 1, f"{round(starts.get(ph.get('phase'), math.nan), 3) + 0.0:.3f} s",  # + 0.0: no "-0.000"
         num(ph.get("intended")), num(ph.get("sent")),
         num(ph.get("ok")), num(ph.get("errors")),
         *(format_ms((ph.get("latency_ms") or {}).get(k)) for k in ("p50", "p90", "p99", "max"))]
        for ph in phases
    ]
    headers = ["phase", "starts at", "intended", "sent", "ok", "errors", "p50", "p90", "p99", "max"]
    note = ('<p class="meta">numbered from 1, as in the live view and on the rate plot '
            '(the <code>phase</code> column of the rows counts from 0)</p>')
    return ["<h2>phases</h2>", note, table(headers, rows)]


def _plots(plots: Mapping[str, bytes]) -> list[str]:
    out = []
    for section, names in PLOT_SECTIONS:
        present = [n for n in names if n in plots]
        if present:
            out.append(f"<h2>{e(section)}</h2>")
            out.extend(img(plots[n], RUN_PLOTS[n][0] if n in RUN_PLOTS else n) for n in present)
    return out


def render_html(
    summary: Mapping[str, Any],
    overview: Overview,
    plots: Mapping[str, bytes],
    facts: Sequence[tuple[str, str]] = (),
    scenario_doc: Mapping[str, Any] | None = None,
) -> str:
    """The report page of a run, as one self-contained HTML string.

    ``plots``: PNG bytes by plot name; ``facts``: the run metadata rows
    (:func:`loadray.report.facts.run_facts`).
    """
    s = summary
    doc = dict(scenario_doc or {})
    name = s.get("name") or doc.get("name") or "run"
    body = [f"<h1>loadray: {e(name)}{_badge(s)}</h1>"]
    quick = [("started", s.get("started_at") or "-"), ("duration", f"{s.get('duration_s') or 0:.3f} s"),
             ("workers", s.get("workers", 0))]
    body.append('<p class="meta">' + "".join(f"<span><b>{e(k)}</b> {e(v)}</span>" for k, v in quick) + "</p>")
    body.extend(f'<div class="warn">{e(w)}</div>' for w in s.get("warnings") or [])
    body.extend(_thresholds(s))
    body.extend(_requests(s, doc))
    body.extend(_latency(s))
    body.extend(_plots(plots))
    body.extend(_flows(s))
    body.extend(llm_section(s, plots))
    body.extend(_breakdown("steps", "step", overview.steps))
    grpc = _has_grpc(doc)
    body.extend(status_section(overview.status_steps, grpc))
    body.extend(checks_section(s))
    body.extend(bytes_section(s))
    body.extend(_breakdown("workers", "worker", overview.workers))
    body.extend(_phases(s, overview.phase_starts))
    body.extend(_outcomes(s, grpc))
    body.extend(error_samples_section(overview.error_samples))
    if facts:
        body.extend(["<h2>run</h2>", table(["", ""], [list(f) for f in facts], left=2)])
    if doc:
        text = yaml.safe_dump(doc, sort_keys=False, allow_unicode=True, default_flow_style=False)
        body.extend(["<h2>scenario</h2>",
                     f"<details><summary>resolved scenario (secrets redacted)</summary><pre>{e(text)}</pre></details>"])
    return page(f"loadray report: {name}", body)
