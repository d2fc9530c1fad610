"""The coordinator's live scoreboard: merges worker heartbeats into cluster-wide
per-second figures and run totals. Pure: heartbeats in, figures out.

A heartbeat counts in the second of the run its report was made in. A :class:`Window`
covers complete seconds only (those before the current one), and never seconds before
the start.

Per step: a board made with ``steps`` keeps one board of its own for each (see
:meth:`Board.scope`), fed with every heartbeat's figures of that step's rows
(:class:`~loadray.live.status.StepRows`; none: a report of no rows), so a rule scoped
to a step is judged on it exactly as an unscoped one is judged on the whole board."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field

from loadray.live.histogram import LogHistogram, merge_all
from loadray.live.status import StepRows, Tally, Totals, WorkerSecond

KEEP_SECONDS = 600


@dataclass
class Second:
    """Everything the cluster reported for one second of the run."""

    sent: int = 0
    done: int = 0
    errors: int = 0
    dropped: int = 0
    rows: Tally = field(default_factory=Tally)
    latency: list[LogHistogram] = field(default_factory=list)
    service: list[LogHistogram] = field(default_factory=list)
    ttfb: list[LogHistogram] = field(default_factory=list)


@dataclass(frozen=True)
class Window:
    """Merged figures over some seconds: the pacing loops' counters (``sent`` ...
    ``dropped``, for the console) and the rows' :class:`Tally` and histograms (for the
    live rules)."""

    seconds: int
    sent: int = 0
    done: int = 0
    errors: int = 0
    dropped: int = 0
    rows: Tally = field(default_factory=Tally)
    latency: LogHistogram = field(default_factory=LogHistogram.empty)
    service: LogHistogram = field(default_factory=LogHistogram.empty)
    ttfb: LogHistogram = field(default_factory=LogHistogram.empty)
    reports: int = 0  # heartbeats in it (0: nothing is known of these seconds)

    @property
    def error_rate(self) -> float:
        return self.errors / self.done if self.done else 0.0

    @property
    def rate(self) -> float:
        return self.sent / self.seconds if self.seconds else 0.0


class Board:
    def __init__(self, start_ns: int, steps: Sequence[str] = ()) -> None:
        self.start_ns = start_ns
        self.steps = {name: Board(start_ns) for name in steps}  # the live-scoped steps' own boards
        self.seconds: dict[int, Second] = defaultdict(Second)
        self.totals: Counter[str] = Counter()
        self.rows = Tally()  # the whole run so far
        self.outcomes: Counter[str] = Counter()
        self.latency = LogHistogram.empty()
        self.service = LogHistogram.empty()
        self.ttfb = LogHistogram.empty()
        self.reports: Counter[int] = Counter()  # heartbeats per second of the run
        self.in_flight: dict[int, int] = {}
        self.last_seen_ns: dict[int, int] = {}
        self.lag: dict[int, tuple[float, float, float]] = {}  # send lag p99, loop lag, cpu %

    def add(self, hb: WorkerSecond) -> None:
        second = self.second_of(hb.at_ns)
        sec = self.seconds[second]
        for name in ("sent", "done", "errors", "dropped"):
            value = getattr(hb, name)
            setattr(sec, name, getattr(sec, name) + value)
            self.totals[name] += value
        sec.rows += hb.rows
        sec.latency.append(hb.latency)
        sec.service.append(hb.service)
        sec.ttfb.append(hb.ttfb)
        self.rows += hb.rows
        self.outcomes.update(hb.outcomes)
        self.latency = self.latency.merge(hb.latency)
        self.service = self.service.merge(hb.service)
        self.ttfb = self.ttfb.merge(hb.ttfb)
        self.reports[second] += 1
        self.in_flight[hb.worker] = hb.in_flight
        self.last_seen_ns[hb.worker] = hb.at_ns
        self.lag[hb.worker] = (hb.send_lag_p99_ms, hb.loop_lag_ms, hb.cpu_percent)
        for old in [s for s in self.seconds if s < second - KEEP_SECONDS]:
            del self.seconds[old]
            self.reports.pop(old, None)
        for name, board in self.steps.items():
            board.add(_of_step(hb, hb.steps.get(name, _NO_ROWS)))

    def scope(self, step: str | None) -> Board:
        """The board a rule scoped to ``step`` reads (None: this one); a step no board
        was made for has an empty one (no data: no rule on it ever fails)."""
        if step is None:
            return self
        return self.steps[step] if step in self.steps else Board(self.start_ns)

    def forget(self, worker: int) -> None:
        """A worker is gone: it no longer has anything in flight."""
        self.in_flight.pop(worker, None)
        self.lag.pop(worker, None)
        for board in self.steps.values():
            board.forget(worker)

    def second_of(self, at_ns: int) -> int:
        return (at_ns - self.start_ns) // 1_000_000_000

    def window(self, now_ns: int, seconds: int) -> Window:
        """The last ``seconds`` complete seconds before ``now_ns`` (since the start)."""
        last = self.second_of(now_ns) - 1
        return self.span(max(0, last - seconds + 1), last)

    def span(self, first: int, last: int) -> Window:
        """Seconds ``first`` to ``last`` of the run, both included."""
        picked = [self.seconds[s] for s in range(first, last + 1) if s in self.seconds]
        total = Tally()
        for s in picked:
            total += s.rows
        return Window(
            seconds=max(0, last - first + 1),
            sent=sum(s.sent for s in picked),
            done=sum(s.done for s in picked),
            errors=sum(s.errors for s in picked),
            dropped=sum(s.dropped for s in picked),
            rows=total,
            latency=merge_all(h for s in picked for h in s.latency),
            service=merge_all(h for s in picked for h in s.service),
            ttfb=merge_all(h for s in picked for h in s.ttfb),
            reports=sum(self.reports.get(s, 0) for s in range(first, last + 1)),
        )

    def so_far(self, now_ns: int) -> Window:
        """The whole run until ``now_ns`` (every heartbeat received, the current second's too)."""
        t = self.totals
        return Window(
            seconds=max(0, self.second_of(now_ns)),
            sent=t["sent"], done=t["done"], errors=t["errors"], dropped=t["dropped"],
            rows=self.rows, latency=self.latency, service=self.service, ttfb=self.ttfb,
            reports=sum(self.reports.values()),
        )

    def run_totals(self, lost: int = 0) -> Totals:
        t = self.totals
        return Totals(t["sent"], t["done"], t["errors"], t["dropped"], lost)


_NO_ROWS = StepRows()


def _of_step(hb: WorkerSecond, rows: StepRows) -> WorkerSecond:
    """``hb`` as a step's board takes it: that step's rows only (the pacing counters,
    in flight and lags belong to the whole worker: left at zero)."""
    return WorkerSecond(worker=hb.worker, at_ns=hb.at_ns, latency=rows.latency, service=rows.service,
                        ttfb=rows.ttfb, rows=rows.rows, incarnation=hb.incarnation)
