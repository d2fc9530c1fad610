"""Prometheus ``/metrics`` for a live run.

A custom collector on its own :class:`CollectorRegistry` (never the global one) builds
the metric families at scrape time from two sources:

- the row batches the driver archives (:meth:`MetricsServer.observe`, or the
  :meth:`MetricsServer.tee` around the archive's write): exact per-step counters and
  the latency histogram (:mod:`loadray.live.step_figures`), so ``/metrics`` agrees with
  ``summary.json``; nothing is observed per request;
- the newest :class:`LiveStatus` (:meth:`MetricsServer.update`): gauges (rates,
  in flight, workers, phase) and the ``lost`` counter.

Every series carries ``run`` (the run directory's name) and ``scenario``; per-step
series carry ``step`` (bounded: see :data:`DEFAULT_MAX_STEPS`)::

    loadray_requests_total{step, outcome}     every intended request once: outcome "ok" or its
                                              error kind (http_5xx, timeout, check...; dropped and
                                              fenced were never sent, cut was in flight at the stop)
    loadray_responses_total{step, code}       completed requests with an HTTP response, by status
    loadray_latency_seconds{step}             histogram (le: LATENCY_BUCKETS_S), corrected latency
                                              of completed requests (done - intended)
    loadray_bytes_in_total{step}              response body bytes received
    loadray_target_rate  loadray_target_users  loadray_achieved_rate  loadray_in_flight
    loadray_workers_alive  loadray_workers_total  loadray_phase (from 1, as in the report)
    loadray_elapsed_seconds  loadray_lost_total  loadray_run_finished (1 once every row is in)

The end of a run: :meth:`MetricsServer.finish` marks the counts final, and
:meth:`MetricsServer.linger` keeps the endpoint up until one scrape has read them (or
``linger_s`` passed), so the last scrape of a Prometheus sees the final counts.
"""

from __future__ import annotations

import socket
import threading
from dataclasses import dataclass
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from prometheus_client import CollectorRegistry, make_wsgi_app
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.exposition import ThreadingWSGIServer
from prometheus_client.utils import floatToGoString

from loadray.errors import UsageError
from loadray.live.status import LiveStatus
from loadray.live.step_figures import DEFAULT_MAX_STEPS, LATENCY_BUCKETS_S, StepFigures, StepTally

__all__ = [
    "DEFAULT_METRICS_HOST",
    "DEFAULT_METRICS_LINGER_S",
    "DEFAULT_MAX_STEPS",
    "LATENCY_BUCKETS_S",
    "LiveCollector",
    "MetricsServer",
    "RunLabels",
]

DEFAULT_METRICS_HOST = "127.0.0.1"
#: How long the endpoint stays up after the run at most, waiting for one scrape of the
#: final counts (a common scrape interval); it closes at that scrape.
DEFAULT_METRICS_LINGER_S = 15.0
_RUN_LABELS = ["run", "scenario"]
_STEP_LABELS = [*_RUN_LABELS, "step"]
_LE = [floatToGoString(b) for b in LATENCY_BUCKETS_S] + ["+Inf"]


@dataclass(frozen=True)
class RunLabels:
    """The labels every series carries."""

    run: str = ""
    scenario: str = ""


def _gauges(status: LiveStatus) -> list[tuple[str, str, float]]:
    out = [
        ("loadray_target_rate", "Cluster-wide rate the plan asks for now, requests (or flows) per second.",
         status.target_rate),
        ("loadray_achieved_rate", "Sends per second over the last second.", status.achieved_rate),
        ("loadray_in_flight", "Requests sent and not yet completed.", status.in_flight),
        ("loadray_workers_alive", "Live generator workers.", status.workers_alive),
        ("loadray_workers_total", "Generator workers the run has now.", status.workers_total),
        ("loadray_phase", "Current phase, numbered from 1 as in the report.", status.phase + 1),
        ("loadray_elapsed_seconds", "Seconds since the run started.", status.elapsed_s),
    ]
    if status.users is not None:
        out.append(("loadray_target_users", "Virtual users the plan asks for now (closed model).", status.users))
    return out


class LiveCollector:
    """A prometheus_client collector: per-step figures from rows, gauges from status."""

    def __init__(self, labels: RunLabels = RunLabels(), max_steps: int = DEFAULT_MAX_STEPS) -> None:
        self.labels = [labels.run, labels.scenario]
        self._lock = threading.Lock()
        self._tally = StepTally(max_steps)
        self._status: LiveStatus | None = None
        self._lost = 0
        self._finished = False

    def update(self, status: LiveStatus) -> None:
        with self._lock:
            self._status = status
            self._lost = max(self._lost, status.totals.lost)  # a counter never goes down

    def observe(self, batch) -> None:
        with self._lock:
            self._tally.add(batch)

    def finish(self) -> None:
        with self._lock:
            self._finished = True

    def collect(self):
        with self._lock:
            steps, status, lost, finished = self._tally.figures(), self._status, self._lost, self._finished
        yield from self._step_families(steps)
        for name, doc, value in _gauges(status) if status is not None else ():
            yield self._one(GaugeMetricFamily, name, doc, value)
        yield self._one(CounterMetricFamily, "loadray_lost", "Intended requests of dead workers never sent.", lost)
        yield self._one(GaugeMetricFamily, "loadray_run_finished",
                        "1 once the run ended and every row is counted (the counts are final).", int(finished))

    def _one(self, family, name: str, doc: str, value: float):
        metric = family(name, doc, labels=_RUN_LABELS)
        metric.add_metric(self.labels, value)
        return metric

    def _step_families(self, steps: tuple[StepFigures, ...]):
        requests = CounterMetricFamily(
            "loadray_requests", "Intended requests by step and outcome: ok, or the error kind "
            "(dropped/fenced: never sent; cut: in flight at the stop).", labels=[*_STEP_LABELS, "outcome"])
        responses = CounterMetricFamily(
            "loadray_responses", "Completed requests with an HTTP response, by status code.",
            labels=[*_STEP_LABELS, "code"])
        latency = HistogramMetricFamily(
            "loadray_latency_seconds", "Latency corrected for coordinated omission (done - intended) "
            "of completed requests.", labels=_STEP_LABELS)
        received = CounterMetricFamily("loadray_bytes_in", "Response body bytes received.", labels=_STEP_LABELS)
        for s in steps:
            at = [*self.labels, s.step]
            for outcome in sorted(s.outcomes):
                requests.add_metric([*at, outcome], s.outcomes[outcome])
            for code, n in s.codes.items():
                responses.add_metric([*at, str(code)], n)
            latency.add_metric(at, list(zip(_LE, s.cumulative())), sum_value=s.latency_sum_s)
            received.add_metric(at, s.bytes_in)
        yield from (requests, responses, latency, received)


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format, *args) -> None:  # no access log on stderr
        pass


class _Body:
    """A WSGI response body that calls ``sent`` once the server has written it."""

    def __init__(self, chunks, sent) -> None:
        self._chunks, self._sent = chunks, sent

    def __iter__(self):
        return iter(self._chunks)

    def close(self) -> None:
        self._sent()


class MetricsServer:
    """``/metrics`` on ``host:port`` in a daemon thread; ``port=0`` picks a free port."""

    def __init__(
        self,
        port: int,
        host: str = DEFAULT_METRICS_HOST,
        labels: RunLabels = RunLabels(),
        linger_s: float = DEFAULT_METRICS_LINGER_S,
        max_steps: int = DEFAULT_MAX_STEPS,
    ) -> None:
        self.port = port
        self.host = host
        self.linger_s = linger_s
        self.collector = LiveCollector(labels, max_steps)
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(self.collector)
        self._final_scraped = threading.Event()
        self._finished = False
        self._httpd: WSGIServer | None = None
        self._thread: threading.Thread | None = None

    def __enter__(self) -> MetricsServer:
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

            httpd = make_server(self.host, requested, self._app(), _Server, _QuietHandler)
        except (OSError, OverflowError, ValueError) as exc:
            raise self._error(requested, getattr(exc, "strerror", None) or str(exc)) from None
        self._httpd = httpd
        self.port = httpd.server_address[1]
        self._thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.1},
                                        name="loadray-metrics", daemon=True)
        self._thread.start()
        return self.port

    def _app(self):
        inner = make_wsgi_app(self.registry)

        def app(environ, start_response):
            final = self._finished  # read before the scrape collects: it then sees the final counts
            body = inner(environ, start_response)
            return _Body(body, self._final_scraped.set) if final else body

        return app

    def update(self, status: LiveStatus) -> None:
        self.collector.update(status)

    def observe(self, batch) -> None:
        """Count a batch of rows (as archived)."""
        self.collector.observe(batch)

    def tee(self, write):
        """``write(worker, batch)`` that also counts the batch, after ``write`` took it."""

        def both(worker, batch) -> None:
            write(worker, batch)
            self.observe(batch)

        return both

    def finish(self) -> None:
        """Every row is in: the counts are final (``loadray_run_finished`` 1)."""
        self.collector.finish()
        self._finished = True

    def linger(self, timeout_s: float | None = None) -> bool:
        """Wait until a scrape has read the final counts, at most ``timeout_s`` (default
        ``linger_s``); True when one did. Call :meth:`finish` first."""
        wait = self.linger_s if timeout_s is None else timeout_s
        if self._httpd is None or wait <= 0:
            return self._final_scraped.is_set()
        return self._final_scraped.wait(wait)

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
