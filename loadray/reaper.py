"""The embedded Ray's reaper: a small process that outlives ``loadray run`` however it
ends. It waits for its standard input to close -- the driver holds the other end, and
the kernel closes it when the driver exits, also on SIGKILL or the OOM killer -- then
stops every process of that driver's embedded Ray (see :func:`ours`) and exits. A
driver that closed its Ray itself has left nothing: the reaper then finds nothing.

Without it, a driver killed with SIGKILL left Ray's dashboard and runtime-env agents
running for a minute or more (Ray's GCS and raylet end with their driver; the agents
only notice later).

``python -m loadray.reaper MARKER``; started by :func:`start_reaper`, in a
session of its own (a terminal's Ctrl+C is for loadray, not for it). The driver writes
its Ray's session directory to it, one line, once Ray is up (:func:`tell_session`).
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
from collections.abc import Iterable

import psutil

__all__ = ["OWNER_ENV", "REAP_GRACE_S", "carries", "marked", "ours", "reap", "session_dirs", "start_reaper",
           "stop_reaper", "tell_session"]

#: The environment variable that marks the processes of a driver's embedded Ray.
OWNER_ENV = "LOADRAY_EMBEDDED_RAY"
#: How long Ray's processes get to exit after a SIGTERM before they are killed (its
#: agents otherwise linger up to a minute).
REAP_GRACE_S = 1.5


def start_reaper(marker: str) -> subprocess.Popen:
    """The reaper of the processes marked ``marker`` (start it before them: it does not
    carry the marker); its stdin stays open until :func:`stop_reaper`."""
    return subprocess.Popen([sys.executable, "-m", "loadray.reaper", marker], stdin=subprocess.PIPE,
                            stdout=subprocess.DEVNULL, close_fds=True, start_new_session=True)


def tell_session(reaper: subprocess.Popen, session_dir: str) -> None:
    """Hand the reaper the embedded Ray's session directory (a reaper gone says nothing)."""
    with contextlib.suppress(OSError, ValueError):
        assert reaper.stdin is not None
        reaper.stdin.write(f"{session_dir}\n".encode())
        reaper.stdin.flush()


def stop_reaper(reaper: subprocess.Popen, timeout_s: float = 5.0) -> None:
    """Close its stdin (the marked processes are gone: it finds none) and wait for it."""
    if reaper.stdin is not None:
        reaper.stdin.close()
    with contextlib.suppress(subprocess.TimeoutExpired):
        reaper.wait(timeout_s)


def marked(marker: str) -> list[psutil.Process]:
    """The running processes (other than this one) whose environment carries the marker."""
    found = []
    for proc in psutil.process_iter():
        if proc.pid != os.getpid() and carries(proc, f"{OWNER_ENV}={marker}"):
            found.append(proc)
    return found


def carries(proc: psutil.Process, entry: str) -> bool:
    """Whether ``entry`` (``NAME=value``) is in the process's environment. Read raw where
    /proc is: a process that set its title over it (Ray's agents: ``ray::DashboardAgent``)
    starts its block with NULs, and psutil then reads no variable at all."""
    with contextlib.suppress(OSError):
        with open(f"/proc/{proc.pid}/environ", "rb") as f:
            return f"\0{entry}\0".encode() in b"\0" + f.read() + b"\0"
    with contextlib.suppress(psutil.Error, OSError):
        return any(f"{k}={v}" == entry for k, v in proc.environ().items())
    return False


#: A Ray session directory in an open file's path (``/tmp/ray/session_2026-11-30_05-11-34_346386_12105``).
_SESSION = re.compile(r"^(/.*/session_\d{4}-\d\d-\d\d_[^/]+)/")


def ours(marker: str, sessions: Iterable[str] = ()) -> list[psutil.Process]:
    """The processes of the embedded Ray marked ``marker``: those whose environment
    carries the marker, and Ray's titled processes (``ray::DashboardAgent``...) holding a
    file in its session directory (``sessions``, and those the marked ones hold). A
    title is written over the start of the process's environment block, and the raylet
    orders an agent's variables as a hash map does: the marker is lost there in some runs."""
    found = {proc.pid: proc for proc in marked(marker)}
    dirs = set(sessions) | session_dirs(found.values())
    if dirs:
        for proc in psutil.process_iter(["name"]):
            if proc.pid not in found and (proc.info["name"] or "").startswith("ray::") and _holds(proc.pid, dirs):
                found[proc.pid] = proc
    return list(found.values())


def session_dirs(procs: Iterable[psutil.Process]) -> set[str]:
    """The Ray session directories the processes hold files in."""
    return {m.group(1) for proc in procs for path in _open_paths(proc.pid) if (m := _SESSION.match(path))}


def _holds(pid: int, dirs: set[str]) -> bool:
    return any(path.startswith(f"{d}/") for path in _open_paths(pid) for d in dirs)


def _open_paths(pid: int) -> list[str]:
    """The paths of the process's open files ([] when it is gone or not ours to read)."""
    paths = []
    with contextlib.suppress(OSError):
        for fd in os.listdir(f"/proc/{pid}/fd"):
            with contextlib.suppress(OSError):
                paths.append(os.readlink(f"/proc/{pid}/fd/{fd}"))
    return paths


def reap(marker: str, sessions: Iterable[str] = (), grace_s: float = REAP_GRACE_S) -> None:
    """SIGTERM the processes of the embedded Ray (:func:`ours`); SIGKILL those alive
    ``grace_s`` later."""
    procs = ours(marker, sessions)
    for proc in procs:
        with contextlib.suppress(psutil.Error):
            proc.terminate()
    psutil.wait_procs(procs, timeout=grace_s)
    left = ours(marker, sessions)  # also any a dying parent started meanwhile
    for proc in left:
        with contextlib.suppress(psutil.Error):
            proc.kill()
    psutil.wait_procs(left, timeout=1.0)


def main(marker: str) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    sessions = [line.decode().strip() for line in sys.stdin.buffer]  # until the driver closes it or dies
    reap(marker, sessions)


if __name__ == "__main__":
    main(sys.argv[1])
