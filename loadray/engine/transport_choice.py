"""Choosing a transport: ``fast`` for plain-http keep-alive, ``aiohttp`` for the rest."""

from __future__ import annotations

from typing import Literal

from loadray.engine.clock import Clock
from loadray.engine.transport import DoneCallback, PreparedRequest, Transport, TransportSettings
from loadray.errors import EXIT_USAGE, LoadrayError
from loadray.scenario.model import TRANSPORT_KINDS

__all__ = ["TransportChoiceError", "choose_transport", "make_transport"]


class TransportChoiceError(LoadrayError):
    """The transport a scenario names cannot send its requests (``transport: fast``
    with https or a second host, a malformed method or header): a usage error that
    only the resolved URLs show, so it surfaces when the worker builds its transport."""

    exit_code = EXIT_USAGE

    def __init__(self, where: str, message: str) -> None:
        super().__init__(f"{where}: {message}")


def choose_transport(
    kind: str, requests: list[PreparedRequest], settings: TransportSettings | None = None
) -> Literal["fast", "aiohttp"]:
    """The concrete transport ``kind`` resolves to for these requests and settings.

    ``auto`` is ``fast`` unless a request is https, goes to a second host/port, or
    uses something the HTTP/1.1 core does not speak (CONNECT; Expect, Upgrade,
    Transfer-Encoding headers), or the settings ask to follow redirects. Asking for
    ``fast`` explicitly when it cannot send the requests is a
    :class:`TransportChoiceError`.
    """
    if kind not in TRANSPORT_KINDS:
        raise TransportChoiceError("transport", f"unknown transport {kind!r}; use one of auto, fast, aiohttp")
    if kind == "aiohttp":
        return "aiohttp"
    from loadray.engine.fast import unsupported_reason

    reason = unsupported_reason(requests, settings)
    if reason is None:
        return "fast"
    if kind == "fast":
        raise TransportChoiceError(
            "transport", f"the fast transport cannot send this scenario: {reason}; use auto or aiohttp"
        )
    return "aiohttp"


def make_transport(
    kind: str,
    requests: list[PreparedRequest],
    settings: TransportSettings,
    on_done: DoneCallback,
    clock: Clock | None = None,
) -> Transport:
    """A ready-to-open transport of ``kind`` (``auto`` | ``fast`` | ``aiohttp``) on
    ``clock`` (the system's by default)."""
    if choose_transport(kind, requests, settings) == "fast":
        from loadray.engine.fast import FastTransport

        try:
            return FastTransport(requests, settings, on_done, clock)
        except ValueError as exc:  # a malformed method or header
            raise TransportChoiceError("requests", str(exc)) from None
    from loadray.engine.aiohttp_transport import AiohttpTransport

    return AiohttpTransport(requests, settings, on_done, clock)
