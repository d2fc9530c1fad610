import json

import numpy as np
import pyarrow as pa
import pytest

from loadray.archive import SampleSink, create_run_dir, read_summary, write_scenario
from loadray.errors import ArchiveError, ScenarioError
from loadray.metric import Rule, Threshold
from loadray.report import rebuild, summary_for
from loadray.schema import SCHEMA, complete

MS = 1_000_000
S = 1_000_000_000
START = 1_700_000_000_000_000_000


def batch(worker, n, seed, scale=1.0):
    rng = np.random.default_rng(seed)
    intended = START + np.sort(rng.integers(0, 5 * S, n))
    lat = (rng.integers(1 * MS, 200 * MS, n) * scale).astype(np.int64)
    err = rng.choice(np.array([None, None, None, None, None, None, None, "timeout", "dropped", "cut"], dtype=object), n)
    dropped = err == "dropped"
    no_end = dropped | (err == "cut")
    return complete(
        {
            "intended_ns": pa.array(intended),
            "sent_ns": pa.array(intended + 1000, mask=dropped),
            "latency_ns": pa.array(lat, mask=no_end),
            "service_ns": pa.array(lat - 1000, mask=no_end),
            "status": pa.array(np.where(err == None, 200, 0).astype(np.int16)),  # noqa: E711
            "error": pa.array(list(err), SCHEMA.field("error").type),
            "step": pa.array(["a" if k % 2 else "b" for k in range(n)], SCHEMA.field("step").type),
            "phase": pa.array((intended - START >= 2 * S).astype(np.int16)),
            "worker": pa.array(np.full(n, worker, np.int16)),
            "bytes_in": pa.array(np.zeros(n, np.int32)),
        }
    ).to_batches()[0]


def make_run(tmp_path, doc, name="run", seed=0, scale=1.0, record=None):
    """A 5 s run of 3000 rows from 2 workers (random latencies 1..200 ms times ``scale``)."""
    run = create_run_dir(tmp_path / name)
    write_scenario(run, doc)
    sink = SampleSink(run / "samples", START, rows_per_file=700)
    for part in range(3):
        for worker in range(2):
            sink.write(worker, batch(worker, 500, seed * 100 + part * 10 + worker, scale))
    sink.close(START + 5 * S, record)
    return run


DOC = {"name": "smoke", "target": "http://127.0.0.1:8080", "workers": 2,
       "load": {"model": "open", "phases": [{"duration": "5s", "rate": 600}]},
       "requests": [{"name": "a"}, {"name": "b"}]}


def test_rebuild_writes_summary_and_report_and_is_reproducible(tmp_path):
    run = make_run(tmp_path, DOC)
    first = rebuild(run)
    html1 = (run / "report.html").read_text()
    second = rebuild(run)
    assert first == second
    assert read_summary(run) == json.loads(json.dumps(first))
    assert (run / "report.html").read_text() == html1
    assert first["name"] == "smoke"
    assert first["intended"] == 3000 and first["duration_s"] == 5.0
    assert first["intended"] == first["sent"] + first["dropped"]
    assert first["sent"] == first["completed"] + first["cut"]
    assert first["workers"] == 2 and set(first["steps"]) == {"a", "b"}
    assert first["thresholds"] == [] and first["passed"] is True
    assert html1.count('src="data:image/png;base64,') >= 2


def test_rebuild_evaluates_thresholds_from_the_scenario(tmp_path):
    run = make_run(tmp_path, {**DOC, "thresholds": ["p99 < 10s", "error_rate < 0.1%", "dropped >= 0"]})
    s = rebuild(run)
    assert [r["expr"] for r in s["thresholds"]] == ["p99 < 10s", "error_rate < 0.1%", "dropped >= 0"]
    assert [r["passed"] for r in s["thresholds"]] == [True, False, True]
    assert s["thresholds"][2]["value"] == s["dropped"]
    assert s["passed"] is False
    direct = summary_for(run, [Threshold("p99 < 10s", Rule.of("p99", "<", 10_000.0))])
    assert direct["thresholds"][0] == s["thresholds"][0]
    assert {k: v for k, v in direct.items() if k not in ("thresholds", "passed")} == {
        k: v for k, v in s.items() if k not in ("thresholds", "passed")}


def test_rebuild_bad_threshold_is_a_scenario_error(tmp_path):
    run = make_run(tmp_path, {**DOC, "thresholds": ["p99 <"]})
    with pytest.raises(ScenarioError, match=r"thresholds\[0\]"):
        rebuild(run)


def test_summary_for_with_threshold_objects(tmp_path):
    run = make_run(tmp_path, DOC)
    s = summary_for(run, [Threshold("max < 1ms", Rule.of("max", "<", 1.0)), Threshold("rate > 1", Rule.of("rate", ">", 1.0))])
    assert [r["passed"] for r in s["thresholds"]] == [False, True]
    assert s["thresholds"][1]["value"] == s["rate"] == round(s["sent"] / 5.0, 3)
    assert not (run / "summary.json").exists()  # writes nothing


def test_rebuild_without_samples_is_an_archive_error(tmp_path):
    run = create_run_dir(tmp_path / "run")
    write_scenario(run, DOC)
    with pytest.raises(ArchiveError, match="samples"):
        rebuild(run)
    assert not (run / "summary.json").exists()


def test_rebuild_without_scenario_warns(tmp_path):
    run = make_run(tmp_path, DOC)
    (run / "scenario.yaml").unlink()
    s = rebuild(run)
    assert s["name"] == "run"
    assert any("scenario.yaml is missing" in w for w in s["warnings"])


def test_rebuild_writes_every_plot_as_png_and_embeds_the_same_bytes(tmp_path):
    import base64
    import re
    import shutil

    from loadray.report.figures import RUN_PLOTS

    run = make_run(tmp_path, DOC)
    rebuild(run)
    plots = {p.stem: p.read_bytes() for p in (run / "plots").iterdir()}
    assert set(plots) == set(RUN_PLOTS) and len(plots) >= 6
    page = (run / "report.html").read_text()
    embedded = [base64.b64decode(d) for d in re.findall(r'src="data:image/png;base64,([^"]+)"', page)]
    assert sorted(embedded) == sorted(plots.values())
    summary = (run / "summary.json").read_text()
    shutil.rmtree(run / "plots")
    for name in ("summary.json", "report.html"):
        (run / name).unlink()
    rebuild(run)  # from samples/ and scenario.yaml alone
    assert {p.stem: p.read_bytes() for p in (run / "plots").iterdir()} == plots
    assert (run / "summary.json").read_text() == summary and (run / "report.html").read_text() == page


def test_run_record_facts_and_events_reach_the_report(tmp_path):
    from loadray.report.facts import run_events

    plain = make_run(tmp_path, DOC, name="plain")
    rebuild(plain)
    record = {"placement": [{"worker": 0, "node": "a", "clock_offset_ms": 0.25, "clock_error_ms": 0.5},
                            {"worker": 1, "node": "b", "clock_offset_ms": -1999.38, "clock_error_ms": 1.62}],
              "events": [{"at_s": 2.5, "event": "rate", "rate": 900}, {"x": 1}], "lost": 0}
    assert run_events(record) == [(2.5, "rate 900/s")]
    run = make_run(tmp_path, DOC, record=record)
    summary = rebuild(run)
    page = (run / "report.html").read_text()
    assert "2 node(s), 2 worker actor(s) started" in page and "rate 900/s at 2.5 s" in page
    assert "worker 0 +0.2 ms (+-0.5); worker 1 -1,999.4 ms (+-1.6)" in page
    assert (run / "plots" / "rate.png").read_bytes() != (plain / "plots" / "rate.png").read_bytes()
    assert summary["events"] == record["events"] and summary["lost"] == 0



FLOW_DOC = {
    "name": "checkout", "target": "http://127.0.0.1:8080", "workers": 1,
    "load": {"model": "open", "phases": [{"duration": "5s", "rate": 2}]},
    "flows": [
        {"name": "checkout", "steps": [
            {"name": "login", "method": "POST", "path": "/login", "check": {"status": [200]}},
            {"name": "pay", "method": "POST", "path": "/pay", "check": {"status": [200], "json": {"expr": "paid", "equals": True}}},
        ]},
        {"name": "health", "steps": [{"name": "ping", "path": "/health", "check": {"body_contains": "ok"}}]},
    ],
}


def test_check_plan_names_checks_as_the_engine_does():
    from loadray.report.check_plan import check_plan

    assert check_plan(FLOW_DOC) == {
        "checkout/login": ["status in [200]"],
        "checkout/pay": ["status in [200]", "json paid == true"],
        "health": ["body contains 'ok'"],
    }
    assert check_plan({"requests": [{"name": "r", "check": {"status": "2xx"}}, {"name": "s"}]}) == {"r": ["status in [2xx]"]}
    assert check_plan({"requests": [{"name": "r", "check": {"status": "oops"}}]}) == {}  # unreadable: no pass counts


def test_check_plan_names_unnamed_steps_as_the_rows_do():
    """A step without a name is ``METHOD /path`` in the rows (the scenario reader's
    default): the plan must say the same, or its checks count nothing."""
    from loadray.engine.flow_path import step_names
    from loadray.report.check_plan import check_plan
    from loadray.scenario import parse_scenario

    doc = {"target": "http://127.0.0.1:1", "load": {"phases": [{"duration": "1s", "rate": 1}]},
           "flows": [{"name": "f", "steps": [{"path": "/a", "check": {"status": [200]}},
                                             {"method": "post", "path": "/b/{{ uuid }}", "check": {"status": [201]}}]},
                     {"name": "one", "steps": [{"path": "/c", "check": {"status": [202]}}]}]}
    rows, _ = step_names(parse_scenario(doc))
    assert list(check_plan(doc)) == rows == ["f/GET /a", "f/POST /b/{{ uuid }}", "one"]
    requests = {"target": "http://127.0.0.1:1", "load": {"phases": [{"duration": "1s", "rate": 1}]},
                "requests": [{"path": "/", "check": {"status": [201]}}, {"name": "n", "check": {"status": [200]}}]}
    rows, _ = step_names(parse_scenario(requests))
    assert list(check_plan(requests)) == rows == ["GET /", "n"]


def test_rebuild_counts_passed_checks_in_the_summary_and_the_report(tmp_path):
    from test_analysis_report_figures import table

    rows = [{"at": k * 100, "step": "checkout/login"} for k in range(10)]
    rows += [{"at": 1000 + k * 100, "step": "checkout/pay"} for k in range(7)]
    rows += [{"at": 2000, "step": "checkout/pay", "error": "check:json paid == true"}]
    rows += [{"at": 2100, "step": "health", "error": "check:body contains 'ok'"}, {"at": 2200, "step": "health"}]
    run = create_run_dir(tmp_path / "run")
    write_scenario(run, FLOW_DOC)
    sink = SampleSink(run / "samples", START)
    sink.write(0, table(rows))
    sink.close(START + 5 * S)
    s = rebuild(run)
    assert s["checks"] == {"json paid == true": 1, "body contains 'ok'": 1}
    assert s["check_results"] == [
        {"step": "checkout/login", "check": "status in [200]", "passed": 10, "failed": 0, "errors": 0},
        {"step": "checkout/pay", "check": "status in [200]", "passed": 8, "failed": 0, "errors": 0},
        {"step": "checkout/pay", "check": "json paid == true", "passed": 7, "failed": 1, "errors": 0},
        {"step": "health", "check": "body contains 'ok'", "passed": 1, "failed": 1, "errors": 0},
    ]
    assert summary_for(run)["check_results"] == s["check_results"]
    page = (run / "report.html").read_text()
    checks = page[page.index("<h2>checks</h2>"):]
    assert "<td>87.5%</td>" in checks[: checks.index("</table>")]  # 7 of 8 passed json paid == true
