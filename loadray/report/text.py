"""The terminal summary of a run (what ``loadray run`` prints at the end)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from io import StringIO
from typing import Any

from rich import box
from rich.console import Console, Group
from rich.table import Table
from rich.text import Text

__all__ = ["render_summary", "format_ms", "format_threshold_value", "WIDTH"]

WIDTH = 100
_STAT_COLUMNS = (("p50", "p50"), ("p90", "p90"), ("p95", "p95"), ("p99", "p99"), ("p999", "p99.9"), ("max", "max"), ("mean", "mean"))


def format_ms(value: float | None) -> str:
    """Milliseconds for humans: 0.123 -> '0.123ms', 1234.5 -> '1.23s'."""
    if value is None:
        return "-"
    if value >= 1000:
        return f"{value / 1000:.3g}s"
    if value >= 100:
        return f"{value:.0f}ms"
    if value >= 10:
        return f"{value:.1f}ms"
    return f"{value:.3g}ms" if value >= 1 else f"{value:.3f}ms"


def _metric_of(expr: str) -> str:
    """The metric's name: ``p99`` of ``"p99{step=login} < 200ms"``."""
    match = re.match(r"\s*([A-Za-z_][A-Za-z0-9_.]*)", expr)
    return match.group(1).lower() if match else ""


def format_threshold_value(expr: str, value: float | None) -> str:
    """A measured threshold value in its metric's unit, guessed from the expression."""
    if value is None:
        return "no data"
    metric = _metric_of(expr)
    if metric in ("error_rate", "flow_error_rate"):
        return f"{value * 100:.3g}%"
    if metric in ("rate", "intended_rate"):
        return f"{value:,.1f}/s"
    if metric in ("dropped", "cut", "errors", "ok", "sent", "intended", "completed"):
        return f"{int(value):,}"
    return format_ms(value)


def _count(n: Any) -> str:
    return f"{int(n):,}" if n is not None else "-"


def _requests_table(s: Mapping[str, Any]) -> Table:
    t = Table(box=box.SIMPLE_HEAD, title="requests", title_justify="left", pad_edge=False, show_edge=False)
    for col in ("intended", "sent", "dropped", "cut", "ok", "errors", "error rate", "rate", "intended rate"):
        t.add_column(col, justify="right")
    t.add_row(
        _count(s.get("intended")),
        _count(s.get("sent")),
        _count(s.get("dropped")),
        _count(s.get("cut")),
        _count(s.get("ok")),
        _count(s.get("errors")),
        f"{(s.get('error_rate') or 0.0) * 100:.2f}%",
        f"{s.get('rate') or 0.0:,.1f}/s",
        f"{s.get('intended_rate') or 0.0:,.1f}/s",
    )
    return t


def _latency_table(s: Mapping[str, Any]) -> Table:
    t = Table(box=box.SIMPLE_HEAD, title="latency (from intended send time)", title_justify="left", pad_edge=False, show_edge=False)
    t.add_column("")
    for _, label in _STAT_COLUMNS:
        t.add_column(label, justify="right")
    for key, label in (("latency_ms", "latency"), ("service_ms", "service"), ("send_lag_ms", "send lag")):
        stats = s.get(key) or {}
        t.add_row(label, *(format_ms(stats.get(k)) for k, _ in _STAT_COLUMNS))
    return t


def _steps_table(s: Mapping[str, Any]) -> Table | None:
    steps = s.get("steps") or {}
    if len(steps) < 2:
        return None
    t = Table(box=box.SIMPLE_HEAD, title="steps", title_justify="left", pad_edge=False, show_edge=False)
    for col in ("step", "count", "ok", "errors", "p50", "p99", "max"):
        t.add_column(col, justify="left" if col == "step" else "right")
    for name, st in steps.items():
        lat = st.get("latency_ms") or {}
        t.add_row(
            name, _count(st.get("count")), _count(st.get("ok")), _count(st.get("errors")),
            format_ms(lat.get("p50")), format_ms(lat.get("p99")), format_ms(lat.get("max")),
        )
    return t


def _flows_table(s: Mapping[str, Any]) -> Table | None:
    flows = s.get("flows") or {}
    if not flows:
        return None
    t = Table(box=box.SIMPLE_HEAD, title="flows (end to end)", title_justify="left", pad_edge=False, show_edge=False)
    t.add_column("flow")
    for col in ("count", "ok", "failed", *(label for key, label in _STAT_COLUMNS if key != "mean")):
        t.add_column(col, justify="right")
    for name, f in flows.items():
        lat = f.get("flow_ms") or {}
        t.add_row(name, _count(f.get("count")), _count(f.get("ok")), _count(f.get("failed")),
                  *(format_ms(lat.get(key)) for key, _ in _STAT_COLUMNS if key != "mean"))
    return t


def llm_lines(s: Mapping[str, Any]) -> list[str]:
    """One line per streamed step: TTFT, ITL, tokens/s (``llm:``), or first chunk, gaps,
    chunks/s (``stream:``)."""
    out = []
    for step, figures in (s.get("steps") or {}).items():
        for kind, keys, names in (("llm", ("ttft_ms", "itl_ms", "tokens_per_s"), ("TTFT", "ITL", "tokens/s")),
                                  ("stream", ("first_chunk_ms", "gap_ms", "chunks_per_s"),
                                   ("first chunk", "gaps", "chunks/s"))):
            got = figures.get(kind)
            if got:
                first, gap, rate = (got.get(k) or {} for k in keys)
                out.append(f"{kind} {step}: {names[0]} p50 {format_ms(first.get('p50'))} p99 "
                           f"{format_ms(first.get('p99'))}, {names[1]} p50 {format_ms(gap.get('p50'))} p99 "
                           f"{format_ms(gap.get('p99'))}, {rate.get('p50') or 0:g} {names[2]} p50 "
                           f"({got.get('requests', 0):,} requests)")
    return out


def _counted(label: str, counts: Mapping[str, int]) -> Text:
    return Text(f"{label}: " + ", ".join(f"{k} {v:,}" for k, v in counts.items()))


def _extra_lines(s: Mapping[str, Any]) -> list[Text]:
    """Checks passed/failed, failed checks by name, flows/s beside requests/s, bytes in."""
    from .tables import format_bytes  # the HTML report's own formatting

    lines = []
    results = [r for r in s.get("check_results") or [] if r.get("passed") is not None]
    if results:
        passed, failed = sum(r["passed"] for r in results), sum(r["failed"] + r["errors"] for r in results)
        share = f" ({passed / (passed + failed) * 100:.4g}% passed)" if passed + failed else ""
        lines.append(Text(f"checks: {passed:,} passed, {failed:,} failed{share}"))
    if s.get("checks"):
        lines.append(_counted("failed checks", s["checks"]))
    flows, duration = s.get("flows") or {}, s.get("duration_s") or 0.0
    if flows and duration:
        per_s = sum(f.get("count") or 0 for f in flows.values()) / duration
        lines.append(Text(f"flow rate: {per_s:,.1f} flows/s (the scenario's rate), {s.get('rate') or 0.0:,.1f} requests/s"))
    received = s.get("bytes_in") or {}
    if received.get("total"):
        lines.append(Text(f"bytes in: {format_bytes(received['total'])} ({format_bytes(received.get('per_s'))}/s)"))
    lines.extend(Text(line) for line in llm_lines(s))
    return lines


def render_summary(summary: Mapping[str, Any], *, color: bool = False, width: int = WIDTH) -> str:
    """The summary as compact text tables (plain text unless ``color``)."""
    s = summary
    parts: list[Any] = []
    head = Text()
    head.append(f"loadray run {s.get('name') or ''}".rstrip(), style="bold")
    bits = []
    if s.get("started_at"):
        bits.append(f"started {s['started_at']}")
    bits.append(f"duration {s.get('duration_s') or 0:.3f}s")
    bits.append(f"{s.get('workers') or 0} workers")
    head.append("  " + ", ".join(bits))
    parts.append(head)
    parts.append(_requests_table(s))
    parts.append(_latency_table(s))
    parts.extend(t for t in (_steps_table(s), _flows_table(s)) if t is not None)
    kinds = s.get("errors_by_kind") or {}
    if kinds:
        parts.append(_counted("errors", kinds))
    parts.extend(_extra_lines(s))
    if s.get("retries"):
        parts.append(Text(f"retries: {s['retries']:,} (requests sent again after a failed attempt)"))
    thresholds = s.get("thresholds") or []
    if thresholds:
        parts.append(Text(""))
        text = Text("thresholds:\n")
        for r in thresholds:
            ok = bool(r.get("passed"))
            text.append("  ✓ " if ok else "  ✗ ", style="green" if ok else "bold red")
            text.append(f"{r.get('expr')}  ({format_threshold_value(str(r.get('expr', '')), r.get('value'))})\n")
        text.append("PASSED" if s.get("passed") else "FAILED", style="bold green" if s.get("passed") else "bold red")
        parts.append(text)
    for w in s.get("warnings") or []:
        parts.append(Text(f"! {w}", style="yellow"))

    buf = StringIO()
    console = Console(
        file=buf,
        width=width,
        force_terminal=color,
        color_system="standard" if color else None,
        no_color=not color,
        highlight=False,
        emoji=False,
        legacy_windows=False,
    )
    spaced: list[Any] = []
    for i, part in enumerate(parts):
        if i and isinstance(part, Table):
            spaced.append(Text(""))
        spaced.append(part)
    console.print(Group(*spaced))
    return "\n".join(line.rstrip() for line in buf.getvalue().splitlines()) + "\n"
