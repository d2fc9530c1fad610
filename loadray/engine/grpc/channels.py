"""A worker's gRPC channels: ``channels`` per address (and TLS or not), made on first
use inside the running loop, each on its own connection, taken in turn."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import grpc

from loadray.engine.transport import TransportSettings

__all__ = ["ChannelPool", "target_address"]

# No transparent retries (every attempt is a row) and one connection per channel
# (channels with the same arguments share a global subchannel pool by default).
_OPTIONS = (("grpc.enable_retries", 0), ("grpc.use_local_subchannel_pool", 1))


def target_address(base_url: str) -> tuple[str, bool]:
    """(``host:port``, TLS) of the scenario's target URL: the default of a gRPC step."""
    parts = urlsplit(base_url)
    tls = parts.scheme == "https"
    host = parts.hostname or "127.0.0.1"
    host = f"[{host}]" if ":" in host else host
    return f"{host}:{parts.port or (443 if tls else 80)}", tls


class ChannelPool:
    def __init__(self, settings: TransportSettings) -> None:
        self.settings = settings
        self._channels: dict[tuple[str, bool, int], grpc.aio.Channel] = {}
        self._credentials: grpc.ChannelCredentials | None = None

    def channel(self, address: str, tls: bool, index: int) -> grpc.aio.Channel:
        key = (address, tls, index)
        found = self._channels.get(key)
        if found is None:
            options = (*_OPTIONS, ("loadray.channel", index))  # distinct arguments: distinct channels
            if tls:
                found = grpc.aio.secure_channel(address, self._tls(), options=options)
            else:
                found = grpc.aio.insecure_channel(address, options=options)
            self._channels[key] = found
        return found

    def _tls(self) -> grpc.ChannelCredentials:
        """``http.tls``'s files: the CA to trust (else the system's), the client certificate."""
        if self._credentials is None:
            s = self.settings
            cert = _read(s.cert_file)
            key = _read(s.key_file) if s.key_file else cert
            self._credentials = grpc.ssl_channel_credentials(_read(s.ca_file), key, cert)
        return self._credentials

    async def close(self) -> None:
        channels, self._channels = list(self._channels.values()), {}
        for channel in channels:
            await channel.close()


def _read(path: str | None) -> Any:
    if path is None:
        return None
    with open(path, "rb") as f:
        return f.read()
