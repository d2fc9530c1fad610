"""``loadray run`` as one library call: scenario in, run directory and summary out.

Start the target (if built in) -> the coordinator and its workers -> barrier -> every
half second: live status to the console and /metrics, rows into the archive, control
commands and interrupts to the coordinator -> rebuild summary and report from the
archive. Interrupts (SIGINT/SIGTERM) stop the workers, keep every row, still archive.
"""

from __future__ import annotations

import contextlib
import dataclasses
import signal
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from loadray.archive import SampleSink, create_run_dir, default_run_dir, write_scenario
from loadray.cluster import Launcher, connect
from loadray.cluster.coordinator import RunRecord
from loadray.fleet.accounting import Tally
from loadray.errors import EXIT_FAILURE, EXIT_OK, EXIT_SIGINT, EXIT_SIGTERM, EXIT_THRESHOLDS
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
    """Turns the first SIGINT/SIGTERM into a flag; a second one aborts at once."""

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
            raise KeyboardInterrupt
        self.signum = signum

    def __exit__(self, *exc) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)


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
def metrics_server(options: RunOptions):
    if options.metrics_port is None:
        yield None
        return
    from loadray.live.metrics import MetricsServer

    server = MetricsServer(options.metrics_port, options.metrics_host)
    server.start()
    try:
        yield server
    finally:
        server.stop()


def run(scenario: Scenario, options: RunOptions = RunOptions()) -> RunResult:
    run_dir = create_run_dir(options.out or default_run_dir(scenario.name))
    write_scenario(run_dir, redact(scenario.source))
    interrupts = _Interrupts()
    session = connect(options.address, options.num_cpus)
    try:
        host = session.node_address if options.address else LOOPBACK
        with resolved_target(scenario, host) as live, metrics_server(options) as metrics:
            with interrupts:  # after Ray starts: Ray installs a SIGTERM handler of its own
                record = _drive(live, run_dir, interrupts, options, metrics)
    finally:
        session.close()
    summary = rebuild(run_dir)
    return RunResult(run_dir, summary, interrupts.signum, record.abort_kind)


def _drive(scenario: Scenario, run_dir: Path, interrupts: _Interrupts, options: RunOptions, metrics) -> RunRecord:
    launcher = Launcher(scenario)
    launcher.start()
    start_ns = launcher.begin()
    sink = SampleSink(run_dir / "samples", start_ns)
    end_ns = start_ns + int(scenario.duration_s * 1e9)
    record = None
    console = LiveConsole(scenario.name, quiet=options.quiet)
    try:
        with console, ControlServer(run_dir, launcher.control, RateBounds.of(scenario)):
            while True:
                status = launcher.status()
                console.update(status)
                if metrics is not None:
                    metrics.update(status)
                launcher.collect(sink.write)
                if status.state == "finished":
                    break
                if interrupts.signum is not None:
                    end_ns = min(end_ns, time.time_ns())  # the run ends at the signal
                    launcher.stop()
                    break
                time.sleep(POLL_INTERVAL_S)
            if status.state != "finished" or status.elapsed_s < scenario.duration_s:  # it ended early
                end_ns = min(end_ns, time.time_ns())
            launcher.settle(sink.write)
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
    })
