"""The flow path's per-step work without sockets: the rows one flow instance leaves (in
their order: each step's earlier attempts, then the previous step's last row, the
instance's last row with ``flow_ns``), the trace header built as bytes, and what the
HTTP/1.1 core keeps of a response whose body nobody reads."""

from __future__ import annotations

import asyncio
import random

import pytest

from loadray.engine.clock import SystemClock
from loadray.engine.fenced_client import FencedClient
from loadray.engine.flow_client import Reply
from loadray.engine.flow_path import step_names
from loadray.engine.flow_runner import FlowRunner, Instance, Traces
from loadray.engine.http1 import FREE, CaptureConn
from loadray.engine.inline_task import InlineTask, Resumable
from loadray.engine.lease import NEVER, Lease
from loadray.engine.row_buffer import FLOW_ROW, ROW, RowBuffer
from loadray.engine.step_request import StepRequest
from loadray.flow.render import Rendered
from loadray.scenario import parse_scenario

PREFIX = "0123456789abcdef"
COL = {name: i for i, name in enumerate(ROW)}


class Pending(Resumable):
    __slots__ = ("out",)


class Scripted:
    """A step client whose replies the test hands out, one per request, in order."""

    def __init__(self, statuses: list[int]) -> None:
        self.statuses = statuses
        self.sent: list[Pending] = []
        self.now = SystemClock.monotonic_ns

    def send(self, session, out, keep):
        pending = Pending()
        pending.out = out
        self.sent.append(pending)
        return pending

    def answer(self) -> None:
        """Answer the oldest request not answered yet with the next status."""
        pending = next(p for p in self.sent if not p.completed)
        status = self.statuses.pop(0)
        now = self.now()
        pending.complete(Reply(status, None if status < 400 else "http_5xx", now, now, 2))


def runner(steps: list[dict], statuses: list[int], traced: bool = True) -> tuple[FlowRunner, Scripted, RowBuffer]:
    scn = parse_scenario({"target": "http://127.0.0.1:9", "workers": 1,
                          "flows": [{"name": "f", "steps": steps}],
                          "load": {"phases": [{"duration": "1s", "rate": 1}]}})
    names, first = step_names(scn)
    buffer = RowBuffer(0, names, 0, FLOW_ROW, first, PREFIX if traced else "")
    client = Scripted(statuses)
    fenced = FencedClient(client, Lease(NEVER, until_ns=NEVER), SystemClock.monotonic_ns)
    traces = Traces(0, PREFIX) if traced else None
    return (FlowRunner(scn.flows, fenced, buffer, SystemClock(), "http://127.0.0.1:9", (), random.Random(1), traces),
            client, buffer)


def start(run: FlowRunner) -> tuple[InlineTask, list[bool]]:
    result: list[bool] = []

    async def one():
        result.append(await run.run(Instance(0, SystemClock.monotonic_ns(), 0, 7, None)))

    return InlineTask(one()), result


def shape(buffer: RowBuffer) -> list[tuple]:
    """(step, attempt, error, has flow_ns) of every row, in the order recorded."""
    return [(r[COL["step"]], r[COL["attempt"]], r[COL["error"]], r[COL["flow_ns"]] is not None) for r in buffer._rows]


STEPS = [{"name": "a", "path": "/"}, {"name": "b", "path": "/b"}, {"name": "c", "path": "/c"}]


def test_three_static_steps_leave_three_rows_the_last_with_flow_ns_and_a_trace_each():
    run, client, buffer = runner(STEPS, [200, 200, 200])
    task, result = start(run)
    for _ in range(3):
        client.answer()
    assert task.done() and result == [True]
    assert shape(buffer) == [(0, 1, None, False), (1, 1, None, False), (2, 1, None, True)]
    traces = [r[COL["trace"]] for r in buffer._rows]
    assert len(set(traces)) == 3 and all(traces)
    sent = [p.out for p in client.sent]
    assert [type(o) for o in sent] == [StepRequest] * 3 and all(o.fixed for o in sent)
    assert [o.traceparent for o in sent] == [f"00-{PREFIX}{t:016x}-{t:016x}-01".encode() for t in traces]


def test_an_untraced_static_step_hands_the_client_the_same_request_every_time():
    run, client, buffer = runner(STEPS[:1], [200, 200], traced=False)
    for _ in range(2):
        start(run)
        client.answer()
    first, second = (p.out for p in client.sent)
    assert first is second and first.traceparent is None and first.fixed
    assert [r[COL["trace"]] for r in buffer._rows] == [0, 0]


def test_a_retried_step_records_its_earlier_attempt_before_the_previous_steps_row():
    retry = {"max_attempts": 2, "on_status": [503], "backoff": {"base": "0s", "jitter": "none"}}
    run, client, buffer = runner([STEPS[0], {**STEPS[1], "retry": retry}, STEPS[2]], [200, 503, 200, 200])

    async def main():
        task, result = start(run)
        client.answer()  # a
        client.answer()  # b, attempt 1: 503, retried after a 0 s backoff
        while len(client.sent) < 3:
            await asyncio.sleep(0)
        client.answer()  # b, attempt 2
        client.answer()  # c
        return task, result

    task, result = asyncio.run(main())
    assert task.done() and result == [True]
    assert shape(buffer) == [(1, 1, "http_5xx", False), (0, 1, None, False), (1, 2, None, False), (2, 1, None, True)]
    b1, b2 = buffer._rows[0], buffer._rows[2]
    assert b1[COL["trace"]] == b2[COL["trace"]] and b1[COL["intended"]] == b2[COL["intended"]]
    spans = [p.out.traceparent.split(b"-")[2] for p in client.sent[1:3]]
    assert spans == [b"%016x" % b1[COL["trace"]], b"%016x" % (b1[COL["trace"]] + (1 << 56))]


def test_a_failed_step_stops_the_flow_and_carries_flow_ns():
    run, client, buffer = runner(STEPS, [200, 500])
    task, result = start(run)
    client.answer()
    client.answer()
    assert task.done() and result == [False] and len(client.sent) == 2
    assert shape(buffer) == [(0, 1, None, False), (1, 1, "http_5xx", True)]


def test_cancelled_mid_step_the_step_in_flight_is_cut_then_the_previous_steps_row_no_flow_ns():
    run, client, buffer = runner(STEPS, [200])
    task, result = start(run)
    client.answer()
    task.cancel()
    assert task.done() and result == []
    assert shape(buffer) == [(1, 1, "cut", False), (0, 1, None, False)]
    cut = buffer._rows[0]
    assert cut[COL["status"]] == 0 and cut[COL["sent"]] <= cut[COL["done"]]


@pytest.mark.parametrize("trace, span", [(5, 5), ((1 << 40) + 1, (1 << 40) + 1 + (2 << 56))])
def test_trace_value_is_the_traceparent_as_ascii_bytes(trace, span):
    assert Traces(0, PREFIX).value(trace, span) == f"00-{PREFIX}{trace:016x}-{span:016x}-01".encode()


def test_a_step_request_with_a_bytes_trace_reads_as_text_to_the_aiohttp_client():
    base = Rendered("GET", "http://127.0.0.1:9/", (("X-A", "1"),))
    assert StepRequest(base, b"00-aa-bb-01", True).headers == (("X-A", "1"), ("traceparent", "00-aa-bb-01"))
    assert StepRequest(base, "00-aa-bb-01", True).headers == (("X-A", "1"), ("traceparent", "00-aa-bb-01"))
    assert StepRequest(base, None, True).headers == (("X-A", "1"),)


class _Ctx:
    chunks = None  # no body kept

    def __init__(self) -> None:
        self.response_headers: list = []


@pytest.mark.parametrize("keep_body", [False, True])
def test_without_a_body_only_location_and_set_cookie_are_kept(keep_body):
    conn = CaptureConn.__new__(CaptureConn)
    conn.ctx = ctx = _Ctx()
    if keep_body:
        ctx.chunks = []
    for name in (b"Connection", b"Set-Cookie", b"Location", b"set-cookie", b"LOCATION", b"Last-Modified", b"Date"):
        conn.on_header(name, b"v")
    kept = [name for name, _ in ctx.response_headers]
    expected = [b"Connection", b"Set-Cookie", b"Location", b"set-cookie", b"LOCATION", b"Last-Modified", b"Date"]
    assert kept == (expected if keep_body else [b"Set-Cookie", b"Location", b"set-cookie", b"LOCATION"])
    conn.ctx = FREE
    conn.on_header(b"Set-Cookie", b"v")  # nobody asked: nothing kept
    assert len(ctx.response_headers) == len(kept)
