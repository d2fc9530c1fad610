"""``loadray export`` (CSV and JSON lines equal to the archive, row for row) and the
JUnit XML of ``--junit`` (read back by junitparser and by xml.etree)."""

from __future__ import annotations

import csv
import io
import json
import xml.etree.ElementTree as ET

import junitparser
import pyarrow.dataset as ds
import pytest

from loadray.archive import SampleSink
from loadray.errors import UsageError
from loadray.export import export_rows, junit_xml
from loadray.schema import from_rows

START = 1_700_000_000_000_000_000
EPOCH_NS = START + 123_456_789  # above 2**53: a float would round it


def _archive(tmp_path, n: int = 300):
    rows = [{"intended_ns": EPOCH_NS + i, "sent_ns": None if i % 7 == 0 else EPOCH_NS + i + 5,
             "latency_ns": 1000 + i, "service_ns": 900, "status": 0 if i % 7 == 0 else 200,
             "error": "dropped" if i % 7 == 0 else None, "step": ['a "quoted", step', "b\nline", "ü"][i % 3],
             "phase": i % 2, "worker": i % 2, "bytes_in": 10, "trace_id": None if i % 2 else f"{i:032x}"}
            for i in range(n)]
    sink = SampleSink(tmp_path / "samples", START, rows_per_file=97)
    table = from_rows(rows)
    for worker in (0, 1):
        sink.write(worker, table.filter(table.column("worker").to_numpy() == worker))
    sink.close(START + 10**9)
    return ds.dataset(tmp_path / "samples", format="parquet").to_table()


def _expected(table, names):
    return sorted((tuple(row[n] for n in names) for row in table.select(names).to_pylist()), key=repr)


def test_jsonl_is_the_archive_row_for_row_with_exact_integers(tmp_path):
    table = _archive(tmp_path)
    out = io.BytesIO()
    assert export_rows(tmp_path, "jsonl", out) == 300
    lines = out.getvalue().decode().splitlines()
    records = [json.loads(line) for line in lines]
    assert list(records[0]) == table.column_names  # every column, in the archive's order
    assert _expected(table, table.column_names) == sorted((tuple(r.values()) for r in records), key=repr)
    assert min(r["intended_ns"] for r in records) == EPOCH_NS


def test_csv_with_chosen_columns(tmp_path):
    table = _archive(tmp_path)
    out = io.BytesIO()
    export_rows(tmp_path, "csv", out, columns="step,sent_ns,error")
    rows = list(csv.reader(io.StringIO(out.getvalue().decode())))
    assert rows[0] == ["step", "sent_ns", "error"] and len(rows) == 301
    got = sorted(((s, int(t) if t else None, e or None) for s, t, e in rows[1:]), key=repr)
    assert got == _expected(table, ["step", "sent_ns", "error"])


def test_an_unknown_column_is_a_usage_error(tmp_path):
    _archive(tmp_path, 5)
    with pytest.raises(UsageError) as info:
        export_rows(tmp_path, "csv", io.BytesIO(), columns="step,latency")
    assert str(info.value).startswith("--columns: unknown column 'latency' (columns: intended_ns, sent_ns,")


SUMMARY = {
    "name": "smoke", "started_at": "2026-11-29T10:00:00.000Z", "duration_s": 20.5, "intended": 100, "sent": 100,
    "ok": 90, "errors": 10, "error_rate": 0.1, "rate": 5.0,
    "thresholds": [{"expr": "p99 < 250ms", "value": 12.5, "passed": True},
                   {"expr": "error_rate < 1%", "value": 0.1, "passed": False},
                   {"expr": "rate > 10", "value": None, "passed": False}],
    "generator_error": None, "nothing_succeeded": None, "aborted": None, "workers_lost": [], "interrupted": None,
}


def test_junit_one_case_per_threshold_with_its_measured_value(tmp_path):
    path = tmp_path / "junit.xml"
    path.write_text(junit_xml(SUMMARY))
    (suite,) = list(junitparser.JUnitXml.fromfile(str(path)))
    assert suite.name == "loadray.smoke" and (suite.tests, suite.failures, suite.errors) == (3, 2, 0)
    cases = {case.name: case for case in suite}
    assert list(cases) == ["p99 < 250ms", "error_rate < 1%", "rate > 10"]
    assert cases["p99 < 250ms"].is_passed and cases["p99 < 250ms"].system_out == "measured 12.5ms (value 12.5)"
    assert [(r.message, r.type) for r in cases["error_rate < 1%"].result] == [
        ("error_rate < 1% failed: measured 10%", "threshold")]
    assert cases["rate > 10"].result[0].message == "rate > 10 failed: measured no data"
    root = ET.fromstring(path.read_bytes())  # the plain standard library reads it too
    assert root.tag == "testsuites" and root.get("tests") == "3" and root.get("failures") == "2"
    props = {p.get("name"): p.get("value") for p in root.iter("property")}
    assert props["intended"] == "100" and props["error_rate"] == "0.1"


@pytest.mark.parametrize(("extra", "result"), [
    ({"nothing_succeeded": "none of the 100 requests succeeded (connect_refused 100): is the target up?"},
     ("failure", "none of the 100 requests succeeded (connect_refused 100): is the target up?")),
    ({"interrupted": "SIGINT at 3.2 s"}, ("skipped", "interrupted (SIGINT at 3.2 s): judged on the part that ran")),
    ({"workers_lost": [1]}, ("failure", "workers lost: [1]")),
    ({"archive_damaged": "the archive is damaged: 1 of the run's parts cannot be read"},
     ("failure", "the archive is damaged: 1 of the run's parts cannot be read")),
])
def test_junit_a_run_that_failed_beside_its_thresholds_has_a_run_case(extra, result):
    root = ET.fromstring(junit_xml({**SUMMARY, "thresholds": [], **extra}))
    (case,) = root.iter("testcase")
    assert case.get("name") == "run" and case.get("classname") == "loadray.smoke"
    (element,) = list(case)
    assert (element.tag, element.get("message")) == result
    assert root.get("tests") == "1" and root.get("failures") == str(int(result[0] == "failure"))
