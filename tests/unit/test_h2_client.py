"""HTTP/2 steps (``http: {version: 2}``) against the built-in target's h2c and small
misbehaving servers, on real sockets (no Ray): streams multiplexed on the configured
few connections, the truth checks of HTTP/1.1 (target counts = rows, p50 against the
known delay, the accounting identity) and the exact error kinds."""

from __future__ import annotations

import asyncio
import socket
import time

import helpers
import numpy as np
import pytest
from test_engine_flows import run_workers

from loadray.engine.clock import SystemClock
from loadray.engine.h2 import H2Client
from loadray.engine.transport import TransportSettings
from loadray.flow.render import Rendered
from loadray.target.options import TargetOptions
from loadray.target.server import TargetServer

MS = 1_000_000


def client(connections: int = 2, timeout_s: float = 10.0) -> H2Client:
    return H2Client(TransportSettings(h2_connections=connections, timeout_s=timeout_s, connect_timeout_s=2.0),
                    SystemClock())


def get(url: str, path: str = "/", method: str = "GET", body: bytes | None = None, timeout_s=None) -> Rendered:
    return Rendered(method, url + path, (), body, timeout_s, 2)


def serve(options: TargetOptions, body):
    async def main():
        async with TargetServer(options) as target:
            return await body(target)

    return asyncio.run(main())


def test_thousand_streams_in_flight_ride_on_the_two_configured_connections():
    async def body(target):
        c = client(connections=2)
        session = c.session()
        replies = await asyncio.gather(*(c.send(session, get(target.url), None) for _ in range(1000)))
        open_now = c.connections
        await c.close()
        return replies, open_now, target.snapshot()

    # 1 s: long enough for all 1000 to arrive before the first answer, even on 2 busy cores
    replies, open_now, stats = serve(TargetOptions(latency_s=1.0), body)
    assert [r.status for r in replies] == [200] * 1000 and {r.error for r in replies} == {None}
    assert stats["requests"] == 1000
    assert stats["h2"]["streams_max"] == 1000  # all in flight at once ...
    assert stats["h2"]["connections_max"] == 2 and stats["h2"]["connections_total"] == 2  # ... on two connections
    assert open_now == 2
    assert all(r.chunks == 1 and r.nbytes == 3 and r.ttfb_ns >= 1000 * MS for r in replies)


def test_ttfb_is_the_first_data_frame_and_chunks_count_data_frames():
    payload = b"x" * 40_000  # /echo answers it inside JSON: three DATA frames of at most 16 KiB

    async def body(target):
        c = client()
        s = c.session()
        reply = await c.send(s, get(target.url, "/echo", "POST", payload), 1 << 20)
        await c.close()
        return reply

    reply = serve(TargetOptions(latency_s=0.05), body)
    assert reply.status == 200 and reply.response.json["body"] == payload.decode()
    assert reply.chunks == -(-reply.nbytes // 16384) == 3
    assert 50 * MS <= reply.ttfb_ns <= reply.done_ns - reply.sent_ns


def test_cookies_are_kept_per_session_and_sent_back():
    async def body(target):
        c = client()
        s = c.session()
        a = await c.send(s, get(target.url, "/cookie/set?name=sid&value=42"), 100)
        b = await c.send(s, get(target.url, "/cookie/check?name=sid&value=42"), 100)
        other = await c.send(c.session(), get(target.url, "/cookie/check?name=sid"), 100)
        await c.close()
        return a, b, other, s.cookies

    a, b, other, jar = serve(TargetOptions(), body)
    assert (a.status, b.status, other.status, other.error) == (200, 200, 401, "http_4xx")
    assert jar == {"sid": "42"}


def test_a_reset_stream_is_reset_and_the_connection_carries_on():
    async def body(target):
        c = client(connections=1)
        s = c.session()
        reset, ok = await asyncio.gather(c.send(s, get(target.url, "/h2/reset"), None), c.send(s, get(target.url), None))
        await c.close()
        return reset, ok, target.snapshot()["h2"]

    reset, ok, h2 = serve(TargetOptions(latency_s=0.05), body)
    assert (reset.status, reset.error, reset.detail) == (0, "reset", "RST_STREAM INTERNAL_ERROR")
    assert (ok.status, ok.error) == (200, None)
    assert h2["connections_total"] == 1


def test_goaway_fails_the_unprocessed_stream_as_goaway_the_earlier_one_completes_a_new_connection_follows():
    async def body(target):
        c = client(connections=1)
        s = c.session()
        slow = asyncio.ensure_future(c.send(s, get(target.url), None))  # stream 1: answered 100 ms later
        await asyncio.sleep(0.02)
        gone = await c.send(s, get(target.url, "/h2/goaway"), None)  # stream 3: GOAWAY, last stream 1
        first = await slow
        after = await c.send(s, get(target.url), None)
        await c.close()
        return first, gone, after, target.snapshot()

    first, gone, after, stats = serve(TargetOptions(latency_s=0.1), body)
    assert (first.status, first.error) == (200, None) and (after.status, after.error) == (200, None)
    assert (gone.status, gone.error, gone.detail) == (0, "goaway", "GOAWAY NO_ERROR last_stream_id=1")
    assert stats["h2"]["connections_total"] == 2 and stats["requests"] == 2


def test_refused_connection_is_connect_refused():
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()  # nothing listens there now

    async def main():
        c = client()
        replies = await asyncio.gather(*(c.send(c.session(), get(f"http://127.0.0.1:{port}"), None) for _ in range(3)))
        await c.close()
        return replies

    assert [(r.status, r.error) for r in asyncio.run(main())] == [(0, "connect_refused")] * 3


def test_a_step_timeout_resets_the_stream_and_is_timeout():
    async def body(target):
        c = client()
        started = time.monotonic()
        reply = await c.send(c.session(), get(target.url, timeout_s=0.2), None)
        waited = time.monotonic() - started
        await asyncio.sleep(0.05)  # the RST_STREAM reaches the server
        streams_open = target.h2_stats.streams
        await c.close()
        return reply, waited, streams_open

    reply, waited, streams_open = serve(TargetOptions(latency_s=2.0), body)
    assert reply.error == "timeout" and 0.2 <= waited < 0.5
    assert streams_open == 0


async def _junk_server(data: bytes):
    async def handle(reader, writer):
        await reader.read(100)
        writer.write(data)
        await writer.drain()
        await asyncio.sleep(0.5)
        writer.close()

    return await asyncio.start_server(handle, "127.0.0.1", 0)


@pytest.mark.parametrize("answer, kind", [
    (b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok", "protocol"),  # an HTTP/1.1 server: no h2 preface
    (b"", "reset"),  # the server closes without a word
])
def test_a_server_that_does_not_speak_h2_is_protocol_or_reset(answer, kind):
    async def main():
        server = await _junk_server(answer)
        port = server.sockets[0].getsockname()[1]
        c = client()
        reply = await c.send(c.session(), get(f"http://127.0.0.1:{port}"), None)
        await c.close()
        server.close()
        return reply

    reply = asyncio.run(main())
    assert (reply.status, reply.error) == (0, kind)


def test_closing_the_client_cuts_what_is_in_flight():
    async def body(target):
        c = client()
        pending = [asyncio.ensure_future(c.send(c.session(), get(target.url), None)) for _ in range(5)]
        await asyncio.sleep(0.1)
        await c.close()
        late = await c.send(c.session(), get(target.url), None)
        return [await p for p in pending], late

    replies, late = serve(TargetOptions(latency_s=1.0), body)
    assert {r.error for r in replies} == {"cut"} and late.error == "cut"


# -- the engine's flow path (no Ray): truth checks as for HTTP/1.1 ----------------------------


def test_open_model_on_http2_counts_rows_latency_and_accounting_against_the_target():
    delay_ms = 20

    async def main():
        async with TargetServer(TargetOptions(latency_s=delay_ms / 1000)) as target:
            scn = helpers.scenario(target.url, [{"duration": "2s", "rate": 200}], workers=1,
                                   http={"version": 2, "connections": 2})
            rows, counters = await run_workers(scn)
            return rows, counters, target.snapshot()

    rows, counters, stats = asyncio.run(main())
    c = counters[0]
    assert c.intended == 400 == c.sent + c.dropped and c.sent == c.done == len(rows)
    assert stats["requests"] == len(rows) == 400 and rows["error"].isna().all()
    assert stats["h2"]["connections_total"] == 2
    p50 = np.percentile(rows["latency_ns"], 50) / MS
    assert delay_ms <= p50 <= delay_ms + 15, p50
    assert (rows["ttfb_ns"] >= delay_ms * MS).all() and (rows["chunks"] == 1).all()


def test_a_flow_mixing_http1_and_http2_steps_shares_the_cookie_jar():
    set_cookie = {"name": "set", "path": "/cookie/set?name=s&value=1"}
    check_h2 = {"name": "check", "path": "/cookie/check?name=s&value=1", "http": {"version": 2},
                "check": {"status": [200]}}

    async def main():
        async with TargetServer(TargetOptions()) as target:
            scn = helpers.scenario(target.url, [{"duration": "1s", "rate": 20}], workers=1,
                                   flows=[{"name": "mix", "steps": [set_cookie, check_h2]}])
            rows, _ = await run_workers(scn)
            return rows, target.snapshot()

    rows, stats = asyncio.run(main())
    assert rows["step"].value_counts().to_dict() == {"mix/set": 20, "mix/check": 20}
    assert rows["error"].isna().all() and stats["h2"]["connections_total"] == 1


def test_headers_arrive_as_sent_and_the_traceparent_stays_out_of_the_hpack_table():
    traces = [f"00-{i:032x}-{i:016x}-01" for i in range(1, 4)]

    async def body(target):
        c = client()
        s = c.session()
        replies = []
        for trace in traces:
            out = Rendered("GET", target.url + "/echo?q=1", (("X-Name", "v"), ("traceparent", trace), ("Host", "h.test")),
                           None, None, 2)
            replies.append(await c.send(s, out, 1 << 16))
        table = [name for name, _ in c.pools[("http", "127.0.0.1", target.port)].conns[0].h2.encoder.header_table.dynamic_entries]
        await c.close()
        return replies, table

    replies, table = serve(TargetOptions(), body)
    seen = [r.response.json["headers"] for r in replies]
    assert [h["traceparent"] for h in seen] == traces
    assert all(h["x-name"] == "v" and h["user-agent"] == "loadray" for h in seen)
    assert all(r.response.json["query"] == {"q": "1"} for r in replies)
    assert b"traceparent" not in table and b"x-name" in table


def test_closed_model_users_share_the_configured_connection():
    async def main():
        async with TargetServer(TargetOptions(latency_s=0.01)) as target:
            scn = helpers.scenario(target.url, workers=1, http={"version": 2},
                                   load={"model": "closed", "phases": [{"duration": "1s", "users": 20}]})
            rows, counters = await run_workers(scn)
            return rows, counters, target.snapshot()

    rows, counters, stats = asyncio.run(main())
    assert len(rows) == stats["requests"] > 20 * 20 and rows["error"].isna().all()  # a user: one per 10 ms at best
    assert stats["h2"]["connections_total"] == 1 and stats["h2"]["streams_max"] == 20


def test_the_in_flight_cap_counts_streams():
    async def main():
        async with TargetServer(TargetOptions(latency_s=0.5)) as target:
            scn = helpers.scenario(target.url, [{"duration": "1s", "rate": 200}], workers=1,
                                   http={"version": 2, "connections": 2, "max_in_flight": 30, "when_full": "drop"})
            rows, counters = await run_workers(scn)
            return rows, counters, target.snapshot()

    rows, counters, stats = asyncio.run(main())
    c = counters[0]
    assert c.intended == 200 == c.sent + c.dropped and c.dropped > 100
    assert stats["h2"]["streams_max"] == 30  # never more streams than the cap, over both connections
    assert stats["requests"] == c.sent == (rows["error"].isna()).sum()
    assert (rows["error"].fillna("ok").value_counts().to_dict()) == {"ok": c.sent, "dropped": c.dropped}


def test_the_targets_faults_apply_on_http2_too():
    async def body(target):
        c = client()
        s = c.session()
        replies = await asyncio.gather(*(c.send(s, get(target.url, "/anything"), 100) for _ in range(200)))
        await c.close()
        return replies, target.snapshot()

    replies, stats = serve(TargetOptions(error_rate=0.25, seed=3), body)
    failed = [r for r in replies if r.error]
    assert {(r.status, r.error, r.response.text) for r in failed} == {(500, "http_5xx", "injected error\n")}
    assert stats["statuses"] == {"200": 200 - len(failed), "500": len(failed)} and 25 <= len(failed) <= 75


def test_a_body_larger_than_the_flow_control_window_is_sent_as_the_window_opens():
    payload = bytes(range(97, 123)) * 20_000  # 520 kB: eight times the server's initial 64 KiB window

    async def body(target):
        c = client()
        reply = await c.send(c.session(), get(target.url, "/echo", "PUT", payload), 1 << 21)
        await c.close()
        return reply

    reply = serve(TargetOptions(), body)
    assert (reply.status, reply.error) == (200, None)
    assert reply.response.json["body"] == payload.decode() and reply.response.json["method"] == "PUT"
    assert reply.chunks >= reply.nbytes // 16384


@pytest.mark.parametrize("redirects, path, status, final", [
    (3, "/redirect/3", 200, "/redirect/0"),  # followed to the end
    (2, "/redirect/3", 302, "/redirect/1"),  # out of hops: the 3xx answers
    (1, "/redirect?to=/echo&status=303", 200, "/echo"),  # 303: the POST turns into a GET
    (1, "/redirect?to=/echo&status=307", 200, "/echo"),  # 307: still a POST, with its body
])
def test_redirects_are_followed_on_http2(redirects, path, status, final):
    async def body(target):
        c = H2Client(TransportSettings(h2_connections=1, redirects=redirects), SystemClock())
        reply = await c.send(c.session(), get(target.url, path, "POST", b'{"a":1}'), 1 << 16)
        await c.close()
        return reply, target.snapshot()["paths"]

    reply, paths = serve(TargetOptions(), body)
    assert reply.status == status
    if final == "/echo":
        echoed = reply.response.json
        assert echoed["path"] == "/echo"
        assert (echoed["method"], echoed["body"]) == (("GET", "") if "303" in path else ("POST", '{"a":1}'))
    else:
        assert sum(paths.values()) == min(redirects + 1, 4)


def test_stopping_the_target_closes_connections_that_never_spoke():
    async def main():
        target = TargetServer(TargetOptions())
        await target.start()
        reader, writer = await asyncio.open_connection("127.0.0.1", target.port)
        await asyncio.sleep(0.05)
        await target.stop()
        closed = await asyncio.wait_for(reader.read(), 2.0)  # EOF: the server closed it
        writer.close()
        return closed

    assert asyncio.run(main()) == b""


def test_a_flow_mixing_https_http1_on_aiohttp_and_http2_extracts_across_them(pki):
    """The HTTP/1.1 step needs aiohttp (https): each protocol keeps its own client and
    session; a variable extracted from one is sent by the other."""
    import ssl

    from aiohttp import web
    from test_engine_flows import serving

    async def token(request: web.Request) -> web.Response:
        return web.json_response({"token": "t-7"})

    async def main():
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(pki.server_cert, pki.server_key)
        async with serving([web.get("/token", token)], context, "https") as tls_url, \
                TargetServer(TargetOptions()) as target:
            steps = [{"name": "token", "path": tls_url + "/token", "http": {"version": 1},
                      "extract": [{"name": "token", "source": "json", "expr": "token"}]},
                     {"name": "echo", "path": "/echo", "headers": {"X-Token": "{{ token }}"},
                      "check": {"status": [200], "json": {"expr": "headers.\"x-token\"", "equals": "t-7"}}}]
            scn = helpers.scenario(target.url, [{"duration": "1s", "rate": 10}], workers=1,
                                   http={"version": 2, "tls": {"ca": str(pki.ca)}},
                                   flows=[{"name": "mix", "steps": steps}])
            rows, _ = await run_workers(scn)
            return rows, target.snapshot()

    rows, stats = asyncio.run(main())
    assert rows["step"].value_counts().to_dict() == {"mix/token": 10, "mix/echo": 10}
    assert rows["error"].isna().all() and stats["h2"]["connections_total"] == 1 and stats["requests"] == 10
