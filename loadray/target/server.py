"""The built-in target: a small aiohttp.web server on 127.0.0.1 with fault injection.

Any method on any path answers ``200 ok\\n``, after the faults of :mod:`.faults`, except
the endpoints of :mod:`.flows` (``/login``, ``/orders``, ``/pay``, ``/echo``,
``/cookie/set``, ``/cookie/check``, ``/redirect[/N]``, ``/flaky``, ``/id``), which answer
after the same faults (an injected 500 skips the endpoint: no state changes), and the
streamed answers of :mod:`.streams` (``/stream``, ``/v1/chat/completions``). Two paths
are reserved for the tests and the launcher:

- ``GET /__stats``: ``{"requests": N, "per_second": {"<epoch s>": n}, "statuses": {"200": n},
  "unauthorized": n, "paths": {"/login": n}, "ids": {"<value>": n}, "flows_in_order": n}``;
  the first three count every other request (endpoints included) by its arrival time
  (``time.time()``), the rest are the endpoints' counters (see :mod:`.flows`);
- ``POST /__stats/reset``: zeroes the counters (and forgets the endpoints' tokens, orders
  and flaky counters) and answers the counts it cleared.

HTTP/2 (h2c with prior knowledge) is served on the same port: see :mod:`.h2_server`.

It uses aiohttp's low-level ``web.Server`` (no router, no middlewares, no access log) on
uvloop when importable: the catch-all is one prefix test, one branch and one dict update
per request.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from urllib.parse import parse_qsl, unquote

from aiohttp import web

from loadray.errors import TargetError
from loadray.target.faults import FaultModel, validate_options
from loadray.target.flows import ENDPOINT_PREFIXES, Call, FlowEndpoints, Reply
from loadray.target.h2_server import Answer, Both, H2ServerConn, H2Stats, request_cookies
from loadray.target.options import TargetOptions
from loadray.target.streams import STREAM_PREFIXES, stream_handler

__all__ = ["TargetServer", "TargetStats", "new_event_loop", "BACKLOG"]

BACKLOG = 4096
SHUTDOWN_TIMEOUT_S = 1.0  # bound on closing connections at shutdown
STATS_PATH = "/__stats"
RESET_PATH = "/__stats/reset"

_OK_BODY = b"ok\n"
_ERROR_BODY = b"injected error\n"
_TEXT = "text/plain"
_JSON = "application/json"
# A raw path starting with one of these may be a stats path or an endpoint; any other
# goes straight to the catch-all.
_ROUTED_PREFIXES = (STATS_PATH, *ENDPOINT_PREFIXES, *STREAM_PREFIXES)


def new_event_loop() -> asyncio.AbstractEventLoop:
    """A uvloop loop when uvloop is importable, else the default asyncio loop."""
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is a dependency on POSIX
        return asyncio.new_event_loop()
    return uvloop.new_event_loop()


class TargetStats:
    """Counters of served requests, by arrival second and by status (stats paths excluded)."""

    __slots__ = ("requests", "per_second", "statuses")

    def __init__(self) -> None:
        self.requests = 0
        self.per_second: dict[int, int] = {}
        self.statuses: dict[int, int] = {}

    def record(self, status: int, arrival_s: float) -> None:
        self.requests += 1
        second = int(arrival_s)
        per_second = self.per_second
        per_second[second] = per_second.get(second, 0) + 1
        statuses = self.statuses
        statuses[status] = statuses.get(status, 0) + 1

    def snapshot(self) -> dict:
        """The JSON form: keys of ``per_second`` and ``statuses`` are strings."""
        return {
            "requests": self.requests,
            "per_second": {str(s): n for s, n in sorted(self.per_second.items())},
            "statuses": {str(s): n for s, n in sorted(self.statuses.items())},
        }

    def reset(self) -> dict:
        """Zero the counters; return the snapshot taken just before (nothing is lost)."""
        before = self.snapshot()
        self.requests = 0
        self.per_second = {}
        self.statuses = {}
        return before


class TargetServer:
    """The target inside a running event loop: ``url = await server.start()`` ... ``stop()``.

    :func:`serve` (and so ``python -m loadray.target``) wraps this; tests of the engine may
    also run it in-process. ``clock`` (monotonic, for the faults) and ``wall`` (epoch
    seconds, for ``per_second``) are injectable.
    """

    def __init__(
        self,
        options: TargetOptions,
        *,
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
    ) -> None:
        try:
            validate_options(options)
        except ValueError as exc:
            raise TargetError(f"invalid target options: {exc}") from None
        self.options = options
        self.stats = TargetStats()
        self.flows = FlowEndpoints()
        self._clock = clock
        self._wall = wall
        self._faults: FaultModel | None = None
        self._runner: web.ServerRunner | None = None
        self._delayed: set[asyncio.Task] = set()  # handlers waiting out latency or a stall
        self._stopping = False
        self.port: int | None = None
        self.h2_stats = H2Stats()
        self.h2_conns: set[H2ServerConn] = set()
        self.clock = clock

    @property
    def url(self) -> str:
        if self.port is None:
            raise TargetError("the target is not started")
        return f"http://{self.options.host}:{self.port}"

    async def start(self) -> str:
        """Listen on ``options.host`` (127.0.0.1 unless told; port from options, 0 = a
        free port); return the base URL."""
        if self._runner is not None:
            return self.url
        server = Both(web.Server(self._handle, access_log=None), lambda: H2ServerConn(self, self.h2_stats))
        runner = web.ServerRunner(server, shutdown_timeout=SHUTDOWN_TIMEOUT_S)  # type: ignore[arg-type]
        await runner.setup()
        site = web.TCPSite(runner, self.options.host, self.options.port, backlog=BACKLOG)
        try:
            await site.start()
        except OSError as exc:
            await runner.cleanup()
            reason = exc.strerror or str(exc)
            raise TargetError(
                f"cannot listen on {self.options.host}:{self.options.port}: {reason}"
            ) from None
        self._runner = runner
        self.port = runner.addresses[0][1]
        # Stall windows are measured from the moment the server listens.
        self._faults = FaultModel(self.options, clock=self._clock)
        return self.url

    async def stop(self) -> None:
        """Stop listening and close connections; responses still waiting out a fault
        delay are cut (their connections close without a response)."""
        runner, self._runner = self._runner, None
        if runner is None:
            return
        self._stopping = True
        for task in list(self._delayed):
            task.cancel()
        for conn in list(self.h2_conns):
            conn.close()
        front = runner.server
        if isinstance(front, Both):
            front.close_silent()
        await runner.cleanup()

    async def __aenter__(self) -> TargetServer:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    def snapshot(self) -> dict:
        """The ``GET /__stats`` answer: request counters, then the endpoints' counters."""
        return {**self.stats.snapshot(), **self.flows.snapshot(), **self.h2_stats.snapshot()}

    def reset_stats(self) -> dict:
        """The ``POST /__stats/reset`` answer: clear everything, return the snapshot before."""
        return {**self.stats.reset(), **self.flows.reset(), **self.h2_stats.reset()}

    async def _handle(self, request: web.BaseRequest) -> web.StreamResponse:
        if request.raw_path.startswith(_ROUTED_PREFIXES):
            response = await self._routed(request)
            if response is not None:
                return response
        arrival_s = self._wall()
        faults = self._faults
        if faults is None or not faults.active:
            self.stats.record(200, arrival_s)
            return web.Response(body=_OK_BODY, content_type=_TEXT)
        return await self._faulted(faults, arrival_s, _ok_response)

    async def _faulted(
        self, faults: FaultModel, arrival_s: float, respond: Callable[[], web.Response]
    ) -> web.Response:
        """Answer ``respond()`` (or the injected error) once the faults' ready time is reached.

        The one place faults meet a response, for the catch-all and every endpoint alike:
        the request is counted at arrival with the status it will get.
        """
        decision = faults.decide()
        if decision.status == 200:
            response = respond()
        else:
            response = web.Response(
                status=decision.status, body=_ERROR_BODY, content_type=_TEXT
            )
        self.stats.record(response.status, arrival_s)
        clock = self._clock
        ready_at = decision.ready_at
        wait = ready_at - clock()
        if wait > 0 and not self._stopping:
            # Tracked so that stop() can cut it short instead of waiting for it.
            task = asyncio.current_task()
            delayed = self._delayed
            delayed.add(task)  # type: ignore[arg-type]
            try:
                # Loop: event-loop timers may fire a fraction of a millisecond early.
                while wait > 0:
                    await asyncio.sleep(wait)
                    wait = ready_at - clock()
            finally:
                delayed.discard(task)
        return response

    async def _routed(self, request: web.BaseRequest) -> web.StreamResponse | None:
        """The answer of a stats path or an endpoint; None for any other path."""
        path = request.path
        if path.startswith(STATS_PATH):
            return self._stats_endpoint(request)
        streamed = stream_handler(path, self._clock)
        if streamed is not None:  # outside the fault model: see loadray.target.streams
            self.stats.record(200, self._wall())
            return await streamed(request)
        flows = self.flows
        endpoint = flows.route(path)
        if endpoint is None:
            return None
        arrival_s = self._wall()
        flows.arrived(path)
        call = Call(
            request.method,
            path,
            tuple(request.query.items()),
            tuple(request.headers.items()),
            request.cookies,
            await request.read(),
        )

        def respond() -> web.Response:
            return _response(endpoint(call))

        faults = self._faults
        if faults is None or not faults.active:
            response = respond()
            self.stats.record(response.status, arrival_s)
            return response
        return await self._faulted(faults, arrival_s, respond)

    def _stats_endpoint(self, request: web.BaseRequest) -> web.Response | None:
        """The answer of a stats path; None for any other path (served as usual)."""
        reply = self._stats_reply(request.method, request.path)
        return None if reply is None else _response(reply)

    def _stats_reply(self, method: str, path: str) -> Reply | None:
        if path == STATS_PATH:
            if method not in ("GET", "HEAD"):
                return _method_not_allowed("GET")
            return Reply(200, json.dumps(self.snapshot()).encode(), _JSON)
        if path == RESET_PATH:
            if method != "POST":
                return _method_not_allowed("POST")
            return Reply(200, json.dumps(self.reset_stats()).encode(), _JSON)
        return None

    def answer(self, method: str, raw_path: str, headers: list[tuple[str, str]], body: bytes) -> Answer:
        """The answer to one request, decided without aiohttp (the HTTP/2 side): the
        same stats paths, endpoints, faults and counters as :meth:`_handle`."""
        path, _, query = raw_path.partition("?")
        path = unquote(path)
        if path.startswith(STATS_PATH):
            stats = self._stats_reply(method, path)
            if stats is not None:
                return Answer(stats)
        arrival_s = self._wall()
        endpoint = self.flows.route(path) if raw_path.startswith(_ROUTED_PREFIXES) else None
        if endpoint is None:
            reply = _OK_REPLY
        else:
            self.flows.arrived(path)
            reply = endpoint(Call(method, path, tuple(parse_qsl(query, keep_blank_values=True)), tuple(headers),
                                  request_cookies(headers), body))
        faults = self._faults
        if faults is None or not faults.active:
            self.stats.record(reply.status, arrival_s)
            return Answer(reply)
        decision = faults.decide()
        if decision.status != 200:
            reply = Reply(decision.status, _ERROR_BODY, _TEXT)
        self.stats.record(reply.status, arrival_s)
        return Answer(reply, decision.ready_at)


_OK_REPLY = Reply(200, _OK_BODY, _TEXT)


def _ok_response() -> web.Response:
    return web.Response(body=_OK_BODY, content_type=_TEXT)


def _response(reply: Reply) -> web.Response:
    return web.Response(
        status=reply.status,
        body=reply.body,
        content_type=reply.content_type,
        headers=reply.headers or None,
    )


def _method_not_allowed(allowed: str) -> Reply:
    return Reply(405, b"method not allowed\n", _TEXT, (("Allow", allowed),))
