"""matplotlib figures of a run, drawn from aggregated frames only (never from rows).

Every function returns a :class:`matplotlib.figure.Figure` on an Agg canvas (no pyplot,
no global state). Time-series figures take ``{label: frame}``: one entry draws one run,
two overlay a comparison.

Layout: every figure has the same size and the same margins in inches (legend in the
right margin), and every time panel spans ``[0, end_s]``: stacked on a page, their
x-axes line up. Colours: :mod:`loadray.report.palette`. A last bucket shorter than the
others (``width_s``) is drawn as wide as it lasted, its rates per second of that part.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from . import palette

__all__ = [
    "errors_figure",
    "histogram_figure",
    "in_flight_figure",
    "latency_figure",
    "rate_figure",
    "spectrum_figure",
    "workers_figure",
]

WIDTH_IN, HEIGHT_IN = 10.0, 3.4
MARGINS_IN = {"left": 0.85, "right": 2.1, "top": 0.4, "bottom": 0.55}
RUN_STYLES = ("-", "--")  # base, new
_LATENCY_LINES = (("p50", "p50", "."), ("p90", "p90", "o"), ("p99", "p99", "s"), ("p999", "p99.9", "^"))
_SPECTRUM_TICKS = (1.0, 2.0, 10.0, 100.0, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8)
_MAX_WORKER_LINES = 12
_LINESTYLES = ("-", "--", "-.", ":")


def _figure(title: str, ylabel: str, xlabel: str = "seconds since start") -> tuple[Any, Any]:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(WIDTH_IN, HEIGHT_IN))
    FigureCanvasAgg(fig)
    m = MARGINS_IN
    fig.subplots_adjust(left=m["left"] / WIDTH_IN, right=1 - m["right"] / WIDTH_IN,
                        bottom=m["bottom"] / HEIGHT_IN, top=1 - m["top"] / HEIGHT_IN)
    ax = fig.add_subplot(1, 1, 1)
    ax.set_title(title, fontsize=10, loc="left")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.grid(True, alpha=0.3)
    return fig, ax


def _time_axis(ax: Any, end_s: float | None, frames: Sequence[pd.DataFrame] = ()) -> None:
    """x from 0 to the run's end (else to the last bucket's end)."""
    if not end_s:
        end_s = max((float(_edges(df, 1.0)[-1]) for df in frames if len(df)), default=1.0)
    ax.set_xlim(0, end_s)


def _no_data(ax: Any, text: str = "no data") -> None:
    ax.text(0.5, 0.5, text, ha="center", va="center", transform=ax.transAxes, color="#57606a")


def _widths(df: pd.DataFrame, bucket_s: float) -> np.ndarray:
    if "width_s" in df.columns:
        return df["width_s"].to_numpy(dtype=float)
    return np.full(len(df), float(bucket_s))


def _edges(df: pd.DataFrame, bucket_s: float) -> np.ndarray:
    """Bucket edges (one more than buckets) for step plots over each bucket's width."""
    x = df.index.to_numpy(dtype=float)
    return np.append(x, x[-1] + _widths(df, bucket_s)[-1]) if x.size else x


def _centres(df: pd.DataFrame, bucket_s: float) -> np.ndarray:
    return df.index.to_numpy(dtype=float) + _widths(df, bucket_s) / 2


def _steps(ax: Any, df: pd.DataFrame, bucket_s: float, column: str, **style: Any) -> None:
    y = df[column].to_numpy(dtype=float)
    ax.plot(_edges(df, bucket_s), np.append(y, y[-1]), drawstyle="steps-post", **style)


def _legend(ax: Any, **kwargs: Any) -> None:
    """The legend outside the plot, on the right (never over the lines)."""
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8, frameon=False, **kwargs)


def _zero_based(ax: Any) -> None:
    """y from 0, with a little room above the highest line (never on the frame)."""
    ax.set_ylim(0, max(ax.get_ylim()[1], 1e-9) * 1.08)


def _plain_log_axis(axis: Any, span: float = 10.0) -> None:
    """Log-scale ticks at 1-2-5 steps (more within less than a decade: ``span`` is the
    ratio of the ends) labelled as plain numbers (5, 10, 20 ms)."""
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    subs = (1.0, 2.0, 5.0) if span >= 10 else (1.0, 1.5, 2.0, 3.0, 4.0, 5.0, 7.0)
    axis.set_major_locator(LogLocator(base=10, subs=subs))
    axis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    axis.set_minor_formatter(NullFormatter())


def _label(run: str, what: str) -> str:
    return f"{run}: {what}" if run else what


def _marks(ax: Any, marks: Sequence[tuple[float, str]], style: str) -> None:
    """Vertical lines at ``(t_s, label)`` with the label at the top."""
    for t, text in marks:
        ax.axvline(t, color="#57606a", linestyle=style, linewidth=1)
        ax.annotate(text, (t, 1.0), xycoords=("data", "axes fraction"), fontsize=8,
                    xytext=(2, -10), textcoords="offset points", color="#57606a")


def _partial_note(df: pd.DataFrame, bucket_s: float) -> str:
    w = _widths(df, bucket_s)
    return f"; last {w[-1]:.2g} s: per second of that part" if len(w) and w[-1] < bucket_s - 1e-9 else ""


def _run_lines(ax: Any, i: int, run: str, df: pd.DataFrame, bucket_s: float, single: bool) -> None:
    """Achieved under intended: intended dashed and thinner, drawn on top, so both show
    when they coincide; flows started (a flow scenario's rate); errors and dropped."""
    color = palette.ACHIEVED if single else palette.RUN_COLORS[i % 2]
    wide = single or i % 2 == 0  # compared runs: the base wide and pale, the new one narrow on top of it
    _steps(ax, df, bucket_s, "rate", label=_label(run, "achieved requests/s"), color=color,
           linewidth=2.4 if single else (4.0 if wide else 1.5), alpha=0.85 if single else (0.5 if wide else 1.0),
           zorder=2 + i)
    _steps(ax, df, bucket_s, "intended_rate", label=_label(run, "intended requests/s"),
           color=palette.INTENDED if wide else color, linewidth=1.1,
           linestyle=(0, (4, 3)) if wide else (0, (1, 2)), zorder=4 + i)
    if "flow_rate" in df.columns:
        _steps(ax, df, bucket_s, "flow_rate", label=_label(run, "flows started/s"),
               color=palette.FLOWS, linewidth=1.6, linestyle="-.", zorder=3)
    if single:
        w = _widths(df, bucket_s)
        for column, label, color in (("errors", "errors/s", palette.ERROR), ("dropped", "dropped/s", palette.DROPPED)):
            if df[column].any():
                _steps(ax, df.assign(per_s=df[column] / w), bucket_s, "per_s", label=label, color=color, linewidth=1.2)


def rate_figure(
    series: Mapping[str, pd.DataFrame],
    bucket_s: float,
    phase_starts: pd.Series | None = None,
    events: Sequence[tuple[float, str]] = (),
    end_s: float | None = None,
    closed: bool = False,
) -> Any:
    """Intended vs achieved requests/s per bucket (and flows started/s: the scenario's
    rate, unless the model is ``closed``); phase starts (numbered from 1) as dotted
    lines and live events (rate changes...) as dashed ones."""
    frames = [df for df in series.values() if len(df)]
    flows = any("flow_rate" in df.columns for df in frames)
    title = "requests per second: intended (schedule) vs achieved (sent)"
    if flows:
        title = "requests/s intended vs achieved, flows started/s" + ("" if closed else " (the scenario's rate)")
    fig, ax = _figure(title + (_partial_note(frames[0], bucket_s) if len(frames) == 1 else ""), "per second")
    for i, (run, df) in enumerate(series.items()):
        if len(df):
            _run_lines(ax, i, run, df, bucket_s, len(series) == 1)
    if phase_starts is not None:
        _marks(ax, [(t, f"phase {int(phase) + 1}") for phase, t in phase_starts.items()], ":")
    _marks(ax, events, "--")
    _time_axis(ax, end_s, frames)
    if frames:
        marked = phase_starts is not None or bool(events)
        ax.set_ylim(bottom=0, top=ax.get_ylim()[1] * (1.18 if marked else 1.08))  # room for the labels
        _legend(ax)
    else:
        _no_data(ax)
    return fig


def latency_figure(series: Mapping[str, pd.DataFrame], bucket_s: float, metric: str = "latency",
                   end_s: float | None = None) -> Any:
    """Percentiles per bucket of ``metric`` ("latency": corrected, or "service")."""
    title = {"latency": "latency percentiles per second (corrected: done − intended)",
             "service": "service time percentiles per second (done − sent)"}[metric]
    fig, ax = _figure(title.replace("second", f"{bucket_s:g} s") if bucket_s != 1 else title, "ms")
    lines = _LATENCY_LINES if len(series) == 1 else (_LATENCY_LINES[0], _LATENCY_LINES[2])
    frames = [df for df in series.values() if len(df) and df[f"{metric}_p50_ms"].notna().any()]
    for i, (run, df) in enumerate(series.items()):
        if not len(df) or not df[f"{metric}_p50_ms"].notna().any():
            continue
        x, single = _centres(df, bucket_s), len(series) == 1
        for k, (key, name, marker) in enumerate(lines):
            ax.plot(x, df[f"{metric}_{key}_ms"].to_numpy(), label=_label(run, name), marker=marker, markersize=3.5,
                    color=palette.PERCENTILES[key] if single else palette.RUN_COLORS[i % 2],
                    linestyle="-" if single else ("-", ":")[k], linewidth=1.4)
    _time_axis(ax, end_s, list(series.values()))
    if frames:
        _zero_based(ax)
        _legend(ax)
    else:
        _no_data(ax, "no completed requests")
    return fig


def _tick_label(inv_tail: float) -> str:
    q = 100.0 * (1.0 - 1.0 / inv_tail)
    return f"{q:.10g}%"


def spectrum_figure(spectra: Mapping[str, pd.DataFrame], metrics: tuple[str, ...] = ("latency", "service")) -> Any:
    """Percentile spectrum on a log 1/(1-q) axis (HdrHistogram style)."""
    fig, ax = _figure("latency by percentile (HdrHistogram-style spectrum)", "ms", xlabel="percentile")
    drawn = [df for df in spectra.values() if len(df)]
    for i, (run, df) in enumerate(spectra.items()):
        if not len(df):
            continue
        for k, metric in enumerate(metrics):
            if len(spectra) > 1:  # a comparison: a colour per run
                style = {"color": palette.RUN_COLORS[i % 2], "linestyle": RUN_STYLES[(i + k) % 2], "linewidth": 1.6}
            else:  # service (thin, dashed, on top) stays visible where it equals latency
                style = ({"color": palette.ACHIEVED, "linewidth": 2.4, "alpha": 0.85, "zorder": 2},
                         {"color": palette.INTENDED, "linewidth": 1.1, "linestyle": (0, (4, 3)), "zorder": 3})[k % 2]
            ax.plot(df["inv_tail"].to_numpy(), df[f"{metric}_ms"].to_numpy(), label=_label(run, metric), **style)
    if drawn:
        ax.set_xscale("log")
        top = max(float(df["inv_tail"].max()) for df in drawn)
        ticks = [t for t in _SPECTRUM_TICKS if t <= top * 1.0001]
        ax.set_xticks(ticks, [_tick_label(t) for t in ticks])
        ax.minorticks_off()
        _zero_based(ax)
        _legend(ax)
    else:
        _no_data(ax, "no completed requests")
    return fig


def histogram_figure(hist: pd.DataFrame) -> Any:
    """Latency histogram (log-spaced bins) with its CDF."""
    fig, ax = _figure("latency distribution: histogram and CDF (corrected latency)", "requests", xlabel="ms")
    if len(hist):
        lo, hi = hist["lo_ms"].to_numpy(), hist["hi_ms"].to_numpy()
        ax.bar(lo, hist["count"].to_numpy(), width=hi - lo, align="edge", color=palette.ACHIEVED, alpha=0.55,
               label="requests")
        ax.set_xscale("log")
        _plain_log_axis(ax.xaxis, float(hi[-1] / lo[0]) if lo[0] > 0 else 10.0)
        cdf = ax.twinx()
        cdf.plot(hi, hist["cdf"].to_numpy() * 100, color=palette.INTENDED, label="CDF")
        cdf.set_ylabel("CDF %")
        cdf.set_ylim(0, 100.5)
        handles = [h for a in (ax, cdf) for h in a.get_legend_handles_labels()[0]]
        ax.legend(handles, [h.get_label() for h in handles], loc="upper left", bbox_to_anchor=(1.08, 1.0),
                  fontsize=8, frameon=False)
    else:
        _no_data(ax, "no completed requests")
    return fig


def errors_figure(errors: pd.DataFrame, bucket_s: float, end_s: float | None = None,
                  widths: np.ndarray | None = None) -> Any:
    """Rows that failed or were not completed, per second by kind, stacked (errors in
    reds, dropped grey, fenced orange, cut purple); the x-axis of the whole run."""
    fig, ax = _figure("errors, dropped and cut requests per second by kind (by intended send time)", "requests/s")
    if len(errors) and len(errors.columns):
        errors = errors[palette.stack_order(errors.sum(axis=0).to_dict())]
        w = widths if widths is not None and len(widths) == len(errors) else np.full(len(errors), bucket_s)
        x = np.append(errors.index.to_numpy(float), errors.index[-1] + w[-1])
        ys = [np.append(errors[c].to_numpy(float) / w, errors[c].iloc[-1] / w[-1]) for c in errors.columns]
        kinds = [str(c) for c in errors.columns]
        ax.stackplot(x, *ys, labels=kinds, step="post", colors=palette.kind_colors(kinds), alpha=0.85)
        _zero_based(ax)
        _legend(ax)
    else:
        _no_data(ax, "no errors, nothing dropped or cut")
    _time_axis(ax, end_s, [errors])
    return fig


def workers_figure(rates: pd.DataFrame, bucket_s: float, end_s: float | None = None,
                   widths: np.ndarray | None = None) -> Any:
    """Requests sent per second by each worker (min/median/max when there are many):
    each line its own colour, dash and width (the first widest, drawn first), so equal
    rates show as nested lines instead of hiding one another."""
    fig, ax = _figure("requests sent per second by worker", "requests/s")
    if not len(rates) or not len(rates.columns):
        _no_data(ax)
        _time_axis(ax, end_s)
        return fig
    frame = rates.assign(width_s=widths) if widths is not None and len(widths) == len(rates) else rates
    if len(rates.columns) <= _MAX_WORKER_LINES:
        columns, labels = list(rates.columns), [f"worker {w}" for w in rates.columns]
    else:
        stats = pd.DataFrame({"min": rates.min(axis=1), "median": rates.median(axis=1), "max": rates.max(axis=1)})
        frame = stats.assign(width_s=frame["width_s"]) if "width_s" in frame.columns else stats
        columns, labels = list(stats.columns), [f"{c} of {len(rates.columns)} workers" for c in stats.columns]
    n = len(columns)
    for k, (column, label) in enumerate(zip(columns, labels)):
        _steps(ax, frame, bucket_s, column, label=label, color=palette.WORKERS[k % len(palette.WORKERS)],
               linewidth=1.0 + 2.6 * (n - 1 - k) / max(n - 1, 1), linestyle=_LINESTYLES[k % len(_LINESTYLES)],
               alpha=0.9, zorder=2 + k)
    _zero_based(ax)
    _time_axis(ax, end_s, [frame])
    _legend(ax)
    return fig


def in_flight_figure(frame: pd.DataFrame, bucket_s: float, end_s: float | None = None) -> Any:
    """Requests in flight per bucket (mean and max over a 10 ms grid) and, in the
    closed model, the virtual users active."""
    fig, ax = _figure("requests in flight (sent, not yet done): mean and max per second", "requests")
    if len(frame):
        _steps(ax, frame, bucket_s, "in_flight_max", label="in flight, max", color=palette.ACHIEVED, linewidth=1.0,
               alpha=0.6)
        _steps(ax, frame, bucket_s, "in_flight_mean", label="in flight, mean", color=palette.ACHIEVED, linewidth=2.2)
        if "active_users" in frame.columns:
            _steps(ax, frame, bucket_s, "active_users", label="active users", color=palette.INTENDED,
                   linewidth=1.2, linestyle="--", zorder=3)
        _zero_based(ax)
        _legend(ax)
    else:
        _no_data(ax)
    _time_axis(ax, end_s, [frame])
    return fig
