"""What a gRPC step calls: a frozen record the scenario carries to the workers."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["GrpcCall", "DEFAULT_CHANNELS"]

DEFAULT_CHANNELS = 1  # HTTP/2 channels per worker and address: calls multiplex on them


@dataclass(frozen=True)
class GrpcCall:
    """Method ``service``/``method`` at ``address`` (``host:port``), over TLS when
    ``tls`` (the TLS files are ``http.tls``'s); ``streaming``: the server answers a stream of messages. ``protos`` is the
    serialized ``FileDescriptorSet`` the request and response types come from."""

    address: str | None  # None: the scenario target's host and port
    service: str
    method: str
    streaming: bool
    protos: bytes
    tls: bool | None = None  # None: as the target's scheme (https: TLS)
    channels: int = DEFAULT_CHANNELS

    @property
    def path(self) -> str:
        """The method's HTTP/2 path, ``/package.Service/Method``."""
        return f"/{self.service}/{self.method}"
