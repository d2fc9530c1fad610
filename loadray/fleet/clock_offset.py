"""How far a worker host's wall clock is from the driver's, from a few round trips
(NTP's estimate), and the warning a large one gets.

Workers start at one wall-clock instant and their first lease runs from a wall-clock
grant, both read on the driver's host (where the coordinator runs). A host whose clock
is 2 s ahead read such a grant as already 2 s old and fenced itself at once; one 2 s
behind started its share 2 s late and sent it 2 s past the run's end, with its rows
stamped 2 s early. So each worker is told its host's offset and reads every wall time
as the driver's (:class:`loadray.engine.clock.ShiftedClock`): the schedule, the lease and
the rows' timestamps are then on the driver's clock to within :attr:`ClockOffset.error_ns`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["CLOCK_PROBES", "GRANT_SLACK_CAP_NS", "SKEW_WARN_NS", "ClockOffset", "clock_offset", "skew_warning"]

CLOCK_PROBES = 5  # round trips per worker; the shortest one gives the estimate
GRANT_SLACK_CAP_NS = 50_000_000  # a first lease is shortened by the estimate's uncertainty, at most this
SKEW_WARN_NS = 50_000_000  # an offset larger than this is said in the run's warnings


@dataclass(frozen=True)
class ClockOffset:
    """``offset_ns``: the worker host's wall clock minus the driver's; the true offset
    is within ``offset_ns +- error_ns`` (half the round trip it was measured in)."""

    offset_ns: int
    error_ns: int

    @property
    def correction_ns(self) -> int:
        """What the worker is told: the offset, or 0 when it is within its own
        uncertainty (a worker on the driver's host: the same clock, measured 0.1 ms off)."""
        return self.offset_ns if abs(self.offset_ns) > self.error_ns else 0

    @property
    def grant_slack_ns(self) -> int:
        """How much earlier than issued a worker is told its first lease was granted: the
        estimate's uncertainty (so that it does not outlast the driver's view of it), at
        most :data:`GRANT_SLACK_CAP_NS` -- on a starved machine the round trips, and with
        them the uncertainty, grow to hundreds of ms, and a first lease that much shorter
        could lapse before its first renewal is answered."""
        return min(self.error_ns, GRANT_SLACK_CAP_NS)

    def in_ms(self) -> tuple[float, float]:
        """(offset, error) in ms, to the microsecond: what the run's placement records."""
        return round(self.offset_ns / 1e6, 3), round(self.error_ns / 1e6, 3)


def clock_offset(samples: Sequence[tuple[int, int, int]]) -> ClockOffset:
    """From (driver wall before, worker wall, driver wall after) round trips: the
    worker read its clock somewhere within the round trip, so the shortest one bounds
    the offset best, around the round trip's middle."""
    if not samples:
        raise ValueError("no round trip to estimate a clock offset from")
    before, worker, after = min(samples, key=lambda s: s[2] - s[0])
    if after < before:
        raise ValueError(f"a round trip ended before it began ({before} > {after})")
    return ClockOffset(worker - (before + after) // 2, (after - before + 1) // 2)


def skew_warning(worker: int, offset: ClockOffset) -> str | None:
    """One line for an offset over :data:`SKEW_WARN_NS`, else None."""
    if abs(offset.offset_ns) <= SKEW_WARN_NS:
        return None
    side = "ahead of" if offset.offset_ns > 0 else "behind"
    return (f"worker {worker}'s host clock is {abs(offset.offset_ns) / 1e6:,.1f} ms {side} the driver's "
            f"(+-{offset.error_ns / 1e6:.1f} ms): loadray corrected its schedule, lease and timestamps; "
            "check the hosts' time sync (NTP)")
