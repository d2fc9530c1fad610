"""Error kinds: the one place where transport failures become row values.

Every failure a transport sees is mapped here to one of a small fixed set of kinds;
rows carry the kind in their ``error`` column. Nothing else in loadray inspects
third-party exception types.
"""

from __future__ import annotations

CONNECT_REFUSED = "connect_refused"
CONNECT_TIMEOUT = "connect_timeout"
CONNECT_ERROR = "connect_error"  # DNS failure, unreachable network, other connect errors
TIMEOUT = "timeout"  # no complete response within the request timeout
RESET = "reset"  # the peer closed or reset the connection mid-request
PROTOCOL = "protocol"  # the response could not be parsed as HTTP/1.1
TLS = "tls"
HTTP_4XX = "http_4xx"
HTTP_5XX = "http_5xx"
DROPPED = "dropped"  # never sent: the in-flight cap was reached (when_full: drop)
CUT = "cut"  # sent, still in flight when the run stopped

KINDS = (
    CONNECT_REFUSED,
    CONNECT_TIMEOUT,
    CONNECT_ERROR,
    TIMEOUT,
    RESET,
    PROTOCOL,
    TLS,
    HTTP_4XX,
    HTTP_5XX,
    DROPPED,
    CUT,
)


def status_error(status: int) -> str | None:
    """Error kind of an HTTP status: None below 400."""
    if status < 400:
        return None
    return HTTP_5XX if status >= 500 else HTTP_4XX
