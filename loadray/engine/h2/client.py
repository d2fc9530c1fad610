"""The flow client on HTTP/2 (``http: {version: 2}``): the same interface and
:class:`~loadray.engine.flow_client.Reply` as the HTTP/1.1 clients, on the ``h2``
library.

- ``http://`` URLs: h2 with prior knowledge (h2c, no Upgrade dance); ``https://``:
  TLS with ALPN ``h2`` (a server that does not pick h2 fails the request as ``protocol``);
- one :class:`~loadray.engine.h2.pool.H2Pool` per origin, at most
  ``settings.h2_connections`` connections each, every request a stream on one of them;
  the in-flight cap (``http.max_in_flight``, enforced by the pacing loop) so counts
  streams, not connections;
- ``Reply.ttfb_ns``: from send to the first DATA frame of the response; ``Reply.chunks``:
  its DATA frames (with a payload);
- a session is a cookie jar (:class:`~loadray.engine.fast_client.FlowSession`);
- redirects are followed up to ``redirects`` hops, to ``http`` or ``https`` (a 303, or a
  301/302 answering a POST, turns into a GET without a body), all hops within the
  step's one deadline; ``ttfb_ns`` and ``chunks`` are the last response's.
"""

from __future__ import annotations

import ssl
from urllib.parse import urljoin, urlsplit

from hpack import NeverIndexedHeaderTuple

from loadray.engine.aiohttp_transport import ssl_context
from loadray.engine.clock import Clock
from loadray.engine.failures import error_detail, error_kind, status_error
from loadray.engine.fast_client import REDIRECT_STATUSES, FlowSession
from loadray.engine.flow_client import Reply
from loadray.engine.h2.exchange import Exchange
from loadray.engine.h2.pool import H2Pool
from loadray.engine.http1 import cookie_header, response_of, take_cookies
from loadray.engine.lease import Lease
from loadray.engine.step_request import StepRequest
from loadray.engine.transport import ACCEPT_ENCODING, USER_AGENT, TransportSettings
from loadray.flow.render import Rendered
from loadray.kinds import CONNECT_ERROR, CUT

__all__ = ["H2Client", "CONNECTION_HEADERS"]

#: Connection-specific headers HTTP/2 forbids (RFC 9113 §8.2.2): never sent.
CONNECTION_HEADERS = frozenset({"connection", "keep-alive", "proxy-connection", "transfer-encoding", "upgrade", "host"})
_MAX_TARGETS = 4096
_Route = tuple[H2Pool, bytes, bytes, bytes]  # pool, :scheme, :authority, :path


class H2Client:
    """See the module docstring; the interface is :class:`~loadray.engine.flow_client.FlowClient`'s."""

    def __init__(self, settings: TransportSettings, clock: Clock, lease: Lease | None = None) -> None:
        self.settings = settings
        self._may_send = None if lease is None else lease.holds  # no request byte out once it lapsed
        self._now = clock.monotonic_ns
        self._wall_s = lambda: clock.wall_ns() / 1e9
        self._timeout = float(settings.timeout_s)
        self._redirects = settings.redirects
        self._shortest = min(self._timeout, float(settings.connect_timeout_s))
        self.pools: dict[tuple[str, str, int], H2Pool] = {}
        self._routes: dict[str, _Route] = {}
        self._tls: ssl.SSLContext | None = None
        self._extra = [(b"user-agent", USER_AGENT.encode())]
        if settings.compression:
            self._extra.append((b"accept-encoding", ACCEPT_ENCODING.encode()))
        self._closed = False

    async def open(self) -> None:
        pass

    def session(self) -> FlowSession:
        return FlowSession()

    def send(self, session: FlowSession, out: Rendered | StepRequest, keep: int | None) -> Exchange:
        sent = self._now()
        timeout = out.timeout_s
        if timeout is None:
            timeout = self._timeout
        elif timeout < self._shortest:
            self._shorten(timeout)
        ex = Exchange(self._now, session.cookies, keep, sent, sent + int(timeout * 1e9))
        ex.method, ex.url, ex.request_headers, ex.body = out.method.upper(), out.url, out.headers, out.body
        ex.hops = self._redirects
        if self._closed:
            self._finish(ex, CUT, None)
        else:
            self._dispatch(ex)
        return ex

    def _dispatch(self, ex: Exchange) -> None:
        try:
            pool, scheme, authority, path = self._routes.get(ex.url) or self._route(ex.url)
            ex.head = self._head(ex, scheme, authority, path, ex.jar)
        except Exception as exc:  # a bad URL or header
            self._finish(ex, error_kind(exc) if not isinstance(exc, ValueError) else CONNECT_ERROR, error_detail(exc))
            return
        pool.send(ex)

    async def close(self) -> None:
        self._closed = True
        pools = list(self.pools.values())
        self.pools.clear()
        self._routes.clear()
        for pool in pools:
            await pool.close()

    @property
    def connections(self) -> int:
        """Connections open or opening, over every origin."""
        return sum(len(pool.conns) for pool in self.pools.values())

    # -- internals ----------------------------------------------------------------------

    def _head(
        self, ex: Exchange, scheme: bytes, authority: bytes, path: bytes, jar: dict[str, str],
    ) -> list[tuple[bytes, bytes]]:
        head = [(b":method", ex.method.encode()), (b":scheme", scheme), (b":authority", authority),
                (b":path", path)]
        extra = self._extra
        names = set()
        for name, value in ex.request_headers:
            low = name.lower()
            if low == "host":
                head[2] = (b":authority", value.encode("latin-1"))
            elif low == "traceparent":  # new in every request: kept out of the HPACK table
                head.append(NeverIndexedHeaderTuple(b"traceparent", value.encode("latin-1")))
            elif low not in CONNECTION_HEADERS and not (low == "te" and value.lower() != "trailers"):
                names.add(low)
                head.append((low.encode(), value.encode("latin-1")))
        head.extend(h for h in extra if h[0].decode() not in names)
        if jar:
            head.append((b"cookie", cookie_header(jar).encode("latin-1")))
        body = ex.body
        if body and "content-length" not in names:
            head.append((b"content-length", str(len(body)).encode()))
        return head

    def _route(self, url: str) -> _Route:
        parts = urlsplit(url)
        scheme = parts.scheme.lower()
        if scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"not an http(s) URL: {url!r}")
        port = parts.port or (443 if scheme == "https" else 80)
        key = (scheme, parts.hostname, port)
        pool = self.pools.get(key) or self._pool(key)
        path = parts.path or "/"
        if parts.query:
            path += "?" + parts.query
        if len(self._routes) >= _MAX_TARGETS:  # templated URLs: do not grow without bound
            self._routes.clear()
        route = self._routes[url] = (pool, scheme.encode(), parts.netloc.encode("idna"), path.encode())
        return route

    def _pool(self, key: tuple[str, str, int]) -> H2Pool:
        scheme, host, port = key
        s = self.settings
        tls = self._tls_context() if scheme == "https" else None
        pool = H2Pool(host, port, tls, s.h2_connections, s.connect_timeout_s, self._timeout, self._now, self._finish,
                      self._may_send)
        pool.shorten(self._shortest)
        self.pools[key] = pool
        return pool

    def _tls_context(self) -> ssl.SSLContext:
        if self._tls is None:
            base = ssl_context(self.settings)
            if base is True:
                ctx = ssl.create_default_context()
            elif base is False:
                ctx = ssl.create_default_context()
                ctx.check_hostname = False
                ctx.verify_mode = ssl.CERT_NONE
            else:
                ctx = base
            ctx.set_alpn_protocols(["h2"])
            self._tls = ctx
        return self._tls

    def _shorten(self, timeout_s: float) -> None:
        self._shortest = timeout_s
        for pool in self.pools.values():
            pool.shorten(timeout_s)

    def _follow(self, ex: Exchange, location: bytes) -> bool:
        """Send the request the redirect of ``ex`` asks for; False: not followed (another
        scheme than http(s)), the 3xx answers."""
        url = urljoin(ex.url, location.decode("latin-1"))
        if urlsplit(url).scheme.lower() not in ("http", "https"):
            return False
        method, headers, body = ex.method, ex.request_headers, ex.body
        if (ex.status == 303 and method != "HEAD") or (ex.status in (301, 302) and method == "POST"):
            method, body = "GET", None
            headers = tuple(h for h in headers if h[0].lower() not in ("content-length", "content-type"))
        ex.again(method, url, headers, body)
        self._dispatch(ex)
        return True

    def _finish(self, ex: Exchange, kind: str | None, detail: str | None) -> None:
        """The outcome of ``ex``: a failure (``kind``) or its complete response."""
        ex.pool = None
        done = self._now()
        ttfb = None if ex.first_ns is None else ex.first_ns - ex.sent
        if kind is not None:
            ex.complete(Reply(0, kind, ex.sent, done, ex.nbytes, detail=detail, ttfb_ns=ttfb, chunks=ex.chunks))
            return
        status = ex.status
        response = None
        try:
            location = take_cookies(ex.headers, ex.jar, self._wall_s) if ex.headers else None
            if location is not None and ex.hops > 0 and status in REDIRECT_STATUSES and self._follow(ex, location):
                return
            if ex.keep is not None:
                response = response_of(status, ex.headers, ex.kept, ex.jar, self.settings.compression, ex.keep,
                                       ex.nbytes)
        except Exception as exc:  # a broken compressed body
            ex.complete(Reply(0, error_kind(exc), ex.sent, done, ex.nbytes, detail=error_detail(exc)))
            return
        ex.complete(Reply(status, status_error(status), ex.sent, done, ex.nbytes, response, ttfb_ns=ttfb,
                          chunks=ex.chunks))
