"""Live control of a running test: ``loadray control RUN_DIR --rate 600``.

The running driver serves a tiny HTTP endpoint on 127.0.0.1 and writes where to find
it (with a per-run token) to ``RUN_DIR/control.json``, removed when the run ends.
``send`` is the client side used by the ``control`` verb.
"""

from __future__ import annotations

import json
import os
import secrets
import threading
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Callable

from loadray.errors import UsageError

CONTROL_FILE = "control.json"
COMMANDS = ("rate", "pause", "resume", "stop")
Handler = Callable[[str, "float | None"], str]


class ControlServer:
    def __init__(self, run_dir: Path, handle: Handler) -> None:
        self.run_dir = Path(run_dir)
        self.handle = handle
        self.token = secrets.token_hex(16)
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> str:
        server = ThreadingHTTPServer(("127.0.0.1", 0), _request_handler(self))
        server.daemon_threads = True
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, name="loadray-control", daemon=True)
        self._thread.start()
        url = f"http://127.0.0.1:{server.server_address[1]}/control"
        path = self.run_dir / CONTROL_FILE
        path.write_text(json.dumps({"url": url, "token": self.token, "pid": os.getpid()}))
        os.chmod(path, 0o600)
        return url

    def stop(self) -> None:
        (self.run_dir / CONTROL_FILE).unlink(missing_ok=True)
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> "ControlServer":
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


def _request_handler(owner: ControlServer):
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
            if self.headers.get("X-Loadray-Token") != owner.token:
                return self._answer(403, "bad token")
            try:
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))))
                command, rate = body["command"], body.get("rate")
            except (ValueError, KeyError, TypeError):
                return self._answer(400, "expected JSON {command, rate}")
            if command not in COMMANDS:
                return self._answer(400, f"unknown command {command!r}")
            self._answer(200, owner.handle(command, rate))

        def _answer(self, code: int, text: str) -> None:
            data = text.encode()
            self.send_response(code)
            self.send_header("Content-Type", "text/plain; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args) -> None:  # quiet
            pass

    return Handler


def send(run_dir: Path, command: str, rate: float | None = None, timeout_s: float = 15.0) -> str:
    """Send one command to the run writing ``run_dir``; its answer as one line."""
    path = Path(run_dir) / CONTROL_FILE
    try:
        info = json.loads(path.read_text())
    except FileNotFoundError:
        raise UsageError(f"{run_dir}: no run in progress there (no {CONTROL_FILE})") from None
    except (OSError, ValueError) as exc:
        raise UsageError(f"{path}: unreadable: {exc}") from None
    request = urllib.request.Request(
        info["url"],
        data=json.dumps({"command": command, "rate": rate}).encode(),
        headers={"Content-Type": "application/json", "X-Loadray-Token": info["token"]},
        method="POST",
    )
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(request, timeout=timeout_s) as response:
            return response.read().decode()
    except urllib.error.HTTPError as exc:
        raise UsageError(f"{run_dir}: the run refused the command: {exc.read().decode()}") from None
    except OSError as exc:
        raise UsageError(f"{run_dir}: cannot reach the run (pid {info.get('pid')}): {exc}") from None
