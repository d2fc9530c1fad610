"""One HTTP/2 connection of the client: an asyncio Protocol around the sans-IO ``h2``
state machine, carrying many streams (one per request) at once.

The connection knows nothing of steps or replies: it starts a stream for an
:class:`~loadray.engine.h2.exchange.Exchange`, fills it as frames arrive (status and
headers, DATA frames: first-byte time, count, bytes, the kept part of the body) and
hands it back to its pool (``pool.answered`` / ``pool.failed``). Failures map to kinds:

- RST_STREAM from the server: ``reset`` (detail: the error code);
- GOAWAY: streams above its last stream id were never processed: ``goaway``; the
  connection takes no new stream and the ones below finish (or are ``reset`` when the
  connection closes first);
- a frame ``h2`` cannot accept, or a server whose first frame is not SETTINGS (an
  HTTP/1.1 server): ``protocol`` for every stream of the connection;
- the connection lost: ``reset`` for every stream still open;
- a connection gone silent (a link that drops everything: no RST, no FIN): when a
  stream times out with nothing heard on its connection since it was sent, the pool
  sends a PING (:meth:`H2Conn.probe`); with no answer within a second the connection is
  presumed dead and abandoned (:meth:`H2Conn.abandon`): reset with nothing kept to
  deliver, so the streams written to it never reach the server in a burst when the link
  heals, and each of its streams times out at its own deadline.

Flow control: the client's receive windows are large (:data:`WINDOW`) and every DATA
frame is acknowledged as it is read, so a server is never stalled by the client; a
request body larger than the server's window is sent as the window opens, while the
pool's ``may_send`` (the worker's lease) holds: else its stream is reset, ``cut``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import h2.config
import h2.connection
import h2.errors
import h2.events
import h2.exceptions
import h2.settings

from loadray.engine.failures import error_detail
from loadray.engine.h2.hpack_cache import CachingDecoder, CachingEncoder
from loadray.engine.sockets import discard_and_close
from loadray.kinds import GOAWAY, PROTOCOL, RESET

if TYPE_CHECKING:
    from loadray.engine.h2.exchange import Exchange
    from loadray.engine.h2.pool import H2Pool

__all__ = ["H2Conn", "WINDOW", "UNSETTLED_STREAMS"]

WINDOW = 1 << 24  # the client's receive window, per stream and for the connection
UNSETTLED_STREAMS = 100  # streams started before the server's SETTINGS came (RFC 9113 §6.5.2)
_MAX_STREAMS = 1 << 20
_SETTINGS = 0x4  # frame type
_SWEEP_SLACK = 256  # closed streams h2 may keep beyond twice the open ones
# The client writes lowercase, valid header names itself (H2Client._head): h2's own
# normalizing and validating of every header of every request is skipped (it was a
# third of the client's CPU per request).
_CONFIG = h2.config.H2Configuration(
    client_side=True, header_encoding=None, validate_outbound_headers=False, normalize_outbound_headers=False,
    validate_inbound_headers=False, normalize_inbound_headers=False,
)
_OPEN = h2.connection.ConnectionState.CLIENT_OPEN


class _GoawayKeepsStreams(h2.connection.H2ConnectionStateMachine):
    """``h2`` closes the whole connection on a received GOAWAY (python-hyper/h2#1181), so
    the responses of the streams the server still finishes (RFC 9113 §6.8: those up to
    its last stream id) would raise. Here the connection stays open for them; the pool
    starts no new stream on it (:attr:`H2Conn.usable`)."""

    _transitions = {
        **h2.connection.H2ConnectionStateMachine._transitions,
        (_OPEN, h2.connection.ConnectionInputs.RECV_GOAWAY): (None, _OPEN),
    }


class _Connection(h2.connection.H2Connection):
    """``h2``'s connection, minus two costs and one limit of the library:

    - it counts the open streams by walking all of them before every new stream (O(n)
      per request with n in flight); the pool keeps within the server's limit itself
      (:meth:`H2Conn.room`), so the count is the connection's own, and h2's walk (which
      also forgets closed streams) runs only when closed streams pile up;
    - HPACK that reuses the blocks it made or read before (no Huffman on encode):
      :mod:`~loadray.engine.h2.hpack_cache`;
    - GOAWAY keeps the streams it lets finish (:class:`_GoawayKeepsStreams`).
    """

    def __init__(self, in_flight: dict) -> None:
        super().__init__(_CONFIG)
        self.state_machine = _GoawayKeepsStreams()
        self.encoder = CachingEncoder()
        self.decoder = CachingDecoder(self.decoder.max_header_list_size)
        self._in_flight = in_flight

    @property
    def open_outbound_streams(self) -> int:
        if len(self.streams) > 2 * len(self._in_flight) + _SWEEP_SLACK:
            return super().open_outbound_streams  # forgets the closed streams as it counts
        return len(self._in_flight)


class H2Conn(asyncio.Protocol):
    def __init__(self, pool: H2Pool) -> None:
        self.pool = pool
        self.streams: dict[int, Exchange] = {}
        self.h2 = _Connection(self.streams)
        self.transport: Any = None
        self.pending: list[Exchange] = []  # waiting for the connection to be made
        self.bodies: dict[int, memoryview] = {}  # request bodies waiting for window
        self.settled = False  # the server's SETTINGS arrived
        self.usable = True  # takes new streams (no GOAWAY, not lost)
        self.heard = False  # the server's first bytes came
        self.heard_ns = 0  # when bytes last came (the pool's monotonic clock)
        self.ping_ns: int | None = None  # when the unanswered liveness PING went out
        self.flushing = False  # a flush is due at the end of this loop iteration
        self._dispatch: dict[type, Callable[[Any], None]] = {
            h2.events.ResponseReceived: self._response,
            h2.events.DataReceived: self._data,
            h2.events.StreamEnded: self._ended,
            h2.events.StreamReset: self._reset,
            h2.events.ConnectionTerminated: self._goaway,
            h2.events.WindowUpdated: self._window,
            h2.events.RemoteSettingsChanged: self._settings,
            h2.events.PingAckReceived: self._pong,
        }

    # -- capacity -------------------------------------------------------------------------

    def room(self) -> int:
        """How many more streams this connection may start now."""
        if not self.usable:
            return 0
        limit = self.h2.remote_settings.max_concurrent_streams if self.settled else UNSETTLED_STREAMS
        return min(limit, _MAX_STREAMS) - len(self.streams) - len(self.pending)

    @property
    def load(self) -> int:
        return len(self.streams) + len(self.pending)

    # -- asyncio Protocol -------------------------------------------------------------------

    def connection_made(self, transport: Any) -> None:
        self.transport = transport
        if self.pool.tls is not None and not _negotiated_h2(transport):
            self.usable = False
            self.fail_all(PROTOCOL, "the server did not negotiate h2 by ALPN")
            transport.close()
            return
        h2c = self.h2
        h2c.initiate_connection()
        h2c.update_settings({h2.settings.SettingCodes.INITIAL_WINDOW_SIZE: WINDOW,
                             h2.settings.SettingCodes.ENABLE_PUSH: 0})
        h2c.increment_flow_control_window(WINDOW - 65535)
        pending, self.pending = self.pending, []
        sending = self.pool.may_send()
        for ex in pending:
            if sending:
                self._start(ex)
            else:
                self.pool.refused(ex)
        self.flush()

    def data_received(self, data: bytes) -> None:
        self.heard_ns = self.pool.now()
        if not self.heard and len(data) >= 4:
            self.heard = True
            if data[3] != _SETTINGS:  # an HTTP/2 server's first frame is SETTINGS (RFC 9113 §3.4)
                self._broken(f"not an HTTP/2 server: it answered {data[:16]!r}")
                return
        try:
            events = self.h2.receive_data(data)
        except h2.exceptions.ProtocolError as exc:
            self._broken(error_detail(exc))
            return
        dispatch = self._dispatch
        for event in events:
            handler = dispatch.get(type(event))
            if handler is not None:
                handler(event)
        self.flush()

    def _broken(self, detail: str) -> None:
        self.usable = False
        self.fail_all(PROTOCOL, detail)
        self.flush()
        self.transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        self.usable = False
        self.fail_all(RESET, "connection lost" if exc is None else error_detail(exc))
        self.pool.lost(self)

    # -- streams --------------------------------------------------------------------------

    def start(self, ex: Exchange) -> None:
        """Start ``ex`` now (connected) or once the connection is made."""
        ex.conn = self
        if self.transport is None:
            self.pending.append(ex)
            return
        if not self.pool.may_send():
            self.pool.refused(ex)
            return
        self._start(ex)
        if not self.flushing:  # one write for every stream started in this loop iteration
            self.flushing = True
            asyncio.get_running_loop().call_soon(self._flush_soon)

    def _flush_soon(self) -> None:
        self.flushing = False
        if not self.pool.may_send():  # streams started just before a freeze: none goes out
            for ex in self.abandon():
                self.pool.refused(ex)
            return
        self.flush()

    def _start(self, ex: Exchange) -> None:
        h2c = self.h2
        sid = h2c.get_next_available_stream_id()
        body = ex.body
        h2c.send_headers(sid, ex.head, end_stream=not body)
        ex.sid = sid
        self.streams[sid] = ex
        if body:
            self.bodies[sid] = memoryview(body)
            self._send_body(sid)

    def _send_body(self, sid: int) -> None:
        view = self.bodies[sid]
        h2c = self.h2
        while view:
            size = min(h2c.local_flow_control_window(sid), h2c.max_outbound_frame_size, len(view))
            if size <= 0:
                break
            h2c.send_data(sid, view[:size].tobytes())
            view = view[size:]
        if view:
            self.bodies[sid] = view
        else:
            del self.bodies[sid]
            h2c.end_stream(sid)

    def cancel(self, ex: Exchange) -> None:
        """Forget ``ex`` (timed out, abandoned): its stream is reset with CANCEL."""
        if ex in self.pending:
            self.pending.remove(ex)
            return
        if self.streams.pop(ex.sid, None) is None:
            return
        self.bodies.pop(ex.sid, None)
        try:
            self.h2.reset_stream(ex.sid, h2.errors.ErrorCodes.CANCEL)
        except h2.exceptions.H2Error:  # already closed on our side
            pass
        self.flush()

    def probe(self, now_ns: int) -> None:
        """Ask the server for a sign of life (a PING), unless one is asked already."""
        if self.ping_ns is not None or self.transport is None or not self.usable:
            return
        try:
            self.h2.ping(b"loadray!")
        except h2.exceptions.ProtocolError:
            return
        self.ping_ns = now_ns
        self.flush()

    def abandon(self) -> list[Exchange]:
        """The connection is presumed dead: reset it, nothing it holds unsent delivered
        later (:func:`~loadray.engine.sockets.discard_and_close`); its streams (no outcome
        yet) are handed back."""
        self.usable = False
        exchanges = list(self.streams.values())
        self.streams.clear()
        self.bodies.clear()
        if self.transport is not None:
            discard_and_close(self.transport)
        return exchanges

    def fail_all(self, kind: str, detail: str | None) -> None:
        exchanges = [*self.streams.values(), *self.pending]
        self.streams.clear()
        self.pending.clear()
        self.bodies.clear()
        for ex in exchanges:
            self.pool.failed(ex, kind, detail)

    def flush(self) -> None:
        data = self.h2.data_to_send()
        if data and self.transport is not None:
            self.transport.write(data)

    def close(self) -> None:
        """GOAWAY (as far as it goes out at once), then the connection reset with nothing
        kept to deliver: on a connection gone silent (a partition, a link down) the kernel
        would otherwise retransmit every stream written to it when the link heals, after
        the worker fenced itself (:func:`~loadray.engine.sockets.discard_and_close`)."""
        self.usable = False
        if self.transport is not None:
            try:
                self.h2.close_connection()
                self.flush()
            except h2.exceptions.H2Error:
                pass
            discard_and_close(self.transport)

    # -- events -----------------------------------------------------------------------------

    def _response(self, event: h2.events.ResponseReceived) -> None:
        ex = self.streams.get(event.stream_id)
        if ex is not None:
            ex.headers_in(event.headers)

    def _data(self, event: h2.events.DataReceived) -> None:
        ex = self.streams.get(event.stream_id)
        if ex is not None:
            ex.data_in(event.data)
        try:
            self.h2.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
        except h2.exceptions.StreamClosedError:  # a stream we reset: the connection window still counts
            pass

    def _ended(self, event: h2.events.StreamEnded) -> None:
        ex = self.streams.pop(event.stream_id, None)
        if ex is not None:
            self.bodies.pop(event.stream_id, None)
            self.pool.answered(ex)
            self._drained()

    def _reset(self, event: h2.events.StreamReset) -> None:
        ex = self.streams.pop(event.stream_id, None)
        if ex is not None:
            self.bodies.pop(event.stream_id, None)
            self.pool.failed(ex, RESET, f"RST_STREAM {_code(event.error_code)}")
            self._drained()

    def _goaway(self, event: h2.events.ConnectionTerminated) -> None:
        self.usable = False
        last = event.last_stream_id or 0
        detail = f"GOAWAY {_code(event.error_code)} last_stream_id={last}"
        unprocessed = [sid for sid in self.streams if sid > last]
        for sid in unprocessed:
            self.bodies.pop(sid, None)
            self.pool.failed(self.streams.pop(sid), GOAWAY, detail)
        self.pool.retired(self)
        self._drained()

    def _drained(self) -> None:
        """A connection told to go away closes once its last stream is done."""
        if not self.usable and not self.streams and self.transport is not None:
            self.transport.close()

    def _window(self, event: h2.events.WindowUpdated) -> None:
        if not self.bodies:
            return
        if not self.pool.may_send():  # the rest of these bodies never goes out
            for sid in list(self.bodies):
                del self.bodies[sid]
                ex = self.streams.pop(sid, None)
                try:
                    self.h2.reset_stream(sid, h2.errors.ErrorCodes.CANCEL)
                except h2.exceptions.H2Error:
                    pass
                if ex is not None:
                    self.pool.refused(ex)
            return
        for sid in [event.stream_id] if event.stream_id and event.stream_id in self.bodies else list(self.bodies):
            self._send_body(sid)

    def _pong(self, event: h2.events.PingAckReceived) -> None:
        self.ping_ns = None

    def _settings(self, event: h2.events.RemoteSettingsChanged) -> None:
        self.settled = True
        self.pool.refill()


def _code(code: Any) -> str:
    return getattr(code, "name", str(code))


def _negotiated_h2(transport: Any) -> bool:
    ssl_object = transport.get_extra_info("ssl_object")
    return ssl_object is not None and ssl_object.selected_alpn_protocol() == "h2"
