"""The coordinator's live scoreboard: merges worker heartbeats into cluster-wide
per-second figures and run totals. Pure: heartbeats in, figures out."""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field

from loadray.live.histogram import LogHistogram, merge_all
from loadray.live.status import Totals, WorkerSecond

KEEP_SECONDS = 600


@dataclass
class Second:
    """Everything the cluster reported for one second of the run."""

    sent: int = 0
    done: int = 0
    errors: int = 0
    dropped: int = 0
    latency: list[LogHistogram] = field(default_factory=list)


@dataclass(frozen=True)
class Window:
    """Merged figures over the last few seconds, for live thresholds."""

    seconds: int
    sent: int
    done: int
    errors: int
    dropped: int
    latency: LogHistogram

    @property
    def error_rate(self) -> float:
        return self.errors / self.done if self.done else 0.0

    @property
    def rate(self) -> float:
        return self.sent / self.seconds if self.seconds else 0.0


class Board:
    def __init__(self, start_ns: int) -> None:
        self.start_ns = start_ns
        self.seconds: dict[int, Second] = defaultdict(Second)
        self.totals = Counter()
        self.outcomes: Counter[str] = Counter()
        self.latency = LogHistogram.empty()
        self.in_flight: dict[int, int] = {}
        self.last_seen_ns: dict[int, int] = {}
        self.lag: dict[int, tuple[float, float, float]] = {}  # send lag p99, loop lag, cpu %

    def add(self, hb: WorkerSecond) -> None:
        sec = self.seconds[self.second_of(hb.at_ns)]
        for name in ("sent", "done", "errors", "dropped"):
            value = getattr(hb, name)
            setattr(sec, name, getattr(sec, name) + value)
            self.totals[name] += value
        sec.latency.append(hb.latency)
        self.outcomes.update(hb.outcomes)
        self.latency = self.latency.merge(hb.latency)
        self.in_flight[hb.worker] = hb.in_flight
        self.last_seen_ns[hb.worker] = hb.at_ns
        self.lag[hb.worker] = (hb.send_lag_p99_ms, hb.loop_lag_ms, hb.cpu_percent)
        for old in [s for s in self.seconds if s < self.second_of(hb.at_ns) - KEEP_SECONDS]:
            del self.seconds[old]

    def forget(self, worker: int) -> None:
        """A worker is gone: it no longer has anything in flight."""
        self.in_flight.pop(worker, None)
        self.lag.pop(worker, None)

    def second_of(self, at_ns: int) -> int:
        return (at_ns - self.start_ns) // 1_000_000_000

    def window(self, now_ns: int, seconds: int) -> Window:
        """The last ``seconds`` complete seconds before ``now_ns``."""
        last = self.second_of(now_ns) - 1
        picked = [self.seconds[s] for s in range(last - seconds + 1, last + 1) if s in self.seconds]
        return Window(
            seconds=seconds,
            sent=sum(s.sent for s in picked),
            done=sum(s.done for s in picked),
            errors=sum(s.errors for s in picked),
            dropped=sum(s.dropped for s in picked),
            latency=merge_all(h for s in picked for h in s.latency),
        )

    def run_totals(self, lost: int = 0) -> Totals:
        t = self.totals
        return Totals(t["sent"], t["done"], t["errors"], t["dropped"], lost)
