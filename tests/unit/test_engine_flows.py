"""The flow path of one worker (no Ray) against the built-in target in-process."""

from __future__ import annotations

import asyncio
import contextlib
import time

import pyarrow as pa
import pytest
from aiohttp import web

import helpers
from helpers import start_app
from loadray.engine.worker import LoadWorker, WorkerSpec
from loadray.scenario import parse_scenario
from loadray.target.options import TargetOptions
from loadray.target.server import TargetServer

MS = 1_000_000
SLACK_MS = 15  # median lateness allowed: timers on 2 busy cores

LOGIN = {
    "name": "login", "method": "POST", "path": "/login",
    "json": {"user": "{{ uuid }}", "password": "x"},
    "extract": [{"name": "token", "source": "json", "expr": "token"}],
}
ORDER = {
    "name": "order", "method": "POST", "path": "/orders",
    "headers": {"Authorization": "Bearer {{ token }}"}, "json": {"item": "{{ random_choice(book|pen) }}"},
    "extract": [{"name": "order_id", "source": "json", "expr": "order_id"}],
}
PAY = {
    "name": "pay", "method": "POST", "path": "/pay",
    "headers": {"Authorization": "Bearer {{ login.token }}"}, "json": {"order_id": "{{ order_id }}"},
    "check": {"status": [200], "json": {"expr": "paid", "equals": True}},
}


def scenario(url: str, flows: list, load: dict | None = None, **extra):
    return helpers.scenario(url, workers=1, flows=flows, **({"load": load} if load else {}), **extra)


async def run_workers(scn, workers: int = 1):
    runs = [LoadWorker(WorkerSpec(i, workers, scn)) for i in range(workers)]
    for w in runs:
        await w.prepare()
    start = time.time_ns() + 100 * MS
    await asyncio.gather(*(w.run(start) for w in runs))
    batches = [b for w in runs for b in w.drain().batches]
    rows = pa.Table.from_batches(batches).to_pandas()
    rows["step"] = rows["step"].astype(object)
    rows["error"] = rows["error"].astype(object)
    return rows, [w.mode.counters for w in runs]


@contextlib.asynccontextmanager
async def serving(routes: list, ssl_context=None, scheme: str = "http"):
    """A small aiohttp app on 127.0.0.1 (``routes``: web.get/web.post...); yields its URL."""
    app = web.Application()
    app.add_routes(routes)
    runner, port = await start_app(app, ssl_context)
    try:
        yield f"{scheme}://127.0.0.1:{port}"
    finally:
        await runner.cleanup()


def serve_and_run(options: TargetOptions, build, workers: int = 1):
    async def main():
        async with TargetServer(options) as target:
            table, counters = await run_workers(build(target.url), workers)
            return table, counters, target.flows.snapshot(), target.stats.snapshot()

    return asyncio.run(main())


def test_checkout_flow_runs_every_step_in_order_with_the_extracted_token():
    rows, counters, flows, stats = serve_and_run(
        TargetOptions(latency_s=0.005), lambda url: scenario(url, [{"name": "checkout", "steps": [LOGIN, ORDER, PAY]}])
    )
    assert counters[0].intended == 40 and counters[0].errors == 0
    assert flows["unauthorized"] == 0 and flows["flows_in_order"] == 40
    assert rows["error"].isna().all() and (rows["attempt"] == 1).all()
    assert rows["step"].value_counts().to_dict() == {"checkout/login": 40, "checkout/order": 40, "checkout/pay": 40}
    for _, flow in rows.groupby("flow_id"):
        flow = flow.sort_values("intended_ns")
        assert list(flow["step"]) == ["checkout/login", "checkout/order", "checkout/pay"]
        # each step is intended when the previous one ended; only the last row has flow_ns
        ends = (flow["intended_ns"] + flow["latency_ns"]).to_numpy()
        assert (flow["intended_ns"].to_numpy()[1:] == ends[:-1]).all()
        assert flow["flow_ns"].isna().tolist() == [True, True, False]
        assert flow["flow_ns"].iloc[-1] == ends[-1] - flow["intended_ns"].iloc[0]
    assert rows["trace_id"].str.fullmatch(r"[0-9a-f]{32}").all() and rows["trace_id"].is_unique


def test_missing_variable_is_a_template_row_and_stops_the_flow_unless_told_to_continue():
    bad = {"name": "bad", "path": "/login", "method": "POST", "json": {"user": "u", "password": "p"},
           "extract": [{"name": "nothing", "source": "json", "expr": "missing"}]}
    use = {"name": "use", "path": "/echo", "headers": {"X": "{{ nothing }}"}}
    after = {"name": "after", "path": "/echo"}
    go_on = {**use, "on_failure": "continue"}
    rows, counters, _, _ = serve_and_run(
        TargetOptions(),
        lambda url: scenario(url, [{"name": "stop", "steps": [bad, use, after]}, {"name": "cont", "steps": [bad, go_on, after]}],
                             {"phases": [{"duration": "1s", "rate": 10}]}),
    )
    errors = rows.groupby("step")["error"].apply(lambda e: e.fillna("ok").value_counts().to_dict()).to_dict()
    assert errors[("stop/use", "template")] == 5 and ("stop/after", "ok") not in errors
    assert errors[("cont/use", "template")] == 5 and errors[("cont/after", "ok")] == 5
    template = rows[rows["error"] == "template"]
    assert (template["status"] == 0).all() and (template["service_ns"] == 0).all()
    assert counters[0].errors == 10


def test_failed_check_is_named_and_cookies_stay_with_their_user():
    steps = [
        {"name": "set", "path": "/cookie/set", "query": {"name": "sid", "value": "u{{ user }}"},
         "extract": [{"name": "sid", "source": "cookie", "expr": "sid"}]},
        {"name": "check", "path": "/cookie/check", "query": {"name": "sid", "value": "{{ sid }}"},
         "check": {"status": [200], "body_contains": "never-there"}, "on_failure": "continue"},
    ]
    load = {"model": "closed", "think": "50ms", "phases": [{"duration": "1s", "users": 3}]}
    rows, _, _, stats = serve_and_run(TargetOptions(), lambda url: scenario(url, [{"name": "c", "steps": steps}], load))
    checks = rows[rows["step"] == "c/check"]
    assert set(checks["status"]) == {200}  # the cookie was sent: the server said 200
    assert set(checks["error"]) == {"check:body contains 'never-there'"}
    assert set(rows["user"]) == {0, 1, 2}


def test_traceparent_is_sent_and_stored():
    seen: list[str] = []

    async def handler(request: web.Request) -> web.Response:
        seen.append(request.headers.get("traceparent", ""))
        return web.Response(text="ok")

    async def main():
        async with serving([web.get("/", handler)]) as url:
            steps = [{"name": "a", "path": "/", "check": {"status": [200]}}, {"name": "b", "path": "/"}]
            return await run_workers(scenario(url, [{"name": "t", "steps": steps}], {"phases": [{"duration": "1s", "rate": 5}]}))

    rows, _ = asyncio.run(main())
    assert len(seen) == 10
    assert {h.split("-")[1] for h in seen} == set(rows["trace_id"])
    assert all(h.startswith("00-") and h.endswith("-01") for h in seen)


def test_unique_feeder_rows_are_never_shared_between_workers(tmp_path):
    (tmp_path / "ids.csv").write_text("id\n" + "\n".join(f"row{i}" for i in range(60)) + "\n")
    doc = {
        "target": "http://127.0.0.1:1", "workers": 2,
        "load": {"phases": [{"duration": "2s", "rate": 40}]},
        "feeders": [{"name": "ids", "file": str(tmp_path / "ids.csv"), "mode": "unique", "when_exhausted": "stop_run"}],
        "flows": [{"name": "id", "steps": [{"name": "id", "path": "/id", "query": {"value": "{{ ids.id }}"}}]}],
    }
    rows, counters, flows, _ = serve_and_run(TargetOptions(), lambda url: parse_scenario({**doc, "target": url}), workers=2)
    assert set(flows["ids"].values()) == {1}  # the server saw each id exactly once
    assert len(flows["ids"]) == len(rows) == 60


def test_closed_model_revision_changes_the_number_of_users():
    from loadray.plan.revision import Assignment, plan_phases, with_rate

    load = {"model": "closed", "think": "20ms", "phases": [{"duration": "2s", "users": 2}]}

    async def main():
        async with TargetServer(TargetOptions(latency_s=0.01)) as target:
            scn = scenario(target.url, [{"name": "r", "steps": [{"name": "r", "path": "/"}]}], load)
            worker = LoadWorker(WorkerSpec(0, 1, scn))
            await worker.prepare()
            start = time.time_ns() + 100 * MS
            running = asyncio.ensure_future(worker.run(start))
            await asyncio.sleep(0.6)
            phases = with_rate(plan_phases(scn.phases), 1.0, 5, 2.0, 1)  # 5 users from t = 1 s
            worker.revise(Assignment(phases, 1, 0, from_s=1.0, revision=1))
            await running
            rows = pa.Table.from_batches(worker.drain().batches).to_pandas()
            return rows, start

    rows, start = asyncio.run(main())
    t = (rows["intended_ns"] - start) / 1e9
    assert set(rows.loc[t < 0.95, "user"]) == {0, 1}
    assert set(rows.loc[t > 1.05, "user"]) == {0, 1, 2, 3, 4}
    assert set(rows.loc[t > 1.05, "phase"]) == {1}


@pytest.mark.parametrize("redirects, status", [(0, 302), (2, 302), (3, 200)])
def test_redirects_are_followed_up_to_the_limit(redirects, status):
    steps = [{"name": "r", "path": "/redirect/3", "check": {"status": [200, 302]}}]
    rows, _, _, stats = serve_and_run(
        TargetOptions(),
        lambda url: scenario(url, [{"name": "r", "steps": steps}], {"phases": [{"duration": "1s", "rate": 4}]},
                             http={"redirects": redirects}),
    )
    assert set(rows["status"]) == {status} and rows["error"].isna().all()
    assert stats["requests"] == 4 * (min(redirects, 3) + 1)


def test_compression_header_and_new_connection_per_request_without_keepalive():
    steps = [{"name": "e", "path": "/echo", "check": {"json": {"expr": "headers.\"Accept-Encoding\"", "equals": "gzip, deflate"}}}]
    rows, _, _, _ = serve_and_run(
        TargetOptions(),
        lambda url: scenario(url, [{"name": "e", "steps": steps}], {"phases": [{"duration": "1s", "rate": 5}]},
                             http={"compression": True}),
    )
    assert len(rows) == 5 and rows["error"].isna().all()
    peers: set = set()

    async def handler(request: web.Request) -> web.Response:
        peers.add(request.transport.get_extra_info("peername"))
        return web.Response(text="ok")

    async def main():
        counts = []
        async with serving([web.get("/", handler)]) as url:
            steps = [{"name": "a", "path": "/"}, {"name": "b", "path": "/"}]
            for keepalive in (True, False):
                peers.clear()
                await run_workers(scenario(url, [{"name": "k", "steps": steps}],
                                           {"phases": [{"duration": "1s", "rate": 5}]}, http={"keepalive": keepalive}))
                counts.append(len(peers))
        return counts

    kept, fresh = asyncio.run(main())
    assert fresh == 10 and kept < 10  # keepalive: false opens a connection per request


@pytest.mark.parametrize("tls, ok", [
    ({"ca": "CA"}, True),       # verify on, the test CA given
    ({"verify": False}, True),  # verify off
    ({}, False),                # verify on, the CA unknown: every step is a tls error
])
def test_https_flow_with_a_certificate_made_in_the_test(pki, tls, ok):
    import ssl

    async def main():
        async def login(request: web.Request) -> web.Response:
            return web.json_response({"token": "t-1"})

        async def orders(request: web.Request) -> web.Response:
            good = request.headers.get("Authorization") == "Bearer t-1"
            return web.json_response({"ok": good}, status=200 if good else 401)

        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(pki.server_cert, pki.server_key)
        settings = {k: (str(pki.ca) if v == "CA" else v) for k, v in tls.items()}
        async with serving([web.post("/login", login), web.post("/orders", orders)], context, "https") as url:
            steps = [{"name": "login", "method": "POST", "path": "/login",
                      "extract": [{"name": "token", "source": "json", "expr": "token"}]},
                     {"name": "orders", "method": "POST", "path": "/orders",
                      "headers": {"Authorization": "Bearer {{ token }}"}}]
            return await run_workers(scenario(url, [{"name": "s", "steps": steps}],
                                              {"phases": [{"duration": "1s", "rate": 4}]}, http={"tls": settings}))

    rows, _ = asyncio.run(main())
    if ok:
        assert len(rows) == 8 and rows["error"].isna().all() and set(rows["status"]) == {200}
    else:
        assert len(rows) == 4 and set(rows["error"]) == {"tls"}  # the flow stops at login


def test_stop_user_feeder_ends_only_the_user_that_ran_out(tmp_path):
    (tmp_path / "rows.jsonl").write_text("".join(f'{{"n": {i}}}\n' for i in range(5)))
    doc = {
        "target": "http://127.0.0.1:1", "workers": 1,
        "load": {"model": "closed", "think": "10ms", "phases": [{"duration": "2s", "users": 2}]},
        "feeders": [{"name": "d", "file": str(tmp_path / "rows.jsonl"), "when_exhausted": "stop_user"}],
        "flows": [{"name": "id", "steps": [{"name": "id", "path": "/id", "query": {"value": "{{ d.n }}"}}]}],
    }
    rows, counters, flows, _ = serve_and_run(TargetOptions(), lambda url: parse_scenario({**doc, "target": url}))
    assert flows["ids"] == {str(i): 1 for i in range(5)} and len(rows) == 5  # 5 rows, then both users ended
    assert counters[0].done == counters[0].sent


def test_stopping_mid_flow_records_the_step_in_flight_as_cut():
    async def main():
        async with TargetServer(TargetOptions(latency_s=3.0)) as target:
            steps = [{"name": "slow", "path": "/"}, {"name": "never", "path": "/"}]
            scn = scenario(target.url, [{"name": "s", "steps": steps}], {"phases": [{"duration": "2s", "rate": 5}]})
            worker = LoadWorker(WorkerSpec(0, 1, scn))
            await worker.prepare()
            running = asyncio.ensure_future(worker.run(time.time_ns() + 100 * MS))
            await asyncio.sleep(1.0)  # between two due times (a request due at the stop would be a dropped row)
            worker.stop()
            counters = await running
            return pa.Table.from_batches(worker.drain().batches).to_pandas(), counters

    rows, counters = asyncio.run(main())
    assert 4 <= len(rows) <= 7 and set(rows["error"].astype(object)) == {"cut"}
    assert set(rows["step"].astype(object)) == {"s/slow"} and rows["flow_ns"].isna().all()
    assert counters.done == counters.sent == len(rows)


def test_a_lapsed_lease_turns_the_steps_still_to_come_into_fenced_rows_never_sent():
    """Lease 0.5 s, never renewed (the coordinator cannot be heard): flows started before
    it lapsed have their later steps recorded as ``fenced``, with no send time, and no
    row was sent after the lapse."""
    async def slow(request):
        await asyncio.sleep(0.3)
        return web.json_response({"ok": True})

    async def no_answer(lapsed: bool):
        return None

    async def main():
        async with serving([web.get("/a", slow), web.get("/b", slow)]) as url:
            scn = scenario(url, [{"name": "f", "steps": [{"name": "a", "path": "/a"}, {"name": "b", "path": "/b"}]}],
                           cluster={"lease": "0.5s"})
            worker = LoadWorker(WorkerSpec(0, 1, scn), renewer=no_answer)
            await worker.prepare()
            await worker.run(time.time_ns() + 100 * MS)
            rows = pa.Table.from_batches(worker.drain().batches).to_pandas()
            return rows, worker.lease

    rows, lease = asyncio.run(main())
    fenced = rows[rows.error.astype(object) == "fenced"]
    assert lease.reason == "lease expired" and len(fenced) > 0
    assert set(fenced.step.astype(str)) == {"f/b"} and fenced.sent_ns.isna().all()
    lapsed_at = lease.fenced_at_ns + time.time_ns() - time.monotonic_ns()  # as epoch ns
    assert rows.sent_ns.dropna().max() < lapsed_at
