"""Complete redaction, end to end: a marker secret planted in every field of a scenario
reaches the target (it was really sent) and no file of the run directory, no byte of the
Parquet data (decoded), and no line the CLI printed.

The target is a real aiohttp server on 127.0.0.1 that records what it receives and
echoes a secret back (the login answers ``{"token": MARKER}``, which the flow extracts
and sends on): a value the server returns is not archived either.
"""

from __future__ import annotations

import asyncio
import json
import threading
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import yaml
from aiohttp import web

from helpers import start_app
from planted_secrets import MARKER, NUMBER, flows_scenario, leaks, requests_scenario

pytestmark = pytest.mark.ray  # starts Ray (the fast loop is -m 'not ray and not cluster')


class RecordingServer:
    """aiohttp on 127.0.0.1:<free port> in a thread; keeps every request as text."""

    def __init__(self) -> None:
        self.seen: list[str] = []
        self.hooks: list[str] = []
        self._ready = threading.Event()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._serve, daemon=True)

    def __enter__(self) -> "RecordingServer":
        self._thread.start()
        assert self._ready.wait(10)
        return self

    def __exit__(self, *exc) -> None:
        self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(10)

    def _serve(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._loop.run_until_complete(self._main())

    async def _main(self) -> None:
        self._stop = asyncio.Event()
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        runner, port = await start_app(app)
        self.url = f"http://127.0.0.1:{port}"
        self._ready.set()
        await self._stop.wait()
        await runner.cleanup()

    async def _handle(self, request: web.Request) -> web.Response:
        text = f"{request.method} {request.path_qs} {dict(request.headers)} {await request.text()}"
        (self.hooks if request.path == "/hook" else self.seen).append(text)
        if request.path == "/login":
            return web.json_response({"token": MARKER, "session": "s-1"})
        if request.path == "/me":
            return web.json_response({"session": "not the marker"})
        return web.Response(text="ok")


def _parquet_text(path: Path) -> str:
    """Every value and every metadata entry of a Parquet file, as text."""
    f = pq.ParquetFile(path)
    meta = f.schema_arrow.metadata or {}
    values = f.read().to_pylist()
    return repr(meta) + repr(f.metadata.metadata) + repr(values)


def _every_file(run_dir: Path) -> dict[str, list[str]]:
    found = {}
    for path in sorted(p for p in run_dir.rglob("*") if p.is_file()):
        hits = leaks(path.read_bytes())
        if path.suffix == ".parquet":
            hits += leaks(_parquet_text(path))
        found[str(path.relative_to(run_dir))] = hits
    return found


@pytest.mark.parametrize("kind", ["flows", "requests"])
def test_a_secret_planted_everywhere_is_sent_but_never_archived_or_printed(cli, tmp_path, kind):
    feeder = tmp_path / "users.csv"
    feeder.write_text(f"password\n{MARKER}\n")
    out = tmp_path / "run"
    with RecordingServer() as server:
        doc = flows_scenario(server.url, feeder.name) if kind == "flows" else requests_scenario(server.url)
        scenario = tmp_path / "planted.yaml"
        scenario.write_text(yaml.safe_dump(doc, sort_keys=False))
        done = cli("run", scenario, "--out", out)
        validated = cli("validate", scenario)
    # the secrets were really sent: headers, query, bodies, the userinfo-free requests
    assert len(server.seen) >= 20 and all(MARKER in text for text in server.seen), server.seen[:3]
    assert any(str(NUMBER) in text for text in server.seen)
    summary = json.loads((out / "summary.json").read_text())
    assert summary["intended"] == summary["sent"] == (120 if kind == "flows" else 20)
    if kind == "flows":
        assert done.returncode == 99, done.stderr  # the failing checks break "error_rate < 1%"
        assert set(summary["checks"]) == {"json session == ***", "body contains '***'"}
        assert any("Bearer " + MARKER in text for text in server.seen)  # the extracted echo, sent on
    else:
        assert done.returncode == 0, done.stderr
    files = _every_file(out)
    assert {"scenario.yaml", "summary.json", "report.html"} <= set(files)
    assert any(name.endswith(".parquet") for name in files)
    assert {name: hits for name, hits in files.items() if hits} == {}
    assert leaks(done.stdout + done.stderr) == []
    assert validated.returncode == 0 and leaks(validated.stdout + validated.stderr) == []
    archived = (out / "scenario.yaml").read_text()
    assert "token=***" in archived and "***@127.0.0.1" in archived


@pytest.mark.parametrize(("field", "value"), [
    ("target", f"http://user:{MARKER}@127.0.0.1:9/?token={MARKER}"),
    ("http.headers.Authorization", NUMBER),
    ("alerts.webhook", f"ftp://u:{MARKER}@127.0.0.1/?token={MARKER}"),
])
def test_validation_errors_do_not_echo_secrets(cli, tmp_path, field, value):
    doc = requests_scenario("http://127.0.0.1:9")
    *parents, last = field.split(".")
    section = doc
    for key in parents:
        section = section[key]
    section[last] = value
    scenario = tmp_path / "bad.yaml"
    scenario.write_text(yaml.safe_dump(doc, sort_keys=False))
    done = cli("validate", scenario)
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and field in done.stderr, done.stderr
    assert leaks(done.stdout + done.stderr) == []
