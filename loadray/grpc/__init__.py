"""gRPC definitions, free of any I/O: what a gRPC step calls (:class:`GrpcCall`), its
protos (a ``.proto`` compiled at validation, or asked of the server by reflection), a
step rendered against a flow instance, and messages to and from JSON. The wire is in
:mod:`loadray.engine.grpc`; the built-in target in :mod:`loadray.target.grpc_server`."""

from loadray.grpc.call import GrpcCall
from loadray.grpc.render import GrpcRendered, render_grpc

__all__ = ["GrpcCall", "GrpcRendered", "render_grpc"]
