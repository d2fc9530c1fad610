"""gRPC calls of flow steps on grpcio's asyncio API (:class:`GrpcClient`), and the
client that sends each step with its protocol (:class:`ProtocolClient`)."""

from loadray.engine.grpc.client import GrpcClient
from loadray.engine.grpc.protocols import ProtocolClient, with_grpc

__all__ = ["GrpcClient", "ProtocolClient", "with_grpc"]
