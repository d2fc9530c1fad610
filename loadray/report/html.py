"""One self-contained HTML report: inline CSS, plots as base64 PNG data URIs, no
scripts and no external resources of any kind (it opens offline, from an email, or from
a CI artifact). matplotlib is imported lazily and only through its Agg canvas: no
pyplot, no global backend switch.
"""

from __future__ import annotations

import base64
import html
import io
from typing import Any, Mapping

import numpy as np
import pandas as pd
import yaml

from .text import format_ms, format_threshold_value

__all__ = ["render_html"]

_CSS = """
body{font:14px/1.45 -apple-system,BlinkMacSystemFont,"Segoe UI",Roboto,Helvetica,Arial,sans-serif;
color:#1d232a;background:#fff;margin:0;padding:24px 32px;max-width:1100px}
h1{font-size:22px;margin:0 0 4px}h2{font-size:16px;margin:28px 0 8px;border-bottom:1px solid #e3e6ea;padding-bottom:4px}
.meta{color:#5b6670;margin:0 0 12px}.meta span{margin-right:18px}
.badge{display:inline-block;padding:2px 10px;border-radius:10px;font-weight:600;font-size:13px;vertical-align:middle;margin-left:8px}
.pass{background:#e3f6e8;color:#146c2e}.fail{background:#fde8e8;color:#a11a1a}.none{background:#eef0f2;color:#5b6670}
table{border-collapse:collapse;margin:4px 0 8px}th,td{padding:4px 12px;text-align:right;border-bottom:1px solid #eef0f2;white-space:nowrap}
th{font-weight:600;color:#3b4650;background:#f7f8fa}td.l,th.l{text-align:left}
.ok{color:#146c2e;font-weight:600}.bad{color:#a11a1a;font-weight:600}
.warn{background:#fff7e0;border-left:4px solid #e0a800;padding:6px 10px;margin:6px 0}
img{max-width:100%;height:auto;display:block;margin:8px 0}
pre{background:#f7f8fa;padding:10px;overflow:auto;font-size:12px}
"""


def _e(value: Any) -> str:
    return html.escape("" if value is None else str(value), quote=True)


def _n(value: Any) -> str:
    return "-" if value is None else f"{int(value):,}"


def _table(headers: list[str], rows: list[list[Any]], left: int = 1) -> str:
    """A table; the first ``left`` columns are left-aligned. Cells are escaped."""
    head = "".join(f'<th class="l">{_e(h)}</th>' if i < left else f"<th>{_e(h)}</th>" for i, h in enumerate(headers))
    body = []
    for row in rows:
        cells = "".join(f'<td class="l">{_e(c)}</td>' if i < left else f"<td>{_e(c)}</td>" for i, c in enumerate(row))
        body.append(f"<tr>{cells}</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


_STATS = (("p50", "p50"), ("p90", "p90"), ("p95", "p95"), ("p99", "p99"), ("p999", "p99.9"), ("max", "max"), ("mean", "mean"))


def _png(fig: Any) -> str:
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(fig)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100, bbox_inches="tight", metadata={"Software": None})
    data = base64.b64encode(buf.getvalue()).decode("ascii")
    return f'<img alt="" src="data:image/png;base64,{data}">'


def _figure(title: str, ylabel: str) -> tuple[Any, Any]:
    from matplotlib.figure import Figure

    fig = Figure(figsize=(10, 3.4))
    ax = fig.add_subplot(1, 1, 1)
    ax.set_title(title, fontsize=11, loc="left")
    ax.set_xlabel("seconds since start")
    ax.set_ylabel(ylabel)
    ax.grid(True, alpha=0.3)
    return fig, ax


def _bucket_s(df: pd.DataFrame) -> float:
    if len(df.index) >= 2:
        step = float(df.index[1] - df.index[0])
        if step > 0:
            return step
    return 1.0


def _rate_plot(df: pd.DataFrame) -> str:
    fig, ax = _figure("requests per second: intended (schedule) vs achieved", "requests/s")
    if len(df):
        width = _bucket_s(df)
        # bucket edges: each bucket is drawn over its whole width, the last one included
        x = np.append(df.index.to_numpy(dtype=float), float(df.index[-1]) + width)

        def series(col: str) -> np.ndarray:
            y = df[col].to_numpy(dtype=float) / width
            return np.append(y, y[-1])

        ax.plot(x, series("intended"), label="intended", color="#8a94a0", linestyle="--", drawstyle="steps-post")
        ax.plot(x, series("sent"), label="sent (achieved)", color="#1f6feb", drawstyle="steps-post")
        if "errors" in df and df["errors"].any():
            ax.plot(x, series("errors"), label="errors", color="#d1242f", drawstyle="steps-post")
        if "dropped" in df and df["dropped"].any():
            ax.plot(x, series("dropped"), label="dropped", color="#bf8700", drawstyle="steps-post")
        ax.set_ylim(bottom=0)
        ax.legend(loc="lower right", fontsize=9)
    else:
        ax.text(0.5, 0.5, "no data", ha="center", va="center", transform=ax.transAxes)
    return _png(fig)


def _latency_plot(df: pd.DataFrame) -> str:
    fig, ax = _figure("latency per second (from intended send time)", "ms")
    has = len(df) and df["latency_p50_ms"].notna().any()
    if has:
        x = df.index.to_numpy(dtype=float) + _bucket_s(df) / 2  # bucket centres
        ax.plot(x, df["latency_p50_ms"].to_numpy(), label="p50", color="#1f6feb", marker=".", markersize=3)
        ax.plot(x, df["latency_p99_ms"].to_numpy(), label="p99", color="#d1242f", marker=".", markersize=3)
        ax.set_ylim(bottom=0)
        ax.legend(loc="upper right", fontsize=9)
    else:
        ax.text(0.5, 0.5, "no completed requests", ha="center", va="center", transform=ax.transAxes)
    return _png(fig)


def _target_of(doc: Mapping[str, Any]) -> str:
    target = doc.get("target")
    if isinstance(target, Mapping):
        return "built-in target" if target.get("builtin") is not None or "url" not in target else str(target.get("url"))
    return "" if target is None else str(target)


def render_html(
    summary: Mapping[str, Any],
    per_second_df: pd.DataFrame,
    scenario_doc: Mapping[str, Any] | None = None,
) -> str:
    """The report page of a run, as one self-contained HTML string."""
    s = summary
    doc = dict(scenario_doc or {})
    name = s.get("name") or doc.get("name") or "run"
    thresholds = s.get("thresholds") or []
    if not thresholds:
        badge = '<span class="badge none">no thresholds</span>'
    elif s.get("passed"):
        badge = '<span class="badge pass">PASSED</span>'
    else:
        badge = '<span class="badge fail">FAILED</span>'

    out: list[str] = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>loadray report: {_e(name)}</title>",
        f"<style>{_CSS}</style></head><body>",
        f"<h1>loadray: {_e(name)}{badge}</h1>",
    ]
    meta = [
        ("started", s.get("started_at") or "-"),
        ("duration", f"{s.get('duration_s') or 0:.3f} s"),
        ("workers", s.get("workers", 0)),
        ("target", _target_of(doc) or "-"),
        ("schema", s.get("schema_version") or "-"),
    ]
    out.append('<p class="meta">' + "".join(f"<span><b>{_e(k)}</b> {_e(v)}</span>" for k, v in meta) + "</p>")

    for w in s.get("warnings") or []:
        out.append(f'<div class="warn">{_e(w)}</div>')

    if thresholds:
        out.append("<h2>thresholds</h2>")
        rows = []
        for r in thresholds:
            passed = bool(r.get("passed"))
            mark = '<span class="ok">✓ pass</span>' if passed else '<span class="bad">✗ fail</span>'
            value = format_threshold_value(str(r.get("expr", "")), r.get("value"))
            rows.append(f'<tr><td class="l">{mark}</td><td class="l">{_e(r.get("expr"))}</td><td>{_e(value)}</td></tr>')
        out.append(
            '<table><thead><tr><th class="l"></th><th class="l">threshold</th><th>measured</th></tr></thead>'
            f"<tbody>{''.join(rows)}</tbody></table>"
        )

    out.append("<h2>requests</h2>")
    out.append(
        _table(
            ["intended", "sent", "dropped", "cut", "ok", "errors", "error rate", "achieved rate", "intended rate"],
            [[
                _n(s.get("intended")), _n(s.get("sent")), _n(s.get("dropped")), _n(s.get("cut")),
                _n(s.get("ok")), _n(s.get("errors")),
                f"{(s.get('error_rate') or 0.0) * 100:.3f}%",
                f"{s.get('rate') or 0.0:,.1f}/s", f"{s.get('intended_rate') or 0.0:,.1f}/s",
            ]],
            left=0,
        )
    )
    out.append("<h2>latency</h2>")
    rows = []
    for key, label in (("latency_ms", "latency (done − intended)"), ("service_ms", "service (done − sent)"), ("send_lag_ms", "send lag (sent − intended)")):
        st = s.get(key) or {}
        rows.append([label, *(format_ms(st.get(k)) for k, _ in _STATS)])
    out.append(_table(["", *(lbl for _, lbl in _STATS)], rows))

    kinds = s.get("errors_by_kind") or {}
    status = s.get("status") or {}
    if kinds or status:
        out.append("<h2>outcomes</h2>")
        if status:
            out.append(_table(["HTTP status", "count"], [[k if k != "0" else "0 (no response)", _n(v)] for k, v in status.items()]))
        if kinds:
            out.append(_table(["error kind", "count"], [[k, _n(v)] for k, v in kinds.items()]))

    steps = s.get("steps") or {}
    if steps:
        out.append("<h2>steps</h2>")
        out.append(
            _table(
                ["step", "count", "ok", "errors", "p50", "p90", "p99", "max"],
                [
                    [nm, _n(st.get("count")), _n(st.get("ok")), _n(st.get("errors")),
                     *(format_ms((st.get("latency_ms") or {}).get(k)) for k in ("p50", "p90", "p99", "max"))]
                    for nm, st in steps.items()
                ],
            )
        )
    phases = s.get("phases") or []
    if phases:
        out.append("<h2>phases</h2>")
        out.append(
            _table(
                ["phase", "intended", "sent", "ok", "errors", "p50", "p90", "p99", "max"],
                [
                    [ph.get("phase"), _n(ph.get("intended")), _n(ph.get("sent")), _n(ph.get("ok")), _n(ph.get("errors")),
                     *(format_ms((ph.get("latency_ms") or {}).get(k)) for k in ("p50", "p90", "p99", "max"))]
                    for ph in phases
                ],
            )
        )

    out.append("<h2>over time</h2>")
    out.append(_rate_plot(per_second_df))
    out.append(_latency_plot(per_second_df))

    if doc:
        text = yaml.safe_dump(doc, sort_keys=False, allow_unicode=True, default_flow_style=False)
        out.append("<h2>scenario</h2>")
        out.append(f"<details><summary>resolved scenario (secrets redacted)</summary><pre>{_e(text)}</pre></details>")

    out.append("</body></html>")
    return "\n".join(out) + "\n"
