"""Before joining a cluster: is anything listening at ``--address`` at all?

A ``host:port`` address (the head node's GCS, ``ray start --head`` prints it) gets one
TCP connect, at most :data:`PROBE_TIMEOUT_S`: refused, unreachable or silent, it is
one clear line at once, where ``ray.init`` would retry for ever. ``auto``,
``ray://...`` and other forms are left to Ray (bounded by the join timeout).
"""

from __future__ import annotations

import re
import socket
from collections.abc import Callable

from loadray.errors import ClusterError

__all__ = ["PROBE_TIMEOUT_S", "probe_address", "split_address"]

PROBE_TIMEOUT_S = 5.0
_HOST_PORT = re.compile(r"\[?([^\[\]/@]+?)\]?:(\d{1,5})")

Connect = Callable[[tuple[str, int], float], socket.socket]


def split_address(address: str) -> tuple[str, int] | None:
    """``(host, port)`` of a ``host:port`` address (IPv6 in brackets), else None."""
    match = _HOST_PORT.fullmatch(address.strip())
    if match is None or not 0 < int(match.group(2)) < 65536:
        return None
    return match.group(1), int(match.group(2))


def probe_address(address: str, timeout_s: float = PROBE_TIMEOUT_S,
                  connect: Connect = socket.create_connection) -> None:
    """Raise :class:`ClusterError` when a ``host:port`` address takes no TCP connection."""
    target = split_address(address)
    if target is None:
        return
    try:
        connect(target, timeout_s).close()
    except TimeoutError:
        raise ClusterError(f"--address {address}: no answer within {timeout_s:g} s "
                           "(a firewall, or no such host?)") from None
    except ConnectionRefusedError:
        raise ClusterError(f"--address {address}: nothing listens there (connection refused); "
                           "give the head node's address as `ray start --head` printed it") from None
    except OSError as exc:
        raise ClusterError(f"--address {address}: cannot connect: {exc.strerror or exc}") from None
