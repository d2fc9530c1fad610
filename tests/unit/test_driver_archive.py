"""Which workers hand their rows to the driver, said in one line."""

from __future__ import annotations

from loadray.archive.fs import locate
from loadray.driver_archive import through_driver_note, worker_archive
from loadray.engine.worker import WorkerReady


def ready(index: int, node: str, address: str) -> WorkerReady:
    return WorkerReady(index, 100 + index, "host", 4, node=node, address=address)


def test_only_workers_away_from_a_local_run_directory_are_named(tmp_path):
    loc = locate(tmp_path / "run")
    fleet = [ready(0, "head", "10.0.0.1"), ready(1, "n2", "10.0.0.2"), ready(2, "n3", "10.0.0.3")]
    assert through_driver_note(loc, fleet, "head", direct=True) == (
        f"workers 1, 2 on other hosts (10.0.0.2, 10.0.0.3): their rows go through the driver to {loc}; "
        "--out s3://... (or file:// on a mount every host shares) lets every worker write its own parts")
    assert through_driver_note(loc, fleet[:2], "head", direct=True).startswith("worker 1 on other hosts (10.0.0.2)")
    assert through_driver_note(loc, fleet[:1], "head", direct=True) is None
    assert through_driver_note(loc, fleet, "head", direct=False) is None  # every row comes here anyway
    assert through_driver_note(locate(f"file://{tmp_path}/run"), fleet, "head", direct=True) is None


def test_workers_open_a_local_run_by_its_absolute_path_and_a_uri_as_given(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert worker_archive(locate("runs/x")) == str(tmp_path / "runs" / "x")
    assert worker_archive(locate(f"file://{tmp_path}/x")) == f"file://{tmp_path}/x"
