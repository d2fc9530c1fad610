"""Closing a connection so that nothing written to it arrives later."""

from __future__ import annotations

import asyncio
import ctypes
import functools
import ipaddress
import os
import socket
import stat
import struct
from collections.abc import Iterable

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


def reset_connections_to(peers: Iterable[tuple[str, int]]) -> int:
    """Reset, in place, every TCP connection of this process to one of ``peers``
    (``(ip, port)``), dropping what it holds unsent: for connections a library owns
    (grpcio's), whose close is graceful and may come late, so on a link gone silent the
    kernel would keep retransmitting what was written, to arrive when the link heals.
    The socket stays open for its owner (``connect(AF_UNSPEC)``: Linux's TCP disconnect,
    a RST); its next read or write fails. Returns how many it reset; 0 where there is no
    ``/proc/self/fd``."""
    wanted = {(_plain(ip), port) for ip, port in peers}
    try:
        fds = [int(name) for name in os.listdir("/proc/self/fd")]
    except OSError:
        return 0
    done = 0
    for fd in fds:
        try:
            if not stat.S_ISSOCK(os.fstat(fd).st_mode):
                continue
            sock = socket.socket(fileno=os.dup(fd))  # the same socket, even if its owner closes fd meanwhile
        except OSError:
            continue
        with sock:
            try:
                peer = sock.getpeername()
                if sock.type == socket.SOCK_STREAM and (_plain(peer[0]), peer[1]) in wanted:
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _LINGER_0)
                    done += _disconnect(sock.fileno())
            except (OSError, ValueError, TypeError, IndexError):
                pass
    return done


def _plain(ip: str) -> str:
    """An IP in its normal form, an IPv4-mapped IPv6 address as the IPv4 one (grpcio
    connects from IPv6 sockets)."""
    address = ipaddress.ip_address(ip.split("%", 1)[0])
    mapped = getattr(address, "ipv4_mapped", None)
    return str(mapped or address)


def _disconnect(fd: int) -> int:
    """``connect(fd, AF_UNSPEC)``: the TCP connection reset and its queues dropped; 1 when done."""
    unspec = (ctypes.c_ubyte * 16)()  # a sockaddr whose family is AF_UNSPEC (0)
    return int(_libc().connect(fd, ctypes.byref(unspec), ctypes.sizeof(unspec)) == 0)


@functools.cache
def _libc() -> ctypes.CDLL:
    return ctypes.CDLL(None, use_errno=True)


def connect_host(host: str) -> str:
    """``host`` as connections are opened to it: an IP literal in its normal form (which
    skips the resolver on every connect), any other name as it is."""
    try:
        return str(ipaddress.ip_address(host))
    except ValueError:
        return host
