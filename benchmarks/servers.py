"""Local servers for benchmarks: nginx when installed (fastest), else the built-in target;
``spin_target.py`` (never sleeps). Started by us on a free 127.0.0.1 port, ended by PID."""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator

NGINX_CONF = """
worker_processes 1;
daemon off;
pid {dir}/nginx.pid;
error_log {dir}/error.log warn;
events {{ worker_connections 4096; }}
http {{
  access_log off;
  keepalive_requests 1000000;
  client_body_temp_path {dir};
  proxy_temp_path {dir};
  fastcgi_temp_path {dir};
  uwsgi_temp_path {dir};
  scgi_temp_path {dir};
  server {{
    listen 127.0.0.1:{port}{http2} backlog=4096;
    http2_max_concurrent_streams 1000;
    location / {{ return 200 "ok\\n"; }}
  }}
}}
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def pin(cpu: int) -> list[str]:
    """A command prefix pinning to one core when taskset exists and there are 2+ cores."""
    if shutil.which("taskset") and (os.cpu_count() or 1) > 1:
        return ["taskset", "-c", str(cpu)]
    return []


def _wait_listening(port: int, timeout_s: float = 10.0) -> None:
    deadline = time.time() + timeout_s
    while time.time() < deadline:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return
        time.sleep(0.05)
    raise RuntimeError(f"server on 127.0.0.1:{port} did not start")


@contextlib.contextmanager
def fast_server(cpu: int = 1, http2: bool = False) -> Iterator[tuple[str, str]]:
    """Yields (url, name): nginx on ``cpu`` if installed, else the built-in target.
    ``http2``: nginx speaks h2c (prior knowledge) only on that port (the built-in
    target speaks both on its one port anyway)."""
    nginx = shutil.which("nginx") or ("/usr/sbin/nginx" if os.path.exists("/usr/sbin/nginx") else None)
    with tempfile.TemporaryDirectory() as tmp:
        port = free_port()
        if nginx:
            conf = os.path.join(tmp, "nginx.conf")
            with open(conf, "w") as f:
                f.write(NGINX_CONF.format(dir=tmp, port=port, http2=" http2" if http2 else ""))
            cmd, name = pin(cpu) + [nginx, "-c", conf, "-p", tmp], "nginx"
        else:
            cmd = pin(cpu) + ["python", "-m", "loadray.target", "--port", str(port)]
            name = "loadray target"
        with _serving(cmd, port):
            yield f"http://127.0.0.1:{port}", name


@contextlib.contextmanager
def spin_server(cpu: int = 1) -> Iterator[tuple[str, str]]:
    """Yields (url, name): ``spin_target.py`` (a target that never sleeps) on ``cpu``."""
    port = free_port()
    script = os.path.join(os.path.dirname(os.path.abspath(__file__)), "spin_target.py")
    with _serving(pin(cpu) + [sys.executable, script, str(port)], port):
        yield f"http://127.0.0.1:{port}", "spin_target.py"


@contextlib.contextmanager
def _serving(cmd: list[str], port: int) -> Iterator[None]:
    """Run ``cmd`` until the block ends (by PID), once it listens on ``port``."""
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        _wait_listening(port)
        yield
    finally:
        proc.terminate()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
