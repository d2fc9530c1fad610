"""Flows of static steps on the callback-driven path (:mod:`loadray.engine.static_flows`),
against a real aiohttp server on 127.0.0.1: which scenarios take it, and that what an
instance leaves is the flow runner's (rows in step order, times chained, ``flow_ns`` on
the last row, a failure ends the instance unless it continues, cookies per instance,
``fenced`` under a lapsed lease, ``cut`` at close, ``timeout``), and that a worker's
accounting holds."""

from __future__ import annotations

import asyncio
import contextlib
import time

import helpers
import pandas as pd
import pyarrow as pa
import pytest
from aiohttp import web
from helpers import start_app

from loadray.engine.clock import SystemClock
from loadray.engine.flow_path import FlowPath, step_names
from loadray.engine.lease import NEVER, Lease
from loadray.engine.row_buffer import FLOW_ROW, RowBuffer
from loadray.engine.worker import LoadWorker, WorkerSpec, transport_settings

PREFIX = "0123456789abcdef"
MS = 1_000_000
STATIC = [{"name": "a", "path": "/a"}, {"name": "b", "path": "/b"}, {"name": "c", "path": "/c"}]


def scenario(url: str, steps: list, **extra):
    return helpers.scenario(url, workers=1, flows=[{"name": "f", "steps": steps}], **extra)


def flow_path(scn, url: str, lease: Lease | None = None, traced: bool = True) -> FlowPath:
    settings = transport_settings(scn, PREFIX if traced else "")
    names, first = step_names(scn)
    buffer = RowBuffer(0, names, 0, FLOW_ROW, first, settings.trace_prefix)
    return FlowPath(scn, 0, 1, SystemClock(), buffer, settings, url, lease)


@contextlib.asynccontextmanager
async def serving(handler):
    """An aiohttp app on 127.0.0.1 answering every path with ``handler``; yields its URL."""
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handler)
    runner, port = await start_app(app)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()


async def run_flows(flows: FlowPath, n: int, wait: float = 5.0, close_after: float | None = None):
    """Submit ``n`` arrivals; the rows (as pandas) and the on_flow_done calls, in order."""
    done: list[tuple[int, bool]] = []
    finished = asyncio.Event()

    def on_done(ctx, ok):
        done.append((ctx[4], ok))
        if len(done) == n:
            finished.set()

    flows.on_flow_done = on_done
    await flows.open()
    for k in range(n):
        now = time.monotonic_ns()
        flows.submit(0, (now, now, 0, 0, k))
    if close_after is not None:
        await asyncio.sleep(close_after)
    else:
        await asyncio.wait_for(finished.wait(), wait)
    await flows.close()
    batch = flows.runner.buffer.flush()
    rows = pa.Table.from_batches([batch]).to_pandas() if batch is not None else pd.DataFrame()
    if len(rows):
        rows["step"] = rows["step"].astype(object)
        rows["error"] = rows["error"].astype(object)
    return rows, done


@pytest.mark.parametrize("steps, extra, static", [
    (STATIC, {}, True),
    ([*STATIC[:2], {"name": "c", "path": "/c", "method": "HEAD"}], {}, True),
    ([STATIC[0], {"name": "b", "path": "/b", "check": {"status": [200]}}], {}, False),
    ([STATIC[0], {"name": "b", "path": "/b", "query": {"id": "{{ uuid }}"}}], {}, False),
    ([STATIC[0], {"name": "b", "path": "/b", "retry": {"max_attempts": 2}}], {}, False),
    ([STATIC[0], {"name": "b", "path": "/b", "timeout": "1s"}], {}, False),
    ([STATIC[0], {"name": "b", "path": "/b", "headers": {"Cookie": "a=1"}}], {}, False),
    (STATIC, {"http": {"redirects": 2}}, False),
    (STATIC, {"transport": "aiohttp"}, False),
    (STATIC, {"load": {"model": "closed", "phases": [{"duration": "1s", "users": 1}]}}, False),
])
def test_only_open_model_flows_of_static_steps_take_the_callback_path(steps, extra, static):
    scn = scenario("http://127.0.0.1:9", steps, **extra)
    assert (flow_path(scn, "http://127.0.0.1:9").static is not None) is static


def test_each_instance_leaves_one_row_per_step_in_order_with_flow_ns_on_its_last():
    seen: list[tuple[str, str]] = []

    async def handler(request: web.Request) -> web.Response:
        seen.append((request.path, request.headers.get("traceparent", "")))
        return web.Response(text="hello")

    async def main():
        async with serving(handler) as url:
            return await run_flows(flow_path(scenario(url, STATIC), url), 20)

    rows, done = asyncio.run(main())
    assert len(rows) == 60 and len(seen) == 60 and sorted(ok for _, ok in done) == [True] * 20
    assert set(rows["status"]) == {200} and rows["error"].isna().all() and set(rows["bytes_in"]) == {5}
    assert (rows["attempt"] == 1).all() and rows["ttfb_ns"].notna().all() and set(rows["chunks"]) == {1}
    for _, flow in rows.groupby("flow_id"):
        assert list(flow["step"]) == ["f/a", "f/b", "f/c"]  # recorded in step order
        assert list(flow["intended_ns"])[1:] == list(flow["intended_ns"] + flow["latency_ns"])[:2]  # chained
        assert flow["flow_ns"].isna().tolist() == [True, True, False]
        assert flow["flow_ns"].iloc[2] == flow["intended_ns"].iloc[2] + flow["latency_ns"].iloc[2] - flow[
            "intended_ns"].iloc[0]
    assert len(set(rows["trace_id"])) == 60
    assert {h.split("-")[1] for _, h in seen} == set(rows["trace_id"])
    assert all(h.startswith(f"00-{PREFIX}") and h.endswith("-01") for _, h in seen)


def test_untraced_and_head_steps():
    async def handler(request: web.Request) -> web.Response:
        assert "traceparent" not in request.headers
        return web.Response(text="body")

    async def main():
        async with serving(handler) as url:
            steps = [STATIC[0], {"name": "h", "path": "/h", "method": "HEAD"}]
            return await run_flows(flow_path(scenario(url, steps), url, traced=False), 5)

    rows, done = asyncio.run(main())
    assert [ok for _, ok in done] == [True] * 5 and len(rows) == 10 and set(rows["status"]) == {200}
    assert set(rows[rows["step"] == "f/h"]["bytes_in"]) == {0} and rows["trace_id"].isna().all()


def test_a_failed_step_ends_its_instance_unless_it_says_continue():
    async def handler(request: web.Request) -> web.Response:
        return web.Response(status=503 if request.path == "/b" else 200, text="x")

    async def main(on_failure: str):
        async with serving(handler) as url:
            steps = [STATIC[0], {**STATIC[1], "on_failure": on_failure}, STATIC[2]]
            return await run_flows(flow_path(scenario(url, steps), url), 4)

    rows, done = asyncio.run(main("stop"))
    assert [ok for _, ok in done] == [False] * 4 and len(rows) == 8
    failed = rows[rows["step"] == "f/b"]
    assert set(failed["error"]) == {"http_5xx"} and set(failed["status"]) == {503} and failed["flow_ns"].notna().all()
    rows, done = asyncio.run(main("continue"))
    assert [ok for _, ok in done] == [False] * 4 and len(rows) == 12
    assert rows[rows["step"] == "f/c"]["flow_ns"].notna().all() and rows[rows["step"] != "f/c"]["flow_ns"].isna().all()


def test_cookies_a_step_sets_go_back_with_the_next_steps_of_that_instance_only():
    given: list[str] = []
    sent: dict[str, list[str]] = {"/a": [], "/b": [], "/c": []}

    async def handler(request: web.Request) -> web.Response:
        sent[request.path].append(request.headers.get("Cookie", ""))
        response = web.Response(text="ok")
        if request.path == "/a":
            given.append(f"u{len(given)}")
            response.set_cookie("sid", given[-1])
            response.headers.add("Set-Cookie", "gone=1; Max-Age=0")
        return response

    async def main():
        async with serving(handler) as url:
            return await run_flows(flow_path(scenario(url, STATIC), url), 6)

    rows, done = asyncio.run(main())
    assert len(rows) == 18 and [ok for _, ok in done] == [True] * 6
    assert sent["/a"] == [""] * 6  # a fresh jar per instance
    assert sorted(sent["/b"]) == sorted(sent["/c"]) == sorted(f"sid={sid}" for sid in given)


def test_steps_due_after_the_lease_lapsed_are_fenced_rows_never_sent():
    paths: list[str] = []

    async def handler(request: web.Request) -> web.Response:
        paths.append(request.path)
        await asyncio.sleep(0.3)
        return web.Response(text="ok")

    async def main():
        lease = Lease(NEVER, until_ns=time.monotonic_ns() + 150 * MS)  # lapses while /a is answered
        async with serving(handler) as url:
            rows, done = await run_flows(flow_path(scenario(url, STATIC), url, lease), 3)
        return rows, done, lease

    rows, done, lease = asyncio.run(main())
    assert paths == ["/a"] * 3 and lease.fenced and lease.reason == "lease expired"
    assert [ok for _, ok in done] == [False] * 3 and len(rows) == 6
    fenced = rows[rows["step"] == "f/b"]
    assert set(fenced["error"]) == {"fenced"} and fenced["sent_ns"].isna().all() and fenced["flow_ns"].notna().all()


def slow_b(seconds: float):
    """A handler answering at once, but /b after ``seconds``."""
    async def handler(request: web.Request) -> web.Response:
        if request.path == "/b":
            await asyncio.sleep(seconds)
        return web.Response(text="ok")

    return handler


def test_closing_cuts_the_step_in_flight_without_flow_ns():
    async def main():
        async with serving(slow_b(5)) as url:
            return await run_flows(flow_path(scenario(url, STATIC), url), 3, close_after=0.5)

    rows, done = asyncio.run(main())
    assert sorted(done) == [(0, False), (1, False), (2, False)] and len(rows) == 6
    assert list(rows.groupby("step")["error"].apply(lambda e: e.fillna("ok").unique().tolist())) == [["ok"], ["cut"]]
    assert rows["flow_ns"].isna().all() and rows["sent_ns"].notna().all()


def test_a_step_past_the_timeout_is_a_timeout_row():
    async def main():
        async with serving(slow_b(2)) as url:
            scn = scenario(url, STATIC, http={"timeout": "200ms"})
            return await run_flows(flow_path(scn, url), 2)

    rows, done = asyncio.run(main())
    assert [ok for _, ok in done] == [False, False] and len(rows) == 4
    late = rows[rows["step"] == "f/b"]
    assert set(late["error"]) == {"timeout"} and late["flow_ns"].notna().all()
    assert ((late["service_ns"] >= 200 * MS) & (late["service_ns"] < 1000 * MS)).all()


def test_a_worker_on_the_callback_path_accounts_for_every_flow():
    """Two flows (3 steps and 1), weights 3:1, 40 arrivals: every arrival is one instance
    whose rows are all there; connections are opened in advance, as the fast path does."""
    async def handler(request: web.Request) -> web.Response:
        return web.Response(text="ok")

    async def main():
        async with serving(handler) as url:
            flows = [{"name": "f", "steps": STATIC, "weight": 3}, {"name": "g", "steps": [STATIC[0]], "weight": 1}]
            scn = helpers.scenario(url, workers=1, flows=flows, load={"phases": [{"duration": "1s", "rate": 40}]})
            worker = LoadWorker(WorkerSpec(0, 1, scn))
            ready = await worker.prepare()
            assert worker.mode.flows.static is not None
            await worker.run(time.time_ns() + 100 * MS)
            return pa.Table.from_batches(worker.drain().batches).to_pandas(), worker.mode.counters, ready

    rows, counters, ready = asyncio.run(main())
    assert ready.connections >= 2
    assert counters.intended == counters.sent == counters.done == 40 and counters.errors == 0
    steps = rows["step"].astype(str).value_counts().to_dict()
    assert steps == {"f/a": 30, "f/b": 30, "f/c": 30, "g": 10} and rows["error"].isna().all()
    assert set(rows[rows["flow_ns"].notna()]["step"].astype(str)) == {"f/c", "g"} and rows["flow_ns"].notna().sum() == 40
