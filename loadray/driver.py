"""``loadray run`` as one library call: scenario in, run directory and summary out.

/metrics (if asked) -> the run directory (``on_start`` hears of it) -> Ray -> the target
(if built in) -> pre-flight connect check -> the coordinator and its workers -> barrier
-> every half second: live status to the console and /metrics, rows into the archive,
control commands and interrupts to the coordinator -> the workers stop -> the target
stops -> rebuild summary and report from the archive. Interrupts (SIGINT/SIGTERM) stop
the workers, keep every row, still archive, and the run record says
``interrupted: "SIGINT at 12.3 s"`` (the summary judges the part that ran). A start
that fails before any load (Ray, the target, the pre-flight check, placing workers)
leaves no run directory behind (one that existed empty is left empty).

Signals at the other stages stop at once with one line naming the stage (exit 130/143,
see :class:`Stage`): starting the target or Ray (the run directory then holds only
``scenario.yaml``, and ``loadray report`` says no request was sent), stopping Ray,
building the report. A full disk stops the run with :class:`DiskError` (exit 1): the
archive keeps its complete parts and the report is built from them if there is room;
so does any other write the disk refuses (read-only, a directory removed or made
immutable: see :mod:`loadray.archive.diskspace`).
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import shutil
import signal
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from loadray.analysis.verdict import exit_code
from loadray.archive import (
    SAMPLES_DIR,
    SCENARIO_FILE,
    SampleSink,
    create_run_dir,
    is_disk_error,
)
from loadray.archive.chunk_sink import ChunkSink, close_archive, route_chunks
from loadray.archive.diskspace import disk_problem
from loadray.archive.fence import close_run
from loadray.archive.fs import StoreSilent, check_scheme, is_uri, locate, silence
from loadray.archive.ledger import PartLedger, drop_stale_temps
from loadray.archive.run_place import create_run, new_run_place, text_of
from loadray.cluster import Launcher
from loadray.cluster.coordinator import RunRecord
from loadray.cluster.runtime import ray_address, ray_running
from loadray.driver_archive import (
    find_unlisted,
    listed,
    orphan_doc,
    record_doc,
    silent_store,
    through_driver_note,
    worker_archive,
    write_scenario_in,
)
from loadray.driver_signals import STAGE_LOAD, STAGE_RAY, STAGE_REPORT, STAGE_STOP, STAGE_TARGET, Interrupts, Stage
from loadray.errors import (
    EXIT_SIGINT,
    EXIT_SIGTERM,
    CoordinatorLost,
    DiskError,
    Interrupted,
    LoadrayError,
)
from loadray.live.console import LiveConsole
from loadray.live.control import ControlServer, RateBounds
from loadray.live.status import LiveStatus
from loadray.preflight import preflight
from loadray.redaction import redact_text
from loadray.report.build import rebuild
from loadray.scenario import redact
from loadray.scenario.model import Scenario, Target
from loadray.target import LOOPBACK, start_target

#: The longest the driver sleeps between two looks at the run: answers (drains, the
#: status) and signals wake it at once (see loadray.cluster.waker).
POLL_INTERVAL_S = 5.0
#: The live status, by long poll, once a second for a terminal's live view and /metrics
#: (the workers' heartbeats, what it shows, come once a second) ...
STATUS_EVERY_S = 1.0
#: ... else every 5 s, the plain console's line (each Ray call costs the driver ~1 ms of
#: CPU). Either way the coordinator answers at once when the state changes (the end,
#: an abort), or a warning comes.
STATUS_QUIET_S = 5.0


def _status_every(console: LiveConsole, metrics) -> float:
    """How often the run's live status is wanted (see STATUS_EVERY_S)."""
    live_view = console.tty and not console.quiet
    return STATUS_EVERY_S if live_view or metrics is not None else min(STATUS_QUIET_S, console.plain_every_s)


@dataclass(frozen=True)
class RunOptions:
    out: Path | str | None = None  # a local directory or a storage URI (s3://bucket/prefix/run)
    address: str | None = None
    quiet: bool = False
    num_cpus: int | None = None  # embedded Ray only
    metrics_port: int | None = None
    metrics_host: str = "127.0.0.1"
    metrics_linger_s: float = 15.0  # == loadray.live.metrics.DEFAULT_METRICS_LINGER_S
    preflight: str = "warn"  # "warn" | "strict" | "off" (see loadray.preflight)
    on_start: Callable[[Path], None] | None = None  # told the run directory once it exists


@dataclass(frozen=True)
class RunResult:
    run_dir: Path  # a storage URI's run: a Path of its text (print it with str())
    summary: dict
    interrupted_by: int | None  # signal number, or None
    abort_kind: str | None = None  # "threshold" | "worker_loss" | "coordinator" | None

    @property
    def exit_code(self) -> int:
        if self.interrupted_by is not None:
            return EXIT_SIGTERM if self.interrupted_by == signal.SIGTERM else EXIT_SIGINT
        return exit_code({**self.summary, "abort_kind": self.abort_kind or self.summary.get("abort_kind")})


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
    """/metrics while the run lasts (None without ``--metrics-port``), bound first: a
    port that cannot be had fails before anything else. Its URL is printed at the
    start; after a normal end the counts are marked final and the endpoint stays up
    until one scrape has read them, at most ``metrics_linger_s``."""
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
    options = dataclasses.replace(options, address=address)
    out = options.out or new_run_place(scenario.archive, scenario.name)
    check_scheme(out)  # s4://b/x: refused, not made as a local folder s4:
    out = text_of(out) if is_uri(out) else Path(out)
    with metrics_server(options, locate(out).name, scenario.name) as metrics, _run_dir(out) as run_dir:
        write_scenario_in(run_dir, redact(scenario.source))  # ${VAR} references as written
        if options.on_start is not None:
            options.on_start(run_dir)
        stage = Stage(run_dir)
        with stage:
            try:
                record, signum = _load(scenario, run_dir, options, stage, metrics)
            except DiskError as exc:
                stage.enter(STAGE_REPORT)
                raise _after_disk_error(exc, run_dir) from None
            except CoordinatorLost as exc:
                stage.enter(STAGE_REPORT)
                raise _after_coordinator_lost(exc, run_dir) from None
            stage.enter(STAGE_REPORT)
            summary = rebuild(run_dir)
    return RunResult(run_dir, summary, signum, record.abort_kind)


def _streamed(scenario: Scenario) -> bool:
    return any(step.stream is not None for flow in scenario.flows for step in flow.steps)


@contextlib.contextmanager
def _run_dir(path):
    """The run directory, created; removed again when the run fails before any load
    started (no ``samples/``): a failed start must not block the rerun. Signals keep
    it (``loadray report`` then says no request was sent). A storage URI is checked
    to be empty (it is made by writing into it)."""
    if not isinstance(path, Path):
        loc = create_run(path)
        try:
            yield path
        except (Interrupted, KeyboardInterrupt):
            raise
        except BaseException as exc:
            with contextlib.suppress(LoadrayError):  # a store that cannot tell keeps it; the error stays the run's
                if not isinstance(exc, StoreSilent) and not loc.is_dir(SAMPLES_DIR):
                    with contextlib.suppress(OSError):
                        loc.filesystem.delete_file(loc.path(SCENARIO_FILE))
            raise
        return
    existed = path.is_dir()
    run_dir = create_run_dir(path)
    try:
        yield run_dir
    except (Interrupted, KeyboardInterrupt):
        raise
    except BaseException:
        if not (run_dir / SAMPLES_DIR).exists():
            _discard(run_dir, existed)
        raise


def _discard(run_dir: Path, existed: bool) -> None:
    with contextlib.suppress(OSError):
        if existed:  # it was there, empty: leave it empty
            for child in run_dir.iterdir():
                shutil.rmtree(child) if child.is_dir() and not child.is_symlink() else child.unlink()
        else:
            shutil.rmtree(run_dir)


def _load(scenario: Scenario, run_dir: Path, options: RunOptions, stage: Stage,
          metrics) -> tuple[RunRecord, int | None]:
    """Ray, the target, the load itself; Ray is stopped (and its processes gone) on
    return. The workers are stopped and killed before the built-in target stops (it
    runs in a process group of its own: a terminal's Ctrl+C reaches loadray only)."""
    interrupts = Interrupts()
    stage.enter(STAGE_RAY)
    try:
        with ray_running(options.address, options.num_cpus) as session:
            host = session.node_address if options.address else LOOPBACK
            stage.enter(STAGE_TARGET)
            with resolved_target(scenario, host) as live:
                preflight(live, options.preflight, _warn(scenario))
                stage.enter(STAGE_LOAD)
                with interrupts:  # after Ray starts: Ray installs a SIGTERM handler of its own
                    record = _drive(live, run_dir, interrupts, options, metrics)
                stage.enter(STAGE_STOP)
    except OSError as exc:  # the disk refused a write outside the archive (control.json...)
        if not is_disk_error(exc):
            raise
        raise DiskError(f"{disk_problem(exc)} at {exc.filename or run_dir}: {exc.strerror}") from None
    return record, interrupts.signum


def _warn(scenario: Scenario) -> Callable[[str], None]:
    def warn(line: str) -> None:
        print(f"loadray run: {redact_text(line, scenario.secrets)}", file=sys.stderr, flush=True)

    return warn


def _after_disk_error(exc: DiskError, run_dir: Path) -> DiskError:
    """The run stopped on a write the disk refused (full, read-only...): build the report
    from the rows kept if the disk lets it (one line either way); a store that did not
    answer is asked nothing more."""
    if isinstance(exc, StoreSilent):
        return exc
    try:
        rebuild(run_dir)
    except DiskError:
        store = "disk" if isinstance(run_dir, Path) else "store"
        return DiskError(f"{exc}; `loadray report {run_dir}` builds the report from them once the {store} takes "
                         "writes again")
    except LoadrayError as why:  # e.g. samples/ removed under the run
        return DiskError(f"{exc}; no report: {why}")
    return DiskError(f"{exc}; summary.json and report.html were built from them")


def _after_coordinator_lost(exc: CoordinatorLost, run_dir) -> CoordinatorLost:
    """The run stopped when its coordinator died: the report from the rows archived, and
    one line saying what they are."""
    try:
        summary = rebuild(run_dir)
    except LoadrayError as why:
        return CoordinatorLost(f"{exc}; no report: {why}")
    return CoordinatorLost(f"{exc}: the archive holds {summary['intended']} rows, {summary['unknown']} planned "
                           "requests may or may not have been sent; summary.json and report.html were built "
                           "from them")


def _follow(launcher: Launcher, sink, write, console: LiveConsole, metrics, interrupts: Interrupts,
            end_ns: int) -> tuple[LiveStatus, int]:
    """Follow the run until it finishes or a signal stops it, showing and exporting its
    live status and archiving rows as soon as workers flush them: (the last status, the
    run's end, the signal's instant when one came first)."""
    status, every_s = LiveStatus(), _status_every(console, metrics)
    while True:
        news = launcher.poll_status(every_s)  # a long poll: at once when the state changes
        if news is not None:
            status = news
            console.update(status)
            if metrics is not None:
                metrics.update(status)
            sink.tick()  # completes parts open long enough, also when no rows came
            if status.state == "finished":
                return status, end_ns
        if interrupts.signum is not None:
            launcher.stop()
            return status, min(end_ns, time.time_ns())  # the run ends at the signal
        launcher.collect(write, wait_s=POLL_INTERVAL_S)  # rows as soon as flushed; ends at a status
        if launcher.disk_full and isinstance(sink, SampleSink):  # the disk refused a worker's part
            sink.worker_disk_failed(launcher.disk_full, launcher.unwritten())


def _drive(scenario: Scenario, run_dir, interrupts: Interrupts, options: RunOptions, metrics) -> RunRecord:
    """The load, with each part a worker completes listed in the manifest, and the rows
    of workers that do not write their own parts written here: those on other hosts than
    a local run directory, and every worker of a local run with /metrics (whose counts
    come from the rows as they arrive; on a URI it reads each part back)."""
    loc = locate(run_dir)
    sink = None
    # /metrics counts rows as they are archived: with it, a local run's rows come here;
    # so do a local run's chunks/ of streamed steps (on a URI workers write them beside
    # their parts, see loadray.archive.part_series)
    direct = (metrics is None and not _streamed(scenario)) or not isinstance(run_dir, Path)
    launcher = Launcher(scenario, archive=worker_archive(loc) if direct else None, environ=dict(os.environ),
                        on_part=lambda part: listed(sink, loc, part, metrics))
    interrupts.wake = launcher.wake
    note = through_driver_note(loc, launcher.start(), launcher.driver_node, direct)
    if note:
        print(f"loadray run: {note}", file=sys.stderr, flush=True)
    start_ns = launcher.begin()
    sink = SampleSink(run_dir / "samples", start_ns) if isinstance(run_dir, Path) else PartLedger(loc, start_ns)
    end_ns = start_ns + int(scenario.duration_s * 1e9)
    record = None
    write = sink.write if metrics is None else metrics.tee(sink.write)  # /metrics counts the rows archived
    # the chunks/ side table of streamed steps (written only if any); on a URI none reaches the driver
    chunk_sink = ChunkSink(run_dir) if isinstance(run_dir, Path) else None
    write = route_chunks(write, chunk_sink.write if chunk_sink is not None else sink.write)
    console = LiveConsole(scenario.name, quiet=options.quiet)
    control = ControlServer(run_dir, launcher.control, RateBounds.of(scenario)) if isinstance(run_dir, Path) \
        else contextlib.nullcontext()
    lost = None
    try:
        with console, control:
            try:
                status, end_ns = _follow(launcher, sink, write, console, metrics, interrupts, end_ns)
                if status.state != "finished" or status.elapsed_s < scenario.duration_s:  # it ended early
                    end_ns = min(end_ns, time.time_ns())
                launcher.settle(write)
                record = launcher.record()
            except CoordinatorLost as exc:
                lost, end_ns = exc, min(end_ns, time.time_ns(), launcher.last_send_ns())
    finally:
        launcher.kill(lost=lost is not None)
        silent = silence(loc)  # a store gone at the end is asked nothing more (each ask: up to ~30 s)
        if direct and silent is None:  # no part joins the run from here on (see loadray.archive.fence)
            close_run(loc, time.time_ns())
        if silent is None:
            find_unlisted(sink, loc, launcher, metrics)
        doc = record_doc(record, launcher.tally(record), interrupts.note(start_ns), scenario.secrets) if record else \
            orphan_doc(scenario, launcher.delivered(), (end_ns - start_ns) / 1e9, str(lost),
                       interrupts.note(start_ns)) if lost else None
        if silent is not None:
            raise silent_store(loc, silent, sink.manifest, doc)
        try:
            close_archive(sink, chunk_sink, end_ns, doc)  # a full disk under chunks/ cuts the run too
        finally:
            drop_stale_temps(loc)  # parts open in workers that were stopped
    if lost is not None:
        raise lost
    assert record is not None  # the load ran to its end, or raised
    return record
