import json
import os
from datetime import datetime, timezone
from pathlib import Path

import pytest

from loadray.archive import (
    create_run_dir,
    default_run_dir,
    read_scenario_doc,
    read_summary,
    write_scenario,
    write_summary,
)
from loadray.errors import ArchiveError


def test_default_run_dir_is_utc_stamp_and_name():
    now = datetime(2024, 3, 5, 7, 8, 9, tzinfo=timezone.utc)
    assert default_run_dir("smoke", now) == Path("runs/20240305T070809Z-smoke")


def test_default_run_dir_converts_to_utc_and_sanitizes_name():
    from datetime import timedelta

    now = datetime(2024, 3, 5, 9, 8, 9, tzinfo=timezone(timedelta(hours=2)))
    assert default_run_dir("my api/v2", now) == Path("runs/20240305T070809Z-my-api-v2")


def test_default_run_dir_defaults_to_now():
    p = default_run_dir("x")
    assert p.parent == Path("runs") and p.name.endswith("Z-x") and len(p.name) == len("20240305T070809Z-x")


def test_create_run_dir_creates_parents(tmp_path):
    p = create_run_dir(tmp_path / "a" / "b" / "run")
    assert p.is_dir() and list(p.iterdir()) == []


def test_create_run_dir_accepts_existing_empty_dir(tmp_path):
    (tmp_path / "run").mkdir()
    assert create_run_dir(tmp_path / "run") == tmp_path / "run"


def test_create_run_dir_refuses_non_empty_and_leaves_it_intact(tmp_path):
    run = tmp_path / "run"
    (run / "samples").mkdir(parents=True)
    (run / "summary.json").write_text('{"keep": 1}')
    (run / "samples" / "worker-000-0000.parquet").write_bytes(b"data")
    with pytest.raises(ArchiveError) as info:
        create_run_dir(run)
    assert str(info.value) == f"--out {run}: already exists and is not empty"
    assert info.value.exit_code == 2
    assert (run / "summary.json").read_text() == '{"keep": 1}'
    assert (run / "samples" / "worker-000-0000.parquet").read_bytes() == b"data"
    assert sorted(p.name for p in run.iterdir()) == ["samples", "summary.json"]


def test_create_run_dir_refuses_a_file(tmp_path):
    f = tmp_path / "run"
    f.write_text("x")
    with pytest.raises(ArchiveError):
        create_run_dir(f)
    assert f.read_text() == "x"


def test_scenario_round_trip_keeps_key_order(tmp_path):
    doc = {"name": "smoke", "target": "http://127.0.0.1:8080", "workers": 2,
           "load": {"model": "open", "phases": [{"duration": "10s", "rate": 500}]},
           "thresholds": ["p99 < 1s"]}
    write_scenario(tmp_path, doc)
    text = (tmp_path / "scenario.yaml").read_text()
    assert text.index("name:") < text.index("target:") < text.index("workers:") < text.index("load:")
    assert read_scenario_doc(tmp_path) == doc


def test_read_scenario_doc_missing(tmp_path):
    with pytest.raises(ArchiveError, match="scenario.yaml"):
        read_scenario_doc(tmp_path)


def test_read_scenario_doc_not_a_mapping(tmp_path):
    (tmp_path / "scenario.yaml").write_text("- a\n- b\n")
    with pytest.raises(ArchiveError, match="mapping"):
        read_scenario_doc(tmp_path)


def test_summary_round_trip_atomic(tmp_path):
    import numpy as np

    summary = {"intended": 3, "rate": 1.5, "latency_ms": {"p50": None}, "n": np.int64(7), "passed": True}
    write_summary(tmp_path, summary)
    assert json.loads((tmp_path / "summary.json").read_text()) == {**summary, "n": 7}
    assert read_summary(tmp_path)["n"] == 7
    # indent 2, no temp files left behind
    assert '\n  "intended": 3' in (tmp_path / "summary.json").read_text()
    assert sorted(os.listdir(tmp_path)) == ["summary.json"]
    write_summary(tmp_path, {"intended": 4})
    assert read_summary(tmp_path) == {"intended": 4}
    assert sorted(os.listdir(tmp_path)) == ["summary.json"]


def test_read_summary_missing(tmp_path):
    with pytest.raises(ArchiveError, match="summary.json"):
        read_summary(tmp_path)
