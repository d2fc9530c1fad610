"""The ``archive`` key (where runs go) and the run directory made under it."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from loadray.archive.fs import locate
from loadray.archive.run_place import create_run, new_run_place
from loadray.errors import ArchiveError, ScenarioError
from loadray.scenario import parse_scenario

MINIMAL = {"name": "smoke", "target": "http://127.0.0.1:8080",
           "load": {"model": "open", "phases": [{"duration": "1s", "rate": 10}]},
           "requests": [{"name": "root", "path": "/"}]}
NOW = datetime(2026, 11, 29, 14, 0, 5, tzinfo=timezone.utc)


@pytest.mark.parametrize("value, stored", [
    (None, None),
    ("runs/nightly", "runs/nightly"),
    ("s3://bucket/loadray", "s3://bucket/loadray"),
    ({"uri": "s3://bucket/loadray", "endpoint": "http://127.0.0.1:9000", "region": "eu-west-1"},
     "s3://bucket/loadray?endpoint_override=127.0.0.1%3A9000&scheme=http&region=eu-west-1"),
    ({"uri": "gs://bucket/loadray"}, "gs://bucket/loadray"),
])
def test_archive_is_a_place_or_a_uri_with_its_endpoint(value, stored):
    doc = MINIMAL if value is None else {**MINIMAL, "archive": value}
    assert parse_scenario(doc).archive == stored


@pytest.mark.parametrize("value, path, fragment", [
    ("  ", "archive", "must name a directory or a storage URI"),
    ({"uri": "gs://b/p", "region": "x"}, "archive.uri", "endpoint and region apply to s3:// URIs"),
    ({"uri": "s3://b/p", "endpoint": "ftp://h"}, "archive.endpoint", "must be an http(s)://host:port URL"),
    ({"uri": "s3://b/p", "key": "secret"}, "archive", "key"),
    ({"endpoint": "http://h:1"}, "archive.uri", "required"),
])
def test_a_bad_archive_names_its_path(value, path, fragment):
    with pytest.raises(ScenarioError) as info:
        parse_scenario({**MINIMAL, "archive": value})
    assert info.value.path == path and fragment in str(info.value)


def test_each_run_gets_its_own_directory_under_the_archive():
    assert new_run_place(None, "api v2", NOW) == "runs/20261129T140005Z-api-v2"
    assert new_run_place("/data/runs", "smoke", NOW) == "/data/runs/20261129T140005Z-smoke"
    assert new_run_place("s3://b/p/?region=x", "smoke", NOW) == "s3://b/p/20261129T140005Z-smoke?region=x"


def test_a_local_run_directory_must_be_new_or_empty(tmp_path):
    assert create_run(tmp_path / "a").local == tmp_path / "a"
    (tmp_path / "a" / "x").write_text("")
    with pytest.raises(ArchiveError, match="already exists and is not empty"):
        create_run(tmp_path / "a")
    assert locate(f"file://{tmp_path}/b").local is not None and create_run(f"file://{tmp_path}/b").local.is_dir()
