"""Running the built-in target as a process: :func:`serve` blocks on a fresh event loop
until SIGINT or SIGTERM (or, when asked, until stdin closes: the parent went away),
serving HTTP (:class:`~loadray.target.server.TargetServer`) and, with a gRPC port, gRPC."""

from __future__ import annotations

import asyncio
import signal
import sys
from collections.abc import Callable

from loadray.target.options import TargetOptions
from loadray.target.server import TargetServer, new_event_loop

__all__ = ["serve"]


class _EofWatch(asyncio.Protocol):
    """Calls ``on_eof`` when the watched pipe closes (the parent process went away)."""

    def __init__(self, on_eof: Callable[[], None]) -> None:
        self._on_eof = on_eof

    def data_received(self, data: bytes) -> None:
        pass

    def eof_received(self) -> bool:
        self._on_eof()
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        self._on_eof()


async def _serve_until_stopped(
    options: TargetOptions,
    ready: Callable[[str], None] | None,
    exit_on_stdin_eof: bool,
    grpc_ready: Callable[[str], None] | None = None,
) -> None:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    installed: list[signal.Signals] = []
    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(sig, stop.set)
            installed.append(sig)
        except (NotImplementedError, RuntimeError, ValueError):  # not main thread / Windows
            pass
    pipe_transport = None
    server = TargetServer(options)
    grpc_target = None
    try:
        url = await server.start()
        if options.grpc_port is not None:
            from loadray.target.grpc_server import GrpcTarget  # grpcio only when asked for

            grpc_target = GrpcTarget(options)
            address = await grpc_target.start()
        if exit_on_stdin_eof and sys.stdin is not None:
            pipe_transport, _ = await loop.connect_read_pipe(
                lambda: _EofWatch(stop.set), sys.stdin
            )
        if ready is not None:
            ready(url)
        if grpc_target is not None and grpc_ready is not None:
            grpc_ready(address)
        await stop.wait()
    finally:
        if grpc_target is not None:
            await grpc_target.stop()
        if pipe_transport is not None:
            pipe_transport.close()
        await server.stop()
        for sig in installed:
            loop.remove_signal_handler(sig)


def serve(
    options: TargetOptions,
    ready: Callable[[str], None] | None = None,
    *,
    exit_on_stdin_eof: bool = False,
    grpc_ready: Callable[[str], None] | None = None,
) -> None:
    """Serve the target until SIGINT or SIGTERM (blocking, on a fresh uvloop loop).

    ``ready(url)`` is called once the socket listens. ``exit_on_stdin_eof`` also stops
    the server when stdin closes (used by :func:`start_target`, so the child never
    outlives its parent). Raises :class:`TargetError` when the port cannot be bound.
    """
    loop = new_event_loop()
    try:
        loop.run_until_complete(_serve_until_stopped(options, ready, exit_on_stdin_eof, grpc_ready))
        loop.run_until_complete(loop.shutdown_asyncgens())
    finally:
        loop.close()
