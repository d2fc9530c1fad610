"""Protos from a running server's reflection service (``grpc.reflection: true``): at
validation, the file defining the service and every file it imports, as the same
serialized ``FileDescriptorSet`` a compiled ``.proto`` gives (:mod:`.proto`).

Plaintext, or TLS trusting the system's roots; the call has a deadline, and a server
that cannot be reached (refused, TLS failed) fails at the first attempt rather than at it.
"""

from __future__ import annotations

from google.protobuf import descriptor_pb2

from loadray.grpc.proto import ProtoError

__all__ = ["REFLECTION_TIMEOUT_S", "reflected_protos"]

REFLECTION_TIMEOUT_S = 5.0


def reflected_protos(address: str, tls: bool, service: str, timeout_s: float = REFLECTION_TIMEOUT_S) -> bytes:
    """The ``FileDescriptorSet`` of ``service`` as the server at ``address`` describes
    it; :class:`ProtoError` when it cannot be had (no server, no reflection, no such service)."""
    import grpc  # only when a scenario asks for reflection
    from grpc_reflection.v1alpha.proto_reflection_descriptor_database import ProtoReflectionDescriptorDatabase

    channel = grpc.secure_channel(address, grpc.ssl_channel_credentials()) if tls else grpc.insecure_channel(address)
    try:
        _connect(channel, address, timeout_s)
        database = ProtoReflectionDescriptorDatabase(channel)
        services = database.get_services()
        if service not in services:
            raise ProtoError(f"the server at {address} has no service {service!r} (services: {', '.join(services)})")
        return _file_set(database, database.FindFileContainingSymbol(service)).SerializeToString()
    except grpc.RpcError as exc:
        raise ProtoError(f"reflection at {address} failed: {exc.code().name}: {exc.details()}") from None
    finally:
        channel.close()


def _connect(channel, address: str, timeout_s: float) -> None:
    """Until the channel is READY; :class:`ProtoError` at its first failure or the deadline."""
    import threading

    import grpc

    settled, states = threading.Event(), []

    def seen(state) -> None:
        if state in (grpc.ChannelConnectivity.READY, grpc.ChannelConnectivity.TRANSIENT_FAILURE):
            states.append(state)
            settled.set()

    channel.subscribe(seen, try_to_connect=True)
    try:
        if not settled.wait(timeout_s):
            raise ProtoError(f"no gRPC server answered at {address} within {timeout_s:g}s")
        if states[0] is not grpc.ChannelConnectivity.READY:
            raise ProtoError(f"no gRPC server answered at {address} (the connection failed)")
    finally:
        channel.unsubscribe(seen)


def _file_set(database, root) -> descriptor_pb2.FileDescriptorSet:
    """``root`` and its imports, each after the files it imports."""
    ordered: list = []
    seen: set[str] = set()

    def visit(proto) -> None:
        if proto.name in seen:
            return
        seen.add(proto.name)
        for dependency in proto.dependency:
            visit(database.FindFileByName(dependency))
        ordered.append(proto)

    visit(root)
    return descriptor_pb2.FileDescriptorSet(file=ordered)
