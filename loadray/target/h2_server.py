"""HTTP/2 on the built-in target: h2c with prior knowledge on the same port as HTTP/1.1.

A new connection's first bytes decide: the HTTP/2 connection preface
(``PRI * HTTP/2.0``) hands it to :class:`H2ServerConn` (the ``h2`` library), anything
else to aiohttp's HTTP/1.1 handler, so one ``loadray target`` serves both and a scenario
switches with ``http: {version: 2}`` alone. The HTTP/2 side answers the same routes with
the same faults as the HTTP/1.1 one (:meth:`TargetServer.answer`), counted in the same
``/__stats``, plus:

- ``/h2/reset``: the stream is reset (RST_STREAM INTERNAL_ERROR) instead of answered;
- ``/h2/goaway``: the server sends GOAWAY naming the stream before this one as the
  last it processed, then closes the connection once its other streams are done;

and ``/__stats`` counts HTTP/2 connections under ``h2`` (present once one was served): ``connections`` (open now),
``connections_max`` (most open at once), ``connections_total``, ``streams_max`` (most
streams open at once, over every connection); a reset starts the maxima from now.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from http.cookies import SimpleCookie
from typing import TYPE_CHECKING, Any

import h2.config
import h2.connection
import h2.errors
import h2.events
import h2.exceptions
import h2.settings

from loadray.target.flows import Reply

if TYPE_CHECKING:
    from loadray.target.server import TargetServer

__all__ = ["Answer", "Both", "H2Stats", "H2ServerConn", "Sniffer", "request_cookies", "PREFACE", "RESET_PATH", "GOAWAY_PATH"]

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
RESET_PATH = "/h2/reset"
GOAWAY_PATH = "/h2/goaway"
MAX_STREAMS = 100_000  # advertised SETTINGS_MAX_CONCURRENT_STREAMS
_CONFIG = h2.config.H2Configuration(client_side=False, header_encoding=None, validate_inbound_headers=False)
_OPEN = h2.connection.ConnectionState.SERVER_OPEN


class _GoawayKeepsStreams(h2.connection.H2ConnectionStateMachine):
    """``h2`` closes the connection as it sends GOAWAY (python-hyper/h2#1181); here the
    streams up to its last stream id still get their answers (RFC 9113 §6.8)."""

    _transitions = {
        **h2.connection.H2ConnectionStateMachine._transitions,
        (_OPEN, h2.connection.ConnectionInputs.SEND_GOAWAY): (None, _OPEN),
    }


class Answer:
    """A response decided without aiohttp (the HTTP/2 side): sent once ``ready_at``
    (the server's monotonic clock, s) is reached."""

    __slots__ = ("status", "body", "content_type", "headers", "ready_at", "timer")

    def __init__(self, reply: Reply, ready_at: float = 0.0) -> None:
        self.status, self.body, self.content_type = reply.status, reply.body, reply.content_type
        self.headers, self.ready_at = reply.headers, ready_at
        self.timer: asyncio.TimerHandle | None = None


class Both:
    """aiohttp's server as the runner sees it, whose connections are sniffed first:
    the HTTP/2 preface goes to ``http2()``, anything else to aiohttp."""

    def __init__(self, web_server: Any, http2: Callable[[], H2ServerConn]) -> None:
        self._web, self._http2 = web_server, http2
        self.sniffing: set[Sniffer] = set()  # connections that sent nothing yet

    def __call__(self) -> Sniffer:
        return Sniffer(self._web, self._http2, self.sniffing)

    def close_silent(self) -> None:
        """Close the connections that never said a word (a client's pre-opened ones)."""
        for sniffer in list(self.sniffing):
            sniffer.close()

    def __getattr__(self, name: str):
        return getattr(self._web, name)


def request_cookies(headers: list[tuple[str, str]]) -> dict[str, str]:
    jar: SimpleCookie = SimpleCookie()
    for name, value in headers:
        if name.lower() == "cookie":
            jar.load(value)
    return {key: morsel.value for key, morsel in jar.items()}


class H2Stats:
    __slots__ = ("connections", "connections_max", "connections_total", "connections_ever", "streams", "streams_max")

    def __init__(self) -> None:
        self.connections = self.connections_max = self.connections_total = self.connections_ever = 0
        self.streams = self.streams_max = 0

    def opened(self) -> None:
        self.connections += 1
        self.connections_total += 1
        self.connections_ever += 1
        self.connections_max = max(self.connections_max, self.connections)

    def stream(self, delta: int) -> None:
        self.streams += delta
        if self.streams > self.streams_max:
            self.streams_max = self.streams

    def snapshot(self) -> dict:
        """``{"h2": {...}}`` once an HTTP/2 connection was served, else ``{}``."""
        if not self.connections_ever:
            return {}
        return {"h2": {"connections": self.connections, "connections_max": self.connections_max,
                       "connections_total": self.connections_total, "streams_max": self.streams_max}}

    def reset(self) -> dict:
        before = self.snapshot()
        self.connections_max, self.connections_total, self.streams_max = self.connections, 0, self.streams
        return before


class Sniffer(asyncio.Protocol):
    """Reads a connection's first bytes, then gives it to the protocol they call for."""

    def __init__(
        self, http1: Callable[[], asyncio.Protocol], http2: Callable[[], asyncio.Protocol], live: set[Sniffer],
    ) -> None:
        self._http1, self._http2 = http1, http2
        self._transport: Any = None
        self._head = b""
        self._live = live

    def connection_made(self, transport: Any) -> None:
        self._transport = transport
        self._live.add(self)

    def close(self) -> None:
        self._live.discard(self)
        self._transport.close()

    def data_received(self, data: bytes) -> None:
        head = self._head + data
        if len(head) < len(PREFACE) and PREFACE.startswith(head):
            self._head = head
            return
        self._live.discard(self)
        protocol = self._http2() if head.startswith(PREFACE) else self._http1()
        self._transport.set_protocol(protocol)
        protocol.connection_made(self._transport)
        protocol.data_received(head)

    def eof_received(self) -> bool:
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        self._live.discard(self)


class _Stream:
    __slots__ = ("headers", "body")

    def __init__(self, headers: list[tuple[bytes, bytes]]) -> None:
        self.headers = headers
        self.body: list[bytes] = []


class H2ServerConn(asyncio.Protocol):
    def __init__(self, server: TargetServer, stats: H2Stats) -> None:
        self.server, self.stats = server, stats
        self.h2 = h2.connection.H2Connection(_CONFIG)
        self.h2.state_machine = _GoawayKeepsStreams()
        self.transport: Any = None
        self.streams: dict[int, _Stream] = {}
        self.waiting: dict[int, memoryview] = {}  # response bodies waiting for window
        self.timers: set[asyncio.TimerHandle] = set()
        self.closing = False  # GOAWAY sent: streams above ``last`` are ignored
        self.last = 0
        self._loop = asyncio.get_running_loop()

    def connection_made(self, transport: Any) -> None:
        self.transport = transport
        self.stats.opened()
        self.server.h2_conns.add(self)
        self.h2.initiate_connection()
        self.h2.update_settings({h2.settings.SettingCodes.MAX_CONCURRENT_STREAMS: MAX_STREAMS})
        self.flush()

    def data_received(self, data: bytes) -> None:
        try:
            events = self.h2.receive_data(data)
        except h2.exceptions.ProtocolError:
            self.flush()
            self.transport.close()
            return
        for event in events:
            if isinstance(event, h2.events.RequestReceived):
                if self.closing and event.stream_id > self.last:
                    continue  # after our GOAWAY: never processed (the client knows)
                self.streams[event.stream_id] = _Stream(event.headers)
                self.stats.stream(1)
            elif isinstance(event, h2.events.DataReceived):
                stream = self.streams.get(event.stream_id)
                if stream is not None:
                    stream.body.append(event.data)
                self.h2.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
            elif isinstance(event, h2.events.StreamEnded):
                self._request(event.stream_id)
            elif isinstance(event, h2.events.StreamReset):
                self._forget(event.stream_id)
            elif isinstance(event, h2.events.WindowUpdated):
                self._resume()
        self.flush()

    def connection_lost(self, exc: Exception | None) -> None:
        self.stats.connections -= 1
        self.stats.stream(-len(self.streams))
        self.streams.clear()
        for timer in self.timers:
            timer.cancel()
        self.server.h2_conns.discard(self)

    def flush(self) -> None:
        data = self.h2.data_to_send()
        if data:
            self.transport.write(data)

    def close(self) -> None:
        self.transport.close()

    # -- requests -------------------------------------------------------------------------

    def _request(self, sid: int) -> None:
        stream = self.streams.get(sid)
        if stream is None:
            return
        pseudo = {name: value for name, value in stream.headers if name[:1] == b":"}
        method = pseudo.get(b":method", b"GET").decode("latin-1")
        raw_path = pseudo.get(b":path", b"/").decode("latin-1")
        if raw_path.startswith("/h2/") and self._h2_fault(sid, raw_path.partition("?")[0]):
            return
        headers = [(n.decode("latin-1"), v.decode("latin-1")) for n, v in stream.headers if n[:1] != b":"]
        answer = self.server.answer(method, raw_path, headers, b"".join(stream.body))
        if not self._wait(sid, answer):
            self._respond(sid, answer)

    def _wait(self, sid: int, answer: Answer) -> bool:
        """Arm a timer for ``answer`` when its time has not come (False: it has)."""
        wait = answer.ready_at - self.server.clock()
        if wait <= 0:
            return False
        timer = self._loop.call_later(wait, self._respond_later, sid, answer)
        self.timers.add(timer)
        answer.timer = timer
        return True

    def _h2_fault(self, sid: int, path: str) -> bool:
        if path == RESET_PATH:
            self.h2.reset_stream(sid, h2.errors.ErrorCodes.INTERNAL_ERROR)
            self._forget(sid)
            return True
        if path == GOAWAY_PATH:
            self.last = max(0, sid - 2)
            self.h2.close_connection(h2.errors.ErrorCodes.NO_ERROR, last_stream_id=self.last)
            self.closing = True
            for later in [s for s in self.streams if s > self.last]:
                self._forget(later)
            return True
        return False

    def _respond_later(self, sid: int, answer: Answer) -> None:
        self.timers.discard(answer.timer)
        if self._wait(sid, answer):  # event-loop timers may fire a fraction of a millisecond early
            return
        self._respond(sid, answer)
        self.flush()

    def _respond(self, sid: int, answer: Answer) -> None:
        if sid not in self.streams:
            return
        body = answer.body
        head = [(b":status", str(answer.status).encode()), (b"content-type", answer.content_type.encode()),
                (b"content-length", str(len(body)).encode())]
        head.extend((n.lower().encode("latin-1"), v.encode("latin-1")) for n, v in answer.headers)
        try:
            self.h2.send_headers(sid, head, end_stream=not body)
            if body:
                self.waiting[sid] = memoryview(body)
                self._send_body(sid)
            else:
                self._forget(sid)
        except h2.exceptions.H2Error:  # the client reset it meanwhile
            self._forget(sid)

    def _send_body(self, sid: int) -> None:
        view = self.waiting[sid]
        h2c = self.h2
        while view:
            size = min(h2c.local_flow_control_window(sid), h2c.max_outbound_frame_size, len(view))
            if size <= 0:
                self.waiting[sid] = view
                return
            h2c.send_data(sid, view[:size].tobytes(), end_stream=size == len(view))
            view = view[size:]
        self._forget(sid)

    def _resume(self) -> None:
        for sid in list(self.waiting):
            try:
                self._send_body(sid)
            except h2.exceptions.H2Error:
                self._forget(sid)

    def _forget(self, sid: int) -> None:
        self.waiting.pop(sid, None)
        if self.streams.pop(sid, None) is not None:
            self.stats.stream(-1)
        if self.closing and not self.streams:
            self.flush()
            self.transport.close()
