"""The stateful endpoints of the built-in target, for testing flows, extraction, cookies,
redirects, retries and data feeders.

Pure: no aiohttp, no socket, no clock. The server turns a request on one of
:data:`ENDPOINT_PATHS` (or ``/redirect/N``) into a :class:`Call`, asks
:meth:`FlowEndpoints.handle` for a :class:`Reply` and sends it, after the same faults
as every other response. Only these exact paths are endpoints (query excluded); any
other path, ``/orders/1`` or ``/identity`` included, stays the catch-all ``200 ok``.

- ``POST /login`` ``{"user": U, "password": P}`` (any non-empty user, number or string)
  -> 200 ``{"token": "<hex>", "user": U}``; the token is remembered.
- ``POST /orders`` (any JSON body, or none) with ``Authorization: Bearer <token>``
  -> 201 ``{"order_id": "<hex>", "user": U}``; 401 ``{"error": "unauthorized"}`` without
  a known token.
- ``POST /pay`` ``{"order_id": ...}`` with the bearer token -> 200 ``{"paid": true,
  "order_id": ...}``; 401 without a known token; 404 when the order is unknown or belongs
  to another user; 409 when it is already paid.
- ``/echo`` (any method) -> 200 ``{"method", "path", "query", "headers", "json", "body"}``;
  a query or header given several times is a list / a ``", "``-joined string; ``json``
  is the parsed body (null when empty or not JSON), ``body`` the body as text.
- ``GET /cookie/set?name=N&value=V`` -> 200 with ``Set-Cookie: N=V; Path=/``;
  ``GET /cookie/check?name=N[&value=V]`` -> 200 when the request carries cookie N (with
  value V if given), else 401.
- ``GET /redirect?to=/path&status=302`` -> a redirect (301, 302, 303, 307 or 308) to a
  path on this server; ``/redirect/N`` redirects to ``/redirect/N-1`` (keeping the query),
  ``/redirect/0`` answers 200 ``ok``.
- ``GET /flaky?id=X&fail=N`` -> 503 for the first N requests of id X (default 1), 200 after.
- ``GET /id?value=X`` -> 200 ``{"value": X, "count": n}``; each value's count is kept.

``/login``, ``/orders`` and ``/pay`` take POST only (405 otherwise); the others take any
method. A malformed request (bad JSON, a missing parameter) is a 400 ``{"error": ...}``.
Counters (:meth:`FlowEndpoints.snapshot`): ``unauthorized`` (401s of /orders and /pay),
``paths`` (requests per endpoint path, injected errors included; the catch-all's paths
are not counted), ``ids`` (from /id) and ``flows_in_order`` (orders paid: each one a
completed login -> order -> pay, the only order the endpoints accept).
:meth:`FlowEndpoints.reset` clears them and forgets tokens, orders and flaky counters.
"""

from __future__ import annotations

import json
import re
import secrets
import urllib.parse
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

__all__ = [
    "Call",
    "Reply",
    "FlowEndpoints",
    "ENDPOINT_PATHS",
    "ENDPOINT_PREFIXES",
    "REDIRECT_STATUSES",
]

JSON = "application/json"
TEXT = "text/plain"
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
DEFAULT_REDIRECT_STATUS = 302
DEFAULT_FLAKY_FAILURES = 1
FLAKY_STATUS = 503
_REDIRECT_CHAIN = "/redirect/"
# RFC 6265: a cookie name is a token, a value is cookie-octets (no quotes, ';', ',', '\\', space).
_COOKIE_NAME = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_COOKIE_VALUE = re.compile(r"[\x21\x23-\x2B\x2D-\x3A\x3C-\x5B\x5D-\x7E]*")
_BEARER = "bearer "
# exact path -> method of FlowEndpoints serving it (plus /redirect/N, see route())
_ROUTES = {
    "/login": "_login",
    "/orders": "_orders",
    "/pay": "_pay",
    "/echo": "_echo",
    "/cookie/set": "_cookie_set",
    "/cookie/check": "_cookie_check",
    "/redirect": "_redirect",
    "/flaky": "_flaky",
    "/id": "_id",
}
ENDPOINT_PATHS = frozenset(_ROUTES)
# What a raw request path must start with to possibly be an endpoint: one cheap test on
# the catch-all's hot path (the exact match on the decoded path comes after it).
ENDPOINT_PREFIXES = tuple(sorted(ENDPOINT_PATHS))


@dataclass(frozen=True, slots=True)
class Call:
    """One request to an endpoint: query and headers as ordered pairs (repeats kept)."""

    method: str
    path: str
    query: tuple[tuple[str, str], ...] = ()
    headers: tuple[tuple[str, str], ...] = ()
    cookies: Mapping[str, str] = field(default_factory=dict)
    body: bytes = b""

    def param(self, name: str) -> str | None:
        """The first query value of ``name``; None when absent."""
        for key, value in self.query:
            if key == name:
                return value
        return None

    def header(self, name: str) -> str | None:
        """The first header ``name`` (case-insensitive); None when absent."""
        name = name.lower()
        for key, value in self.headers:
            if key.lower() == name:
                return value
        return None


@dataclass(frozen=True, slots=True)
class Reply:
    """What to answer: the server sends it as is (``headers`` as ordered pairs)."""

    status: int
    body: bytes
    content_type: str = JSON
    headers: tuple[tuple[str, str], ...] = ()


def _json(status: int, payload: object, headers: tuple[tuple[str, str], ...] = ()) -> Reply:
    return Reply(status, json.dumps(payload).encode(), JSON, headers)


def _error(status: int, message: str, headers: tuple[tuple[str, str], ...] = ()) -> Reply:
    return _json(status, {"error": message}, headers)


def _redirect_to(call: Call, to: str) -> Reply:
    """A redirect to ``to`` with the call's ``status`` parameter (default 302)."""
    raw = call.param("status")
    status = DEFAULT_REDIRECT_STATUS
    if raw is not None:
        status = int(raw) if raw.isascii() and raw.isdigit() else 0
    if status not in REDIRECT_STATUSES:
        return _error(400, f"status: expected one of {sorted(REDIRECT_STATUSES)}")
    return _json(status, {"location": to}, (("Location", to),))


_UNAUTHORIZED = _error(401, "unauthorized", (("WWW-Authenticate", "Bearer"),))
_POST_ONLY = _error(405, "method not allowed", (("Allow", "POST"),))
_NO_JSON = object()  # the body is not JSON (distinct from a JSON null)


def _parse_json(body: bytes) -> object:
    """The body as JSON; ``None`` when empty, ``_NO_JSON`` when it is not JSON."""
    if not body.strip():
        return None
    try:
        return json.loads(body)
    except (ValueError, RecursionError):  # UnicodeDecodeError is a ValueError
        return _NO_JSON


def _pairs_to_dict(pairs: tuple[tuple[str, str], ...], join: str | None) -> dict:
    """Pairs as a dict; a repeated key becomes a list, or one string joined by ``join``."""
    out: dict[str, object] = {}
    for key, value in pairs:
        if key not in out:
            out[key] = value
        elif join is not None:
            out[key] = f"{out[key]}{join}{value}"
        else:
            previous = out[key]
            out[key] = [*previous, value] if isinstance(previous, list) else [previous, value]
    return out


class FlowEndpoints:
    """The endpoints' state: tokens, orders, flaky and id counters (in memory, one loop).

    ``new_token`` and ``new_order_id`` make the random hex strings (injectable for tests).
    """

    def __init__(
        self,
        *,
        new_token: Callable[[], str] = lambda: secrets.token_hex(16),
        new_order_id: Callable[[], str] = lambda: secrets.token_hex(8),
    ) -> None:
        self._new_token = new_token
        self._new_order_id = new_order_id
        self._routes: dict[str, Callable[[Call], Reply]] = {
            path: getattr(self, name) for path, name in _ROUTES.items()
        }
        self._clear()

    def _clear(self) -> None:
        self.tokens: dict[str, object] = {}  # token -> user
        self.orders: dict[str, list] = {}  # order id -> [user, paid]
        self.flaky: dict[str, int] = {}  # id -> requests seen
        self.ids: dict[str, int] = {}  # value -> requests seen
        self.paths: dict[str, int] = {}
        self.unauthorized = 0
        self.flows_in_order = 0

    # -- routing -------------------------------------------------------------------------

    def route(self, path: str) -> Callable[[Call], Reply] | None:
        """The endpoint serving ``path`` (query excluded); None: not an endpoint."""
        endpoint = self._routes.get(path)
        if endpoint is None and path.startswith(_REDIRECT_CHAIN):
            return self._redirect_chain
        return endpoint

    def arrived(self, path: str) -> None:
        """Count one request to the endpoint ``path`` (before faults: injected errors too)."""
        paths = self.paths
        paths[path] = paths.get(path, 0) + 1

    def handle(self, call: Call) -> Reply | None:
        """Count and serve ``call`` (no faults); None when its path is no endpoint."""
        endpoint = self.route(call.path)
        if endpoint is None:
            return None
        self.arrived(call.path)
        return endpoint(call)

    # -- counters ------------------------------------------------------------------------

    def snapshot(self) -> dict:
        return {
            "unauthorized": self.unauthorized,
            "paths": dict(sorted(self.paths.items())),
            "ids": dict(sorted(self.ids.items())),
            "flows_in_order": self.flows_in_order,
        }

    def reset(self) -> dict:
        """Clear counters, tokens, orders and flaky counters; return the counters before."""
        before = self.snapshot()
        self._clear()
        return before

    # -- login -> order -> pay -----------------------------------------------------------

    def _user_of(self, call: Call) -> object | None:
        """The user of the call's bearer token; None when there is none or it is unknown."""
        auth = call.header("Authorization")
        if auth is None or auth[: len(_BEARER)].lower() != _BEARER:
            return None
        return self.tokens.get(auth[len(_BEARER):].strip())

    def _unauthorized(self) -> Reply:
        self.unauthorized += 1
        return _UNAUTHORIZED

    def _login(self, call: Call) -> Reply:
        if call.method != "POST":
            return _POST_ONLY
        data = _parse_json(call.body)
        if not isinstance(data, dict):
            return _error(400, "expected a JSON object {\"user\": ..., \"password\": ...}")
        user = data.get("user")
        valid = (isinstance(user, str) and user != "") or (
            isinstance(user, int) and not isinstance(user, bool)
        )
        if not valid:
            return _error(401, "invalid credentials")
        token = self._new_token()
        self.tokens[token] = user
        return _json(200, {"token": token, "user": user})

    def _orders(self, call: Call) -> Reply:
        if call.method != "POST":
            return _POST_ONLY
        user = self._user_of(call)
        if user is None:
            return self._unauthorized()
        if _parse_json(call.body) is _NO_JSON:
            return _error(400, "the body is not JSON")
        order_id = self._new_order_id()
        self.orders[order_id] = [user, False]
        return _json(201, {"order_id": order_id, "user": user})

    def _pay(self, call: Call) -> Reply:
        if call.method != "POST":
            return _POST_ONLY
        user = self._user_of(call)
        if user is None:
            return self._unauthorized()
        data = _parse_json(call.body)
        if not isinstance(data, dict) or "order_id" not in data:
            return _error(400, "expected a JSON object {\"order_id\": ...}")
        order_id = data["order_id"]
        order = self.orders.get(order_id) if isinstance(order_id, str) else None
        if order is None or order[0] != user:
            return _error(404, "unknown order")
        if order[1]:
            return _error(409, "already paid")
        order[1] = True
        self.flows_in_order += 1
        return _json(200, {"paid": True, "order_id": order_id})

    # -- echo, cookies, redirects --------------------------------------------------------

    def _echo(self, call: Call) -> Reply:
        parsed = _parse_json(call.body)
        return _json(200, {
            "method": call.method,
            "path": call.path,
            "query": _pairs_to_dict(call.query, None),
            "headers": _pairs_to_dict(call.headers, ", "),
            "json": None if parsed is _NO_JSON else parsed,
            "body": call.body.decode(errors="replace"),
        })

    def _cookie_set(self, call: Call) -> Reply:
        name = call.param("name")
        value = call.param("value") or ""
        if not name or not _COOKIE_NAME.fullmatch(name):
            return _error(400, "name: expected a cookie name (a token)")
        if not _COOKIE_VALUE.fullmatch(value):
            return _error(400, "value: not a valid cookie value")
        return _json(200, {"name": name, "value": value},
                     (("Set-Cookie", f"{name}={value}; Path=/"),))

    def _cookie_check(self, call: Call) -> Reply:
        name = call.param("name")
        if not name:
            return _error(400, "name: required")
        expected = call.param("value")
        value = call.cookies.get(name)
        if value is None or (expected is not None and value != expected):
            return _error(401, "missing cookie")
        return _json(200, {"name": name, "value": value})

    def _redirect(self, call: Call) -> Reply:
        to = call.param("to") or "/"
        if not to.startswith("/") or to.startswith("//"):
            return _error(400, "to: expected a path on this server, e.g. /echo")
        return _redirect_to(call, to)

    def _redirect_chain(self, call: Call) -> Reply:
        hops = call.path[len(_REDIRECT_CHAIN):]
        if not (hops.isascii() and hops.isdigit()):
            return _error(400, "expected /redirect/N with N >= 0")
        n = int(hops)
        if n == 0:
            return Reply(200, b"ok\n", TEXT)
        to = f"{_REDIRECT_CHAIN}{n - 1}"
        if call.query:  # kept along the chain (a status=307 applies to every hop)
            to += "?" + urllib.parse.urlencode(call.query)
        return _redirect_to(call, to)

    # -- retries and feeders -------------------------------------------------------------

    def _flaky(self, call: Call) -> Reply:
        key = call.param("id")
        if not key:
            return _error(400, "id: required")
        raw_fail = call.param("fail")
        try:
            fail = DEFAULT_FLAKY_FAILURES if raw_fail is None else int(raw_fail)
        except ValueError:
            return _error(400, f"fail: expected an integer, got {raw_fail!r}")
        attempt = self.flaky.get(key, 0) + 1
        self.flaky[key] = attempt
        if attempt <= fail:
            return _json(FLAKY_STATUS, {"error": "flaky", "id": key, "attempt": attempt})
        return _json(200, {"id": key, "attempt": attempt})

    def _id(self, call: Call) -> Reply:
        value = call.param("value")
        if value is None:
            return _error(400, "value: required")
        count = self.ids.get(value, 0) + 1
        self.ids[value] = count
        return _json(200, {"value": value, "count": count})

