"""aiohttp's connector, closing a connection so that nothing written to it arrives later.

aiohttp closes a connection gracefully when a request on it fails (a timeout, a
cancellation: the worker fenced itself or stopped) and when the connector closes: the
kernel keeps retransmitting what the request left queued, so on a link gone silent (a
partition: no RST, no FIN) a request recorded as ``timeout`` or ``cut`` reaches the
target once the link heals. This connector resets those connections instead
(:func:`~loadray.engine.sockets.discard_and_close`), as the HTTP/1.1 and HTTP/2 cores do.

A connection whose exchange completed is released as aiohttp does: back to the pool
(keep-alive), or closed gracefully when it may not be reused (the server said
``Connection: close``, keep-alive is off); the idle ones are reset at the close too.
The hooks are aiohttp's private ``_release``, ``_close`` and the protocol's ``_payload``
(read on aiohttp 3.14); tests/unit/test_engine_aiohttp_silent_peer.py fails if they stop
being called.
"""

from __future__ import annotations

from typing import Any

import aiohttp
from aiohttp.client_proto import ResponseHandler

from loadray.engine.sockets import discard_and_close

__all__ = ["DiscardingConnector"]


class DiscardingConnector(aiohttp.TCPConnector):
    """A :class:`aiohttp.TCPConnector` that resets, with what they hold unsent, the
    connections of requests that did not complete and every connection at its close."""

    def _release(self, key: Any, protocol: ResponseHandler, *, should_close: bool = False) -> None:
        # ``should_close``: released by Connection.close(), aiohttp's path for a request
        # that failed or was cancelled (before or while its response came)
        # else a response its reader let go of before the end (a timeout, an error)
        payload = protocol._payload
        if (should_close or (payload is not None and not payload.is_eof())) and not self._closed:
            _discard(protocol)
        super()._release(key, protocol, should_close=should_close)

    def _close(self, *args: Any, **kwargs: Any) -> list:
        if not self._closed:
            for conns in self._conns.values():
                for protocol, _ in conns:
                    _discard(protocol)
            for protocol in self._acquired:
                _discard(protocol)
        return super()._close(*args, **kwargs)


def _discard(protocol: ResponseHandler) -> None:
    transport = protocol.transport
    if transport is not None:
        discard_and_close(transport)
