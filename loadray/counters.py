"""A worker's cumulative counters: what its pacing loop intended, sent, finished.

A leaf module: the engine's loops count into :class:`Counters`, the live heartbeat
reads two of them (now and a second ago) to describe one second, and the driver
reads them in :class:`~loadray.engine.worker.Drained`.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Counters"]


@dataclass
class Counters:
    """Cumulative counts of one worker, read live by the driver.

    The closed model counts a user iteration like an open-model arrival, so the two
    read the same."""

    intended: int = 0
    sent: int = 0
    done: int = 0
    errors: int = 0
    dropped: int = 0
    skipped: int = 0  # of a revision that arrived late: intended before it arrived, never sent

    @property
    def in_flight(self) -> int:
        return self.sent - self.done
