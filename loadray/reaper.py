"""The embedded Ray's reaper: a small process that outlives ``loadray run`` however it
ends. It waits for its standard input to close -- the driver holds the other end, and
the kernel closes it when the driver exits, also on SIGKILL or the OOM killer -- then
stops every process of that driver's embedded Ray (those carrying its marker, see
:func:`reap`) and exits. A driver that closed its Ray itself has
left nothing: the reaper then finds nothing.

Without it, a driver killed with SIGKILL left Ray's dashboard and runtime-env agents
running for a minute or more (Ray's GCS and raylet end with their driver; the agents
only notice later).

``python -m loadray.reaper MARKER``; started by :func:`start_reaper`, in a
session of its own (a terminal's Ctrl+C is for loadray, not for it).
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys

import psutil

__all__ = ["OWNER_ENV", "REAP_GRACE_S", "carries", "marked", "reap", "start_reaper", "stop_reaper"]

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


def reap(marker: str, grace_s: float = REAP_GRACE_S) -> None:
    """SIGTERM the processes marked with ``marker``; SIGKILL those alive ``grace_s`` later."""
    procs = marked(marker)
    for proc in procs:
        with contextlib.suppress(psutil.Error):
            proc.terminate()
    psutil.wait_procs(procs, timeout=grace_s)
    left = marked(marker)  # also any a dying parent started meanwhile
    for proc in left:
        with contextlib.suppress(psutil.Error):
            proc.kill()
    psutil.wait_procs(left, timeout=1.0)


def main(marker: str) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    sys.stdin.buffer.read()  # until the driver closes it or exits, whichever way
    reap(marker)


if __name__ == "__main__":
    main(sys.argv[1])
