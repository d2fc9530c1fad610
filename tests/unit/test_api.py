"""The curated public API: loadray.open_run / loadray.compare and loadray.__all__."""

import importlib
import importlib.metadata
import json
import subprocess
import sys

import numpy as np
import pyarrow as pa
import pyarrow.dataset as ds
import pytest
from test_report_build import DOC, START, make_run

import loadray
from loadray.report import rebuild

PUBLIC = {
    "ArchiveError", "ClusterError", "Comparison", "LoadrayError", "Run", "ScenarioError", "TargetError",
    "UsageError", "__version__", "compare", "comparison_report", "open_run",
}


def ms(ns):
    return round(float(ns) / 1e6, 3)


def test_all_lists_exactly_the_public_names_and_each_resolves():
    assert set(loadray.__all__) == PUBLIC and len(loadray.__all__) == len(PUBLIC)
    homes = {**loadray._LAZY, **{name: "loadray.errors" for name in PUBLIC if name.endswith("Error")}}
    for name in PUBLIC - {"__version__"}:  # each is the object its home module defines
        assert getattr(loadray, name) is getattr(importlib.import_module(homes[name]), name), name
    assert loadray.__version__ == importlib.metadata.version("loadray") == "0.1.0"
    assert issubclass(loadray.ArchiveError, loadray.LoadrayError)
    with pytest.raises(AttributeError):
        loadray.no_such_name  # noqa: B018


def test_import_loadray_stays_light():
    heavy = ("pandas", "numpy", "pyarrow", "ray", "matplotlib")
    code = f"import sys, loadray; print(sorted(m for m in {heavy!r} if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


@pytest.fixture(scope="module")
def archived(tmp_path_factory):
    run_dir = make_run(tmp_path_factory.mktemp("api"), {**DOC, "thresholds": ["p99 < 10s"]})
    rebuild(run_dir)
    return run_dir


def completed_ms(table):
    err = table.column("error").to_pylist()
    lat = table.column("latency_ns").to_numpy(zero_copy_only=False)
    keep = np.array([e not in ("dropped", "cut") for e in err])
    return lat, keep


def test_open_run_gives_summary_scenario_rows_and_dataset(archived):
    run = loadray.open_run(archived)
    assert isinstance(run, loadray.Run) and loadray.open_run(run) is run
    assert run.summary == json.loads((archived / "summary.json").read_text())
    assert run.name == "smoke" and run.scenario["thresholds"] == ["p99 < 10s"]
    assert isinstance(run.table, pa.Table) and run.table.num_rows == 3000 == run.summary["intended"]
    assert isinstance(run.dataset, ds.Dataset) and run.dataset.count_rows() == 3000
    assert run.dataset.to_table(filter=ds.field("step") == "a").num_rows == sum(
        1 for s in run.table.column("step").to_pylist() if s == "a")
    assert len(run.df) == 3000 and list(run.df.columns) == run.table.column_names
    assert run.meta.start_ns == START


def test_percentiles_equal_numpy_overall_and_per_step(archived):
    run = loadray.open_run(archived)
    lat, keep = completed_ms(run.table)
    steps = np.array(run.table.column("step").to_pylist())
    whole = run.percentiles()
    for key, q in (("p50", 50), ("p75", 75), ("p99", 99), ("p9999", 99.99)):
        assert whole.loc["all", f"latency_{key}_ms"] == ms(np.percentile(lat[keep], q))
    by_step = run.percentiles(by="step")
    for name in ("a", "b"):
        sel = keep & (steps == name)
        assert by_step.loc[name, "latency_p99_ms"] == ms(np.percentile(lat[sel], 99))
        assert by_step.loc[name, "intended"] == int((steps == name).sum())
    assert whole.loc["all", "latency_p99_ms"] == run.summary["latency_ms"]["p99"]
    with pytest.raises(ValueError, match="by must be one of"):
        run.percentiles(by="nope")


def test_timeseries_spectrum_errors_and_workers(archived):
    run = loadray.open_run(archived)
    ts = run.timeseries("1s")
    assert list(ts.index) == [0.0, 1.0, 2.0, 3.0, 4.0] and ts["intended"].sum() == 3000
    assert ts["sent"].sum() == run.summary["sent"]
    half = run.timeseries("500ms")
    assert len(half) == 10 and half["intended"].sum() == 3000
    spectrum = run.spectrum()
    assert spectrum.loc[99.0, "latency_ms"] == run.summary["latency_ms"]["p99"]
    assert spectrum.loc[100.0, "service_ms"] == run.summary["service_ms"]["max"]
    assert run.errors().sum().to_dict() == {k: v for k, v in run.summary["errors_by_kind"].items()}
    assert list(run.worker_rates().columns) == [0, 1]
    assert run.histogram()["count"].sum() == run.summary["completed"]


def test_compare_runs_and_the_gate(archived, tmp_path):
    same = make_run(tmp_path, DOC, name="same", seed=7)
    worse = make_run(tmp_path, DOC, name="worse", scale=1.5)
    ok = loadray.compare(archived, same)
    assert isinstance(ok, loadray.Comparison) and ok.passed and (ok.base, ok.new) == (archived.name, "same")
    bad = loadray.compare(archived, loadray.open_run(worse))
    assert not bad.passed and [g.name for g in bad.gates if not g.passed] == ["p99"]
    assert bad.table.loc["latency p99", "change_pct"] == pytest.approx(50.0, abs=0.5)
    assert loadray.compare(archived, worse, max_p99_increase=0.6).passed
    page = loadray.comparison_report(bad, archived, worse)
    assert page.count('src="data:image/png;base64,') == 3 and "FAILED" in page


def test_open_run_without_summary_computes_it_and_bad_paths_say_so(archived, tmp_path):
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(archived / "samples", copy / "samples")
    shutil.copy(archived / "scenario.yaml", copy / "scenario.yaml")
    assert loadray.open_run(copy).summary == loadray.open_run(archived).summary
    assert not (copy / "summary.json").exists()
    with pytest.raises(loadray.ArchiveError, match=str(tmp_path / "nope")):
        loadray.open_run(tmp_path / "nope")


def test_an_archive_over_max_rows_refuses_to_load_whole_but_streams(archived):
    run = loadray.open_run(archived, max_rows=2999)
    for whole in ("table", "df", "arrays"):
        with pytest.raises(loadray.ArchiveError, match=r"3,000 rows is too many to load whole \(max_rows=2,999\)"):
            getattr(run, whole)
    assert run.rows == 3000 and run.dataset.count_rows() == 3000  # footers and a lazy dataset: any size
    whole = loadray.open_run(archived, max_rows=None)
    assert run.percentiles(by="step").equals(whole.percentiles(by="step"))
    assert run.summary == whole.summary and whole.table.num_rows == 3000


def test_percentiles_by_flow_attempt_and_user(tmp_path):
    from test_analysis_summary import flow_rows

    from loadray.archive import SampleSink, create_run_dir
    from loadray.schema import from_rows

    run_dir = create_run_dir(tmp_path / "flows")
    sink = SampleSink(run_dir / "samples", START)
    sink.write(0, from_rows([{**r, "user": i % 2} for i, r in enumerate(flow_rows())]))
    sink.close(START + 10**9)
    run = loadray.open_run(run_dir)
    flows = run.percentiles(by="flow")
    assert flows["flows"].to_dict() == {"(none)": 0, "checkout": 4, "health": 1}
    assert flows.loc["checkout", "flow_max_ms"] == run.summary["flows"]["checkout"]["flow_ms"]["max"] == 90.0
    assert run.percentiles(by="attempt")["intended"].to_dict() == {1: 10, 2: 1}
    assert run.percentiles(by="user")["intended"].to_dict() == {0: 6, 1: 5}
    assert run.summary["retries"] == 1
