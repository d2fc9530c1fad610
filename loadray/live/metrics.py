"""Prometheus ``/metrics`` for a live run, from :class:`LiveStatus` snapshots.

A custom collector on its own :class:`CollectorRegistry` (never the global one) turns
the newest snapshot into metric families at scrape time; nothing is observed per
request. Counters are kept monotonic: a snapshot with a smaller total than one already
exposed never makes a counter go down.

Metrics::

    loadray_requests_total{outcome="2xx"|"3xx"|"4xx"|"5xx"|<error kind>|"dropped"}
    loadray_latency_seconds_bucket{le=...} / _count / _sum   (corrected latency, whole run)
    loadray_target_rate  loadray_achieved_rate  loadray_workers_alive  loadray_in_flight
    loadray_dropped_total  loadray_lost_total
"""

from __future__ import annotations

import socket
import threading
from dataclasses import dataclass, field
from wsgiref.simple_server import WSGIRequestHandler, make_server

from prometheus_client import CollectorRegistry, make_wsgi_app
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.exposition import ThreadingWSGIServer
from prometheus_client.utils import floatToGoString

from loadray.errors import UsageError
from loadray.live.status import LiveStatus

__all__ = ["MetricsServer", "LiveCollector", "LATENCY_BUCKETS_S", "DEFAULT_METRICS_HOST"]

DEFAULT_METRICS_HOST = "127.0.0.1"
LATENCY_BUCKETS_S = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


@dataclass(frozen=True)
class _Figures:
    """What one scrape exposes; counters already made monotonic."""

    outcomes: dict[str, int] = field(default_factory=dict)
    buckets: tuple[int, ...] = (0,) * (len(LATENCY_BUCKETS_S) + 1)  # cumulative, last = +Inf
    latency_sum_s: float = 0.0
    dropped: int = 0
    lost: int = 0
    target_rate: float = 0.0
    achieved_rate: float = 0.0
    workers_alive: int = 0
    in_flight: int = 0


def _figures(status: LiveStatus, previous: _Figures) -> _Figures:
    h = status.latency
    buckets = tuple(h.count_below(b * 1e9) for b in LATENCY_BUCKETS_S) + (h.count,)
    outcomes = dict(previous.outcomes)
    for key, n in status.outcomes.items():
        outcomes[key] = max(int(n), outcomes.get(key, 0))
    return _Figures(
        outcomes=outcomes,
        # elementwise max of two cumulative series is still cumulative, ending at the max count
        buckets=tuple(max(a, b) for a, b in zip(buckets, previous.buckets)),
        latency_sum_s=max(h.total_ns / 1e9, previous.latency_sum_s),
        dropped=max(status.totals.dropped, previous.dropped),
        lost=max(status.totals.lost, previous.lost),
        target_rate=status.target_rate,
        achieved_rate=status.achieved_rate,
        workers_alive=status.workers_alive,
        in_flight=status.in_flight,
    )


class LiveCollector:
    """A prometheus_client collector exposing the newest snapshot given to :meth:`update`."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._figures = _Figures()

    def update(self, status: LiveStatus) -> None:
        with self._lock:
            self._figures = _figures(status, self._figures)

    def collect(self):
        f = self._figures  # one immutable snapshot per scrape
        requests = CounterMetricFamily(
            "loadray_requests", "Requests by outcome: HTTP status class or error kind.", labels=["outcome"]
        )
        for outcome in sorted(f.outcomes):
            requests.add_metric([outcome], f.outcomes[outcome])
        yield requests
        bounds = [floatToGoString(b) for b in LATENCY_BUCKETS_S] + ["+Inf"]
        yield HistogramMetricFamily(
            "loadray_latency_seconds",
            "Latency corrected for coordinated omission (done - intended), whole run so far.",
            buckets=list(zip(bounds, f.buckets)),
            sum_value=f.latency_sum_s,
        )
        yield GaugeMetricFamily("loadray_target_rate", "Cluster-wide rate the plan asks for now, req/s.", value=f.target_rate)
        yield GaugeMetricFamily("loadray_achieved_rate", "Sends per second over the last second.", value=f.achieved_rate)
        yield GaugeMetricFamily("loadray_workers_alive", "Live generator workers.", value=f.workers_alive)
        yield GaugeMetricFamily("loadray_in_flight", "Requests sent and not yet completed.", value=f.in_flight)
        yield CounterMetricFamily("loadray_dropped", "Intended requests dropped at the in-flight cap.", value=f.dropped)
        yield CounterMetricFamily("loadray_lost", "Intended requests of dead workers never sent.", value=f.lost)


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format, *args) -> None:  # no access log on stderr
        pass


class MetricsServer:
    """``/metrics`` on ``host:port`` in a daemon thread; ``port=0`` picks a free port."""

    def __init__(self, port: int, host: str = DEFAULT_METRICS_HOST) -> None:
        self.port = port
        self.host = host
        self.collector = LiveCollector()
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(self.collector)
        self._httpd = None
        self._thread: threading.Thread | None = None

    def __enter__(self) -> "MetricsServer":
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}/metrics"

    def start(self) -> int:
        """Listen and serve; returns the bound port. Raises UsageError if it cannot listen."""
        if self._httpd is not None:
            return self.port
        requested = self.port
        if not isinstance(requested, int) or not 0 <= requested <= 65535:
            raise self._error(requested, "port must be an integer in 0..65535")
        try:
            family = socket.getaddrinfo(self.host, requested, type=socket.SOCK_STREAM)[0][0]

            class _Server(ThreadingWSGIServer):
                address_family = family

            httpd = make_server(self.host, requested, make_wsgi_app(self.registry), _Server, _QuietHandler)
        except (OSError, OverflowError, ValueError) as exc:
            raise self._error(requested, getattr(exc, "strerror", None) or str(exc)) from None
        self._httpd = httpd
        self.port = httpd.server_address[1]
        self._thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.1},
                                        name="loadray-metrics", daemon=True)
        self._thread.start()
        return self.port

    def update(self, status: LiveStatus) -> None:
        self.collector.update(status)

    def stop(self) -> None:
        """Shut the server down, close its socket and join its thread (idempotent)."""
        httpd, thread = self._httpd, self._thread
        self._httpd = self._thread = None
        if httpd is None:
            return
        httpd.shutdown()
        httpd.server_close()
        if thread is not None:
            thread.join(timeout=5)

    def _error(self, port, reason: str) -> UsageError:
        return UsageError(f"--metrics-port {port}: cannot listen on {self.host}:{port}: {reason}")
