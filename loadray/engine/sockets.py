"""Closing a connection so that nothing written to it arrives later."""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import struct

_LINGER_0 = struct.pack("ii", 1, 0)


def discard_and_close(transport: asyncio.Transport) -> None:
    """Abort with ``SO_LINGER`` 0: the kernel drops what it has not delivered yet and
    resets the connection. A plain close keeps retransmitting queued requests, so a
    fenced worker's last writes could reach the target after a healed link."""
    sock = transport.get_extra_info("socket")
    if sock is not None:
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _LINGER_0)
        except (OSError, AttributeError):
            pass
    transport.abort()


def connect_host(host: str) -> str:
    """``host`` as connections are opened to it: an IP literal in its normal form (which
    skips the resolver on every connect), any other name as it is."""
    try:
        return str(ipaddress.ip_address(host))
    except ValueError:
        return host
