"""``loadray run`` as one library call: scenario in, run directory and summary out.

Plan -> start the target (if built in) -> start workers -> barrier -> collect rows
into the archive every second -> stop -> rebuild summary and report from the archive.
Interrupts (SIGINT/SIGTERM) stop the workers, keep every row, and still archive.
"""

from __future__ import annotations

import contextlib
import dataclasses
import signal
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

from loadray.archive import SampleSink, create_run_dir, default_run_dir, write_scenario
from loadray.cluster import Launcher, connect
from loadray.engine.open_loop import Counters
from loadray.engine.worker import Drained, WorkerSpec
from loadray.errors import EXIT_OK, EXIT_SIGINT, EXIT_SIGTERM, EXIT_THRESHOLDS
from loadray.report.build import rebuild
from loadray.scenario import redact
from loadray.scenario.model import Scenario, Target
from loadray.target import start_target

POLL_INTERVAL_S = 0.5
PROGRESS_EVERY_S = 2.0


@dataclass(frozen=True)
class RunOptions:
    out: Path | None = None
    address: str | None = None
    quiet: bool = False
    num_cpus: int | None = None  # embedded Ray only


@dataclass(frozen=True)
class RunResult:
    run_dir: Path
    summary: dict
    interrupted_by: int | None  # signal number, or None

    @property
    def exit_code(self) -> int:
        if self.interrupted_by is not None:
            return EXIT_SIGTERM if self.interrupted_by == signal.SIGTERM else EXIT_SIGINT
        return EXIT_OK if self.summary.get("passed", True) else EXIT_THRESHOLDS


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
def resolved_target(scenario: Scenario) -> Iterator[Scenario]:
    """The scenario with a concrete target URL, starting the built-in target if asked."""
    if scenario.target.builtin is None:
        yield scenario
        return
    with start_target(scenario.target.builtin) as target:
        yield dataclasses.replace(scenario, target=Target(url=target.url))


def run(scenario: Scenario, options: RunOptions = RunOptions(), say: Callable[[str], None] | None = None) -> RunResult:
    say = say or (lambda line: print(line, file=sys.stderr, flush=True))
    quiet_say = (lambda line: None) if options.quiet else say
    run_dir = create_run_dir(options.out or default_run_dir(scenario.name))
    write_scenario(run_dir, redact(scenario.source))
    interrupts = _Interrupts()
    with resolved_target(scenario) as live:
        session = connect(options.address, options.num_cpus)
        try:
            with interrupts:  # after Ray starts: Ray installs a SIGTERM handler of its own
                _drive(live, run_dir, interrupts, quiet_say)
        finally:
            session.close()
    summary = rebuild(run_dir)
    return RunResult(run_dir, summary, interrupts.signum)


def _drive(scenario: Scenario, run_dir: Path, interrupts: _Interrupts, say) -> None:
    specs = [WorkerSpec(i, scenario.workers, scenario) for i in range(scenario.workers)]
    launcher = Launcher(specs, scenario.cluster.worker_cpus)
    ready = launcher.start()
    say(f"loadray: {len(ready)} workers ready on {len({r.host for r in ready})} node(s); target {scenario.target.url}")
    start_ns = launcher.begin()
    sink = SampleSink(run_dir / "samples", start_ns)
    end_ns = start_ns + int(scenario.duration_s * 1e9)
    try:
        progress = _Progress(scenario, start_ns, say)
        while not launcher.wait(POLL_INTERVAL_S):
            progress.show(_collect(launcher.drain(), sink))
            if interrupts.signum is not None:
                end_ns = min(end_ns, time.time_ns())
                say(f"loadray: {signal.Signals(interrupts.signum).name}: stopping workers")
                launcher.stop()
                break
        _collect(launcher.drain(), sink)
        for line in launcher.failures():
            say(f"loadray: {line}")
    finally:
        sink.close(end_ns)
        launcher.kill()


def _collect(drained: list[Drained], sink: SampleSink) -> list[Counters]:
    for d in drained:
        for batch in d.batches:
            sink.write(d.index, batch)
    return [d.counters for d in drained]


class _Progress:
    def __init__(self, scenario: Scenario, start_ns: int, say) -> None:
        self.duration_s = scenario.duration_s
        self.start_ns = start_ns
        self.say = say
        self.last_t = 0.0
        self.last_sent = 0

    def show(self, counters: list[Counters]) -> None:
        t = (time.time_ns() - self.start_ns) / 1e9
        if t < 0 or t - self.last_t < PROGRESS_EVERY_S:
            return
        sent = sum(c.sent for c in counters)
        rate = (sent - self.last_sent) / (t - self.last_t)
        self.last_t, self.last_sent = t, sent
        self.say(
            f"  {t:6.1f}s/{self.duration_s:g}s  sent {sent}  rate {rate:,.0f}/s  "
            f"errors {sum(c.errors for c in counters)}  dropped {sum(c.dropped for c in counters)}  "
            f"in-flight {sum(c.in_flight for c in counters)}"
        )
