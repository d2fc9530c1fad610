"""The run's members: one per incarnation of a worker index, with its share of the
plan and what the coordinator has heard of it."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from loadray.fleet.accounting import Share
from loadray.plan.revision import Assignment


@dataclass
class Member:
    index: int
    incarnation: int
    node: str = ""
    heard_ns: int = 0  # last renewal received (coordinator's monotonic clock)
    assignments: list[tuple[Assignment, float]] = field(default_factory=list)  # (a, until_s)
    alive: bool = True  # still a member: not declared lost
    silent_from_s: float = math.inf  # declared lost: after this it provably sent nothing
    finished: bool = False  # its run returned
    dead: bool = False  # its actor is gone (nothing more can be drained from it)
    rejoined: bool = False  # heard from again after it was declared lost

    @property
    def key(self) -> tuple[int, int]:
        return self.index, self.incarnation

    def assign(self, a: Assignment, end_s: float) -> None:
        self.assignments.append((a, end_s))

    def close(self, at_s: float) -> None:
        """Its current assignment ends at ``at_s`` (a revision, a loss)."""
        if self.assignments:
            a, until = self.assignments[-1]
            self.assignments[-1] = (a, min(until, at_s))

    def share(self) -> Share:
        return Share(self.index, self.incarnation, tuple(self.assignments), not self.alive, self.silent_from_s)
