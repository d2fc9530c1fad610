import math

from loadray.analysis import compare_summaries


def summary(p99, error_rate=0.0, completed=1000, p50=5.0):
    lat = {"p50": p50, "p90": 8.0, "p95": 9.0, "p99": p99, "p999": p99 * 2, "max": p99 * 3}
    return {"intended": 1000, "sent": 1000, "dropped": 0, "errors": int(error_rate * completed), "completed": completed,
            "error_rate": error_rate, "rate": 100.0, "duration_s": 10.0, "latency_ms": lat, "service_ms": dict(lat)}


def test_table_has_absolute_and_relative_change():
    c = compare_summaries(summary(10.0), summary(15.0, error_rate=0.02), labels=("a", "b"))
    row = c.table.loc["latency p99"]
    assert (row["base"], row["new"], row["change"], row["change_pct"]) == (10.0, 15.0, 5.0, 50.0)
    assert c.table.loc["error rate", "change"] == 0.02 and math.isnan(c.table.loc["error rate", "change_pct"])
    assert list(c.table.columns) == ["unit", "base", "new", "change", "change_pct"]
    assert (c.base, c.new) == ("a", "b")


def test_p99_gate_fails_at_50_percent_worse_and_passes_within_the_limit():
    assert not compare_summaries(summary(10.0), summary(15.0)).passed
    assert compare_summaries(summary(10.0), summary(10.99)).passed
    assert compare_summaries(summary(10.0), summary(11.0)).passed  # exactly 10%: passes
    assert compare_summaries(summary(10.0), summary(4.0)).passed  # faster is fine
    assert not compare_summaries(summary(10.0), summary(10.6), max_p99_increase=0.05).passed
    assert compare_summaries(summary(10.0), summary(30.0), max_p99_increase=None).passed


def test_error_rate_gate_is_in_points():
    base = summary(10.0, error_rate=0.002)
    gate = compare_summaries(base, summary(10.0, error_rate=0.011)).gates[2]
    assert gate.name == "error_rate" and gate.passed and math.isclose(gate.change, 0.009)
    assert not compare_summaries(base, summary(10.0, error_rate=0.02)).passed
    assert not compare_summaries(base, summary(10.0, error_rate=0.004), max_error_rate_increase=0.001).passed


def test_missing_figures_fail_the_gate():
    empty = summary(1.0, completed=0)
    empty["latency_ms"] = {k: None for k in empty["latency_ms"]}
    c = compare_summaries(summary(10.0), empty)
    assert [(g.name, g.passed) for g in c.gates] == [("complete", True), ("p99", False), ("error_rate", False)]
    assert math.isnan(c.table.loc["latency p99", "change"])
    assert "<table" in c._repr_html_() and "FAILED" in c._repr_html_()


def test_a_run_that_did_not_run_its_course_fails_the_comparison_whatever_its_figures():
    # a coordinator lost 6.6 s into 18 s: its p99 was fine, it measured a third of the plan
    cut = {**summary(9.0), "aborted": "the coordinator actor died (ActorDiedError): the run stopped 6.6 s in",
           "abort_kind": "coordinator"}
    c = compare_summaries(summary(10.0), cut, labels=("base", "ck"))
    course, p99, errors = c.gates
    assert not c.passed and p99.passed and errors.passed
    assert (course.name, course.passed) == ("complete", False)
    assert course.detail == "ck: stopped early: the coordinator actor died (ActorDiedError): the run stopped 6.6 s in"
    interrupted = {**summary(10.0), "interrupted": "SIGINT at 3.0 s"}
    assert compare_summaries(interrupted, summary(10.0)).gates[0].detail == "base: interrupted (SIGINT at 3.0 s)"
    failed = {**summary(10.0), "generator_error": "3 requests failed inside the generator (internal 3): x"}
    assert not compare_summaries(summary(10.0), failed).passed
    damaged = {**summary(10.0), "archive_damaged": "the archive is damaged: 1 of the run's parts cannot be read"}
    assert compare_summaries(damaged, summary(10.0)).gates[0].detail.startswith("base: the archive is damaged")
    assert compare_summaries(summary(10.0), {**summary(10.0), "aborted": None, "interrupted": None}).passed
