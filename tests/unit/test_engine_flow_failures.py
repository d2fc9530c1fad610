"""A failure inside a worker is data: every exception while handling a step is that
step's row (an error kind and ``error_detail``), never a lost flow instance.

Scenarios that validation refuses (a YAML date in ``equals``, think or backoff of
1e300 s) are built by replacing parts of a valid one, to prove the run-time path."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime
import random
import time

import pytest

from loadray.engine.clock import FakeClock
from loadray.engine.flow_runner import FlowRunner, Instance, body_limit
from loadray.engine.row_buffer import RowBuffer
from loadray.scenario.model import Think
from loadray.target.options import TargetOptions
from test_engine_flows import scenario, serve_and_run

ONE_SECOND = {"phases": [{"duration": "1s", "rate": 10}]}


def with_step(scn, **changes):
    """``scn`` with its first flow's first step changed."""
    flow = scn.flows[0]
    step = dataclasses.replace(flow.steps[0], **changes)
    return dataclasses.replace(scn, flows=(dataclasses.replace(flow, steps=(step, *flow.steps[1:])), *scn.flows[1:]))


def kinds(rows) -> dict:
    return rows.groupby(["step", rows["error"].fillna("ok")]).size().to_dict()


def test_extractions_that_raise_are_extract_rows_with_their_exception_and_stop_the_flow():
    flows = [
        {"name": "foo", "steps": [
            {"name": "get", "path": "/id", "query": {"value": "x"},
             "extract": [{"name": "v", "source": "json", "expr": "foo(@)"}]},
            {"name": "next", "path": "/echo"},
        ]},
        {"name": "abs", "steps": [
            {"name": "get", "path": "/id", "query": {"value": "x"},
             "extract": [{"name": "n", "source": "json", "expr": "abs(value)"}]},
        ]},
    ]
    rows, counters, _, stats = serve_and_run(TargetOptions(), lambda url: scenario(url, flows, ONE_SECOND))
    assert kinds(rows) == {("foo/get", "extract"): 5, ("abs", "extract"): 5}  # foo/next never ran
    assert stats["requests"] == 10 and set(rows["status"]) == {200}  # they were sent and answered
    details = rows.groupby("step")["error_detail"].agg(lambda d: set(d.astype(object))).to_dict()
    assert details == {
        "foo/get": {"v: UnknownFunctionError: Unknown function: foo()"},
        "abs": {"n: JMESPathTypeError: In function abs(), invalid type for value: x, expected one of: "
                "['number'], received: \"string\""},
    }
    assert rows["flow_ns"].notna().all()  # each instance ended at its failed step
    assert counters[0].intended == counters[0].errors == 10


def test_a_check_that_raises_is_check_error_and_a_yaml_date_is_just_a_failed_check():
    steps = [{"name": "id", "path": "/id", "query": {"value": "2024-01-01"},
              "check": {"json": [{"expr": "value", "equals": "2024-01-01"}, {"expr": "abs(value)", "equals": 1}]}}]

    def build(url):
        scn = scenario(url, [{"name": "date", "steps": steps}, {"name": "raises", "steps": steps}], ONE_SECOND)
        first = scn.flows[0].steps[0]
        as_date = dataclasses.replace(first.checks[0], expected=datetime.date(2024, 1, 1))  # validation refuses it
        return with_step(scn, checks=(as_date,))

    rows, _, _, stats = serve_and_run(TargetOptions(), build)
    assert kinds(rows) == {("date", 'check:json value == "2024-01-01"'): 5, ("raises", "check_error"): 5}
    raised = rows[rows["error"] == "check_error"]
    assert set(raised["error_detail"].astype(object)) == {
        "json abs(value) == 1: JMESPathTypeError: In function abs(), invalid type for value: 2024-01-01, "
        "expected one of: ['number'], received: \"string\""
    }
    assert rows.loc[rows["error"] != "check_error", "error_detail"].isna().all()
    assert stats["requests"] == 10


def test_a_regex_that_would_backtrack_forever_extracts_in_no_time():
    steps = [{"name": "echo", "method": "POST", "path": "/echo", "body": "a" * 40 + "!",
              "extract": [{"name": "m", "source": "regex", "expr": "(a+)+$"}]},
             {"name": "after", "path": "/echo", "query": {"m": "{{ m }}"}, "on_failure": "continue"}]
    started = time.monotonic()
    rows, _, _, _ = serve_and_run(TargetOptions(), lambda url: scenario(url, [{"name": "r", "steps": steps}], ONE_SECOND))
    assert time.monotonic() - started < 10
    # no match: nothing extracted, so the next step cannot render ``m``
    assert kinds(rows) == {("r/echo", "ok"): 10, ("r/after", "template"): 10}
    assert set(rows.loc[rows["error"] == "template", "error_detail"].astype(object)) == {
        "MissingVariable: missing variable 'm'"
    }


class _BrokenClient:
    """A client whose ``send`` has a defect (the seam FlowRunner takes a client through)."""

    async def send(self, session, out, keep):
        raise TypeError("unsupported operand type(s) for +: 'int' and 'str'")


def test_a_defect_in_the_client_is_an_internal_row_not_a_lost_flow():
    scn = scenario("http://127.0.0.1:1", [{"name": "f", "steps": [{"name": "a", "path": "/"}, {"name": "b", "path": "/"}]}])
    buffer = RowBuffer(0, ["f/a", "f/b"], 0, first_step=[0])
    clock = FakeClock()
    runner = FlowRunner(scn.flows, _BrokenClient(), buffer, clock, "http://127.0.0.1:1", (), random.Random(1), None)
    ok = asyncio.run(runner.run(Instance(0, clock.monotonic_ns(), 0, 7, None)))
    table = buffer.flush().to_pydict()
    assert ok is False and table["error"] == ["internal"] and table["step"] == ["f/a"]
    assert table["error_detail"] == ["TypeError: unsupported operand type(s) for +: 'int' and 'str'"]
    assert table["flow_id"] == [7] and table["flow_ns"] == [0]


@pytest.mark.parametrize(
    ("step", "keep"),
    [
        ({"name": "s", "path": "/"}, None),  # nothing reads the response
        ({"name": "s", "path": "/", "check": {"status": 200}}, 0),  # status only: no body
        ({"name": "s", "path": "/", "extract": [{"name": "h", "source": "header", "expr": "x"}]}, 0),
        ({"name": "s", "path": "/", "extract": [{"name": "c", "source": "cookie", "expr": "x"}]}, 0),
        ({"name": "s", "path": "/", "check": {"status": 200, "body_contains": "x"}}, 4096),  # http.max_body
        ({"name": "s", "path": "/", "extract": [{"name": "j", "source": "json", "expr": "x"}]}, 4096),
        ({"name": "s", "path": "/", "check": {"json": {"expr": "a", "equals": 1}}, "max_body": "10"}, 10),
        ({"name": "s", "path": "/", "extract": [{"name": "r", "source": "regex", "expr": "x"}], "max_body": 0}, 0),
    ],
)
def test_what_a_step_keeps_of_a_response(step: dict, keep: int | None):
    scn = scenario("http://127.0.0.1:1", [{"name": "f", "steps": [step]}], http={"max_body": "4KiB"})
    assert scn.http.max_body == 4096
    assert body_limit(scn.flows[0].steps[0], scn.http.max_body) == keep




@pytest.mark.parametrize(("think", "iterations"), [(Think("constant", 0.1), 10), (Think("constant", 1e300), 1),
                                                   (Think("exponential", 1e300), 1), (Think("uniform", 0.0, 1e300), 1)])
def test_a_closed_model_user_whose_iteration_raises_goes_on_thinking(think: Think, iterations: int):
    from loadray.engine.closed_loop import ClosedLoop
    from loadray.plan.revision import Assignment, plan_phases

    clock = FakeClock()
    calls: list[int] = []

    async def iteration(user: int, intended_ns: int, phase: int) -> bool:
        calls.append(intended_ns)
        raise RuntimeError("a defect")

    scn = scenario("http://127.0.0.1:1", [{"name": "f", "steps": [{"name": "a", "path": "/"}]}],
                   {"model": "closed", "phases": [{"duration": "1s", "users": 1}]})
    loop = ClosedLoop(clock, iteration, think, seed=1)
    start = clock.monotonic_ns()
    asyncio.run(loop.run(Assignment(plan_phases(scn.phases), 1, 0), start, start + 1_000_000_000))
    assert len(calls) == iterations and loop.counters.errors == loop.counters.done == iterations
    assert clock.monotonic_ns() - start <= 1_000_000_000  # ended with the run, not after the think time
