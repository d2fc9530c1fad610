"""The built-in gRPC target: service ``loadray.target.Target`` (``grpc_target.proto``
beside this file) on grpcio's asyncio server, with the HTTP target's faults.

- ``Unary``: answers once the fault model's ready time is reached (latency, jitter,
  stall windows); a fraction ``error_rate`` of calls ends ``INTERNAL``; a request with
  ``code`` set ends with that code.
- ``Stream``: ``count`` messages (default 10), the first ``interval_ms`` (default 10)
  after the ready time, then one every ``interval_ms``, on an absolute schedule.
- ``Stats``: ``{"calls", "per_second", "codes", "messages", "connections"}`` as JSON in ``text``
  (``reset``: zero them, answering the counts before). Stats calls are not counted.
- A call with metadata ``x-echo`` gets it (and its ``traceparent``) back as response metadata.
- Server reflection (``grpc.reflection.v1alpha``) describes the service.

``loadray target --grpc-port P`` serves it beside the HTTP target; in-process, tests
use ``async with GrpcTarget(options) as target`` (``target.address``).
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import grpc

from loadray.errors import TargetError
from loadray.grpc.proto import compile_proto, find_service, message_class, pool_of
from loadray.target.faults import STATUS_OK, FaultModel
from loadray.target.options import TargetOptions
from loadray.target.server import TargetStats

__all__ = ["GRPC_READY_PREFIX", "PROTO", "SERVICE", "GrpcTarget", "grpc_stats"]

PROTO = Path(__file__).with_name("grpc_target.proto")
SERVICE = "loadray.target.Target"
GRPC_READY_PREFIX = "loadray grpc target listening on "
DEFAULT_COUNT, DEFAULT_INTERVAL_MS = 10, 10
MAX_COUNT = 100_000
_ECHOED = ("x-echo", "traceparent")


def _types() -> dict[str, Any]:
    service = find_service(compile_proto(PROTO), SERVICE)
    return {name: message_class(service.file.pool.FindMessageTypeByName(f"loadray.target.{name}"))
            for name in ("Request", "StreamRequest", "Reply", "StatsRequest")}


class GrpcTarget:
    def __init__(self, options: TargetOptions, *, clock: Callable[[], float] = time.monotonic,
                 wall: Callable[[], float] = time.time, tls: tuple[bytes, bytes] | None = None,
                 client_ca: bytes | None = None) -> None:
        self.options = options
        self.stats = TargetStats()
        self.messages = 0
        self.peers: set[str] = set()  # client addresses (host:port): one per connection
        self._clock, self._wall = clock, wall
        self._types = _types()
        self._faults = FaultModel(options, clock=clock)
        self._server: Any = None
        self._tls = tls  # (certificate chain, private key) PEM: serve over TLS
        self._client_ca = client_ca  # PEM: require a client certificate it signed
        self._calls = 0
        self.address: str | None = None

    async def start(self) -> str:
        """Listen on ``options.host:options.grpc_port`` (0: a free port); the address."""
        t = self._types
        handlers = {
            "Unary": grpc.unary_unary_rpc_method_handler(
                self._unary, t["Request"].FromString, t["Reply"].SerializeToString),
            "Stream": grpc.unary_stream_rpc_method_handler(
                self._stream, t["StreamRequest"].FromString, t["Reply"].SerializeToString),
            "Stats": grpc.unary_unary_rpc_method_handler(
                self._stats, t["StatsRequest"].FromString, t["Reply"].SerializeToString),
        }
        server = grpc.aio.server(options=(("grpc.so_reuseport", 0),))
        server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(SERVICE, handlers),))
        from grpc_reflection.v1alpha import reflection

        reflection.enable_server_reflection((SERVICE, reflection.SERVICE_NAME), server, pool_of(compile_proto(PROTO)))
        host = self.options.host
        wanted = f"[{host}]:{self.options.grpc_port or 0}" if ":" in host else f"{host}:{self.options.grpc_port or 0}"
        try:
            if self._tls is not None:
                credentials = grpc.ssl_server_credentials(
                    ((self._tls[1], self._tls[0]),), self._client_ca, require_client_auth=self._client_ca is not None)
                port = server.add_secure_port(wanted, credentials)
            else:
                port = server.add_insecure_port(wanted)
        except RuntimeError as exc:
            raise TargetError(f"cannot listen on {wanted} (gRPC): {exc}") from None
        await server.start()
        self._server = server
        self._faults = FaultModel(self.options, clock=self._clock)  # stalls count from here
        self.address = wanted.rsplit(":", 1)[0] + f":{port}"
        return self.address

    async def stop(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            await server.stop(grace=None)

    async def __aenter__(self) -> GrpcTarget:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def _ready(self, context: Any, code: int) -> float:
        """Count the call, wait out the faults, end it with an injected or asked-for code.
        A call with metadata ``x-echo`` gets it and its ``traceparent`` back as response metadata."""
        metadata = context.invocation_metadata() or ()
        if any(k == "x-echo" for k, _ in metadata):
            await context.send_initial_metadata([(k, v) for k, v in metadata if k in _ECHOED])
        self.peers.add(context.peer())
        decision = self._faults.decide()
        status = code or (0 if decision.status == STATUS_OK else grpc.StatusCode.INTERNAL.value[0])
        self.stats.record(status, self._wall())
        delay = decision.ready_at - self._clock()
        if delay > 0:
            await asyncio.sleep(delay)
        if status:
            await context.abort(_code(status), "injected error" if not code else "asked for")
        return decision.ready_at

    async def _unary(self, request: Any, context: Any) -> Any:
        await self._ready(context, request.code)
        self._calls += 1
        self.messages += 1
        return self._types["Reply"](text=request.text, seq=0, id=f"c{self._calls}")

    async def _stream(self, request: Any, context: Any) -> Any:
        start = await self._ready(context, 0)  # the schedule runs from the ready time
        self._calls += 1
        call, reply = self._calls, self._types["Reply"]
        count = min(request.count or DEFAULT_COUNT, MAX_COUNT)
        interval = (request.interval_ms or DEFAULT_INTERVAL_MS) / 1000
        for seq in range(count):
            delay = start + (seq + 1) * interval - self._clock()
            if delay > 0:
                await asyncio.sleep(delay)
            self.messages += 1
            yield reply(text=request.text, seq=seq, id=f"c{call}")

    async def _stats(self, request: Any, context: Any) -> Any:
        counts = {**self.stats.snapshot(), "messages": self.messages, "connections": len(self.peers)}
        counts["calls"] = counts.pop("requests")
        counts["codes"] = counts.pop("statuses")
        if request.reset:
            self.stats.reset()
            self.messages = 0
            self.peers = set()
        return self._types["Reply"](text=json.dumps(counts))


def _code(number: int) -> grpc.StatusCode:
    return next((c for c in grpc.StatusCode if c.value[0] == number), grpc.StatusCode.UNKNOWN)


def grpc_stats(address: str, reset: bool = False, timeout_s: float = 5.0) -> dict:
    """The counters of the gRPC target at ``address`` (a blocking call, for tests and
    benchmarks): ``{"calls", "per_second", "codes", "messages", "connections"}`` (client
    connections seen, by their address)."""
    t = _types()
    with grpc.insecure_channel(address) as channel:
        stats = channel.unary_unary(f"/{SERVICE}/Stats", t["StatsRequest"].SerializeToString, t["Reply"].FromString)
        return json.loads(stats(t["StatsRequest"](reset=reset), timeout=timeout_s).text)
