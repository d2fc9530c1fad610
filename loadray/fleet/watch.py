"""What the coordinator watches besides membership: live rules, saturation warnings,
and the live snapshot it hands to the console and /metrics."""

from __future__ import annotations

from typing import TYPE_CHECKING

from loadray.live.board import Board
from loadray.live.rules import Rules, live_steps
from loadray.live.status import LiveStatus
from loadray.plan import Profile
from loadray.plan.users import users_at
from loadray.scenario.model import Scenario

if TYPE_CHECKING:
    from loadray.fleet.conductor import Conductor

SEND_LAG_WARN_MS = 10.0
LOOP_LAG_WARN_MS = 100.0
CPU_WARN_PERCENT = 90.0
SATURATED_TICKS = 12  # consecutive ticks (3 s at 4 ticks/s) before a saturation warning


class Watch:
    def __init__(self, scenario: Scenario) -> None:
        self.scenario = scenario
        self.rules = Rules(scenario.thresholds, scenario.breakers, scenario.live_window_s)
        self.steps = live_steps(scenario.thresholds, scenario.breakers)  # judged live per step
        self.warnings: list[str] = []
        self._saturated: dict[tuple[int, str], int] = {}

    def warn(self, text: str) -> None:
        if text not in self.warnings:
            self.warnings.append(text)

    def saturation(self, board: Board) -> None:
        """Warn once per worker and kind when it stays saturated for a few seconds."""
        for worker, (send_lag, loop_lag, cpu) in list(board.lag.items()):
            for kind, hit, what in (
                ("send lag", send_lag > SEND_LAG_WARN_MS, f"send lag p99 {send_lag:.0f} ms"),
                ("loop lag", loop_lag > LOOP_LAG_WARN_MS, f"event-loop lag {loop_lag:.0f} ms"),
                ("cpu", cpu > CPU_WARN_PERCENT, f"CPU {cpu:.0f}%"),
            ):
                key = (worker, kind)
                self._saturated[key] = self._saturated.get(key, 0) + 1 if hit else 0
                if self._saturated[key] == SATURATED_TICKS:
                    self.warn(f"worker {worker} saturated: {what}; latency is under-stated, add workers")

    def snapshot(self, c: Conductor, now_wall_ns: int) -> LiveStatus:
        b, closed = c.board, self.scenario.model == "closed"
        elapsed = max((now_wall_ns - c.start_wall_ns) / 1e9, 0.0) if c.start_wall_ns else 0.0
        last = b.window(now_wall_ns, 1)
        profile = Profile(c.phases)
        seg = profile.segment_at(elapsed) or (profile.segments[-1] if profile.segments and elapsed > 0 else None)
        p50, p99 = last.latency.quantile_ns(0.5), last.latency.quantile_ns(0.99)
        return LiveStatus(
            state=c.state,
            elapsed_s=elapsed,
            duration_s=c.end_s,
            phase=seg.index if seg else 0,
            target_rate=0.0 if closed else profile.rate(elapsed),
            target_unit="flows" if any(len(f.steps) > 1 for f in self.scenario.flows) else "req",
            users=users_at(profile, elapsed) if closed else None,
            achieved_rate=last.rate,
            p50_ms=None if p50 is None else p50 / 1e6,
            p99_ms=None if p99 is None else p99 / 1e6,
            errors_per_s=float(last.errors),
            in_flight=sum(b.in_flight.values()),
            totals=b.run_totals(),
            workers_alive=sum(m.alive for m in c.current.values()),
            workers_total=len(c.current),
            outcomes=dict(b.outcomes),
            latency=b.latency,
            warnings=tuple(self.warnings),
            aborted=c.verdict.aborted,
        )
