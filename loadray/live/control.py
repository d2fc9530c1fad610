"""Live control of a running test: ``loadray control RUN_DIR --rate 600``.

The running driver serves a tiny HTTP endpoint on 127.0.0.1 and writes where to find
it (with a per-run token and the bounds a rate must keep) to ``RUN_DIR/control.json``,
removed when the run ends. ``send`` is the client side used by the ``control`` verb.

Both sides check a command with :func:`check_command` (a typed
:class:`~loadray.live.command.Command` comes out): a rate is a finite number
>= 0 within the scenario's bounds (``limits.max_rate``, or ``limits.max_users`` and a
whole number in the closed model). The endpoint answers every request: 400 with the
reason for a bad one (which never reaches the coordinator), 500 with one line if the
run could not act on a good one.
"""

from __future__ import annotations

import json
import math
import os
import secrets
import threading
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import asdict, dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from loadray.errors import LoadrayError, UsageError
from loadray.live.command import Command
from loadray.scenario.limits import DEFAULT_MAX_RATE
from loadray.units import format_number, shorten

CONTROL_FILE = "control.json"
MAX_BODY = 64 * 1024
Handler = Callable[[Command], str]


@dataclass(frozen=True)
class RateBounds:
    """What ``--rate`` may ask of one run."""

    max_rate: float = DEFAULT_MAX_RATE  # req/s (open model) or users (closed model)
    users: bool = False  # closed model: a whole number of users

    @classmethod
    def of(cls, scenario: Any) -> RateBounds:
        """The bounds of a :class:`~loadray.scenario.Scenario`."""
        if scenario.model == "closed":
            return cls(float(scenario.limits.max_users), users=True)
        return cls(float(scenario.limits.max_rate))


def check_rate(value: object, bounds: RateBounds) -> float:
    """``value`` as a rate, or ``ValueError`` with a one-line reason."""
    unit = "users" if bounds.users else "req/s"
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"must be a number, got {shorten(value)}")
    too_long = isinstance(value, int) and value.bit_length() > 64
    if too_long or not math.isfinite(value):
        raise ValueError(f"must be a finite number, got {shorten(value)}")
    if value < 0:
        raise ValueError(f"must be >= 0, got {format_number(value)}")
    if value > bounds.max_rate:
        limit = "limits.max_users" if bounds.users else "limits.max_rate"
        raise ValueError(
            f"must be <= {format_number(bounds.max_rate)} {unit} (the scenario's {limit}), "
            f"got {format_number(value)}"
        )
    if bounds.users and not float(value).is_integer():
        raise ValueError(f"must be a whole number of users (closed model), got {format_number(value)}")
    return float(value)


def check_command(body: object, bounds: RateBounds) -> Command:
    """The command of a request body ``{"command": ..., "rate": ...}`` within ``bounds``."""
    return Command.parse(body, lambda rate: check_rate(rate, bounds))


class ControlServer:
    def __init__(self, run_dir: Path, handle: Handler, bounds: RateBounds = RateBounds()) -> None:
        self.run_dir = Path(run_dir)
        self.handle = handle
        self.bounds = bounds
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
        info = {"url": url, "token": self.token, "pid": os.getpid(), "bounds": asdict(self.bounds)}
        path.write_text(json.dumps(info))
        os.chmod(path, 0o600)
        return url

    def stop(self) -> None:
        (self.run_dir / CONTROL_FILE).unlink(missing_ok=True)
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> ControlServer:
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
                command = check_command(self._body(), owner.bounds)
            except ValueError as exc:
                return self._answer(400, str(exc))
            try:
                answer = owner.handle(command)
            except Exception as exc:  # noqa: BLE001 - the client gets one line, never a dropped connection
                return self._answer(500, f"the run could not {command.kind}: {type(exc).__name__}: {_one_line(exc)}")
            self._answer(200, answer)

        def _body(self) -> object:
            length = self.headers.get("Content-Length", "")
            if not length.isdigit() or int(length) > MAX_BODY:
                raise ValueError(f"expected a JSON body of at most {MAX_BODY} bytes")
            try:
                return json.loads(self.rfile.read(int(length)))
            except (ValueError, RecursionError):
                raise ValueError('expected a JSON object {"command": ..., "rate": ...}') from None

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


def send(run_dir: Path, kind: str, rate: float | None = None, timeout_s: float = 15.0) -> str:
    """Send one command to the run writing ``run_dir``; its answer as one line. The
    command is checked against the run's bounds first (``--rate`` names the flag)."""
    path = Path(run_dir) / CONTROL_FILE
    try:
        info = json.loads(path.read_text())
        url, token = info["url"], info["token"]
        bounds = RateBounds(**info.get("bounds", {}))
    except FileNotFoundError:
        raise UsageError(f"{run_dir}: no run in progress there (no {CONTROL_FILE})") from None
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise UsageError(f"{path}: unreadable: {_one_line(exc)}") from None
    try:
        command = check_command({"command": kind, "rate": rate}, bounds)
    except ValueError as exc:
        raise UsageError(f"--{exc}" if kind == "rate" else str(exc)) from None
    request = urllib.request.Request(
        url,
        data=json.dumps(command.to_json()).encode(),
        headers={"Content-Type": "application/json", "X-Loadray-Token": token},
        method="POST",
    )
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(request, timeout=timeout_s) as response:
            return _one_line(response.read().decode())
    except urllib.error.HTTPError as exc:
        reason = _one_line(exc.read().decode(errors="replace"))
        if exc.code >= 500:
            raise LoadrayError(f"{run_dir}: {reason}") from None
        raise UsageError(f"{run_dir}: the run refused the command: {reason}") from None
    except OSError as exc:
        raise UsageError(f"{run_dir}: cannot reach the run (pid {info.get('pid')}): {_one_line(exc)}") from None


def _one_line(value: object) -> str:
    return " ".join(str(value).split())[:500]
