"""Where a run lives: local directories, ``file://`` and ``s3://`` URIs (loadray.archive.fs).
Reading a real S3 server is tests/e2e/test_s3_archive.py."""

import os
from pathlib import Path

import pyarrow.fs as pafs
import pytest

from loadray.archive.fs import check_scheme, is_uri, locate, spelled_as_uri
from loadray.errors import ArchiveError, DiskError, UsageError


def _s3_options(loc):
    return loc.filesystem.__reduce__()[1][0]


def test_a_local_directory_is_read_and_written_in_place(tmp_path):
    loc = locate(tmp_path / "run")
    assert loc.local == tmp_path / "run" and loc.root == str(tmp_path / "run") and loc.name == "run"
    assert not loc.is_dir("samples") and not loc.is_file("summary.json")
    (tmp_path / "run").mkdir()  # the run directory itself is never made by a write (removed: ENOENT)
    loc.write_bytes(b"{}\n", "plots", "x.png")  # creates plots/
    assert (tmp_path / "run" / "plots" / "x.png").read_bytes() == b"{}\n"
    assert loc.read_bytes("plots", "x.png") == b"{}\n" and loc.is_file("plots", "x.png")
    assert [i.base_name for i in loc.files("plots")] == ["x.png"]
    with pytest.raises(FileNotFoundError):
        loc.read_bytes("nope")


def test_a_write_never_makes_the_run_directory_again(tmp_path):
    loc = locate(tmp_path / "run")  # removed under the run, or never made
    with pytest.raises(DiskError) as info:
        loc.write_bytes(b"{}\n", "samples", "_closed")
    assert str(info.value) == f"no such file or directory at {tmp_path / 'run' / 'samples'}: could not write _closed"
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("text, uri", [("s3://b/runs/x", True), ("gs://b/x", True), ("file:///tmp/x", True),
                                       ("runs/x", False), ("/abs/x", False), ("c:/x", False), ("my:run", False)])
def test_what_is_a_uri(text, uri):
    assert is_uri(text) is uri


def test_a_path_made_from_a_uri_reaches_the_store(monkeypatch):
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", "http://127.0.0.1:9")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    loc = locate(Path("s3://bucket/prefix/run"))  # Path() made it s3:/bucket/prefix/run
    assert str(loc) == "s3://bucket/prefix/run" and loc.root == "bucket/prefix/run" and loc.local is None
    assert isinstance(loc.filesystem, pafs.S3FileSystem)
    assert loc.shown("samples") == "s3://bucket/prefix/run/samples" and loc.name == "run"


def test_s3_endpoint_and_region_come_from_the_aws_variables(monkeypatch):
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.delenv("AWS_ENDPOINT_URL_S3", raising=False)
    monkeypatch.setenv("AWS_ENDPOINT_URL", "https://minio.internal:9000")
    monkeypatch.setenv("AWS_REGION", "eu-west-3")
    options = _s3_options(locate("s3://bucket/run"))
    assert (options["endpoint_override"], options["scheme"], options["region"]) == ("minio.internal:9000", "https",
                                                                                    "eu-west-3")
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", "http://127.0.0.1:9")  # the S3-specific one wins
    options = _s3_options(locate("s3://bucket/run"))
    assert (options["endpoint_override"], options["scheme"]) == ("127.0.0.1:9", "http")


def test_a_file_uri_is_a_local_directory(tmp_path):
    loc = locate(f"file://{tmp_path}/run")
    assert loc.local == tmp_path / "run" and str(loc) == f"file://{tmp_path}/run"


def test_a_uri_pyarrow_cannot_open_is_one_line():
    with pytest.raises(ArchiveError) as info:
        locate("hdfs://nowhere.invalid:1/run")
    assert str(info.value).startswith("hdfs://nowhere.invalid:1/run: cannot open: ") and "\n" not in str(info.value)


@pytest.mark.parametrize("where", ["s4://bucket/x", Path("s4://bucket/x"), "http://host/runs/x", "mock2:/b/x"])
def test_a_place_written_as_a_uri_of_an_unknown_scheme_is_refused_not_made_a_local_folder(where, tmp_path,
                                                                                             monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(UsageError) as caught:
        check_scheme(where)
    assert str(caught.value).startswith(f"--out {os.fspath(where)}: unsupported storage scheme ")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("where", ["runs/x", "/abs/x", "my:run", "C:\\runs\\x", "s3://b/x", Path("s3://b/x"),
                                   "file:///shared/x"])
def test_local_paths_and_known_schemes_pass_the_scheme_check(where):
    check_scheme(where)  # raises on a refusal
    assert spelled_as_uri(where) == (where not in ("runs/x", "/abs/x", "my:run", "C:\\runs\\x"))
