"""Live statistics of a running test: typed records, mergeable histograms, the terminal
view and the Prometheus exporter.

The records (``LiveStatus``, ``WorkerSecond``, ``StepRows``, ``Tally``, ``LogHistogram``) import only numpy, so
workers can import this package cheaply; ``LiveConsole`` (rich) and ``MetricsServer``
(prometheus_client) are loaded on first access.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from loadray._lazy import lazy_exports
from loadray.live.histogram import GAMMA, LogHistogram, merge_all
from loadray.live.status import LiveStatus, StepRows, Tally, Totals, WorkerSecond

if TYPE_CHECKING:
    from loadray.live.console import LiveConsole, render, status_line
    from loadray.live.metrics import LATENCY_BUCKETS_S, MetricsServer

__all__ = [
    "GAMMA",
    "LATENCY_BUCKETS_S",
    "LiveConsole",
    "LiveStatus",
    "LogHistogram",
    "MetricsServer",
    "StepRows",
    "Tally",
    "Totals",
    "WorkerSecond",
    "merge_all",
    "render",
    "status_line",
]

_LAZY = {
    "LiveConsole": "loadray.live.console",
    "render": "loadray.live.console",
    "status_line": "loadray.live.console",
    "MetricsServer": "loadray.live.metrics",
    "LATENCY_BUCKETS_S": "loadray.live.metrics",
}


__getattr__, __dir__ = lazy_exports(__name__, _LAZY)
