"""The built-in target in a child process: ``with start_target(options) as target: ...``.

The child is ``sys.executable -m loadray.target ... --exit-on-stdin-eof``; its first stdout
line gives the URL. The parent keeps the child's stdin pipe open, so the child also
stops when the parent dies without calling :meth:`TargetProcess.stop`. The child runs
in a session of its own: a terminal's Ctrl+C (SIGINT to the whole foreground process
group) reaches loadray, which stops its workers first and the target after them,
instead of killing the target under the running load. The stats
endpoints are read with urllib, with proxies disabled (the target is on loopback).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import urllib.request
import weakref
from typing import IO

from loadray.errors import TargetError
from loadray.target.__main__ import GRPC_READY_PREFIX, READY_PREFIX, target_argv
from loadray.target.faults import validate_options
from loadray.target.options import TargetOptions

__all__ = ["TargetProcess", "start_target", "DEFAULT_START_TIMEOUT_S", "STOP_GRACE_S"]

DEFAULT_START_TIMEOUT_S = 20.0
STOP_GRACE_S = 5.0  # SIGTERM, then SIGKILL after this long
_HTTP_TIMEOUT_S = 10.0
_NO_PROXY = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def _reap(proc: subprocess.Popen, grace_s: float) -> None:
    """Terminate ``proc`` (this PID only) and wait for it: SIGTERM, SIGKILL after grace."""
    if proc.poll() is None:
        try:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=grace_s)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        except ProcessLookupError:  # pragma: no cover - exited in between
            proc.wait()
    for stream in (proc.stdin, proc.stdout):
        if stream is not None:
            try:
                stream.close()
            except OSError:  # pragma: no cover
                pass


class TargetProcess:
    """A running target child process. Use as a context manager, or call :meth:`stop`."""

    def __init__(
        self, proc: subprocess.Popen, url: str, options: TargetOptions, stderr: IO[bytes]
    ) -> None:
        self._proc = proc
        self.url = url
        self.options = options
        self._stderr = stderr
        self.grpc_address: str | None = None  # host:port of the gRPC target (options.grpc_port)
        # Safety net: a TargetProcess that is dropped or alive at exit is still reaped.
        self._finalizer = weakref.finalize(self, _reap, proc, STOP_GRACE_S)

    @property
    def pid(self) -> int:
        return self._proc.pid

    @property
    def port(self) -> int:
        return int(self.url.rsplit(":", 1)[1])

    @property
    def returncode(self) -> int | None:
        """None while running, else the exit code (negative: killed by that signal)."""
        return self._proc.poll()

    def alive(self) -> bool:
        return self._proc.poll() is None

    def _request(self, path: str, method: str) -> dict:
        data = b"" if method == "POST" else None
        req = urllib.request.Request(self.url + path, data=data, method=method)
        try:
            with _NO_PROXY.open(req, timeout=_HTTP_TIMEOUT_S) as resp:
                return json.loads(resp.read())
        except OSError as exc:
            raise TargetError(f"target {self.url} did not answer {method} {path}: {exc}") from None

    def stats(self) -> dict:
        """``GET /__stats``: ``{"requests", "per_second": {"<epoch s>": n}, "statuses",
        "unauthorized", "paths": {path: n}, "ids": {value: n}, "flows_in_order"}``."""
        return self._request("/__stats", "GET")

    def reset_stats(self) -> dict:
        """``POST /__stats/reset``: zero the counters (and forget tokens, orders, flaky
        counters); returns the counts just cleared."""
        return self._request("/__stats/reset", "POST")

    def stop(self) -> int:
        """SIGTERM the child, wait (SIGKILL after 5 s); return its exit code. Idempotent."""
        self._finalizer()  # runs _reap once
        try:
            self._stderr.close()
        except OSError:  # pragma: no cover
            pass
        return self._proc.returncode

    def __enter__(self) -> TargetProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def __repr__(self) -> str:
        state = "running" if self.alive() else f"exited {self._proc.returncode}"
        return f"<TargetProcess pid={self.pid} {self.url} {state}>"


def _read_first_line(stream: IO[bytes], timeout_s: float) -> bytes | None:
    """The first line of ``stream``; None on timeout (b"" if it closed first)."""
    box: list[bytes] = []
    reader = threading.Thread(
        target=lambda: box.append(stream.readline()), name="loadray-target-ready", daemon=True
    )
    reader.start()
    reader.join(timeout_s)
    return box[0] if box else None


def _stderr_tail(stderr: IO[bytes]) -> str:
    try:
        stderr.flush()
        stderr.seek(0)
        lines = [ln.strip() for ln in stderr.read().decode(errors="replace").splitlines()]
    except (OSError, ValueError):  # pragma: no cover
        return ""
    lines = [ln for ln in lines if ln]
    return lines[-1] if lines else ""


def start_target(
    options: TargetOptions | None = None, timeout_s: float = DEFAULT_START_TIMEOUT_S
) -> TargetProcess:
    """Spawn ``python -m loadray.target`` with ``options``; return once it listens.

    Raises :class:`TargetError` (one line) if the child exits or does not report its URL
    within ``timeout_s``; the child is then reaped.
    """
    options = options if options is not None else TargetOptions()
    try:
        validate_options(options)
    except ValueError as exc:
        raise TargetError(f"invalid target options: {exc}") from None
    cmd = [sys.executable, "-m", "loadray.target", *target_argv(options), "--exit-on-stdin-eof"]
    stderr = tempfile.TemporaryFile()
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    try:
        proc = subprocess.Popen(
            cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=stderr, env=env,
            close_fds=True, start_new_session=True,
        )
    except OSError as exc:
        stderr.close()
        raise TargetError(f"cannot start the target ({sys.executable}): {exc}") from None
    assert proc.stdout is not None
    line = _read_first_line(proc.stdout, timeout_s)
    text = (line or b"").decode(errors="replace").strip()
    if text.startswith(READY_PREFIX):
        handle = TargetProcess(proc, text[len(READY_PREFIX):], options, stderr)
        if options.grpc_port is not None:  # its address comes on the second line
            second = (_read_first_line(proc.stdout, timeout_s) or b"").decode(errors="replace").strip()
            handle.grpc_address = second[len(GRPC_READY_PREFIX):] if second.startswith(GRPC_READY_PREFIX) else None
        return handle
    _reap(proc, STOP_GRACE_S)
    detail = _stderr_tail(stderr)
    stderr.close()
    if line is None:
        reason = f"did not report its URL within {timeout_s:g}s"
    elif proc.returncode is not None and not text:
        reason = f"exited with code {proc.returncode}"
    else:
        reason = f"printed {text!r} instead of its URL"
    raise TargetError(f"the target failed to start: {reason}" + (f" ({detail})" if detail else ""))
