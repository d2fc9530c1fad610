"""The flow path without a coroutine: open-model flows whose steps are all static
(:attr:`~loadray.scenario.model.Step.static`: fixed bytes, no variables, checks,
extraction, retries, own timeout or stream) on plain ``http`` with ``redirects: 0``.

Such a flow needs nothing a coroutine gives: its steps render to the same bytes every
time and nothing reads their responses but the session's cookie jar. So, as the fast
path does for single requests, each step's outcome arrives as a callback of the
HTTP/1.1 core's pool (from its connection's ``data_received``), which records the
step's row and writes the next step's bytes right there: no Task, coroutine, future,
exchange or reply object per step; one small :class:`_Run` per flow instance is the
pool's ``ctx`` for each of its steps.

What a flow instance leaves is the :class:`~loadray.engine.flow_runner.FlowRunner`'s,
column for column: one row per step, in step order; a step intended when the previous
one ended; its trace header spliced into the step's kept bytes and the session's
cookies sent back (a ``Cookie`` line, as the flow client's); a failed step ends the
instance unless the step says ``stop_on_failure: false``; a step due after the lease
lapsed is ``fenced``, never sent; the last row carries ``flow_ns``; what is in flight
at :meth:`StaticFlows.close` is ``cut`` (no ``flow_ns``). :func:`static_wires` says
whether a scenario qualifies (else the flow runner runs it).
"""

from __future__ import annotations

from binascii import hexlify
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from loadray.engine import http1
from loadray.engine.clock import Clock
from loadray.engine.failures import error_detail
from loadray.engine.flow_runner import Traces
from loadray.engine.http1 import Pool, take_cookies
from loadray.engine.http1.cookie_conn import CookieConn
from loadray.engine.lease import Lease
from loadray.engine.row_buffer import DONE, NOT_SENT, ROW, RowBuffer, with_flow_ns
from loadray.engine.transport import TransportSettings
from loadray.flow.render import Rendered
from loadray.kinds import CUT, FENCED, INTERNAL
from loadray.scenario.model import Scenario

__all__ = ["StaticFlows", "Wire", "static_wires"]

#: One static step's request: (netloc, the whole untraced request, the three parts a
#: trace's 16 hex digits join into the traced one, the bytes before and after where a
#: trace header goes, the body, the pool flags).
Wire = tuple[str, bytes, tuple[bytes, bytes, bytes], bytes, bytes, bytes, int]
ERROR = ROW.index("error")
_SPLICED = frozenset({"cookie", "traceparent"})  # headers the flow client merges into or adds


def static_wires(scenario: Scenario, kind: str, fixed: list[Any], settings: TransportSettings) -> list[Wire] | None:
    """The :data:`Wire` of every step (by step number, ``fixed``: the runner's renders)
    when the scenario's flows can run callback-driven, else None: the open model
    without feeders on the HTTP/1.1 core (``kind`` ``fast``) with ``redirects: 0``, every
    step static HTTP/1.1, none setting a Cookie or traceparent header of its own."""
    steps = [step for flow in scenario.flows for step in flow.steps]
    if (scenario.model != "open" or scenario.feeds or kind != "fast" or settings.redirects
            or not all(step.static and step.http_version == 1 and step.grpc is None for step in steps)):
        return None
    wires = []
    for out in fixed:
        if not isinstance(out, Rendered) or any(name.lower() in _SPLICED for name, _ in out.headers):
            return None
        wire = _wire(out, settings)
        if wire is None:
            return None
        wires.append(wire)
    return wires


def _wire(out: Rendered, settings: TransportSettings) -> Wire | None:
    """``out``'s :data:`Wire`; None when it cannot be written as it is (the flow client
    then makes each attempt's error row)."""
    method = out.method.upper()
    try:
        split = http1.split_http_url(out.url)
        if split is None:
            return None
        netloc, target = split
        before, after = http1.head_parts(method, target, netloc, out.headers, out.body, settings.keepalive,
                                   settings.compression)
    except ValueError:
        return None
    body = out.body or b""
    tail = b"".join((after, b"\r\n", body))
    head = before + b"traceparent: 00-" + settings.trace_prefix.encode("ascii")
    flags = (http1.RETRY if method in http1.IDEMPOTENT else 0) | (http1.HEAD if method == "HEAD" else 0)
    return netloc, before + tail, (head, b"-", b"-01\r\n" + tail), before, after, body, flags


class _Run:
    """One flow instance in flight: the pool's ``ctx`` for each of its steps. The
    attributes after ``jar`` are what a :class:`~loadray.engine.http1.cookie_conn.CookieConn`
    fills in (``response_headers``: a response's cookies, None without)."""

    __slots__ = ("ctx", "intended", "phase", "flow_id", "gid", "end", "ready", "sent", "trace", "ok", "jar",
                 "response_headers", "now", "first", "pieces", "ends")
    gid: int  # the step in flight (set as each step goes out)
    sent: int
    trace: int
    first: int
    pieces: int
    ends: int

    def __init__(self, ctx: Any, flow_id: int, end: int, now: Callable[[], int]) -> None:
        self.ctx = ctx
        self.intended = self.ready = ctx[0]
        self.phase = ctx[3]
        self.flow_id = flow_id
        self.end = end  # the flow's last step
        self.ok = True
        self.jar: dict[str, str] | None = None  # the session's cookies (None: none yet)
        self.response_headers: list[tuple[bytes, bytes]] | None = None
        self.now = now


class StaticFlows:
    """See the module docstring. ``submit(flow, ctx)`` is the open loop's, ``on_flow_done``
    its callback; ``new_id()`` numbers the flow instances (the flow path's)."""

    def __init__(
        self, wires: list[Wire], scenario: Scenario, first_step: list[int], buffer: RowBuffer, clock: Clock,
        settings: TransportSettings, lease: Lease, traces: Traces | None, new_id: Callable[[], int],
    ) -> None:
        self.pools: dict[str, Pool] = {}
        for netloc in dict.fromkeys(wire[0] for wire in wires):
            parts = urlsplit("http://" + netloc)
            self.pools[netloc] = Pool(parts.hostname or "", parts.port or 80, settings, self._done, self._failed,
                                      CookieConn, now=clock.monotonic_ns)
        self._wires: list[tuple[Pool, bytes, tuple[bytes, bytes, bytes], bytes, bytes, bytes, int]] = [
            (self.pools[wire[0]], *wire[1:]) for wire in wires]
        self._first = first_step
        self._ends = [first + len(flow.steps) - 1 for first, flow in zip(first_step, scenario.flows)]
        self._stops = [step.stop_on_failure for flow in scenario.flows for step in flow.steps]
        self._add = buffer.add
        self._now = clock.monotonic_ns
        self._wall_s = lambda: clock.wall_ns() / 1e9  # a cookie's Expires is a wall time
        self._timeout = float(settings.timeout_s)
        self._lease = lease
        self._traces = traces
        self._new_id = new_id
        self._closed = False
        self.on_flow_done: Callable[[Any, bool], None] = lambda ctx, ok: None

    async def open(self, prewarm: int = 0) -> int:
        """Start the pools, each with up to ``prewarm`` connections opened in advance."""
        for pool in self.pools.values():
            await pool.open(prewarm)
        return sum(pool.connections for pool in self.pools.values())

    def submit(self, flow: int, ctx: Any, trace: int = 0) -> None:
        """An open-model arrival (``ctx`` as the open loop builds it) starts an instance."""
        self._send(_Run(ctx, self._new_id(), self._ends[flow], self._now), self._first[flow])

    async def close(self) -> None:
        """What is in flight becomes ``cut`` rows (no ``flow_ns``); nothing more is sent."""
        self._closed = True
        for pool in self.pools.values():
            await pool.close()

    def _send(self, run: _Run, gid: int) -> None:
        """Write step ``gid`` of ``run`` (or record it ``fenced``)."""
        now = self._now()
        run.gid, run.sent = gid, now
        traces = self._traces
        trace = run.trace = traces.new() if traces is not None else 0
        lease = self._lease
        if not (now < lease.until_ns or lease.holds(now)):  # (holds() fences a lapsed lease)
            run.sent = NOT_SENT
            self._next(run, self._row(run, now, 0, FENCED, 0, None))
            return
        pool, whole, parts, before, after, body, flags = self._wires[gid]
        if run.jar:
            try:
                line = b"".join((b"traceparent: ", traces.value(trace, trace), b"\r\n")) if traces else b""
                data = b"".join((before, line, after, http1.cookie_line(http1.cookie_header(run.jar)), b"\r\n", body))
            except Exception as exc:  # a cookie that cannot be written back
                self._next(run, self._row(run, self._now(), 0, INTERNAL, 0, error_detail(exc)))
                return
        elif trace:
            data = hexlify(trace.to_bytes(8, "big")).join(parts)
        else:
            data = whole
        run.first = run.pieces = run.ends = 0
        pool.send(data, run, self._timeout, flags)

    def _done(self, run: _Run, status: int, error: str | None, nbytes: int, *_: object) -> None:
        """A response (the pools' ``on_done``): keep its cookies, record it, go on."""
        done = self._now()
        headers = run.response_headers
        if headers is not None:
            run.response_headers = None
            if run.jar is None:
                run.jar = {}
            try:
                take_cookies(headers, run.jar, self._wall_s)
            except Exception as exc:  # a defect: the step's row says so
                self._next(run, self._row(run, done, 0, INTERNAL, 0, error_detail(exc)))
                return
        first, gid = run.first, run.gid
        row = (run.ready, run.sent, done, status, error, gid, run.phase, nbytes, run.trace, 1, None, run.flow_id, None,
               first - run.sent if first else None, run.ends - 1 if run.ends else run.pieces, None)
        if error is None and gid < run.end:  # the common case, without the call in between: on to the next step
            self._add(row)
            run.ready = done
            self._send(run, gid + 1)
        else:
            self._next(run, row)

    def _failed(self, run: _Run, kind: str, exc: BaseException | None) -> None:
        """A failure (the pools' ``on_fail``); ``cut`` once closing, without timing."""
        now = self._now()
        if self._closed:
            kind, run.first = CUT, 0
        row = self._row(run, now, 0, kind, 0, None if exc is None else error_detail(exc))
        if run.first:  # the body had begun: its timing, as the flow client's
            row = (*row[:13], run.first - run.sent, run.ends - 1 if run.ends else run.pieces, None)
        self._next(run, row)

    @staticmethod
    def _row(run: _Run, done: int, status: int, error: str | None, nbytes: int, detail: str | None) -> tuple:
        return (run.ready, run.sent, done, status, error, run.gid, run.phase, nbytes, run.trace, 1, None,
                run.flow_id, detail, None, None, None)

    def _next(self, run: _Run, row: tuple) -> None:
        """Record step ``run.gid``'s row and send the next step, or end the instance."""
        gid = run.gid
        if row[ERROR] is not None:
            run.ok = False
            if self._stops[gid] or self._closed:
                gid = run.end
        if gid < run.end:
            self._add(row)
            run.ready = row[DONE]
            self._send(run, gid + 1)
            return
        self._add(row if self._closed else with_flow_ns(row, row[DONE] - run.intended))
        self.on_flow_done(run.ctx, run.ok and not self._closed)
