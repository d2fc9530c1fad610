"""The one HTTP/1.1 client core of the engine (asyncio Protocol + httptools).

Two fronts use it: the open-model fast transport (:mod:`loadray.engine.fast`: fixed
request bytes, outcomes by callback) and the flow client
(:mod:`loadray.engine.fast_client`: per-step requests, cookies, redirects, bodies).

- :mod:`.wire`: the request serializer and header policy;
- :mod:`.conn`: one connection and its response parser;
- :mod:`.cookie_conn`: the connection of static flow steps (a response's cookies
  without a Python call per header);
- :mod:`.pool`: the keep-alive pool of one host:port, its queue and timeouts;
- :mod:`.cookies`: a session's cookie jar; :mod:`.body`: a response as checks see it
  (bounded, decoded).
"""

from loadray.engine.http1.body import response_of
from loadray.engine.http1.conn import FREE, HEAD, RETRY, CaptureConn, Conn, HeadConn
from loadray.engine.http1.cookies import cookie_header, set_cookie, take_cookies
from loadray.engine.http1.pool import FailCallback, Pool, Prepared
from loadray.engine.http1.wire import (
    BODY_METHODS,
    IDEMPOTENT,
    UNSPOKEN_HEADERS,
    HeaderError,
    cookie_line,
    endpoint,
    head_parts,
    sets_cookie,
    split_http_url,
)

__all__ = [
    "BODY_METHODS",
    "CaptureConn",
    "Conn",
    "FREE",
    "FailCallback",
    "HEAD",
    "HeadConn",
    "HeaderError",
    "IDEMPOTENT",
    "Pool",
    "Prepared",
    "RETRY",
    "UNSPOKEN_HEADERS",
    "cookie_header",
    "cookie_line",
    "endpoint",
    "head_parts",
    "response_of",
    "set_cookie",
    "sets_cookie",
    "split_http_url",
    "take_cookies",
]
