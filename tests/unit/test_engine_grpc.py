"""gRPC steps on the flow path of one worker (no Ray) against the built-in gRPC target
in-process on 127.0.0.1: rows, error kinds, streaming timing, mixed HTTP/gRPC flows,
the closed model, TLS."""

from __future__ import annotations

import asyncio
import time

import helpers
import pyarrow as pa
import pytest
from aiohttp import web

from loadray.engine.worker import LoadWorker, WorkerSpec
from loadray.redaction import redact
from loadray.target.grpc_server import PROTO, GrpcTarget, grpc_stats
from loadray.target.options import TargetOptions

MS = 1_000_000
TARGET = "loadray.target.Target"


def call(method: str = "Unary", message: dict | None = None, **grpc) -> dict:
    return {"proto": str(PROTO), "service": TARGET, "method": method, "message": message or {"text": "hi"}, **grpc}


def scenario(url: str, steps: list, load: dict | None = None, **extra):
    load = load or {"phases": [{"duration": "1s", "rate": 10}]}
    return helpers.scenario(url, workers=1, flows=[{"name": "f", "steps": steps}], load=load, **extra)


async def run_worker(scn):
    worker = LoadWorker(WorkerSpec(0, 1, scn))
    await worker.prepare()
    await worker.run(time.time_ns() + 100 * MS)
    rows = pa.Table.from_batches(worker.drain().batches).to_pandas()
    for column in ("step", "error", "error_detail"):
        rows[column] = rows[column].astype(object)
    return rows


def against_target(options: TargetOptions, build, tls=None, client_ca=None):
    """Serve the gRPC target, run the scenario ``build(address)`` makes; (rows, target stats)."""
    async def main():
        async with GrpcTarget(options, tls=tls, client_ca=client_ca) as target:
            rows = await run_worker(build(target.address))
            return rows, {**target.stats.snapshot(), "messages": target.messages, "connections": len(target.peers)}

    return asyncio.run(main())


def test_unary_calls_are_ok_rows_with_code_0_one_message_and_its_bytes():
    rows, stats = against_target(TargetOptions(latency_s=0.02), lambda address: scenario(
        f"http://{address}", [{"name": "u", "grpc": call(), "check": {"status": "OK", "json": {"expr": "text",
                                                                                               "equals": "hi"}}}]))
    assert len(rows) == 10 == stats["requests"] and stats["statuses"] == {"0": 10}
    assert rows["error"].isna().all() and set(rows["status"]) == {0} and set(rows["chunks"]) == {1}
    # text "hi" (4 bytes on the wire) and id "c1".."c10" (4 or 5): the serialized sizes
    assert rows["bytes_in"].sum() == 9 * 8 + 9
    service_ms = rows["service_ns"] / MS
    assert service_ms.min() >= 20 and (rows["ttfb_ns"] <= rows["service_ns"]).all()


def test_server_stream_of_10_messages_5ms_apart_gives_ttfb_5ms_and_50ms_in_all(builtin_target):
    """The target in its own process (sharing this loop, its timers would wait on ours)."""
    target = builtin_target(grpc_port=0)
    message = {"text": "s", "count": 10, "interval_ms": 5}
    scn = scenario(target.url, [{"name": "s", "grpc": call("Stream", message, address=target.grpc_address)}],
                   {"phases": [{"duration": "1s", "rate": 20}]})
    rows = asyncio.run(run_worker(scn))
    assert len(rows) == 20 and rows["error"].isna().all() and set(rows["chunks"]) == {10}
    assert grpc_stats(target.grpc_address)["messages"] == 200
    ttfb, total = rows["ttfb_ns"].median() / MS, rows["service_ns"].median() / MS
    print(f"stream: ttfb p50 {ttfb:.2f} ms, total p50 {total:.2f} ms")
    # the schedule's floor, and the first message long before the last: the +-2 ms of the
    # acceptance is held in tests/ray/test_grpc_runs.py (not here: the unit suite runs
    # next to everything else on two cores)
    assert 5 <= ttfb < 25 and 50 <= total < 100
    assert ((rows["service_ns"] - rows["ttfb_ns"]) / MS).median() >= 40  # 9 intervals after the first


@pytest.mark.parametrize("step, options, status, error, detail", [
    ({"grpc": call(message={"code": 5})}, TargetOptions(), 5, "grpc_not_found", "asked for"),
    ({"grpc": call(), "timeout": "30ms"}, TargetOptions(latency_s=0.3), 4, "grpc_deadline_exceeded", "Deadline"),
    ({"grpc": call()}, TargetOptions(error_rate=1.0), 13, "grpc_internal", "injected error"),
    ({"grpc": call(message={"code": "{{ uuid }}"})}, TargetOptions(), 0, "grpc_message", "code field"),
    ({"grpc": call(), "check": {"json": {"expr": "text", "equals": "bye"}}}, TargetOptions(), 0,
     'check:json text == "bye"', None),
])
def test_each_failure_is_a_row_with_its_code_and_kind(step, options, status, error, detail):
    rows, stats = against_target(options, lambda address: scenario(
        f"http://{address}", [{"name": "x", **step}], {"phases": [{"duration": "1s", "rate": 4}]}))
    assert len(rows) == 4 and set(rows["status"]) == {status} and set(rows["error"]) == {error}
    if detail is not None:
        assert all(detail in d for d in rows["error_detail"])
    assert stats["requests"] == (0 if error == "grpc_message" else 4)  # a message that does not fit is never sent


def test_nothing_listening_is_grpc_unavailable_status_14_and_retried_when_asked():
    retry = {"max_attempts": 2, "backoff": {"base": "10ms"}, "on_errors": ["grpc_unavailable"]}

    async def main():
        scn = scenario("http://127.0.0.1:1", [{"name": "x", "grpc": call(), "timeout": "2s", "retry": retry}],
                       {"phases": [{"duration": "1s", "rate": 3}]})
        return await run_worker(scn)

    rows = asyncio.run(main())
    assert len(rows) == 6 and set(rows["error"]) == {"grpc_unavailable"} and set(rows["status"]) == {14}
    assert sorted(rows["attempt"]) == [1, 1, 1, 2, 2, 2]


def test_mixed_flow_grpc_reply_fields_and_metadata_feed_the_http_step():
    seen: list[tuple[str, str]] = []

    async def order(request: web.Request) -> web.Response:
        seen.append((request.match_info["id"], request.headers.get("X-Echo", "")))
        return web.json_response({"ok": True})

    async def main():
        async with GrpcTarget(TargetOptions()) as target, helpers_serving([web.get("/orders/{id}", order)]) as url:
            steps = [
                {"name": "g", "grpc": {**call(message={"text": "{{ uuid }}"}, address=target.address),
                                       "metadata": {"x-echo": "e-{{ user }}"}},
                 "extract": [{"name": "cid", "source": "json", "expr": "id"},
                             {"name": "echo", "source": "header", "expr": "x-echo"}]},
                {"name": "h", "path": "/orders/{{ cid }}", "headers": {"X-Echo": "{{ echo }}"},
                 "check": {"status": 200}},
            ]
            return await run_worker(scenario(url, steps, {"phases": [{"duration": "1s", "rate": 5}]}))

    rows = asyncio.run(main())
    assert rows["error"].isna().all() and rows["step"].value_counts().to_dict() == {"f/g": 5, "f/h": 5}
    assert sorted(int(i[1:]) for i, _ in seen) == [1, 2, 3, 4, 5]
    assert all(echo.startswith("e-") for _, echo in seen)
    assert set(rows.loc[rows["step"] == "f/g", "status"]) == {0}
    assert set(rows.loc[rows["step"] == "f/h", "status"]) == {200}


def helpers_serving(routes):
    from test_engine_flows import serving

    return serving(routes)


def test_closed_model_users_call_back_to_back():
    load = {"model": "closed", "phases": [{"duration": "1s", "users": 2}]}
    rows, stats = against_target(TargetOptions(latency_s=0.05), lambda address: scenario(
        f"http://{address}", [{"name": "u", "grpc": call()}], load))
    assert rows["error"].isna().all() and stats["requests"] == len(rows)
    # at most 2 users x 1 s / 50 ms (+ one call each begun before the end); fewer on a busy machine
    assert set(rows["user"]) == {0, 1} and 20 <= len(rows) <= 42


@pytest.mark.parametrize("trust, error", [(True, None), (False, "grpc_unavailable")])
def test_grpc_over_tls_with_the_test_ca(pki, trust, error):
    tls = (pki.server_cert.read_bytes(), pki.server_key.read_bytes())
    http = {"tls": {"ca": str(pki.ca)}} if trust else {}
    rows, stats = against_target(TargetOptions(), lambda address: scenario(
        "http://127.0.0.1:1", [{"name": "t", "grpc": call(address=f"grpcs://{address}"), "timeout": "2s"}],
        {"phases": [{"duration": "1s", "rate": 3}]}, http=http), tls=tls)
    assert len(rows) == 3
    if error is None:
        assert rows["error"].isna().all() and stats["requests"] == 3
    else:
        assert set(rows["error"]) == {error} and stats["requests"] == 0


def test_secret_metadata_is_masked_in_the_archived_scenario():
    scn = scenario("http://127.0.0.1:1", [{"name": "t", "grpc": {**call(), "metadata": {
        "authorization": "Bearer s3cr3t-value", "x-plain": "visible"}}}])
    archived = redact(scn.source)
    metadata = archived["flows"][0]["steps"][0]["grpc"]["metadata"]
    assert "s3cr3t" not in str(archived) and metadata["x-plain"] == "visible"


def test_reflection_takes_the_protos_from_the_running_target(builtin_target):
    target = builtin_target(grpc_port=0)
    step = {"name": "r", "grpc": {"reflection": True, "service": TARGET, "method": "Unary",
                                  "message": {"text": "{{ uuid }}"}, "address": target.grpc_address}}
    rows = asyncio.run(run_worker(scenario(target.url, [step], {"phases": [{"duration": "1s", "rate": 4}]})))
    assert len(rows) == 4 and rows["error"].isna().all() and grpc_stats(target.grpc_address)["calls"] == 4


@pytest.mark.parametrize("service, address, fragment", [
    ("loadray.target.Nope", "TARGET", "has no service 'loadray.target.Nope' (services: "),
    (TARGET, "127.0.0.1:1", "no gRPC server answered at 127.0.0.1:1 (the connection failed)"),
    (TARGET, None, "needs grpc.address"),
])
def test_reflection_that_cannot_answer_is_one_line_at_its_path(builtin_target, service, address, fragment):
    from loadray.errors import ScenarioError

    target = builtin_target(grpc_port=0)
    grpc = {"reflection": True, "service": service, "method": "Unary"}
    if address is not None:
        grpc["address"] = target.grpc_address if address == "TARGET" else address
    with pytest.raises(ScenarioError) as caught:
        scenario(target.url, [{"name": "r", "grpc": grpc}])
    assert caught.value.path == "flows[0].steps[0].grpc.reflection" and fragment in caught.value.message


def test_each_call_carries_its_rows_traceparent_as_metadata():
    seen: list[str] = []

    async def record(request: web.Request) -> web.Response:
        seen.append(request.headers["X-TP"])
        return web.Response(text="ok")

    async def main():
        async with GrpcTarget(TargetOptions()) as target, helpers_serving([web.get("/tp", record)]) as url:
            steps = [{"name": "g", "grpc": {**call(address=target.address), "metadata": {"x-echo": "1"}},
                      "extract": [{"name": "tp", "source": "header", "expr": "traceparent"}]},
                     {"name": "h", "path": "/tp", "headers": {"X-TP": "{{ tp }}"}}]
            return await run_worker(scenario(url, steps, {"phases": [{"duration": "1s", "rate": 3}]}))

    rows = asyncio.run(main())
    calls = rows[rows["step"] == "f/g"]
    assert len(calls) == 3 and rows["error"].isna().all()
    # the W3C header each call sent (echoed by the target) names that call's row
    assert sorted(tp.split("-")[1] for tp in seen) == sorted(calls["trace_id"])


@pytest.mark.parametrize("client_cert, error", [(True, None), (False, "grpc_unavailable")])
def test_grpc_over_mutual_tls_presents_http_tls_client_certificate(pki, client_cert, error):
    tls = (pki.server_cert.read_bytes(), pki.server_key.read_bytes())
    http = {"tls": {"ca": str(pki.ca), **({"cert": str(pki.client_cert), "key": str(pki.client_key)}
                                          if client_cert else {})}}
    rows, stats = against_target(TargetOptions(), lambda address: scenario(
        "http://127.0.0.1:1", [{"name": "t", "grpc": call(address=f"grpcs://{address}"), "timeout": "2s"}],
        {"phases": [{"duration": "1s", "rate": 3}]}, http=http), tls=tls, client_ca=pki.ca.read_bytes())
    assert len(rows) == 3 and stats["requests"] == (3 if error is None else 0)
    assert set(rows["error"].fillna("ok")) == {error or "ok"}


def test_stopping_mid_call_records_the_calls_in_flight_as_cut():
    async def main():
        async with GrpcTarget(TargetOptions(latency_s=3.0)) as target:
            scn = scenario(f"http://{target.address}", [{"name": "slow", "grpc": call()}, {"name": "never", "grpc": call()}],
                           {"phases": [{"duration": "2s", "rate": 5}]})
            worker = LoadWorker(WorkerSpec(0, 1, scn))
            await worker.prepare()
            running = asyncio.ensure_future(worker.run(time.time_ns() + 100 * MS))
            await asyncio.sleep(1.0)  # between two due times (a request due at the stop would be a dropped row)
            stopped = time.monotonic()
            worker.stop()
            counters = await running
            took = time.monotonic() - stopped
            rows = pa.Table.from_batches(worker.drain().batches).to_pandas()
            return rows, counters, took, target.stats.snapshot()

    rows, counters, took, stats = asyncio.run(main())
    assert 4 <= len(rows) <= 7 and set(rows["error"].astype(object)) == {"cut"} and took < 2.0
    assert set(rows["step"].astype(object)) == {"f/slow"} and counters.done == counters.sent == len(rows)
    assert stats["requests"] == len(rows)  # every call that became a row reached the target


def test_feeder_rows_fill_the_message_and_the_reply_is_checked_against_them(tmp_path):
    (tmp_path / "words.csv").write_text("word,code\nalpha,0\nbet,0\ngamma,5\n")
    feeders = [{"name": "w", "file": str(tmp_path / "words.csv"), "mode": "sequential"}]
    step = {"name": "u", "grpc": call(message={"text": "{{ w.word }}", "code": "{{ w.code }}"}),
            "check": {"json": {"expr": "length(text) > `3`", "equals": True}}}
    rows, stats = against_target(TargetOptions(), lambda address: scenario(
        f"http://{address}", [step], {"phases": [{"duration": "1s", "rate": 6}]}, feeders=feeders))
    # alpha, bet (3 letters: fails the check), gamma (code 5 from the row), twice over
    errors = rows.sort_values("intended_ns")["error"].fillna("ok").tolist()
    assert errors == ["ok", "check:json length(text) > `3` == true", "grpc_not_found"] * 2
    assert stats["statuses"] == {"0": 4, "5": 2}


@pytest.mark.parametrize("channels", [1, 3])
def test_calls_share_the_workers_pooled_channels(channels):
    rows, stats = against_target(TargetOptions(latency_s=0.01), lambda address: scenario(
        f"http://{address}", [{"name": "u", "grpc": call(channels=channels)}, {"name": "v", "grpc": call()}],
        {"phases": [{"duration": "1s", "rate": 15}]}))
    assert len(rows) == 30 and rows["error"].isna().all()
    # a worker's channel is per address and index: both steps share channel 0, the first
    # step's calls take channels 0..N-1 in turn, each its own connection
    assert stats["connections"] == channels
