"""Processes a test started, found by a marker in their environment (inherited by every
process they start, Ray's included), never by name."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
import uuid

from cli_support import REPO

MARKER_ENV = "LOADRAY_TEST_MARKER"


def new_marker() -> str:
    return f"loadray-test-{uuid.uuid4().hex}"


def marked(marker: str) -> list[tuple[int, str]]:
    """``(pid, command line)`` of the live processes whose environment has the marker,
    and of Ray's titled processes (``ray::DashboardAgent``) holding files in a Ray
    session directory a marked process held files in: a title overwrites the start of
    the environment block, and with it, in some runs, the marker."""
    needle = f"{MARKER_ENV}={marker}".encode()
    found, titled = [], []
    for pid in _pids():
        try:
            with open(f"/proc/{pid}/environ", "rb") as f:
                carries = needle in f.read().split(b"\0")
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                cmd = f.read().replace(b"\0", b" ").decode(errors="replace").strip()
        except OSError:
            continue
        if carries:
            found.append((pid, cmd))
            _SESSIONS.setdefault(marker, set()).update(m.group(1) for path in _open_paths(pid)
                                                       if (m := SESSION.match(path)))
        elif cmd.startswith("ray::"):
            titled.append((pid, cmd))
    sessions = _SESSIONS.get(marker, set())
    return found + [(pid, cmd) for pid, cmd in titled
                    if any(path.startswith(f"{d}/") for path in _open_paths(pid) for d in sessions)]


#: A Ray session directory in an open file's path; the ones seen per marker
SESSION = re.compile(r"^(/.*/session_\d{4}-\d\d-\d\d_[^/]+)/")
_SESSIONS: dict[str, set[str]] = {}


def _pids() -> list[int]:
    return [int(name) for name in os.listdir("/proc") if name.isdigit() and int(name) != os.getpid()]


def _open_paths(pid: int) -> list[str]:
    paths = []
    try:
        for fd in os.listdir(f"/proc/{pid}/fd"):
            try:
                paths.append(os.readlink(f"/proc/{pid}/fd/{fd}"))
            except OSError:
                continue
    except OSError:
        pass
    return paths


def seconds_until_gone(marker: str, limit_s: float = 30.0) -> float:
    """How long until no marked process is left (``limit_s`` if some still are)."""
    t0 = time.monotonic()
    while marked(marker):
        if time.monotonic() - t0 > limit_s:
            return limit_s
        time.sleep(0.05)
    return time.monotonic() - t0


def wait_for(predicate, timeout_s: float, proc: subprocess.Popen | None = None, step_s: float = 0.02) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        assert proc is None or proc.poll() is None, f"exited early ({proc.returncode})"
        time.sleep(step_s)


def start_run(marker: str, *args, env_extra: dict | None = None) -> subprocess.Popen:
    """``loadray run ARGS`` in a child process carrying the marker."""
    env = dict(os.environ, **{MARKER_ENV: marker}, **(env_extra or {}))
    if "RAY_ADDRESS" not in (env_extra or {}):
        env.pop("RAY_ADDRESS", None)
    return subprocess.Popen(
        [sys.executable, "-m", "loadray", "run", *map(str, args)],
        cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )


def kill_marked(marker: str) -> None:
    """Cleanup after a failed test: SIGKILL what is left of ours, by PID."""
    for pid, _ in marked(marker):
        try:
            os.kill(pid, 9)
        except OSError:
            pass


def loadray_lines(stderr: str) -> list[str]:
    """loadray's own lines on stderr (Ray logs lines of its own there)."""
    return [line for line in stderr.splitlines() if line.startswith("loadray")]
