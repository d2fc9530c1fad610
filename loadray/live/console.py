"""The live terminal view of a run.

The driver calls :meth:`LiveConsole.update` once a second with the newest
:class:`~loadray.live.status.LiveStatus`. On a terminal the view is a ``rich`` Live
display redrawn by each ``update`` (one refresh per second, the final frame stays);
elsewhere (CI logs, pipes) it falls back to one plain line every few seconds plus one
line for each new warning. ``quiet`` prints nothing.

Formatting is pure (:func:`status_line`, :func:`render`) so tests assert the text.
Phases are shown 1-based ("phase 1" is ``LiveStatus.phase == 0``).
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import IO, Any

from loadray.live.status import LiveStatus

__all__ = ["LiveConsole", "status_line", "render", "DEFAULT_PLAIN_EVERY_S"]

DEFAULT_PLAIN_EVERY_S = 5.0


# --- pure formatting -------------------------------------------------------------------


def _num(x: float) -> str:
    """A rate or count per second: integers plain, small fractions with one decimal."""
    if x == int(x) or abs(x) >= 100:
        return f"{x:.0f}"
    return f"{x:.1f}"


def _ms(x: float | None) -> str:
    if x is None:
        return "-"
    if x < 1:
        return f"{x:.2f}ms"
    if x < 1000:
        return f"{x:.1f}ms"
    return f"{x:.0f}ms"


def _secs(x: float) -> str:
    """A duration: ``60s``, ``90.5s``."""
    return f"{x:.0f}s" if x == int(x) else f"{x:.1f}s"


def _clock(status: LiveStatus) -> str:
    elapsed = f"{status.elapsed_s:.1f}s"
    return f"{elapsed}/{_secs(status.duration_s)}" if status.duration_s > 0 else elapsed


def _rate(status: LiveStatus) -> str:
    """``rate 498/500/s`` (achieved/target requests), ``rate 150 req/s of 50 flows/s``
    when the plan counts flows, or ``rate 64/s users 10`` in the closed model."""
    if status.users is not None:
        return f"rate {_num(status.achieved_rate)}/s users {status.users}"
    if status.target_unit != "req":
        return f"rate {_num(status.achieved_rate)} req/s of {_num(status.target_rate)} {status.target_unit}/s"
    return f"rate {_num(status.achieved_rate)}/{_num(status.target_rate)}/s"


def _target(status: LiveStatus) -> str:
    if status.users is not None:
        return f"users {status.users}"
    return f"target {_num(status.target_rate)} {status.target_unit}/s"


def status_line(status: LiveStatus) -> str:
    """One plain line, e.g.
    ``  12.0s/60s running phase 1  rate 498/500/s  p50 20.4ms p99 31.0ms  err/s 0  in-flight 12  dropped 0  lost 0  workers 3/3``
    (rate is achieved/target)."""
    t = status.totals
    return (
        f"  {_clock(status)} {status.state} phase {status.phase + 1}"
        f"  {_rate(status)}"
        f"  p50 {_ms(status.p50_ms)} p99 {_ms(status.p99_ms)}"
        f"  err/s {_num(status.errors_per_s)}"
        f"  in-flight {status.in_flight}  dropped {t.dropped}  lost {t.lost}"
        f"  workers {status.workers_alive}/{status.workers_total}"
    )


def render(status: LiveStatus, name: str = ""):
    """The rich renderable of one frame: progress bar, rates, latency, counts, warnings."""
    from rich.console import Group
    from rich.panel import Panel
    from rich.progress_bar import ProgressBar
    from rich.table import Table
    from rich.text import Text

    t = status.totals
    top = Table.grid(padding=(0, 1))
    top.add_column()
    top.add_column()
    if status.duration_s > 0:
        done = min(status.elapsed_s, status.duration_s)
        bar = ProgressBar(total=status.duration_s, completed=done, width=30)
        left = max(0.0, status.duration_s - status.elapsed_s)
        clock = f"{_clock(status)}  {left:.0f}s left"
    else:
        bar = ProgressBar(total=None, width=30)  # pulsing: length unknown
        clock = _clock(status)
    top.add_row(bar, Text(f"{clock}  {status.state}  phase {status.phase + 1}"))

    dim = "dim"
    rate = Text.assemble(
        ("rate     ", dim), f"achieved {_num(status.achieved_rate)} req/s  {_target(status)}  ",
        (f"errors {_num(status.errors_per_s)}/s", "red" if status.errors_per_s else ""),
    )
    latency = Text.assemble(("latency  ", dim), f"p50 {_ms(status.p50_ms)}  p99 {_ms(status.p99_ms)}")
    counts = Text.assemble(
        ("state    ", dim), f"in-flight {status.in_flight}  dropped {t.dropped}  lost {t.lost}  ",
        (f"workers {status.workers_alive}/{status.workers_total}",
         "red" if status.workers_alive < status.workers_total else ""),
    )
    totals = Text.assemble(("totals   ", dim), f"sent {t.sent}  done {t.done}  errors {t.errors}")
    parts: list = [top, rate, latency, counts, totals]
    parts += [Text(f"warning: {w}", style="yellow") for w in status.warnings]
    if status.aborted:
        parts.append(Text(f"aborted: {status.aborted}", style="bold red"))
    title = f"loadray {name}".strip()
    return Panel(Group(*parts), title=title, title_align="left", expand=False)


# --- the console -----------------------------------------------------------------------


class LiveConsole:
    """Shows a run's :class:`LiveStatus`; see the module docstring."""

    def __init__(
        self,
        name: str,
        quiet: bool = False,
        stream: IO[str] | None = None,
        tty: bool | None = None,
        plain_every_s: float = DEFAULT_PLAIN_EVERY_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.name = name
        self.quiet = quiet
        self.stream = stream if stream is not None else sys.stderr
        if tty is None:
            isatty = getattr(self.stream, "isatty", None)
            tty = bool(isatty()) if isatty else False
        self.tty = tty
        self.plain_every_s = plain_every_s
        self._clock = clock
        self._live: Any = None  # rich.live.Live, started by the first update on a TTY (rich imported then)
        self._next_due: float | None = None
        self._seen_warnings: set[str] = set()
        self._aborted_shown = False
        self._pending: LiveStatus | None = None  # newest status not yet printed (plain mode)
        self._closed = False

    def __enter__(self) -> LiveConsole:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def update(self, status: LiveStatus) -> None:
        if self.quiet or self._closed:
            return
        if self.tty:
            self._update_live(status)
        else:
            self._update_plain(status)

    def close(self) -> None:
        """Stop the display; the final frame (or the last plain line) stays."""
        if self._closed:
            return
        self._closed = True
        if self._live is not None:
            self._live.stop()
            self._live = None
        elif self._pending is not None:
            self._write(status_line(self._pending))
            self._pending = None

    # --- TTY -----------------------------------------------------------------------

    def _update_live(self, status: LiveStatus) -> None:
        frame = render(status, self.name)
        if self._live is None:
            from rich.console import Console
            from rich.live import Live

            console = Console(file=self.stream, force_terminal=True)
            redirect = self.stream is sys.stderr or self.stream is sys.stdout
            self._live = Live(
                frame,
                console=console,
                auto_refresh=False,  # one refresh per update(), i.e. per second
                transient=False,
                redirect_stdout=redirect,
                redirect_stderr=redirect,
            )
            self._live.start(refresh=True)
        else:
            self._live.update(frame, refresh=True)

    # --- plain ---------------------------------------------------------------------

    def _update_plain(self, status: LiveStatus) -> None:
        for w in status.warnings:
            if w not in self._seen_warnings:
                self._seen_warnings.add(w)
                self._write(f"  warning: {w}")
        if status.aborted and not self._aborted_shown:
            self._aborted_shown = True
            self._write(f"  aborted: {status.aborted}")
        now = self._clock()
        if self._next_due is None or now >= self._next_due:
            self._write(status_line(status))
            self._pending = None
            # Keep to the grid so a late update does not push every later line back.
            self._next_due = (now if self._next_due is None else self._next_due) + self.plain_every_s
            if self._next_due <= now:  # after a stall, restart the grid from now
                self._next_due = now + self.plain_every_s
        else:
            self._pending = status

    def _write(self, line: str) -> None:
        self.stream.write(line + "\n")
        self.stream.flush()
