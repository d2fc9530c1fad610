"""Processes a test started, found by a marker in their environment (inherited by every
process they start, Ray's included), never by name."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid

from cli_support import REPO

MARKER_ENV = "LOADRAY_TEST_MARKER"


def new_marker() -> str:
    return f"loadray-test-{uuid.uuid4().hex}"


def marked(marker: str) -> list[tuple[int, str]]:
    """``(pid, command line)`` of the live processes whose environment has the marker."""
    needle = f"{MARKER_ENV}={marker}".encode()
    found = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit() or int(pid) == os.getpid():
            continue
        try:
            with open(f"/proc/{pid}/environ", "rb") as f:
                if needle not in f.read().split(b"\0"):
                    continue
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                found.append((int(pid), f.read().replace(b"\0", b" ").decode(errors="replace").strip()))
        except OSError:
            continue
    return found


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
