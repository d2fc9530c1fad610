"""The built-in target's endpoints (login -> order -> pay, echo, cookies, redirects, flaky,
id): the pure state machine, then a real server on 127.0.0.1 with a real aiohttp client."""

from __future__ import annotations

import asyncio
import itertools
import json
import re
import shutil
import subprocess
import time
from typing import Any, Awaitable, Callable

import aiohttp
import pytest

from loadray.target import TargetOptions, TargetServer, start_target
from loadray.target.flows import ENDPOINT_PATHS, Call, FlowEndpoints

EMPTY_FLOWS = {"unauthorized": 0, "paths": {}, "ids": {}, "flows_in_order": 0}


def counting(prefix: str) -> Callable[[], str]:
    numbers = itertools.count(1)
    return lambda: f"{prefix}{next(numbers)}"


def post(
    path: str, payload: Any = None, token: str | None = None, body: bytes | None = None
) -> Call:
    headers = (("Authorization", f"Bearer {token}"),) if token is not None else ()
    if body is None:
        body = b"" if payload is None else json.dumps(payload).encode()
    return Call("POST", path, headers=headers, body=body)


def get(path: str, **query: str) -> Call:
    return Call("GET", path, query=tuple(query.items()))


def decoded(reply) -> Any:
    return json.loads(reply.body)


def serve(
    scenario: Callable[[TargetServer, aiohttp.ClientSession], Awaitable[Any]],
    options: TargetOptions | None = None,
) -> Any:
    """Run ``scenario`` against an in-process target, with a client that keeps cookies
    for 127.0.0.1 (aiohttp's default jar ignores cookies of IP addresses)."""

    async def main() -> Any:
        async with TargetServer(options or TargetOptions()) as server:
            jar = aiohttp.CookieJar(unsafe=True)
            async with aiohttp.ClientSession(server.url, cookie_jar=jar) as session:
                return await scenario(server, session)

    return asyncio.run(main())


async def login(session: aiohttp.ClientSession, user: str) -> str:
    async with session.post("/login", json={"user": user, "password": "pw"}) as resp:
        assert resp.status == 200
        return (await resp.json())["token"]


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


# -- the pure state machine (no sockets) -------------------------------------------------


@pytest.fixture
def flows() -> FlowEndpoints:
    return FlowEndpoints(new_token=counting("t"), new_order_id=counting("o"))


def test_checkout_state_machine(flows):
    reply = flows.handle(post("/login", {"user": "ann", "password": "x"}))
    assert (reply.status, decoded(reply)) == (200, {"token": "t1", "user": "ann"})
    reply = flows.handle(post("/orders", {"item": "x", "qty": 1}, token="t1"))
    assert (reply.status, decoded(reply)) == (201, {"order_id": "o1", "user": "ann"})
    reply = flows.handle(post("/pay", {"order_id": "o1"}, token="t1"))
    assert (reply.status, decoded(reply)) == (200, {"paid": True, "order_id": "o1"})
    reply = flows.handle(post("/pay", {"order_id": "o1"}, token="t1"))
    assert (reply.status, decoded(reply)) == (409, {"error": "already paid"})
    assert flows.snapshot() == {
        "unauthorized": 0,
        "paths": {"/login": 1, "/orders": 1, "/pay": 2},
        "ids": {},
        "flows_in_order": 1,
    }


def test_same_user_may_pay_with_another_token(flows):
    flows.handle(post("/login", {"user": "ann"}))
    flows.handle(post("/login", {"user": "ann"}))
    assert flows.handle(post("/orders", token="t1")).status == 201  # no body is fine
    assert flows.handle(post("/pay", {"order_id": "o1"}, token="t2")).status == 200


@pytest.mark.parametrize(
    ("call", "status", "body"),
    [
        (post("/login", {"user": ""}), 401, {"error": "invalid credentials"}),
        (post("/login", {"password": "x"}), 401, {"error": "invalid credentials"}),
        (post("/login", {"user": True}), 401, {"error": "invalid credentials"}),
        (post("/login", body=b"user=ann"), 400, None),
        (post("/login", [1, 2]), 400, None),
        (Call("GET", "/login"), 405, {"error": "method not allowed"}),
        (post("/orders", token="t1", body=b"{not json"), 400, {"error": "the body is not JSON"}),
        (post("/pay", {"order": "o1"}, token="t1"), 400, None),
        (post("/pay", {"order_id": 1}, token="t1"), 404, {"error": "unknown order"}),
        (get("/redirect", to="http://example.com/"), 400, None),
        (get("/redirect", to="//example.com/"), 400, None),
        (get("/redirect", status="200"), 400, None),
        (get("/redirect/x"), 400, None),
        (get("/redirect/-1"), 400, None),
        (get("/flaky"), 400, {"error": "id: required"}),
        (get("/flaky", id="a", fail="many"), 400, None),
        (get("/id"), 400, {"error": "value: required"}),
        (get("/cookie/set", value="v"), 400, None),
        (get("/cookie/set", name="a;b", value="v"), 400, None),
        (get("/cookie/set", name="a", value="two words"), 400, None),
        (get("/cookie/check"), 400, None),
    ],
)
def test_bad_requests(flows, call, status, body):
    flows.handle(post("/login", {"user": "ann"}))  # token t1
    reply = flows.handle(call)
    assert reply.status == status, reply.body
    assert reply.content_type == "application/json"
    if body is not None:
        assert decoded(reply) == body
    else:
        assert set(decoded(reply)) == {"error"}
    assert flows.snapshot()["unauthorized"] == 0  # only /orders and /pay count 401s


def test_numeric_user_is_accepted_as_given(flows):
    reply = flows.handle(post("/login", {"user": 42}))
    assert decoded(reply) == {"token": "t1", "user": 42}


def test_unknown_paths_are_not_endpoints(flows):
    for path in ("/", "/orders/1", "/identity", "/login/", "/cookie", "/redirects"):
        assert flows.route(path) is None
        assert flows.handle(get(path)) is None
    assert flows.snapshot() == EMPTY_FLOWS
    assert ENDPOINT_PATHS == {
        "/login", "/orders", "/pay", "/echo", "/cookie/set", "/cookie/check", "/redirect",
        "/flaky", "/id",
    }


def test_echo_keeps_repeats():
    call = Call(
        "PUT", "/echo", query=(("a", "1"), ("a", "2"), ("b", "x y")),
        headers=(("X-A", "1"), ("X-A", "2"), ("Host", "h")), body=b"\xffnot json",
    )
    assert decoded(FlowEndpoints().handle(call)) == {
        "method": "PUT",
        "path": "/echo",
        "query": {"a": ["1", "2"], "b": "x y"},
        "headers": {"X-A": "1, 2", "Host": "h"},
        "json": None,
        "body": "\ufffdnot json",
    }


def test_redirect_chain_keeps_the_query(flows):
    reply = flows.handle(get("/redirect/2", status="307", note="a b&c"))
    assert reply.status == 307
    assert dict(reply.headers) == {"Location": "/redirect/1?status=307&note=a+b%26c"}
    reply = flows.handle(get("/redirect/0"))
    assert (reply.status, reply.body, reply.content_type) == (200, b"ok\n", "text/plain")


def test_reset_forgets_everything_and_returns_the_counters(flows):
    flows.handle(post("/login", {"user": "ann"}))
    flows.handle(post("/orders", token="nope"))
    flows.handle(get("/flaky", id="a", fail="1"))
    flows.handle(get("/id", value="v"))
    before = flows.reset()
    assert before == {
        "unauthorized": 1,
        "paths": {"/flaky": 1, "/id": 1, "/login": 1, "/orders": 1},
        "ids": {"v": 1},
        "flows_in_order": 0,
    }
    assert flows.snapshot() == EMPTY_FLOWS
    assert (flows.tokens, flows.orders, flows.flaky) == ({}, {}, {})
    assert flows.handle(post("/orders", token="t1")).status == 401
    assert flows.handle(get("/flaky", id="a", fail="1")).status == 503  # counter restarted


# -- a real server on 127.0.0.1, a real client ---------------------------------------------


def test_login_order_pay_happy_path_in_a_child_process():
    async def checkout(url: str) -> tuple:
        async with aiohttp.ClientSession(url) as session:
            token = await login(session, "ann")
            async with session.post(
                "/orders", json={"item": "x", "qty": 1}, headers=bearer(token)
            ) as resp:
                order = (resp.status, await resp.json())
            async with session.post(
                "/pay", json={"order_id": order[1]["order_id"]}, headers=bearer(token)
            ) as resp:
                paid = (resp.status, await resp.json())
        return token, order, paid

    with start_target() as target:
        token, order, paid = asyncio.run(checkout(target.url))
        stats = target.stats()
    assert len(token) == 32 and int(token, 16) >= 0
    order_id = order[1]["order_id"]
    assert order == (201, {"order_id": order_id, "user": "ann"})
    assert paid == (200, {"paid": True, "order_id": order_id})
    assert stats["requests"] == 3
    assert stats["statuses"] == {"200": 2, "201": 1}
    assert sum(stats["per_second"].values()) == 3
    assert {k: stats[k] for k in EMPTY_FLOWS} == {
        "unauthorized": 0,
        "paths": {"/login": 1, "/orders": 1, "/pay": 1},
        "ids": {},
        "flows_in_order": 1,
    }


def test_orders_and_pay_are_401_without_a_known_token():
    async def scenario(server, session):
        token = await login(session, "ann")
        async with session.post("/orders", json={}, headers=bearer(token)) as resp:
            order_id = (await resp.json())["order_id"]
        answers = []
        for headers in ({}, bearer("nope"), {"Authorization": f"Basic {token}"},
                        {"Authorization": "Bearer"}):
            for path, payload in (("/orders", {"item": "x"}), ("/pay", {"order_id": order_id})):
                async with session.post(path, json=payload, headers=headers) as resp:
                    assert resp.headers["WWW-Authenticate"] == "Bearer"
                    answers.append((resp.status, await resp.json()))
        return answers, server.snapshot()

    answers, stats = serve(scenario)
    assert answers == [(401, {"error": "unauthorized"})] * 8
    assert stats["unauthorized"] == 8
    assert stats["statuses"] == {"200": 1, "201": 1, "401": 8}
    assert stats["paths"] == {"/login": 1, "/orders": 5, "/pay": 4}
    assert stats["flows_in_order"] == 0


def test_pay_is_404_for_someone_elses_or_an_unknown_order():
    async def scenario(server, session):
        ann, bob = await login(session, "ann"), await login(session, "bob")
        async with session.post("/orders", json={"item": "x"}, headers=bearer(ann)) as resp:
            order_id = (await resp.json())["order_id"]
        answers = []
        for token, oid in ((bob, order_id), (ann, "0000"), (ann, order_id), (ann, order_id)):
            async with session.post("/pay", json={"order_id": oid}, headers=bearer(token)) as r:
                answers.append((r.status, await r.json()))
        return order_id, answers, server.snapshot()

    order_id, answers, stats = serve(scenario)
    assert answers == [
        (404, {"error": "unknown order"}),
        (404, {"error": "unknown order"}),
        (200, {"paid": True, "order_id": order_id}),
        (409, {"error": "already paid"}),
    ]
    assert (stats["unauthorized"], stats["flows_in_order"]) == (0, 1)


def test_echo_round_trip():
    async def scenario(server, session):
        async with session.post(
            "/echo?a=1&a=2&q=x%20y", json={"k": [1, "two"]},
            headers={"X-Trace": "abc", "Authorization": "Bearer t"},
        ) as resp:
            posted = (resp.status, resp.content_type, await resp.json())
        async with session.get("/echo", params={"page": "3"}) as resp:
            got = await resp.json()
        async with session.patch("/echo", data=b"plain text") as resp:
            patched = await resp.json()
        return posted, got, patched

    (status, content_type, body), got, patched = serve(scenario)
    assert (status, content_type) == (200, "application/json")
    assert body["method"] == "POST" and body["path"] == "/echo"
    assert body["query"] == {"a": ["1", "2"], "q": "x y"}
    assert body["json"] == {"k": [1, "two"]}
    assert json.loads(body["body"]) == {"k": [1, "two"]}
    assert body["headers"]["X-Trace"] == "abc"
    assert body["headers"]["Authorization"] == "Bearer t"
    assert body["headers"]["Content-Type"] == "application/json"
    assert (got["method"], got["query"], got["json"]) == ("GET", {"page": "3"}, None)
    assert got["body"] == ""
    assert (patched["method"], patched["json"], patched["body"]) == ("PATCH", None, "plain text")


def test_cookie_set_then_check_with_a_cookie_jar():
    async def scenario(server, session):
        statuses = []
        async with session.get("/cookie/check", params={"name": "session"}) as resp:
            statuses.append((resp.status, await resp.json()))
        async with session.get("/cookie/set", params={"name": "session", "value": "abc"}) as r:
            statuses.append((r.status, r.headers.getall("Set-Cookie"), await r.json()))
        async with session.get("/cookie/check", params={"name": "session"}) as resp:
            statuses.append((resp.status, await resp.json()))
        check = {"name": "session", "value": "other"}
        async with session.get("/cookie/check", params=check) as resp:
            statuses.append(resp.status)
        # a client without that cookie (its own, empty jar)
        async with aiohttp.ClientSession(server.url) as fresh, fresh.get(
            "/cookie/check", params={"name": "session"}
        ) as resp:
            statuses.append(resp.status)
        return statuses, server.snapshot()

    statuses, stats = serve(scenario)
    assert statuses == [
        (401, {"error": "missing cookie"}),
        (200, ["session=abc; Path=/"], {"name": "session", "value": "abc"}),
        (200, {"name": "session", "value": "abc"}),
        401,
        401,
    ]
    assert stats["unauthorized"] == 0  # only /orders and /pay count
    assert stats["paths"] == {"/cookie/check": 4, "/cookie/set": 1}


def test_redirects_followed_and_not():
    async def scenario(server, session):
        out = {}
        async with session.get("/redirect", params={"to": "/echo?x=1", "status": "302"}) as r:
            out["followed"] = (r.status, [h.status for h in r.history], (await r.json())["query"])
        async with session.get(
            "/redirect", params={"to": "/echo"}, allow_redirects=False
        ) as r:
            out["not_followed"] = (r.status, r.headers["Location"])
        async with session.post(
            "/redirect?to=/echo&status=307", json={"keep": True}
        ) as r:
            body = await r.json()
            out["307"] = ([h.status for h in r.history], body["method"], body["json"])
        async with session.get("/redirect/3") as r:
            out["chain"] = (r.status, [str(h.url.path) for h in r.history], await r.text())
        async with session.get("/redirect/3", allow_redirects=False) as r:
            out["chain_not_followed"] = (r.status, r.headers["Location"])
        with pytest.raises(aiohttp.TooManyRedirects):
            async with session.get("/redirect/3", max_redirects=2):
                pass
        return out, server.snapshot()

    out, stats = serve(scenario)
    assert out == {
        "followed": (200, [302], {"x": "1"}),
        "not_followed": (302, "/echo"),
        "307": ([307], "POST", {"keep": True}),
        "chain": (200, ["/redirect/3", "/redirect/2", "/redirect/1"], "ok\n"),
        "chain_not_followed": (302, "/redirect/2"),
    }
    assert stats["paths"] == {
        "/echo": 2, "/redirect": 3, "/redirect/0": 1, "/redirect/1": 1, "/redirect/2": 2,
        "/redirect/3": 3,  # max_redirects=2 gives up before asking /redirect/1
    }


def test_flaky_id_fails_exactly_n_times_then_succeeds():
    async def scenario(server, session):
        seen: dict[str, list[int]] = {"a": [], "b": [], "default": [], "never": []}
        for _ in range(5):
            for key, fail in (("a", "3"), ("b", "1"), ("default", None), ("never", "0")):
                params = {"id": key} if fail is None else {"id": key, "fail": fail}
                async with session.get("/flaky", params=params) as resp:
                    seen[key].append(resp.status)
        async with session.get("/flaky", params={"id": "a", "fail": "3"}) as resp:
            last = await resp.json()
        return seen, last, server.snapshot()

    seen, last, stats = serve(scenario)
    assert seen == {
        "a": [503, 503, 503, 200, 200],
        "b": [503, 200, 200, 200, 200],
        "default": [503, 200, 200, 200, 200],
        "never": [200] * 5,
    }
    assert last == {"id": "a", "attempt": 6}
    assert stats["statuses"] == {"200": 16, "503": 5}
    assert stats["paths"] == {"/flaky": 21}


def test_id_counts_every_value():
    async def scenario(server, session):
        answers = []
        for value in [*map(str, range(50)), "7", "7", "x y"]:
            async with session.get("/id", params={"value": value}) as resp:
                answers.append((resp.status, await resp.json()))
        return answers, server.snapshot()

    answers, stats = serve(scenario)
    assert answers[7] == (200, {"value": "7", "count": 1})
    assert answers[-3:] == [
        (200, {"value": "7", "count": 2}),
        (200, {"value": "7", "count": 3}),
        (200, {"value": "x y", "count": 1}),
    ]
    expected = {str(i): 1 for i in range(50)}
    expected.update({"7": 3, "x y": 1})
    assert stats["ids"] == expected
    assert stats["requests"] == 53


def test_stats_reset_clears_counters_tokens_orders_and_flaky_over_http():
    async def scenario(server, session):
        token = await login(session, "ann")
        async with session.post("/orders", json={}) as resp:
            assert resp.status == 401
        async with session.get("/flaky", params={"id": "a"}) as resp:
            assert resp.status == 503
        async with session.get("/id", params={"value": "v"}) as resp:
            assert resp.status == 200
        async with session.get("/") as resp:
            assert await resp.read() == b"ok\n"
        async with session.post("/__stats/reset") as resp:
            cleared = await resp.json()
        async with session.get("/__stats") as resp:
            after = await resp.json()
        async with session.post("/orders", json={}, headers=bearer(token)) as resp:
            stale = resp.status
        async with session.get("/flaky", params={"id": "a"}) as resp:
            flaky = resp.status
        return cleared, after, stale, flaky

    cleared, after, stale, flaky = serve(scenario)
    assert cleared["requests"] == 5
    assert cleared["statuses"] == {"200": 3, "401": 1, "503": 1}
    assert {k: cleared[k] for k in EMPTY_FLOWS} == {
        "unauthorized": 1,
        "paths": {"/flaky": 1, "/id": 1, "/login": 1, "/orders": 1},  # not "/": catch-all
        "ids": {"v": 1},
        "flows_in_order": 0,
    }
    assert after == {"requests": 0, "per_second": {}, "statuses": {}, **EMPTY_FLOWS}
    assert (stale, flaky) == (401, 503)  # the token is forgotten, the flaky counter restarted


def test_injected_errors_skip_the_endpoint_and_are_counted():
    async def scenario(server, session):
        answers = []
        for path, kwargs in (
            ("/login", {"json": {"user": "ann"}}),
            ("/flaky", {"params": {"id": "a", "fail": "0"}}),
            ("/id", {"params": {"value": "v"}}),
            ("/", {}),
        ):
            async with session.post(path, **kwargs) as resp:
                answers.append((resp.status, await resp.read()))
        return answers, server.snapshot(), dict(server.flows.tokens)

    answers, stats, tokens = serve(scenario, TargetOptions(error_rate=1.0))
    assert answers == [(500, b"injected error\n")] * 4
    assert tokens == {}
    assert stats["statuses"] == {"500": 4}
    assert stats["paths"] == {"/flaky": 1, "/id": 1, "/login": 1}
    assert stats["ids"] == {}  # the endpoint did not run


def test_latency_applies_to_endpoints_like_the_catch_all():
    async def scenario(server, session):
        elapsed = {}
        for path in ("/", "/echo", "/flaky?id=a&fail=1", "/redirect/1"):
            async with session.get("/") as resp:  # warm the connection
                await resp.read()
            t0 = time.perf_counter()
            async with session.get(path, allow_redirects=False) as resp:
                await resp.read()
                elapsed[path] = (resp.status, time.perf_counter() - t0)
        return elapsed

    elapsed = serve(scenario, TargetOptions(latency_s=0.05))
    assert [status for status, _ in elapsed.values()] == [200, 200, 503, 302]
    for path, (_, seconds) in elapsed.items():
        assert 0.05 <= seconds < 0.05 + 0.05, (path, seconds)


def test_catch_all_never_consults_the_endpoints():
    routed: list[str] = []

    class Spy(FlowEndpoints):
        def route(self, path: str):  # type: ignore[override]
            routed.append(path)
            return super().route(path)

    async def scenario(server, session):
        server.flows = Spy()
        answers = []
        for path in ("/", "/a/b?c=1", "/index.html", "/orders/1", "/identity", "/login2"):
            async with session.post(path, data=b"{}") as resp:
                answers.append((resp.status, await resp.read()))
        return answers, server.snapshot()

    answers, stats = serve(scenario)
    assert answers == [(200, b"ok\n")] * 6
    # only paths sharing an endpoint's prefix are looked up; none of them is an endpoint
    assert routed == ["/orders/1", "/identity", "/login2"]
    assert stats["paths"] == {} and stats["requests"] == 6


WRK = shutil.which("wrk")


@pytest.mark.skipif(WRK is None, reason="wrk is not installed")
def test_catch_all_under_wrk_is_counted_exactly_and_skips_the_endpoints():
    connections = 16
    with start_target() as target:
        out = subprocess.run(
            [WRK, "-t1", f"-c{connections}", "-d1s", f"{target.url}/"],
            capture_output=True, text=True, timeout=30, check=True,
        ).stdout
        stats = target.stats()
    done = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    print(f"catch-all: {rate:.0f} req/s ({done} requests)")
    assert "Non-2xx" not in out and "Socket errors" not in out, out
    # the server counts at arrival: wrk's in-flight requests at its stop are counted too
    assert done <= stats["requests"] <= done + connections
    assert stats["statuses"] == {"200": stats["requests"]}
    assert {k: stats[k] for k in EMPTY_FLOWS} == EMPTY_FLOWS
