"""HTTP/2 under a lapsed lease, on real sockets on 127.0.0.1: a worker frozen (SIGSTOP, a
paused VM) past its lease wakes up with what the server sent meanwhile to read (a window
update, a finished stream). It has fenced itself: no request byte may go out any more,
not the rest of a body that waited for window, not a request that waited in the pool's
queue for a stream. Both went out before (the bed saw a 900 KB upload complete at the
target 2.5 s after its worker fenced itself, after the thaw); now they end ``cut``."""

from __future__ import annotations

import asyncio
import socket
import threading
import time

import h2.config
import h2.connection
import h2.events
import h2.settings
import helpers
import pyarrow as pa

from loadray.engine.clock import SystemClock
from loadray.engine.flow_path import FlowPath, step_names
from loadray.engine.lease import NEVER, Lease
from loadray.engine.row_buffer import FLOW_ROW, RowBuffer
from loadray.engine.worker import transport_settings

BODY = 200_000  # three times the server's initial window (65,535 bytes)


class WithholdingServer:
    """An HTTP/2 server in a thread that grants no flow-control window and answers
    nothing until :meth:`grant` (the client's process is frozen meanwhile): then it
    opens the windows wide and answers every complete request 200."""

    def __init__(self, max_streams: int | None = None) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.max_streams = max_streams
        self.requests: list[int] = []  # streams whose request arrived complete, in order
        self.resets: list[int] = []
        self.body_bytes = 0
        self.started = threading.Event()  # a request (or the first window of one) arrived
        self._grant = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def grant(self) -> None:
        self._grant.set()

    def watch(self, seconds: float) -> None:
        self._thread.join(seconds)

    def _serve(self) -> None:
        self.sock.settimeout(10)
        conn, _ = self.sock.accept()
        conn.settimeout(0.02)
        h = h2.connection.H2Connection(h2.config.H2Configuration(client_side=False))
        settings = {} if self.max_streams is None else {h2.settings.SettingCodes.MAX_CONCURRENT_STREAMS: self.max_streams}
        h.initiate_connection()
        h.update_settings(settings) if settings else None
        conn.sendall(h.data_to_send())
        granted, open_streams = False, set()
        deadline = time.monotonic() + 3
        while time.monotonic() < deadline:
            if self._grant.is_set() and not granted:
                granted = True
                h.increment_flow_control_window(1 << 24)
                for sid in open_streams:
                    h.increment_flow_control_window(1 << 24, stream_id=sid)
                for sid in self.requests:
                    h.send_headers(sid, [(":status", "200"), ("content-length", "0")], end_stream=True)
                conn.sendall(h.data_to_send())
            try:
                data = conn.recv(65536)
            except TimeoutError:
                continue
            except OSError:
                break
            if not data:
                break
            for event in h.receive_data(data):
                self._event(event, h, granted, open_streams)
            try:
                conn.sendall(h.data_to_send())
            except OSError:  # the client reset the connection
                break
        conn.close()
        self.sock.close()

    def _event(self, event, h, granted: bool, open_streams: set) -> None:
        if isinstance(event, h2.events.RequestReceived):
            open_streams.add(event.stream_id)
            self.started.set()
        elif isinstance(event, h2.events.DataReceived):
            self.body_bytes += len(event.data)
        elif isinstance(event, h2.events.StreamEnded):
            self.requests.append(event.stream_id)
            if granted:
                h.send_headers(event.stream_id, [(":status", "200"), ("content-length", "0")], end_stream=True)
        elif isinstance(event, h2.events.StreamReset):
            self.resets.append(event.stream_id)


def _flow_path(server: WithholdingServer, step: dict, lease: Lease) -> FlowPath:
    url = f"http://127.0.0.1:{server.port}"
    scn = helpers.scenario(url, workers=1, flows=[{"name": "f", "steps": [step]}],
                           http={"version": 2, "timeout": "5s", "connections": 1})
    settings = transport_settings(scn, "")
    names, first = step_names(scn)
    return FlowPath(scn, 0, 1, SystemClock(), RowBuffer(0, names, 0, FLOW_ROW, first), settings, url, lease)


def _frozen_past_the_lease(server: WithholdingServer, step: dict, arrivals: int,
                           frozen_at_last: bool = False) -> tuple[list, list]:
    """``arrivals`` flow instances go out while the lease holds (the first alone, until
    the server has it) and wait on the server; the
    lease lapses (the worker was frozen past it), then the server's grant is read. The
    rows' errors and the (ok) flow outcomes."""
    lease = Lease(NEVER, until_ns=NEVER)
    flows = _flow_path(server, step, lease)
    done: list[bool] = []
    flows.on_flow_done = lambda ctx, ok: done.append(ok)

    async def main():
        await flows.open()
        for k in range(arrivals):
            now = time.monotonic_ns()
            flows.submit(0, (now, now, 0, 0, k))
            if k == 0:  # the server's SETTINGS are in before the others
                assert await asyncio.to_thread(server.started.wait, 5)
                await asyncio.sleep(0.1)
        if frozen_at_last:  # stopped right after the last stream started, before its write
            lease.until_ns = 0
        await asyncio.sleep(0.2)  # what may go out before the server's grant has gone
        lease.until_ns = 0  # the thaw: the lease ran out while the process was stopped
        server.grant()
        await asyncio.sleep(0.5)
        await flows.close()
        return flows.runner.buffer.flush()

    batch = asyncio.run(main())
    errors = pa.Table.from_batches([batch]).column("error").to_pylist() if batch is not None else []
    return errors, done


def test_the_rest_of_a_body_waiting_for_window_never_goes_out_once_the_lease_lapsed():
    server = WithholdingServer()
    errors, done = _frozen_past_the_lease(server, {"name": "up", "method": "POST", "path": "/", "body": "x" * BODY}, 1)
    server.watch(1.0)
    assert server.requests == [], f"the upload completed at the server after the lease lapsed ({server.body_bytes} bytes)"
    assert server.body_bytes <= 65_535 and server.resets == [1]
    assert (errors, done) == (["cut"], [False])


def test_a_request_queued_for_a_stream_never_goes_out_once_the_lease_lapsed():
    """One stream at a time (the server's SETTINGS): the second request waits in the
    pool's queue; the first one's answer, read after the thaw, frees its stream."""
    server = WithholdingServer(max_streams=1)
    errors, done = _frozen_past_the_lease(server, {"name": "get", "path": "/"}, 2)
    server.watch(1.0)
    assert server.requests == [1], f"streams {server.requests} reached the server (only 1 went out in time)"
    assert sorted(errors, key=str) == [None, "cut"] and sorted(done) == [False, True]


def test_a_stream_started_just_before_a_freeze_never_goes_out_once_the_lease_lapsed():
    """The streams a loop iteration starts go out in one write at its end: a process
    stopped in between wakes up with that write still to do."""
    server = WithholdingServer()
    errors, done = _frozen_past_the_lease(server, {"name": "get", "path": "/"}, 2, frozen_at_last=True)
    server.watch(1.0)
    assert server.requests == [1], f"streams {server.requests} reached the server (only 1 went out in time)"
    assert (errors, done) == (["cut", "cut"], [False, False])  # the connection reset with both
