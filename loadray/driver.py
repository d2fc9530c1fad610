"""``loadray run`` as one library call: scenario in, run directory and summary out.

Start the target (if built in) -> the coordinator and its workers -> barrier -> every
half second: live status to the console and /metrics, rows into the archive, control
commands and interrupts to the coordinator -> rebuild summary and report from the
archive. Interrupts (SIGINT/SIGTERM) stop the workers, keep every row, still archive.

Signals at the other stages stop at once with one line naming the stage (exit 130/143,
see :class:`_Stage`): starting the target or Ray (the run directory then holds only
``scenario.yaml``, and ``loadray report`` says no request was sent), stopping Ray,
building the report. A full disk stops the run with :class:`DiskError` (exit 1): the
archive keeps its complete parts and the report is built from them if there is room.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import signal
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from loadray.archive import SCENARIO_FILE, SampleSink, create_run_dir, default_run_dir, is_disk_error, write_scenario
from loadray.archive.diskspace import disk_problem
from loadray.cluster import Launcher
from loadray.cluster.runtime import ray_address, ray_running
from loadray.cluster.coordinator import RunRecord
from loadray.errors import (
    EXIT_FAILURE,
    EXIT_OK,
    EXIT_SIGINT,
    EXIT_SIGTERM,
    EXIT_THRESHOLDS,
    DiskError,
    Interrupted,
    LoadrayError,
    signal_name,
)
from loadray.fleet.accounting import Tally
from loadray.live.console import LiveConsole
from loadray.live.control import ControlServer, RateBounds
from loadray.report.build import rebuild
from loadray.scenario import redact
from loadray.scenario.model import Scenario, Target
from loadray.target import LOOPBACK, start_target

POLL_INTERVAL_S = 0.5


@dataclass(frozen=True)
class RunOptions:
    out: Path | None = None
    address: str | None = None
    quiet: bool = False
    num_cpus: int | None = None  # embedded Ray only
    metrics_port: int | None = None
    metrics_host: str = "127.0.0.1"
    metrics_linger_s: float = 15.0  # == loadray.live.metrics.DEFAULT_METRICS_LINGER_S


@dataclass(frozen=True)
class RunResult:
    run_dir: Path
    summary: dict
    interrupted_by: int | None  # signal number, or None
    abort_kind: str | None = None  # "threshold" | "worker_loss" | None

    @property
    def exit_code(self) -> int:
        if self.interrupted_by is not None:
            return EXIT_SIGTERM if self.interrupted_by == signal.SIGTERM else EXIT_SIGINT
        if self.abort_kind == "worker_loss" or self.summary.get("generator_error"):
            return EXIT_FAILURE  # the generator failed (see loadray.analysis.verdict)
        if self.abort_kind == "threshold" or not self.summary.get("passed", True):
            return EXIT_THRESHOLDS
        return EXIT_OK


class _Interrupts:
    """While the load runs: the first SIGINT/SIGTERM becomes a flag (the workers stop,
    every row is kept and archived); a second one stops at once (:class:`Interrupted`)."""

    def __init__(self) -> None:
        self.signum: int | None = None
        self._previous: dict[int, object] = {}

    def __enter__(self) -> "_Interrupts":
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(ValueError):  # not the main thread
                self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def _handle(self, signum, frame) -> None:
        if self.signum is not None:
            raise Interrupted(signum)
        self.signum = signum

    def __exit__(self, *exc) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)


class _Stage:
    """Where the run is. Outside the load (starting the target or Ray, stopping Ray,
    building the report) SIGINT/SIGTERM stop it at once; the :class:`Interrupted` that
    leaves says in one line what the stage was and what the run directory holds."""

    def __init__(self, run_dir: Path) -> None:
        self.run_dir = run_dir
        self.name = "starting"
        self._previous: dict[int, object] = {}

    def enter(self, name: str) -> None:
        self.name = name

    def __enter__(self) -> "_Stage":
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(ValueError):  # not the main thread
                self._previous[sig] = signal.signal(sig, self._raise)
        return self

    @staticmethod
    def _raise(signum, frame) -> None:
        raise Interrupted(signum)

    def __exit__(self, kind, exc, tb) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        signum = _signal_of(exc)
        if signum is not None:
            raise Interrupted(signum, self.message(signum)) from None

    def message(self, signum: int) -> str:
        name, where = signal_name(signum), self.run_dir
        if self.name in (STAGE_TARGET, STAGE_RAY):
            return (f"interrupted by {name} while {self.name}: no request was sent; "
                    f"{where} holds only {SCENARIO_FILE}")
        if self.name == STAGE_LOAD:
            return (f"interrupted twice ({name}): stopped at once; {where} keeps the rows written "
                    f"so far (`loadray report {where}` builds the report from them)")
        return (f"interrupted by {name} while {self.name}: the samples are archived; "
                f"`loadray report {where}` rebuilds summary.json and report.html")


STAGE_TARGET = "starting the target"
STAGE_RAY = "starting Ray"
STAGE_LOAD = "running"
STAGE_STOP = "stopping Ray"
STAGE_REPORT = "building the report"


def _signal_of(exc: BaseException | None) -> int | None:
    """The signal behind an exception that ends a stage, if one is."""
    if isinstance(exc, Interrupted):
        return exc.signum
    if isinstance(exc, KeyboardInterrupt):
        return signal.SIGINT
    if isinstance(exc, SystemExit) and exc.code == signal.SIGTERM:  # Ray's own SIGTERM handler
        return signal.SIGTERM
    return None


@contextlib.contextmanager
def resolved_target(scenario: Scenario, host: str = LOOPBACK) -> Iterator[Scenario]:
    """The scenario with a concrete target URL, starting the built-in target if asked,
    listening on ``host`` (on a cluster: the driver node's address, which every
    worker host reaches; never 0.0.0.0)."""
    if scenario.target.builtin is None:
        yield scenario
        return
    with start_target(dataclasses.replace(scenario.target.builtin, host=host)) as target:
        yield dataclasses.replace(scenario, target=Target(url=target.url))


@contextlib.contextmanager
def metrics_server(options: RunOptions, run: str = "", scenario: str = ""):
    """/metrics while the run lasts (None without ``--metrics-port``): its URL printed
    at the start; after a normal end the counts are marked final and the endpoint stays
    up until one scrape has read them, at most ``metrics_linger_s``."""
    if options.metrics_port is None:
        yield None
        return
    from loadray.live.metrics import MetricsServer, RunLabels

    server = MetricsServer(options.metrics_port, options.metrics_host, RunLabels(run, scenario),
                           linger_s=options.metrics_linger_s)
    server.start()
    print(f"loadray run: Prometheus metrics on {server.url}", file=sys.stderr, flush=True)
    try:
        yield server
        server.finish()
        server.linger()
    finally:
        server.stop()


def run(scenario: Scenario, options: RunOptions = RunOptions()) -> RunResult:
    address, note = ray_address(options.address, os.environ)
    if note:
        print(f"loadray run: {note}", file=sys.stderr, flush=True)
    run_dir = create_run_dir(options.out or default_run_dir(scenario.name))
    write_scenario(run_dir, redact(scenario.source))
    stage = _Stage(run_dir)
    with stage:
        try:
            record, signum = _load(scenario, run_dir, dataclasses.replace(options, address=address), stage)
        except DiskError as exc:
            stage.enter(STAGE_REPORT)
            raise _after_disk_error(exc, run_dir) from None
        stage.enter(STAGE_REPORT)
        summary = rebuild(run_dir)
    return RunResult(run_dir, summary, signum, record.abort_kind)


def _load(scenario: Scenario, run_dir: Path, options: RunOptions, stage: _Stage) -> tuple[RunRecord, int | None]:
    """Ray, the target, the load itself; Ray is stopped (and its processes gone) on return."""
    interrupts = _Interrupts()
    stage.enter(STAGE_RAY)
    try:
        with ray_running(options.address, options.num_cpus) as session:
            host = session.node_address if options.address else LOOPBACK
            stage.enter(STAGE_TARGET)
            with resolved_target(scenario, host) as live, metrics_server(options, run_dir.name, scenario.name) as metrics:
                stage.enter(STAGE_LOAD)
                with interrupts:  # after Ray starts: Ray installs a SIGTERM handler of its own
                    record = _drive(live, run_dir, interrupts, options, metrics)
                stage.enter(STAGE_STOP)
    except OSError as exc:  # the disk refused a write outside the archive (control.json...)
        if not is_disk_error(exc):
            raise
        raise DiskError(f"{disk_problem(exc)} at {exc.filename or run_dir}: {exc.strerror}") from None
    return record, interrupts.signum


def _after_disk_error(exc: DiskError, run_dir: Path) -> DiskError:
    """The run stopped on a full disk: build the report from the rows kept if there is
    room (one line either way)."""
    try:
        rebuild(run_dir)
    except LoadrayError:
        return DiskError(f"{exc}; free space, then `loadray report {run_dir}` builds the report from them")
    return DiskError(f"{exc}; summary.json and report.html were built from them")


def _drive(scenario: Scenario, run_dir: Path, interrupts: _Interrupts, options: RunOptions, metrics) -> RunRecord:
    launcher = Launcher(scenario)
    launcher.start()
    start_ns = launcher.begin()
    sink = SampleSink(run_dir / "samples", start_ns)
    end_ns = start_ns + int(scenario.duration_s * 1e9)
    record = None
    write = sink.write if metrics is None else metrics.tee(sink.write)  # /metrics counts the rows archived
    console = LiveConsole(scenario.name, quiet=options.quiet)
    try:
        with console, ControlServer(run_dir, launcher.control, RateBounds.of(scenario)):
            while True:
                status = launcher.status()
                console.update(status)
                if metrics is not None:
                    metrics.update(status)
                sink.tick()  # completes parts open long enough, also when no rows came
                if status.state == "finished":
                    break
                if interrupts.signum is not None:
                    end_ns = min(end_ns, time.time_ns())  # the run ends at the signal
                    launcher.stop()
                    break
                launcher.collect(write, wait_s=POLL_INTERVAL_S)  # rows as soon as flushed
            if status.state != "finished" or status.elapsed_s < scenario.duration_s:  # it ended early
                end_ns = min(end_ns, time.time_ns())
            launcher.settle(write)
            record = launcher.record()
    finally:
        sink.close(end_ns, _record_doc(record, launcher.tally(record)) if record else None)
        launcher.kill()
    return record


def _record_doc(record: RunRecord, tally: Tally) -> dict:
    """What the live run recorded, archived with the samples (redacted like the scenario:
    warnings and events may quote a threshold, a feeder or an exception)."""
    return redact({
        "events": record.events,
        "planned": tally.planned,
        "rows": tally.rows,
        "lost": tally.lost,
        "unknown": tally.unknown,
        "dead_workers": sorted({e["worker"] for e in record.events if e["event"] == "worker_lost"}),
        "warnings": record.warnings,
        "aborted": record.aborted,
        "placement": record.placement,
        "live_latency_ms": record.live_latency_ms,
        "lease_s": record.lease_s,
        "flush_interval_s": record.flush_interval_s,
    })
