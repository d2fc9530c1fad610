"""Bounded bodies: both flow clients keep at most ``keep`` (the step's ``max_body``)
bytes of a response, count the rest in ``bytes_in`` and drop it as it arrives; a
compressed body is decoded to at most ``keep`` bytes. A worker reading a 200 MB body
on the flow path stays within 50 MB of the fast path's memory."""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import json
import sys
import textwrap
from pathlib import Path

import pytest
from aiohttp import web

from loadray.engine.clock import SystemClock
from loadray.engine.fast_client import FastFlowClient
from loadray.engine.flow_client import FlowClient
from loadray.engine.transport import TransportSettings
from loadray.flow.render import Rendered
from test_engine_fast_client import app

MB = 1 << 20
BODY = b'{"id": 12, "pad": "' + b"x" * MB + b'"}'
BOMB = gzip.compress(b"0" * (64 * MB))  # 64 MB of zeros in ~64 KB
CLIENTS = {"fast": FastFlowClient, "aiohttp": FlowClient}
REPO = Path(__file__).resolve().parents[2]


async def body(request: web.Request) -> web.Response:
    return web.Response(body=BODY, headers={"X-Id": "7"})


async def bomb(request: web.Request) -> web.Response:
    return web.Response(body=BOMB, headers={"Content-Encoding": "gzip"})


async def broken(request: web.Request) -> web.Response:
    return web.Response(body=gzip.compress(bytes(range(256)) * 4)[:-30], headers={"Content-Encoding": "gzip"})


@contextlib.asynccontextmanager
async def flow_client(kind: str, **settings):
    c = CLIENTS[kind](TransportSettings(**settings), SystemClock())
    await c.open()
    try:
        yield c
    finally:
        await c.close()


def exchange(kind: str, path: str, keeps: list, **settings) -> list:
    routes = [web.get("/body", body), web.get("/bomb", bomb), web.get("/broken", broken)]

    async def main():
        async with app(routes) as (url, _), flow_client(kind, **settings) as c:
            replies = []
            for keep in keeps:
                async with c.session() as s:
                    replies.append(await c.send(s, Rendered("GET", url + path), keep))
            return replies

    return asyncio.run(main())


@pytest.mark.parametrize("kind", CLIENTS)
def test_a_body_is_kept_up_to_keep_and_counted_in_full(kind: str):
    whole, cut, none, headers_only = exchange(kind, "/body", [2 * MB, 10, None, 0])
    assert [r.nbytes for r in (whole, cut, none, headers_only)] == [len(BODY)] * 4
    assert whole.response.body == BODY and not whole.response.truncated and whole.response.json["id"] == 12
    assert cut.response.body == BODY[:10] and cut.response.truncated
    assert none.response is None
    assert headers_only.response.body == b"" and headers_only.response.header("x-id") == "7"


@pytest.mark.parametrize("kind", CLIENTS)
def test_a_decompression_bomb_is_decoded_to_keep_bytes_only(kind: str):
    cut, small = exchange(kind, "/bomb", [MB, 100], compression=True)
    for reply, keep in ((cut, MB), (small, 100)):
        assert reply.error is None and reply.response.truncated
        assert reply.response.body == b"0" * keep
    if kind == "fast":  # the fast client counts wire bytes, aiohttp the decoded ones
        assert cut.nbytes == len(BOMB)


def test_a_broken_gzip_body_that_was_not_cut_is_a_protocol_error():
    [reply] = exchange("fast", "/broken", [MB], compression=True)
    assert reply.error == "protocol" and reply.detail == "error: incomplete compressed body"


CHILD = textwrap.dedent(
    """
    import asyncio, json, resource, sys, time
    import pyarrow as pa
    from loadray.engine.worker import LoadWorker, WorkerSpec
    from loadray.scenario import parse_scenario

    async def main(doc):
        worker = LoadWorker(WorkerSpec(0, 1, parse_scenario(doc)))
        await worker.prepare()
        await worker.run(time.time_ns() + 50_000_000)
        return pa.Table.from_batches(worker.drain().batches)

    table = asyncio.run(main(json.loads(sys.argv[1])))
    print(json.dumps({"rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                      "error": table.column("error").to_pylist(), "bytes_in": table.column("bytes_in").to_pylist()}))
    """
)
BIG = 200 * MB


async def stream_200mb(request: web.Request) -> web.StreamResponse:
    response = web.StreamResponse(headers={"Content-Type": "application/json", "Content-Length": str(BIG)})
    await response.prepare(request)
    chunk = b"x" * MB
    for _ in range(BIG // MB):
        await response.write(chunk)
    return response


def test_a_200mb_body_on_the_flow_path_costs_no_more_memory_than_on_the_fast_path(tmp_path):
    """Each case in a fresh process (peak RSS of that process): the fast path, and the
    flow path with a JSON check (which reads the body) on both clients."""
    check = {"json": {"expr": "a", "equals": 1}}
    cases = {
        "fast path": {"requests": [{"name": "big", "path": "/big"}]},
        "flow, fast client": {"flows": [{"name": "big", "steps": [{"name": "big", "path": "/big", "check": check}]}]},
        "flow, aiohttp": {"transport": "aiohttp",
                          "flows": [{"name": "big", "steps": [{"name": "big", "path": "/big", "check": check}]}]},
    }

    async def main():
        results = {}
        async with app([web.get("/big", stream_200mb)]) as (url, _):
            for name, extra in cases.items():
                doc = {"target": url, "workers": 1, "load": {"phases": [{"duration": "1s", "rate": 2}]}, **extra}
                child = await asyncio.create_subprocess_exec(
                    sys.executable, "-c", CHILD, json.dumps(doc), cwd=REPO,
                    stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
                )
                out, err = await asyncio.wait_for(child.communicate(), 120)
                assert child.returncode == 0, err.decode()[-2000:]
                results[name] = json.loads(out)
        return results

    results = asyncio.run(main())
    fast = results.pop("fast path")
    assert fast["error"] == [None, None] and fast["bytes_in"] == [BIG, BIG]
    for name, got in results.items():
        assert got["bytes_in"] == [BIG, BIG], name
        assert got["error"] == ["check_error", "check_error"], name  # the JSON check needs the whole body
        assert got["rss_mb"] < fast["rss_mb"] + 50, (name, got["rss_mb"], fast["rss_mb"])


# -- max_body in the scenario -------------------------------------------------------------

from loadray.errors import ScenarioError  # noqa: E402
from loadray.scenario import parse_scenario  # noqa: E402


def doc(http=None, step=None) -> dict:
    return {"target": "http://127.0.0.1:8080", "load": {"phases": [{"duration": "1s", "rate": 1}]},
            "http": http or {}, "requests": [{"name": "r", "path": "/", **(step or {})}]}


@pytest.mark.parametrize(
    ("http", "step", "default", "own"),
    [
        ({}, {}, MB, None),
        ({"max_body": "64KiB"}, {}, 65536, None),
        ({"max_body": 4096}, {"max_body": "1MB"}, 4096, 1_000_000),
        ({"max_body": "1GiB"}, {"max_body": 0}, 1 << 30, 0),
    ],
)
def test_max_body_is_an_http_default_with_a_step_override(http, step, default, own):
    scn = parse_scenario(doc(http, step))
    assert scn.http.max_body == default and scn.flows[0].steps[0].max_body == own


@pytest.mark.parametrize(
    ("http", "step", "message"),
    [
        ({"max_body": "1.5 parsecs"}, {}, "http.max_body: expected a size like 512kB, 1MiB or 2GB, got '1.5 parsecs'"),
        ({"max_body": -1}, {}, "http.max_body: expected a size like 512kB, 1MiB or 2GB, got -1"),
        ({}, {"max_body": "2GiB"}, "requests[0].max_body: must be between 0 and 1GiB, got '2GiB'"),
        ({}, {"max_body": True}, "requests[0].max_body: expected a size like 512kB, 1MiB or 2GB, got True"),
    ],
)
def test_a_bad_max_body_names_its_yaml_path(http, step, message):
    with pytest.raises(ScenarioError) as caught:
        parse_scenario(doc(http, step))
    assert str(caught.value) == message
