"""The driver's signals: while the load runs, the first SIGINT/SIGTERM becomes a flag
(:class:`Interrupts`); at every other stage one stops at once with a line naming the
stage (:class:`Stage`)."""

from __future__ import annotations

import contextlib
import signal
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from loadray.archive import SCENARIO_FILE
from loadray.errors import Interrupted, signal_name


class Interrupts:
    """While the load runs: the first SIGINT/SIGTERM becomes a flag (the workers stop,
    every row is kept and archived); a second one stops at once (:class:`Interrupted`)."""

    def __init__(self) -> None:
        self.signum: int | None = None
        self.at_ns: int | None = None  # when the first one came (epoch ns)
        self.wake: Callable[[], None] = lambda: None  # ends the driver's wait (Launcher.wake)
        self._previous: dict[int, Any] = {}

    def __enter__(self) -> Interrupts:
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(ValueError):  # not the main thread
                self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def _handle(self, signum, frame) -> None:
        if self.signum is not None:
            raise Interrupted(signum)
        self.signum, self.at_ns = signum, time.time_ns()
        self.wake()

    def note(self, start_ns: int) -> str | None:
        """``"SIGINT at 12.3 s"`` (since the start), or None when no signal came."""
        if self.signum is None or self.at_ns is None:
            return None
        return f"{signal_name(self.signum)} at {max(0.0, (self.at_ns - start_ns) / 1e9):.1f} s"

    def __exit__(self, *exc) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)


class Stage:
    """Where the run is. Outside the load (starting the target or Ray, stopping Ray,
    building the report) SIGINT/SIGTERM stop it at once; the stage's :class:`Interrupted` that
    leaves says in one line what the stage was and what the run directory holds."""

    def __init__(self, run_dir: Path) -> None:
        self.run_dir = run_dir
        self.name = "starting"
        self._previous: dict[int, Any] = {}

    def enter(self, name: str) -> None:
        self.name = name

    def __enter__(self) -> Stage:
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
