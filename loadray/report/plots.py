"""matplotlib figures of a run, drawn from aggregated frames only (never from rows).

Every function returns a :class:`matplotlib.figure.Figure` on an Agg canvas (no pyplot,
no global state). Time-series figures take ``{label: frame}``: one entry draws one run,
two overlay a comparison.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd

__all__ = [
    "errors_figure",
    "histogram_figure",
    "latency_figure",
    "rate_figure",
    "spectrum_figure",
    "workers_figure",
]

COLORS = ("#1f6feb", "#d1242f", "#1a7f37", "#bf8700", "#8250df", "#57606a", "#0598bc", "#e16f24")
RUN_STYLES = ("-", "--")  # base, new
_LATENCY_LINES = (("p50", "p50"), ("p90", "p90"), ("p99", "p99"), ("p999", "p99.9"))
_SPECTRUM_TICKS = (1.0, 2.0, 10.0, 100.0, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8)
_MAX_WORKER_LINES = 12


def _figure(title: str, ylabel: str, xlabel: str = "seconds since start", height: float = 3.4) -> tuple[Any, Any]:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(10, height))
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    ax.set_title(title, fontsize=11, loc="left")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.grid(True, alpha=0.3)
    return fig, ax


def _no_data(ax: Any, text: str = "no data") -> None:
    ax.text(0.5, 0.5, text, ha="center", va="center", transform=ax.transAxes, color="#57606a")


def _edges(df: pd.DataFrame, bucket_s: float) -> np.ndarray:
    """Bucket edges (one more than buckets) for step plots over each bucket's width."""
    x = df.index.to_numpy(dtype=float)
    return np.append(x, x[-1] + bucket_s) if x.size else x


def _steps(ax: Any, df: pd.DataFrame, bucket_s: float, column: str, **style: Any) -> None:
    y = df[column].to_numpy(dtype=float)
    ax.plot(_edges(df, bucket_s), np.append(y, y[-1]), drawstyle="steps-post", **style)


def _legend(ax: Any, **kwargs: Any) -> None:
    """The legend outside the plot, on the right (never over the lines)."""
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8, frameon=False, **kwargs)


def _plain_log_axis(axis: Any) -> None:
    """Log-scale ticks at 1-2-5 steps labelled as plain numbers (5, 10, 20 ms)."""
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    axis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
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


def rate_figure(
    series: Mapping[str, pd.DataFrame],
    bucket_s: float,
    phase_starts: pd.Series | None = None,
    events: Sequence[tuple[float, str]] = (),
) -> Any:
    """Intended vs achieved requests/s per bucket; phase starts as dotted lines and live
    events (rate changes...) as dashed ones."""
    fig, ax = _figure("requests per second: intended (schedule) vs achieved (sent)", "requests/s")
    drawn = False
    for i, (run, df) in enumerate(series.items()):
        if not len(df):
            continue
        drawn = True
        style = RUN_STYLES[i % 2]
        _steps(ax, df, bucket_s, "intended_rate", label=_label(run, "intended"), color="#8a94a0", linestyle=":" if i else "--")
        _steps(ax, df, bucket_s, "rate", label=_label(run, "achieved"), color=COLORS[0], linestyle=style)
        if len(series) == 1:
            errors = (df["errors"] + df["dropped"]) / bucket_s
            if errors.any():
                _steps(ax, df.assign(bad=errors), bucket_s, "bad", label="errors + dropped", color=COLORS[1])
    if phase_starts is not None:
        _marks(ax, [(t, f"phase {phase}") for phase, t in phase_starts.items()], ":")
    _marks(ax, events, "--")
    if drawn:
        marked = phase_starts is not None or bool(events)
        ax.set_ylim(bottom=0, top=ax.get_ylim()[1] * (1.15 if marked else 1.0))  # room for the labels
        _legend(ax)
    else:
        _no_data(ax)
    return fig


def latency_figure(series: Mapping[str, pd.DataFrame], bucket_s: float, metric: str = "latency") -> Any:
    """Percentiles per bucket of ``metric`` ("latency": corrected, or "service")."""
    title = {"latency": "latency percentiles per second (corrected: done − intended)",
             "service": "service time percentiles per second (done − sent)"}[metric]
    fig, ax = _figure(title.replace("second", f"{bucket_s:g} s") if bucket_s != 1 else title, "ms")
    lines = _LATENCY_LINES if len(series) == 1 else (("p50", "p50"), ("p99", "p99"))
    drawn = False
    for i, (run, df) in enumerate(series.items()):
        if not len(df) or not df[f"{metric}_p50_ms"].notna().any():
            continue
        drawn = True
        x = df.index.to_numpy(dtype=float) + bucket_s / 2  # bucket centres
        for k, (key, name) in enumerate(lines):
            ax.plot(x, df[f"{metric}_{key}_ms"].to_numpy(), label=_label(run, name), color=COLORS[k],
                    linestyle=RUN_STYLES[i % 2], marker=".", markersize=3)
    if drawn:
        ax.set_ylim(bottom=0)
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
    drawn = False
    for i, (run, df) in enumerate(spectra.items()):
        if not len(df):
            continue
        drawn = True
        for k, metric in enumerate(metrics):
            color = COLORS[(i * len(metrics) + k) % len(COLORS)]
            ax.plot(df["inv_tail"].to_numpy(), df[f"{metric}_ms"].to_numpy(), color=color,
                    linestyle=RUN_STYLES[i % 2], label=_label(run, metric))
    if drawn:
        ax.set_xscale("log")
        top = max(float(df["inv_tail"].max()) for df in spectra.values() if len(df))
        ticks = [t for t in _SPECTRUM_TICKS if t <= top * 1.0001]
        ax.set_xticks(ticks, [_tick_label(t) for t in ticks])
        ax.minorticks_off()
        ax.set_ylim(bottom=0)
        _legend(ax)
    else:
        _no_data(ax, "no completed requests")
    return fig


def histogram_figure(hist: pd.DataFrame) -> Any:
    """Latency histogram (log-spaced bins) with its CDF."""
    fig, ax = _figure("latency distribution: histogram and CDF (corrected latency)", "requests", xlabel="ms")
    if len(hist):
        lo, hi = hist["lo_ms"].to_numpy(), hist["hi_ms"].to_numpy()
        ax.bar(lo, hist["count"].to_numpy(), width=hi - lo, align="edge", color=COLORS[0], alpha=0.6, label="requests")
        ax.set_xscale("log")
        _plain_log_axis(ax.xaxis)
        cdf = ax.twinx()
        cdf.plot(hi, hist["cdf"].to_numpy() * 100, color=COLORS[1], label="CDF")
        cdf.set_ylabel("CDF %")
        cdf.set_ylim(0, 100.5)
        handles = [h for a in (ax, cdf) for h in a.get_legend_handles_labels()[0]]
        ax.legend(handles, [h.get_label() for h in handles], loc="upper left", fontsize=8)
    else:
        _no_data(ax, "no completed requests")
    return fig


def errors_figure(errors: pd.DataFrame, bucket_s: float) -> Any:
    """Rows with an error per second, stacked by error kind."""
    fig, ax = _figure("errors per second by kind (by intended send time)", "requests/s")
    if len(errors) and len(errors.columns):
        x = _edges(errors, bucket_s)
        ys = [np.append(errors[c].to_numpy(float), errors[c].iloc[-1]) / bucket_s for c in errors.columns]
        ax.stackplot(x, *ys, labels=[str(c) for c in errors.columns], step="post",
                     colors=[COLORS[(k + 1) % len(COLORS)] for k in range(len(ys))], alpha=0.85)
        ax.set_ylim(bottom=0)
        _legend(ax)
    else:
        _no_data(ax, "no errors")
    return fig


def workers_figure(rates: pd.DataFrame, bucket_s: float) -> Any:
    """Requests sent per second by each worker (min/median/max when there are many)."""
    fig, ax = _figure("requests sent per second by worker", "requests/s")
    if not len(rates) or not len(rates.columns):
        _no_data(ax)
        return fig
    if len(rates.columns) <= _MAX_WORKER_LINES:
        for k, w in enumerate(rates.columns):
            _steps(ax, rates, bucket_s, w, label=f"worker {w}", color=COLORS[k % len(COLORS)], linewidth=1)
    else:
        stats = pd.DataFrame({"min": rates.min(axis=1), "median": rates.median(axis=1), "max": rates.max(axis=1)})
        for k, col in enumerate(stats.columns):
            _steps(ax, stats, bucket_s, col, label=f"{col} of {len(rates.columns)} workers", color=COLORS[k])
    ax.set_ylim(bottom=0)
    _legend(ax)
    return fig
