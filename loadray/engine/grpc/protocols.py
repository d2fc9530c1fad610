"""The flow client of a scenario with gRPC steps: each step goes to the client of its
protocol (gRPC calls to :class:`GrpcClient`, HTTP requests to the worker's HTTP flow
client, whose sessions (cookie jars) the flow instances keep)."""

from __future__ import annotations

from typing import Any

from loadray.engine.clock import Clock
from loadray.engine.flow_client import SessionClient
from loadray.engine.grpc.client import GrpcClient
from loadray.engine.step_request import StepRequest
from loadray.engine.transport import TransportSettings
from loadray.grpc.render import GrpcRendered

__all__ = ["ProtocolClient", "with_grpc"]


class ProtocolClient:
    def __init__(self, http: SessionClient, grpc: GrpcClient) -> None:
        self.http = http
        self.grpc = grpc

    def send(self, session: Any, out: Any, keep: int | None) -> Any:
        base = out.base if isinstance(out, StepRequest) else out
        if isinstance(base, GrpcRendered):
            return self.grpc.send(out, keep)
        return self.http.send(session, out, keep)

    async def open(self) -> None:
        await self.http.open()
        await self.grpc.open()

    def session(self) -> Any:
        return self.http.session()

    async def close(self) -> None:
        try:
            await self.grpc.close()
        finally:
            await self.http.close()


def with_grpc(http: SessionClient, settings: TransportSettings, clock: Clock, base_url: str) -> SessionClient:
    """``http`` joined by a gRPC client for the scenario's gRPC steps."""
    return ProtocolClient(http, GrpcClient(settings, clock, base_url))


