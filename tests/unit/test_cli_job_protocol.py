"""The log protocol between ``loadray submit`` and its job entrypoint, without Ray: the
entrypoint's side writes a run directory into lines, the client's side reads them back
from chunks split anywhere."""

from __future__ import annotations

import io
import tarfile
import tempfile
from pathlib import Path

import pytest

from loadray.cli.job_entry import parse, send_run_dir
from loadray.cli.job_protocol import (
    LINE_CHARS,
    MARK,
    WHOLE,
    WITHOUT_SAMPLES,
    Bundle,
    LogDecoder,
    TooLarge,
    UnsafeArchive,
    bundle_lines,
    extract,
    marker,
    pack,
)

JOB = "loadray-0123456789abcdef"


def make_run_dir(root: Path, samples_bytes: int = 3000) -> Path:
    run = root / "run"
    (run / "samples").mkdir(parents=True)
    (run / "plots").mkdir()
    (run / "summary.json").write_text('{"passed": false}')
    (run / "report.html").write_text("<html>" + "x" * 5000 + "</html>")
    (run / "plots" / "rate.png").write_bytes(bytes(range(256)) * 4)
    (run / "samples" / "part-0.parquet").write_bytes(bytes(i % 251 for i in range(samples_bytes)))
    return run


def files_of(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def entry_log(run: Path, limit: int, code: int = 99) -> list[str]:
    lines = ["Running entrypoint for job x: python -m loadray.cli.job_entry", marker(JOB, "start"), "live: 100 req/s"]
    send_run_dir(JOB, run, limit, lines.append)
    lines.append(marker(JOB, "exit", code))
    return lines


def decode(text: str, chunk: int, preamble: bool = True) -> tuple[LogDecoder, list[str]]:
    d = LogDecoder(JOB, tempfile.TemporaryFile(), preamble=preamble)
    shown = []
    for i in range(0, len(text), chunk):
        shown += d.feed(text[i : i + chunk])
    return d, shown + d.close()


@pytest.mark.parametrize("chunk", [1, 7, 4096, LINE_CHARS + 3, 10**9])
def test_a_run_directory_goes_through_the_log_whole_in_chunks_of_any_size(tmp_path, chunk):
    run = make_run_dir(tmp_path, samples_bytes=LINE_CHARS * 2)  # several base64 lines
    want = files_of(run)
    text = "\n".join(entry_log(run, limit=10**6)) + "\n"
    assert not run.exists()  # sent whole: removed from the cluster
    d, shown = decode(text, chunk)
    assert shown == ["Running entrypoint for job x: python -m loadray.cli.job_entry", "live: 100 req/s"]
    assert (d.started, d.exit_code, d.left, d.error) == (True, 99, None, None)
    assert d.bundle is not None and d.bundle.kind == WHOLE
    dest = tmp_path / "here"
    dest.mkdir()
    names = extract(d.bundle, dest)
    assert files_of(dest) == want
    assert sorted(names) == sorted(want)


def test_over_the_limit_samples_stay_and_the_rest_comes(tmp_path, monkeypatch):
    monkeypatch.setenv("RAY_ADDRESS", "127.0.0.1:6379")
    run = make_run_dir(tmp_path, samples_bytes=200_000)
    want = {k: v for k, v in files_of(run).items() if not k.startswith("samples/")}
    d, _ = decode("\n".join(entry_log(run, limit=100_000)) + "\n", 999)
    assert d.bundle is not None and d.bundle.kind == WITHOUT_SAMPLES
    assert d.left is not None and d.left.missing_bytes == 200_000
    assert (d.left.ip, d.left.path) == ("127.0.0.1", str(run))
    assert (run / "samples" / "part-0.parquet").stat().st_size == 200_000  # kept on the cluster
    dest = tmp_path / "here"
    dest.mkdir()
    extract(d.bundle, dest)
    assert files_of(dest) == want


def test_nothing_fits_then_only_the_address_is_sent(tmp_path):
    run = make_run_dir(tmp_path)
    size = sum(len(b) for b in files_of(run).values())
    d, _ = decode("\n".join(entry_log(run, limit=1000, code=0)) + "\n", 50)
    assert d.bundle is None and d.left is not None and d.exit_code == 0 and d.left.missing_bytes == size
    assert run.is_dir()


def test_pack_stops_as_soon_as_it_passes_the_limit(tmp_path):
    run = make_run_dir(tmp_path, samples_bytes=200_000)
    out = io.BytesIO()
    with pytest.raises(TooLarge):
        pack(run, out, 100_000)
    assert len(out.getvalue()) <= 100_000
    assert 200_000 < pack(run, io.BytesIO(), 10**6) < 230_000
    assert pack(run, io.BytesIO(), 10**6, samples=False) < 30_000


def test_markers_of_another_job_and_plain_text_are_shown():
    other = marker("loadray-ffff", "exit", 0)
    text = f"{other}\n  {marker(JOB, 'exit', 3)}\n{MARK} {JOB}\n{marker(JOB, 'exit', 7)}\nlast line, no break"
    d, shown = decode(text, 5)
    assert shown == [other, f"  {marker(JOB, 'exit', 3)}", f"{MARK} {JOB}", "last line, no break"]
    assert d.exit_code == 7


def test_a_damaged_archive_is_an_error_not_a_run_directory(tmp_path):
    run = make_run_dir(tmp_path)
    lines = entry_log(run, 10**6)
    start = next(i for i, line in enumerate(lines) if " bundle " in line)
    lines[start + 1] = lines[start + 1][:-8] + "AAAAAAAA"  # same length, other bytes
    d, _ = decode("\n".join(lines) + "\n", 100)
    assert d.bundle is None and "damaged" in d.error and "checksum wrong" in d.error
    assert d.exit_code == 99

    lines[start + 1] = "not base64 at all!"
    d, _ = decode("\n".join(lines) + "\n", 100)
    assert d.bundle is None and "not base64" in d.error


def test_restart_skips_what_was_read_when_the_log_is_sent_again(tmp_path):
    run = make_run_dir(tmp_path)
    text = "\n".join(entry_log(run, 10**6)) + "\n"
    d = LogDecoder(JOB, tempfile.TemporaryFile())
    cut = len(text) // 2  # inside the archive's lines
    shown = d.feed(text[:cut])
    d.restart()
    shown += d.feed(text[: cut // 3])  # a stream that broke early
    d.restart()
    d.restart()  # and one that broke before its first chunk
    for i in range(0, len(text), 333):  # the whole log again, from its start
        shown += d.feed(text[i : i + 333])
    assert shown == ["Running entrypoint for job x: python -m loadray.cli.job_entry", "live: 100 req/s"]
    assert d.bundle is not None and d.error is None and d.exit_code == 99


def test_quiet_holds_rays_lines_until_the_entrypoint_starts():
    text = "Runtime env is setting up.\nRunning entrypoint\n" + marker(JOB, "start") + "\nsummary\n"
    d, shown = decode(text, 4, preamble=False)
    assert shown == ["summary"] and list(d.held) == ["Runtime env is setting up.", "Running entrypoint"]
    d, shown = decode("Runtime env is setting up.\nNo module named loadray\n", 4, preamble=False)
    assert shown == [] and not d.started and list(d.held)[-1] == "No module named loadray"


@pytest.mark.parametrize("name, kind", [("../evil", tarfile.REGTYPE), ("/etc/x", tarfile.REGTYPE),
                                        ("a/../../b", tarfile.REGTYPE), ("link", tarfile.SYMTYPE),
                                        ("dev", tarfile.CHRTYPE)])
def test_an_archive_that_escapes_or_holds_links_is_refused(tmp_path, name, kind):
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w") as tar:
        info = tarfile.TarInfo(name)
        info.type = kind
        info.linkname = "/etc/passwd" if kind == tarfile.SYMTYPE else ""
        tar.addfile(info, io.BytesIO(b"") if kind == tarfile.REGTYPE else None)
    with pytest.raises(UnsafeArchive):
        extract(Bundle(raw, len(raw.getvalue()), WHOLE), tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_bundle_lines_are_whole_base64_lines_of_fixed_width():
    data = bytes(range(256)) * 1000
    lines = list(bundle_lines(JOB, io.BytesIO(data), len(data), WHOLE))
    assert lines[0].split(" ")[2:4] == ["bundle", str(len(data))]
    assert lines[-1] == marker(JOB, "bundle-end")
    assert all(len(line) == LINE_CHARS for line in lines[1:-2]) and 0 < len(lines[-2]) <= LINE_CHARS


def test_the_entrypoint_keeps_loadray_run_arguments_after_the_separator():
    args = parse(["--id", JOB, "--fetch-limit", "5", "--", "scenario.yaml", "--set", "limits.x=1", "--quiet"])
    assert (args.id, args.fetch_limit) == (JOB, 5)
    assert args.run_args == ["scenario.yaml", "--set", "limits.x=1", "--quiet"]
