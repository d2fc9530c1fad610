"""A worker's gRPC channels: ``channels`` per address (and TLS or not), made on first
use inside the running loop, each on its own connection, taken in turn.

Closing them (a worker that ends or fences itself) resets their connections: grpcio
closes a connection gracefully, and late, and on one gone silent (a partition) the
kernel would keep retransmitting the calls written to it, to arrive when the link heals.
grpcio does not say which socket is a channel's, so the reset takes every connection of
the process to the address, unless another pool of the process (workers run in tests
side by side) still has a channel there: then its connections close as grpcio closes them."""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import weakref
from typing import Any
from urllib.parse import urlsplit

import grpc

from loadray.engine.sockets import reset_connections_to
from loadray.engine.transport import TransportSettings

__all__ = ["ChannelPool", "target_address"]

# No transparent retries (every attempt is a row) and one connection per channel
# (channels with the same arguments share a global subchannel pool by default).
_OPTIONS = (("grpc.enable_retries", 0), ("grpc.use_local_subchannel_pool", 1))
RESOLVE_TIMEOUT_S = 1.0  # a name looked up again at close (a partition may hang the resolver)
_OPEN: weakref.WeakSet[ChannelPool] = weakref.WeakSet()  # pools of this process with channels


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
            _OPEN.add(self)
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
        """Close every channel, its connection reset (nothing it holds unsent goes out later)."""
        channels, self._channels = self._channels, {}
        _OPEN.discard(self)
        shared = {key[0] for pool in _OPEN for key in pool._channels}
        alone = {key[0] for key in channels} - shared
        reset_connections_to([peer for address in alone for peer in await _peers(address)])
        for channel in channels.values():
            await channel.close()


async def _peers(address: str) -> list[tuple[str, int]]:
    """The (ip, port) pairs ``host:port`` connects to: the literal, else what the resolver
    says within :data:`RESOLVE_TIMEOUT_S` (nothing when it does not)."""
    host, _, port = address.rpartition(":")
    host = host.strip("[]")
    if not port.isdigit():
        return []
    number = int(port)
    try:
        return [(str(ipaddress.ip_address(host)), number)]
    except ValueError:
        pass
    try:
        infos = await asyncio.wait_for(
            asyncio.get_running_loop().getaddrinfo(host, number, type=socket.SOCK_STREAM), RESOLVE_TIMEOUT_S)
    except (OSError, asyncio.TimeoutError):
        return []
    return [(str(info[4][0]), number) for info in infos]


def _read(path: str | None) -> Any:
    if path is None:
        return None
    with open(path, "rb") as f:
        return f.read()
