"""gRPC rows in the folds: status is the gRPC code (OK = 0, no error), so an OK call
is a judged response (its checks count), a response (bytes per response, also when a
check failed) and, live,
an ``ok`` outcome; a failed call's code is never taken for an HTTP status class."""

from __future__ import annotations

import pyarrow as pa
from test_analysis_report_figures import table

from loadray.analysis import bytes_in, check_results
from loadray.live.heartbeat import outcomes

PLAN = {"g": ["grpc status in [OK]", "json text == \"hi\""]}


def grpc_rows():
    rows = [{"at": k, "step": "g", "status": 0, "bytes": 10} for k in range(5)]  # OK, checks passed
    rows += [{"at": 10, "step": "g", "status": 0, "bytes": 10, "error": 'check:json text == "hi"'}]
    rows += [{"at": 11, "step": "g", "status": 4, "error": "grpc_deadline_exceeded"}]
    rows += [{"at": 12, "step": "g", "status": 14, "error": "grpc_unavailable"}]
    rows += [{"at": 13, "step": "g", "status": 0, "error": "grpc_message"}]  # never sent
    rows += [{"at": 14, "step": "h", "status": 200}, {"at": 15, "step": "h", "status": 503, "error": "http_5xx"}]
    return table(rows)


def test_checks_of_ok_grpc_calls_are_counted():
    got = check_results(grpc_rows(), PLAN)
    assert got == [
        {"step": "g", "check": "grpc status in [OK]", "passed": 6, "failed": 0, "errors": 0},
        {"step": "g", "check": 'json text == "hi"', "passed": 5, "failed": 1, "errors": 0},
    ]


def test_ok_grpc_calls_are_responses_with_their_bytes():
    got = bytes_in(grpc_rows(), duration_s=1.0)
    assert got["steps"]["g"]["total"] == 60
    # the 5 OK calls, the OK call whose check failed (checks judge a response) and the two
    # the server ended with a code; not the one never sent (status 0 too)
    assert got["steps"]["g"]["per_response"] == round(60 / 8, 1)


def test_live_outcomes_count_ok_calls_and_error_kinds_not_status_classes():
    batch = pa.Table.from_batches(grpc_rows().to_batches()).combine_chunks().to_batches()[0]
    assert outcomes(batch) == {
        "2xx": 1, "5xx": 1, "ok": 5, 'check:json text == "hi"': 1, "grpc_deadline_exceeded": 1,
        "grpc_unavailable": 1, "grpc_message": 1,
    }


def test_the_report_plans_a_grpc_steps_checks_by_their_grpc_names():
    from loadray.report.check_plan import check_plan

    doc = {"requests": [{"name": "g", "grpc": {"method": "Unary"},
                         "check": {"status": ["OK", 5], "json": {"expr": "text", "equals": "hi"}}},
                        {"name": "h", "path": "/", "check": {"status": 200}}]}
    assert check_plan(doc) == {"g": ["grpc status in [OK, NOT_FOUND]", 'json text == "hi"'], "h": ["status in [200]"]}


def test_the_report_names_grpc_codes_in_a_run_with_grpc_steps():
    import pandas as pd

    from loadray.report.html import _has_grpc
    from loadray.report.tables import status_section

    frame = pd.DataFrame([[5, 1, 0], [0, 0, 2]], index=["g", "h"], columns=[0, 14, 200])
    html = "".join(status_section(frame, grpc=True))
    assert "0 (gRPC OK; HTTP: no response)" in html and '<span class="bad">14 UNAVAILABLE</span>' in html
    assert ">200<" in html and "no response</span>" not in html
    assert "UNAVAILABLE" not in "".join(status_section(frame))  # an HTTP-only run reads as before
    assert _has_grpc({"flows": [{"steps": [{"path": "/"}, {"grpc": {}}]}]}) and not _has_grpc({"requests": [{}]})
