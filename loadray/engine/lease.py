"""A worker's lease: the right to send, renewed by every acknowledged renewal.

A worker may send only while its lease holds. Each renewal the coordinator
acknowledges extends the lease to ``length`` after the moment that renewal was
*sent* (never after the acknowledgement arrived), so the lease always ends before
the coordinator could declare the worker lost (``length + margin < loss timeout``):
a share is never sent by two workers at once. A lease also never outlives the run's
hard end (its planned end plus a grace). Once the lease lapses, or the worker is
told it was declared lost, or it is stopped, it is *fenced*: it never sends again,
also after a partition heals.

Pure: the caller supplies monotonic times.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

NEVER = 2**62

#: Why a lease ended (the text is what the run's events and warnings say).
FenceReason = Literal[
    "lease expired", "declared lost by the coordinator", "its node's raylet is gone", "the run's hard end passed",
    "stopped", "finished",
]
LAPSED: FenceReason = "lease expired"  # no renewal acknowledged in time (a partition, a freeze)
DECLARED_LOST: FenceReason = "declared lost by the coordinator"
NODE_GONE: FenceReason = "its node's raylet is gone"  # the worker outlived its host's Ray: it must not go on
HARD_END: FenceReason = "the run's hard end passed"
STOPPED: FenceReason = "stopped"
FINISHED: FenceReason = "finished"


@dataclass
class Lease:
    length_ns: int
    until_ns: int = 0  # sends are allowed strictly before this instant (monotonic ns)
    hard_end_ns: int = NEVER
    fenced_at_ns: int | None = None
    reason: FenceReason | None = None

    @property
    def fenced(self) -> bool:
        return self.fenced_at_ns is not None

    @property
    def lapsed(self) -> bool:
        """Fenced because the coordinator could not be heard (not a planned end)."""
        return self.reason in (LAPSED, DECLARED_LOST, NODE_GONE)

    def grant(self, from_ns: int, hard_end_ns: int) -> None:
        """The coordinator started this worker at ``from_ns``: a first lease."""
        self.hard_end_ns = hard_end_ns
        self.renew(from_ns)

    def renew(self, sent_ns: int) -> None:
        """A renewal sent at ``sent_ns`` was acknowledged."""
        if self.fenced_at_ns is None:
            self.until_ns = min(max(self.until_ns, sent_ns + self.length_ns), self.hard_end_ns)

    def holds(self, now_ns: int) -> bool:
        """May the worker send at ``now_ns``? A lapsed lease fences the worker."""
        if now_ns < self.until_ns:
            return True
        if self.fenced_at_ns is None:
            self.fence(now_ns, HARD_END if now_ns >= self.hard_end_ns else LAPSED)
        return False

    def fence(self, now_ns: int, reason: FenceReason) -> None:
        """Never send again (idempotent: the first reason stays)."""
        if self.fenced_at_ns is None:
            self.fenced_at_ns = now_ns
            self.reason = reason
        self.until_ns = 0

