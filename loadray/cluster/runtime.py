"""Joining Ray: an embedded local Ray when no address is given, else an existing
cluster. Ray's token authentication is left as Ray configures it (an embedded Ray
makes and uses its own token; a cluster's token comes from RAY_AUTH_TOKEN,
RAY_AUTH_TOKEN_PATH or Ray's default token file).

The embedded Ray is always a new one (``address="local"``), also when another Ray runs
on the machine (``ray start --head``) or ``RAY_ADDRESS`` is set: joining a cluster is
what ``--address`` is for (see :func:`ray_address` for how the CLI reads RAY_ADDRESS).
Every process the embedded Ray started is gone when :meth:`RaySession.close` returns
(or when starting it failed or was interrupted). They are known by a marker in their
environment (``LOADRAY_EMBEDDED_RAY=<pid>-<random>``, set only while ``ray.init``
starts them; Ray's processes pass their environment on to the ones they start), so
also those a dying raylet left behind are found; those still running a moment after
``ray.shutdown()`` are terminated, then killed.

Joining a cluster is bounded in time: a ``host:port`` that nothing listens on fails at
once (a TCP probe, :data:`PROBE_TIMEOUT_S` at most), and ``ray.init`` that has not
joined after :data:`ADDRESS_TIMEOUT_S` (something listens there that is not a Ray
cluster, or its GCS does not answer) fails with one line instead of retrying for ever.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import subprocess
import threading
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import ray

from loadray.cluster.address_probe import probe_address
from loadray.errors import ClusterError, Interrupted
from loadray.reaper import OWNER_ENV, marked, reap, start_reaper, stop_reaper, tell_session

__all__ = [
    "ADDRESS_TIMEOUT_S", "OWNER_ENV", "RaySession", "cluster_cpus", "connect", "marked", "ray_address",
    "ray_running", "reap",
]

#: ``--address``: how long joining may take before loadray gives up (one line, exit 1).
ADDRESS_TIMEOUT_S = 30.0

class _JoinTimeout(Exception):
    """``ray.init`` did not join within the time allowed (it goes on in its thread)."""


@dataclass
class RaySession:
    address: str | None  # None: an embedded Ray
    owned: bool = False  # True when this process started (or joined) Ray and must shut it down
    marker: str | None = None  # the embedded Ray's processes carry OWNER_ENV=marker
    session_dir: str | None = None  # the embedded Ray's, once it is up (its processes hold files there)
    timeout_s: float = ADDRESS_TIMEOUT_S  # joining a cluster (--address) may take this long
    _reaper: subprocess.Popen | None = None  # an embedded Ray's (see loadray.reaper)

    def start(self, num_cpus: int | None = None) -> RaySession:
        """Start an embedded Ray or join the cluster (see :func:`connect`)."""
        if ray.is_initialized():
            return self
        if self.address:
            probe_address(self.address)
        self.owned = True
        self.marker = None if self.address else f"{os.getpid()}-{uuid.uuid4().hex}"
        if self.marker:
            self._reaper = start_reaper(self.marker)  # stops them if this process is killed
        try:
            with _keep_sigterm_handler(), _marked_children(self.marker):
                _init(self.address, num_cpus, self.timeout_s)
            if self.marker:
                self._note_session()
        except _JoinTimeout:
            self.owned = False  # ray.init still runs in its thread: nothing to shut down yet
            raise ClusterError(
                f"--address {self.address}: no Ray cluster answered within {self.timeout_s:g} s "
                "(is it the head node's GCS address, host:6379, and is the cluster up?)"
            ) from None
        except BaseException as exc:
            self.close()  # what Ray started halfway
            raise _start_error(exc, self.address) from None
        return self

    def _note_session(self) -> None:
        """Tell the reaper where this Ray's files are: it finds the processes by them too."""
        node = getattr(ray._private.worker, "_global_node", None)
        self.session_dir = node.get_session_dir_path() if node is not None else None
        if self.session_dir and self._reaper is not None:
            tell_session(self._reaper, self.session_dir)

    @property
    def node_address(self) -> str:
        """This (the driver's) node's address as the cluster reaches it."""
        return ray.util.get_node_ip_address()

    def close(self) -> None:
        """Disconnect (an embedded Ray: stop it, and every process it started)."""
        if not self.owned:
            return
        self.owned = False
        try:
            ray.shutdown()
        except Interrupted:
            raise
        except Exception:  # noqa: S110 - a Ray that started halfway: its processes go below
            pass
        finally:
            _reinstall_signal_handlers()
            if self.marker:
                reap(self.marker, [self.session_dir] if self.session_dir else [])
            if self._reaper is not None:
                stop_reaper(self._reaper)  # nothing is left for it
                self._reaper = None


def _reinstall_signal_handlers() -> None:
    """Ray's core worker resets SIGTERM to the default action when it shuts down, behind
    Python's back (``signal.getsignal`` still names the Python handler): set the Python
    handlers again, or a SIGTERM would now kill the process without a word."""
    if threading.current_thread() is not threading.main_thread():
        return
    for sig in (signal.SIGINT, signal.SIGTERM):
        handler = signal.getsignal(sig)
        if handler is not None:
            signal.signal(sig, handler)


def ray_address(address: str | None, environ: Mapping[str, str]) -> tuple[str | None, str | None]:
    """The cluster to join (None: an embedded Ray) and a line saying why, when
    ``RAY_ADDRESS`` decided it. ``--address`` wins; else a RAY_ADDRESS naming a Ray
    cluster (``host:port``, ``auto``, ``ray://...``) is honoured like ``--address``; a
    Jobs API URL (``http(s)://``, what ``ray job submit`` reads) is not a cluster
    address and is ignored."""
    if address:
        return address, None
    env = (environ.get("RAY_ADDRESS") or "").strip()
    if not env:
        return None, None
    if env.lower().startswith(("http://", "https://")):
        return None, (f"RAY_ADDRESS={env} is a Jobs API URL, not a cluster address: ignored, "
                      "starting an embedded Ray (pass --address to join a cluster)")
    return env, f"joining the Ray cluster at {env} from RAY_ADDRESS (unset it for an embedded Ray)"


def connect(
    address: str | None = None, num_cpus: int | None = None, timeout_s: float = ADDRESS_TIMEOUT_S,
) -> RaySession:
    """Start an embedded Ray (``address`` None) or join the cluster at ``address``
    (:class:`ClusterError` when nothing listens there, or nothing joined within
    ``timeout_s``).

    Reuses a Ray already initialised in this process (tests, notebooks) and then
    leaves it running afterwards. SIGTERM while Ray starts raises
    :class:`Interrupted` (Ray's own handler would exit with code 15); whatever Ray had
    started by then is stopped first.
    """
    return RaySession(address, timeout_s=timeout_s).start(num_cpus)


@contextlib.contextmanager
def ray_running(address: str | None = None, num_cpus: int | None = None) -> Iterator[RaySession]:
    """:func:`connect`, closed on the way out whatever happens: also when a signal
    lands just after Ray started."""
    session = RaySession(address)
    try:
        yield session.start(num_cpus)
    finally:
        session.close()


def _start_error(exc: BaseException, address: str | None) -> BaseException:
    if isinstance(exc, SystemExit) and exc.code == signal.SIGTERM:  # Ray's handler
        return Interrupted(signal.SIGTERM)
    if not isinstance(exc, Exception) or isinstance(exc, Interrupted):
        return exc
    where = f"--address {address}" if address else "embedded Ray"
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return ClusterError(f"{where}: cannot start or join Ray: {first}")


def _init(address: str | None, num_cpus: int | None, timeout_s: float) -> None:
    common: dict[str, Any] = dict(logging_level=logging.WARNING, configure_logging=True)
    if address:
        _bounded(lambda: ray.init(address=address, **common), timeout_s)
    else:  # "local": a new Ray, whatever RAY_ADDRESS or /tmp/ray/ray_current_cluster say
        ray.init(address="local", num_cpus=num_cpus or os.cpu_count() or 1, include_dashboard=False, **common)


def _bounded(call, timeout_s: float) -> None:
    """``call()`` in a daemon thread: its exception, or :class:`_JoinTimeout` when it
    has not returned after ``timeout_s`` (Ray retries an unanswered GCS for ever)."""
    done: list[BaseException | None] = []

    def work() -> None:
        try:
            call()
            done.append(None)
        except BaseException as exc:  # noqa: BLE001 - handed to the caller
            done.append(exc)

    quiet = _NotMainThreadNote()
    logging.getLogger("ray._private.worker").addFilter(quiet)
    worker = threading.Thread(target=work, name="loadray-ray-join", daemon=True)
    try:
        worker.start()
        worker.join(timeout_s)
    finally:
        logging.getLogger("ray._private.worker").removeFilter(quiet)
    if not done:
        raise _JoinTimeout()
    if done[0] is not None:
        raise done[0]


class _NotMainThreadNote(logging.Filter):
    """Ray's note that it set no SIGTERM handler off the main thread: loadray keeps its own."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "SIGTERM handler is not set" not in record.getMessage()


@contextlib.contextmanager
def _keep_sigterm_handler():
    """``ray.init`` installs a SIGTERM handler that exits with code 15: it stays in
    force while Ray starts (and is turned into :class:`Interrupted`), and the handler
    that was there before comes back afterwards."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.getsignal(signal.SIGTERM)
    try:
        yield
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


@contextlib.contextmanager
def _marked_children(marker: str | None):
    """The processes started meanwhile (and theirs) carry ``OWNER_ENV=marker``."""
    if marker is None:
        yield
        return
    os.environ[OWNER_ENV] = marker
    try:
        yield
    finally:
        os.environ.pop(OWNER_ENV, None)


def cluster_cpus() -> float:
    return float(ray.cluster_resources().get("CPU", 0.0))
