"""Scenarios for the bed, ``loadray run`` on the head host, and what a finished run left:
summary, rows per worker, run record, where each worker ran."""

from __future__ import annotations

import json
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import pyarrow.compute as pc
import yaml

from loadray.archive import open_dataset
from testbed import BedRun, TestBed

RUN_TIMEOUT_S = 150.0


def scenario(target: str, rate: float, duration_s: float, workers: int = 3, **extra: Any) -> dict:
    doc = {
        "name": "bed",
        "target": target,
        "workers": workers,
        "load": {"model": "open", "phases": [{"duration": f"{duration_s:g}s", "rate": rate}]},
        "requests": [{"name": "root", "method": "GET", "path": "/"}],
        "cluster": {"worker_cpus": 0.5},
    }
    doc.update(extra)
    return {k: v for k, v in doc.items() if v is not None}  # requests=None: flows instead


def start_run(bed: TestBed, doc: dict, tmp: Path, host: int = 1) -> tuple[BedRun, Path]:
    """``loadray run`` from ``host`` (the head by default) against the bed's cluster."""
    path, out = tmp / "scenario.yaml", tmp / "run"
    path.write_text(yaml.safe_dump(doc))
    run = bed.run(host, ["run", path, "--address", bed.address, "--out", out, "--quiet"])
    return run, out


def wait_first_arrival(bed: TestBed, timeout_s: float = 90.0) -> float:
    """Epoch time of the first arrival at the recorder (the run has started sending)."""
    assert bed.recorder is not None
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        stats = bed.recorder.stats()
        if stats:
            return min(s.first for s in stats.values())
        time.sleep(0.05)
    raise AssertionError(f"no arrival at the target within {timeout_s:g}s")


def sleep_until(epoch: float) -> None:
    time.sleep(max(0.0, epoch - time.time()))


def at_times(plan: list[tuple[float, Callable[[], object]]], start: float) -> dict[float, float]:
    """Call each action at ``start + offset``; returns {offset: epoch it ran at}."""
    done = {}
    for offset, action in sorted(plan, key=lambda p: p[0]):
        sleep_until(start + offset)
        done[offset] = time.time()
        action()
    return done


@dataclass(frozen=True)
class Finished:
    exit_code: int
    ended_at: float  # epoch when the driver process had exited
    summary: dict
    rows_by_worker: dict[int, int]
    ok_by_worker: dict[int, int]
    start_ns: int | None
    record: dict
    stdout: str
    stderr: str

    @property
    def rows(self) -> int:
        return sum(self.rows_by_worker.values())

    @property
    def placement(self) -> list[dict]:
        """Per worker incarnation; the summary's (the contract) if it has one, else the
        archive's run record (today's code)."""
        return self.summary.get("placement") or self.record.get("placement") or []

    @property
    def start_epoch(self) -> float | None:
        return None if self.start_ns is None else self.start_ns / 1e9

    def events(self, name: str) -> list[dict]:
        return [e for e in self.summary.get("events", []) if e.get("event") == name]


def finish(run: BedRun, out: Path, timeout_s: float = RUN_TIMEOUT_S) -> Finished:
    code = run.wait(timeout_s)
    ended = time.time()
    summary = json.loads((out / "summary.json").read_text()) if (out / "summary.json").exists() else {}
    rows: Counter[int] = Counter()
    ok: Counter[int] = Counter()
    start_ns, record = None, {}
    if (out / "samples").exists():
        dataset, meta = open_dataset(out)
        table = dataset.to_table(columns=["worker", "error"])
        rows.update(table.column("worker").to_pylist())
        ok.update(table.filter(pc.is_null(table.column("error"))).column("worker").to_pylist())  # gRPC OK is status 0
        start_ns, record = meta.start_ns, meta.record or {}
    return Finished(code, ended, summary, dict(rows), dict(ok), start_ns, record, run.stdout, run.stderr)


def node_address(bed: TestBed, placed: dict) -> str:
    """The host IP of one placement entry: its ``address`` (the contract), else its node id
    looked up in the cluster's node table."""
    return placed.get("address") or bed.node_ip(placed["node"])


def workers_on(bed: TestBed, result: Finished, ip: str) -> set[int]:
    return {p["worker"] for p in result.placement if node_address(bed, p) == ip}


def describe(bed: TestBed, result: Finished, marks: dict[str, float]) -> str:
    """What a fault test saw, for its failure message and the report: arrivals per second
    and per source (seconds relative to the run's start), rows vs arrivals."""
    assert bed.recorder is not None
    t0 = result.start_epoch or min((s.first for s in bed.recorder.stats().values()), default=0.0)
    lines = [f"exit {result.exit_code}; marks (s after start): "
             + ", ".join(f"{k}={v - t0:.2f}" for k, v in marks.items())]
    for src, s in sorted(bed.recorder.stats().items()):
        per = {sec - int(t0): n for sec, n in s.per_second.items()}
        lines.append(f"{src}: total {s.total}, last at {s.last - t0:.2f}s, per second {per}")
    total = {sec - int(t0): n for sec, n in bed.recorder.per_second().items()}
    lines.append(f"all: {total}")
    lines.append(f"rows by worker {result.rows_by_worker} (ok {result.ok_by_worker}); "
                 f"arrivals {bed.recorder.total()}; summary keys "
                 + json.dumps({k: result.summary.get(k) for k in ("intended", "sent", "planned", "rows", "lost",
                                                                    "unknown", "workers_lost", "errors_by_kind")}))
    lines.append("events: " + json.dumps(result.summary.get("events")))
    lines.append("placement: " + json.dumps(result.placement))
    lines.append("stderr tail: " + result.stderr[-600:])
    return "\n".join(lines)
