"""HTTP/2 against nginx (``listen ... http2``: h2c with prior knowledge, and ALPN h2 over
TLS), started by the test on 127.0.0.1 with its own prefix and pid file and stopped by
its PID. nginx counts the connections itself: its access log names each request's
connection (``$connection``). Skipped (with the reason) when nginx is not installed;
CI installs it (.ci/run)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import time
from collections import Counter
from pathlib import Path

import helpers
import numpy as np
import pytest
from test_engine_flows import run_workers

from loadray.engine.clock import SystemClock
from loadray.engine.h2 import H2Client
from loadray.engine.transport import TransportSettings
from loadray.flow.render import Rendered
from loadray.target.options import TargetOptions
from loadray.target.server import TargetServer

NGINX = shutil.which("nginx") or ("/usr/sbin/nginx" if os.path.exists("/usr/sbin/nginx") else None)
pytestmark = pytest.mark.skipif(NGINX is None, reason="nginx is not installed (Debian package nginx)")
MS = 1_000_000

CONF = """
worker_processes 1;
daemon off;
pid {dir}/nginx.pid;
error_log {dir}/error.log warn;
events {{ worker_connections 8192; }}
http {{
  log_format conns '$connection $status $request_uri';
  access_log {dir}/access.log conns;
  client_body_temp_path {dir};
  proxy_temp_path {dir};
  fastcgi_temp_path {dir};
  uwsgi_temp_path {dir};
  scgi_temp_path {dir};
  upstream target {{ server 127.0.0.1:{target}; keepalive 64; }}
  server {{
    listen 127.0.0.1:{h2c} http2 backlog=4096;
    http2_max_concurrent_streams 2000;
    keepalive_requests 1000000;
    location /slow {{ proxy_pass http://target; proxy_http_version 1.1; proxy_set_header Connection ""; }}
    location /reset {{ return 444; }}
    location / {{ return 200 "ok\\n"; }}
  }}
  server {{
    listen 127.0.0.1:{short} http2;
    keepalive_requests 5;
    location / {{ return 200 "ok\\n"; }}
  }}
  server {{
    listen 127.0.0.1:{tls} ssl http2;
    ssl_certificate {dir}/cert.pem;
    ssl_certificate_key {dir}/key.pem;
    location / {{ return 200 "ok\\n"; }}
  }}
  server {{
    listen 127.0.0.1:{tls1} ssl;
    ssl_certificate {dir}/cert.pem;
    ssl_certificate_key {dir}/key.pem;
    location / {{ return 200 "ok\\n"; }}
  }}
}}
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Nginx:
    def __init__(self, folder: Path, target_port: int, pki) -> None:
        self.dir = folder
        self.ports = {name: free_port() for name in ("h2c", "short", "tls", "tls1")}
        shutil.copy(pki.server_cert, folder / "cert.pem")
        shutil.copy(pki.server_key, folder / "key.pem")
        (folder / "nginx.conf").write_text(CONF.format(dir=folder, target=target_port, **self.ports))
        self.proc = subprocess.Popen([NGINX, "-p", str(folder), "-c", str(folder / "nginx.conf")],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.time() + 10
        while time.time() < deadline:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", self.ports["tls1"]), 0.2):
                return
            if self.proc.poll() is not None:
                raise RuntimeError(f"nginx did not start: {self.proc.stderr.read().decode()}")
            time.sleep(0.05)
        raise RuntimeError("nginx did not listen")

    def url(self, name: str) -> str:
        scheme = "https" if name.startswith("tls") else "http"
        return f"{scheme}://127.0.0.1:{self.ports[name]}"

    def log(self) -> list[tuple[str, str, str]]:
        path = self.dir / "access.log"
        return [tuple(line.split(" ", 2)) for line in path.read_text().splitlines()] if path.exists() else []

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGTERM)  # by its PID (ours)
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


@pytest.fixture
def served(tmp_path, pki):
    """(nginx, built-in target behind /slow with 300 ms latency), in one event loop."""

    def run(body, latency_s: float = 0.3):
        async def main():
            async with TargetServer(TargetOptions(latency_s=latency_s)) as target:
                nginx = await asyncio.to_thread(Nginx, tmp_path, target.port, pki)
                try:
                    return await body(nginx, target)
                finally:
                    await asyncio.to_thread(nginx.stop)

        return asyncio.run(main())

    return run


def h2(connections: int = 2, verify: bool = True, ca: str | None = None) -> H2Client:
    return H2Client(TransportSettings(h2_connections=connections, verify=verify, ca_file=ca, timeout_s=10),
                    SystemClock())


def get(url: str) -> Rendered:
    return Rendered("GET", url, version=2)


async def peak_waiting(target: TargetServer, done: asyncio.Event) -> int:
    """The most requests the target held at once (waiting out its latency), sampled."""
    peak = 0
    while not done.is_set():
        peak = max(peak, len(target._delayed))
        await asyncio.sleep(0.005)
    return peak


def test_thousand_streams_in_flight_on_the_two_configured_connections_counted_by_nginx(served):
    async def body(nginx, target):
        c = h2(connections=2)
        s = c.session()
        done = asyncio.Event()
        peak = asyncio.ensure_future(peak_waiting(target, done))
        replies = await asyncio.gather(*(c.send(s, get(nginx.url("h2c") + "/slow"), None) for _ in range(1000)))
        done.set()
        await c.close()
        await asyncio.sleep(0.1)
        return replies, target.snapshot(), await peak, nginx.log()

    replies, stats, peak, log = served(body, latency_s=2.0)
    assert [r.status for r in replies] == [200] * 1000
    assert stats["requests"] == 1000  # every stream reached the target behind nginx
    assert peak == 1000  # all 1000 in flight at once ...
    per_connection = Counter(conn for conn, status, uri in log if uri == "/slow")
    assert sum(per_connection.values()) == 1000 and len(per_connection) == 2  # ... on the 2 configured connections
    assert min(r.ttfb_ns for r in replies) >= 2000 * MS


def test_reset_stream_and_goaway_from_nginx_are_exact_kinds(served):
    async def body(nginx, target):
        c = h2(connections=1)
        s = c.session()
        reset = await c.send(s, get(nginx.url("h2c") + "/reset"), None)
        # keepalive_requests 5: nginx answers 5 streams, then GOAWAY names the 5th as the last
        burst = await asyncio.gather(*(c.send(s, get(nginx.url("short") + "/"), None) for _ in range(12)))
        after = await c.send(s, get(nginx.url("short") + "/"), None)
        await c.close()
        return reset, burst, after

    reset, burst, after = served(body)
    assert (reset.status, reset.error) == (0, "reset") and reset.detail.startswith("RST_STREAM")
    outcomes = Counter(r.error or r.status for r in burst)
    assert outcomes == {200: 5, "goaway": 7}
    assert {r.detail for r in burst if r.error} == {"GOAWAY NO_ERROR last_stream_id=9"}
    assert (after.status, after.error) == (200, None)  # on a new connection


def test_tls_alpn_h2_and_a_server_without_h2_is_protocol(served, pki):
    async def body(nginx, target):
        c = h2(ca=str(pki.ca))
        s = c.session()
        ok = await c.send(s, get(nginx.url("tls") + "/"), 100)
        no_h2 = await c.send(s, get(nginx.url("tls1") + "/"), 100)
        await c.close()
        unverified = h2(verify=False)
        also = await unverified.send(unverified.session(), get(nginx.url("tls") + "/"), 100)
        await unverified.close()
        strict = h2()  # the system's CAs do not know the test's certificate
        refused = await strict.send(strict.session(), get(nginx.url("tls") + "/"), 100)
        await strict.close()
        return ok, no_h2, also, refused

    ok, no_h2, also, refused = served(body)
    assert (ok.status, ok.error, ok.response.text) == (200, None, "ok\n")
    assert (no_h2.status, no_h2.error) == (0, "protocol") and "no application protocol" in no_h2.detail
    assert (also.status, also.error) == (200, None)
    assert (refused.status, refused.error) == (0, "tls")


def test_open_model_through_nginx_counts_rows_latency_and_accounting(served):
    delay_ms = 20

    async def body(nginx, target):
        scn = helpers.scenario(nginx.url("h2c"), [{"duration": "2s", "rate": 200}], workers=1,
                               http={"version": 2, "connections": 2},
                               requests=[{"name": "slow", "path": "/slow"}])
        rows, counters = await run_workers(scn)
        await asyncio.sleep(0.1)
        return rows, counters, target.snapshot(), nginx.log()

    rows, counters, stats, log = served(body, latency_s=delay_ms / 1000)
    c = counters[0]
    assert c.intended == 400 == c.sent + c.dropped and c.sent == c.done == len(rows)
    assert stats["requests"] == len(rows) == 400 and rows["error"].isna().all()
    assert len({conn for conn, _, uri in log if uri == "/slow"}) == 2
    p50 = np.percentile(rows["latency_ns"], 50) / MS
    assert delay_ms <= p50 <= delay_ms + 15, p50
