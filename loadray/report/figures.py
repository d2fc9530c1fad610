"""The plots of the run report: name -> title and how to draw it from an Overview.

The names are the PNG file names in ``RUN_DIR/plots/`` (``rate.png``...).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from loadray.analysis import Overview

from .markup import png_bytes
from .plots import (
    errors_figure,
    histogram_figure,
    in_flight_figure,
    latency_figure,
    rate_figure,
    spectrum_figure,
    workers_figure,
)

__all__ = ["PLOT_SECTIONS", "RUN_PLOTS", "render_plots"]


def _widths(o: Overview):
    return o.series["width_s"].to_numpy() if "width_s" in o.series.columns else None


RUN_PLOTS: dict[str, tuple[str, Callable[..., Any]]] = {
    "rate": ("achieved vs intended rate, phase starts and live events marked",
             lambda o, events: rate_figure({"": o.series}, o.bucket_s, o.phase_starts, events, o.duration_s,
                                           "active_users" in o.in_flight.columns)),
    "latency": ("corrected latency percentiles over time",
                lambda o, _: latency_figure({"": o.series}, o.bucket_s, "latency", o.duration_s)),
    "service": ("service time percentiles over time",
                lambda o, _: latency_figure({"": o.series}, o.bucket_s, "service", o.duration_s)),
    "errors": ("errors, dropped and cut requests over time by kind",
               lambda o, _: errors_figure(o.errors, o.bucket_s, o.duration_s, _widths(o))),
    "in_flight": ("requests in flight over time", lambda o, _: in_flight_figure(o.in_flight, o.bucket_s, o.duration_s)),
    "workers": ("requests sent per second by worker",
                lambda o, _: workers_figure(o.worker_rates, o.bucket_s, o.duration_s, _widths(o))),
    "spectrum": ("latency percentile spectrum", lambda o, _: spectrum_figure({"": o.spectrum})),
    "histogram": ("latency histogram and CDF", lambda o, _: histogram_figure(o.histogram)),
}

#: Report section title -> plot names, in page order.
PLOT_SECTIONS = (
    ("over time", ("rate", "latency", "service", "errors", "in_flight", "workers")),
    ("distribution", ("spectrum", "histogram")),
)


def render_plots(overview: Overview, events: Sequence[tuple[float, str]] = ()) -> dict[str, bytes]:
    """PNG bytes of every run plot, by name (one figure alive at a time); ``events``
    (``(t_s, label)``) are marked on the rate plot."""
    return {name: png_bytes(draw(overview, events)) for name, (_, draw) in RUN_PLOTS.items()}
