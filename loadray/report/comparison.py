"""Rendering a run-to-run comparison: the terminal table and the HTML page (overlaid
percentile spectra and rate/latency time series of both runs, base blue and solid, new
gold and dashed). Both say where the two runs' scenarios differ; the page colours each
gate by its verdict."""

from __future__ import annotations

import math
from collections.abc import Mapping
from io import StringIO
from typing import Any

import pandas as pd
from rich import box
from rich.console import Console
from rich.table import Table

from loadray.analysis import Comparison

from .markup import e, img, page, png_bytes, table
from .plots import latency_figure, rate_figure, spectrum_figure
from .text import WIDTH, format_ms

__all__ = ["RunFrames", "comparison_html", "comparison_text", "format_figure"]

#: Per run: (label, per-second series, spectrum), from the analysis of its archive.
RunFrames = tuple[str, pd.DataFrame, pd.DataFrame]


def format_figure(value: float | None, unit: str) -> str:
    """A key figure in its unit (counts with separators, rates, ms, %)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if unit == "count":
        return f"{value:,.0f}"
    if unit == "fraction":
        return f"{value * 100:.3g}%"
    if unit == "req/s":
        return f"{value:,.1f}/s"
    if unit == "s":
        return f"{value:.3f}s"
    return format_ms(value)


def _change(row: Mapping[str, Any]) -> tuple[str, str]:
    change, pct = row["change"], row["change_pct"]
    if change is None or math.isnan(change):
        return "-", "-"
    unit = row["unit"]
    sign = "+" if change > 0 else ("−" if change < 0 else "±")
    text = sign + (format_figure(abs(change), unit) if unit != "fraction" else f"{abs(change) * 100:.3g} pts")
    return text, "-" if math.isnan(pct) else f"{pct:+.1f}%"


def _rows(c: Comparison) -> list[list[str]]:
    return [
        [str(name), format_figure(r["base"], r["unit"]), format_figure(r["new"], r["unit"]), *_change(r)]
        for name, r in c.table.iterrows()
    ]


def _gate_line(g: Any) -> str:
    if g.name == "complete":
        return f"{'✓' if g.passed else '✗'} {g.expr}" + (f"  ({g.detail})" if g.detail else "")
    measured = "no data" if g.change is None else (f"{g.change * 100:+.3g}%" if g.name == "p99" else f"{g.change * 100:+.3g} pts")
    return f"{'✓' if g.passed else '✗'} {g.expr}  (measured {measured})"


_HEADERS = ["", "base", "new", "change", "change %"]


def comparison_text(c: Comparison, width: int = WIDTH) -> str:
    """The comparison as a plain-text table, the gates and the verdict."""
    t = Table(box=box.SIMPLE_HEAD, title=f"{c.base} → {c.new}", title_justify="left", pad_edge=False, show_edge=False)
    for i, col in enumerate(_HEADERS):
        t.add_column(col, justify="left" if i == 0 else "right")
    for row in _rows(c):
        t.add_row(*row)
    buf = StringIO()
    console = Console(file=buf, width=width, no_color=True, highlight=False, emoji=False, color_system=None)
    console.print(t)
    lines = [line.rstrip() for line in buf.getvalue().splitlines()]
    lines += [_gate_line(g) for g in c.gates]
    lines.append("PASSED" if c.passed else "FAILED")
    if c.scenario_differences:
        lines.append(f"! {_differ_line(c)}")
        lines += [f"    {d}" for d in c.scenario_differences[:_DIFFERENCES_SHOWN]]
    return "\n".join(lines) + "\n"


_DIFFERENCES_SHOWN = 12


def _differ_line(c: Comparison) -> str:
    n = len(c.scenario_differences)
    more = f" (the first {_DIFFERENCES_SHOWN} shown)" if n > _DIFFERENCES_SHOWN else ""
    return f"the two runs' scenarios differ in {n} place{'s' if n != 1 else ''}{more}: not like for like"


def _gates_html(c: Comparison) -> str:
    if not c.gates:
        return "<p>no gates</p>"
    items = "".join(f'<li class="{"ok" if g.passed else "bad"}">{e(_gate_line(g))}</li>' for g in c.gates)
    return f'<ul class="gates">{items}</ul>'


def _differences_html(c: Comparison) -> list[str]:
    if not c.scenario_differences:
        return []
    items = "".join(f"<li><code>{e(d)}</code></li>" for d in c.scenario_differences[:_DIFFERENCES_SHOWN])
    return [f'<div class="warn">{e(_differ_line(c))}<ul>{items}</ul></div>']


def _end_s(frames: tuple[pd.DataFrame, pd.DataFrame]) -> float | None:
    ends = [float(df.index[-1] + df["width_s"].iloc[-1]) for df in frames if len(df) and "width_s" in df.columns]
    return max(ends) if ends else None


def comparison_html(c: Comparison, base: RunFrames, new: RunFrames) -> str:
    """A self-contained page: verdict, gates, scenario differences, the key-figure table
    and overlaid plots (same x range on every time panel)."""
    series = {base[0]: base[1], new[0]: new[1]}
    bucket_s = float(base[1].index[1] - base[1].index[0]) if len(base[1]) > 1 else 1.0
    end_s = _end_s((base[1], new[1]))
    verdict = '<span class="badge pass">PASSED</span>' if c.passed else '<span class="badge fail">FAILED</span>'
    plots = [
        ("latency percentile spectra", spectrum_figure({base[0]: base[2], new[0]: new[2]}, ("latency",))),
        ("achieved vs intended rate", rate_figure(series, bucket_s, end_s=end_s)),
        ("corrected latency over time", latency_figure(series, bucket_s, "latency", end_s)),
    ]
    body = [
        f"<h1>loadray compare: {e(c.base)} → {e(c.new)}{verdict}</h1>",
        *_differences_html(c),
        "<h2>gates</h2>",
        _gates_html(c),
        "<h2>key figures</h2>",
        table(_HEADERS, _rows(c)),
        f'<h2>plots</h2>  <p class="meta">base ({e(base[0])}): blue; new ({e(new[0])}): gold</p>',
        *(img(png_bytes(fig), title) for title, fig in plots),
    ]
    return page(f"loadray compare: {c.base} → {c.new}", body)
