"""Failures inside the generator in the summary: ``error_details``, and the rule that
fails a run for them (``generator_error``, ``passed``, exit code 1); a run in which
nothing succeeded (``nothing_succeeded``, exit 1)."""

from __future__ import annotations

from pathlib import Path

import pytest

from loadray.analysis import summarize
from loadray.analysis.verdict import DETAILS_SHOWN
from loadray.archive.reader import RunMeta
from loadray.driver import RunResult
from loadray.schema import SCHEMA, from_rows

MS = 1_000_000
START = 1_700_000_000_000_000_000
FOO = "v: UnknownFunctionError: Unknown function: foo()"


def row(i: int, error: str | None = None, detail: str | None = None) -> dict:
    t = START + i * MS
    return {"intended_ns": t, "sent_ns": t, "latency_ns": MS, "service_ns": MS, "status": 200 if error != "internal" else 0,
            "error": error, "error_detail": detail, "step": "s", "phase": 0, "worker": 0, "bytes_in": 0}


def summary(rows: list[dict], planned: int | None = None, thresholds=()) -> dict:
    record = {} if planned is None else {"planned": planned}
    return summarize(from_rows(rows), RunMeta(START, START + 10**9, record=record), thresholds)


def test_error_details_count_each_error_and_detail_pair_most_frequent_first():
    rows = ([row(i, "extract", FOO) for i in range(5)] + [row(5, "http_5xx")]
            + [row(6 + i, "reset", "ConnectionResetError: [Errno 104] reset") for i in range(2)]
            + [row(9 + i) for i in range(3)])
    s = summary(rows)
    assert s["error_details"] == [
        {"error": "extract", "detail": FOO, "count": 5},
        {"error": "reset", "detail": "ConnectionResetError: [Errno 104] reset", "count": 2},
    ]
    assert s["errors_by_kind"] == {"extract": 5, "reset": 2, "http_5xx": 1}


def test_error_details_are_capped():
    rows = [row(i, "protocol", f"ValueError: {i % 30}") for i in range(60)]
    details = summary(rows)["error_details"]
    assert len(details) == DETAILS_SHOWN and {d["count"] for d in details} == {2}


@pytest.mark.parametrize(
    ("rows", "planned", "line"),
    [
        ([row(0, "internal", "TypeError: boom"), row(1, "internal", "TypeError: boom"), row(2)], None,
         "2 requests failed inside the generator (internal 2): internal: TypeError: boom"),
        ([row(i, "extract", FOO) for i in range(20)], 20,
         f"20 requests failed inside the generator (extract 20): extract: {FOO}"),
        ([row(0, "check_error", "json a == 1: BodyOverMax: body over max_body (10 bytes kept)"), row(1, "extract", FOO)],
         None, "2 requests failed inside the generator (extract 1, check_error 1): "
               "check_error: json a == 1: BodyOverMax: body over max_body (10 bytes kept)"),
        ([row(0, "internal")], None, "1 requests failed inside the generator (internal 1): no detail recorded"),
        ([], 20, "nothing was recorded although the plan had load to send"),
    ],
)
def test_a_generator_failure_fails_the_run_with_one_line(rows, planned, line):
    s = summary(rows, planned) if rows else summarize(SCHEMA.empty_table(), RunMeta(START, START, record={"planned": 20}))
    assert s["generator_error"] == line and s["passed"] is False and s["warnings"][0] == line
    assert RunResult(Path("."), s, None).exit_code == 1
    assert RunResult(Path("."), s, 2).exit_code == 130  # an interrupt still says so


@pytest.mark.parametrize(
    ("rows", "planned"),
    [
        ([row(0, "template", "MissingVariable: missing variable 'token'"), row(1, "check:status in [200]"), row(2)], 3),
        ([row(0, "timeout"), row(1, "http_5xx"), row(2)], None),
        ([], None),  # nothing planned (or a run from before the plan was recorded)
        ([], 0),
    ],
)
def test_errors_the_target_caused_do_not_fail_the_run_by_themselves(rows, planned):
    table = from_rows(rows) if rows else SCHEMA.empty_table()
    s = summarize(table, RunMeta(START, START + 10**9, record={} if planned is None else {"planned": planned}))
    assert s["generator_error"] is None and s["passed"] is True
    assert RunResult(Path("."), s, None).exit_code == 0


def dropped(i: int) -> dict:
    return {**row(i, "dropped"), "sent_ns": None, "latency_ns": None, "service_ns": None, "status": 0}


@pytest.mark.parametrize(
    ("rows", "line"),
    [
        ([row(i, "connect_refused") for i in range(150)],
         "none of the 150 requests succeeded (connect_refused 150): is the target up?"),
        ([row(0, "timeout"), row(1, "http_5xx"), row(2, "http_5xx"), dropped(3)],
         "none of the 4 requests succeeded (http_5xx 2, dropped 1, timeout 1): is the target up?"),
        ([row(0, "reset")], "none of the 1 request succeeded (reset 1): is the target up?"),
        ([row(0, "a"), row(1, "b"), row(2, "c"), row(3, "d")],
         "none of the 4 requests succeeded (a 1, b 1, c 1, ...): is the target up?"),
    ],
)
def test_a_run_where_nothing_succeeded_fails_loudly(rows, line):
    s = summary(rows)
    assert s["nothing_succeeded"] == line and s["generator_error"] is None
    assert s["passed"] is False and s["warnings"][0] == line
    assert RunResult(Path("."), s, None).exit_code == 1
    assert RunResult(Path("."), s, 2).exit_code == 130  # an interrupt still says so


def test_one_success_is_enough_and_an_empty_run_is_not_judged_by_this_rule():
    assert summary([row(i, "connect_refused") for i in range(99)] + [row(99)])["nothing_succeeded"] is None
    assert summarize(SCHEMA.empty_table(), RunMeta(START, START))["nothing_succeeded"] is None


def test_an_interrupted_run_says_so_in_the_summary_and_its_warnings():
    record = {"planned": 3, "interrupted": "SIGINT at 12.3 s"}
    s = summarize(from_rows([row(0), row(1)]), RunMeta(START, START + 10**9, record=record))
    assert s["interrupted"] == "SIGINT at 12.3 s" and s["passed"] is True
    assert "the run was interrupted (SIGINT at 12.3 s): the figures and thresholds cover the part that ran" \
        in s["warnings"]
    assert summary([row(0)])["interrupted"] is None


@pytest.mark.parametrize("kind, summary_keys, code", [
    (None, {}, 0),
    (None, {"passed": False}, 99),
    ("threshold", {}, 99),  # a live rule stopped the run; the final thresholds may still hold
    ("worker_loss", {}, 1),
    ("worker_loss", {"passed": False}, 1),  # the generator's failure first
    ("coordinator", {}, 1),  # the coordinator died with its workers: the run was not measured to its end
    (None, {"passed": False, "generator_error": "1 requests failed inside the generator"}, 1),
    ("threshold", {"passed": False, "nothing_succeeded": "none of the 3 requests succeeded"}, 1),
])
def test_run_and_report_exit_with_one_verdict(kind, summary_keys, code):
    from loadray.analysis.verdict import exit_code

    archived = {"abort_kind": kind, **summary_keys}  # what `loadray report` rebuilds from the archive
    assert exit_code(archived) == code
    assert RunResult(Path("r"), {**summary_keys}, None, kind).exit_code == code  # what `loadray run` knew live


def test_the_abort_kind_is_archived_and_summarized():
    s = summarize(from_rows([row(0)]), RunMeta(START, START + 10**9, record={"aborted": "x", "abort_kind": "threshold"}), ())
    assert s["abort_kind"] == "threshold" and s["passed"]


@pytest.mark.parametrize("kind", ["worker_loss", "coordinator"])
def test_a_run_stopped_by_a_lost_generator_fails_whatever_its_thresholds_say(kind):
    record = {"aborted": "the coordinator actor died (ActorDiedError): the run stopped 6.7 s in", "abort_kind": kind}
    s = summarize(from_rows([row(0)]), RunMeta(START, START + 10**9, record=record), ())
    assert all(t["passed"] for t in s["thresholds"]) and not s["passed"]
    assert f"the run was stopped early: {record['aborted']}" in s["warnings"]
