"""Every planned request accounted for: ``planned = rows + lost + unknown``, exactly.

Per incarnation of a worker (a restart makes a new one):

- ``planned``: what the plan gave it until its share was closed (a loss, a
  redistribution) or the run stopped; for a worker that delivered everything, what
  it walked through itself (its ``intended`` count).
- ``rows``: arrivals (requests, or flow instances) the archive holds a row for.
- ``lost``: provably never sent: planned after the worker fenced itself.
- ``unknown``: may or may not have been sent: planned before a silent worker's fence,
  with no row in the archive (its host never came back).

Pure: plan shares and delivery counts in, a :class:`Tally` out.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from loadray.plan.revision import Assignment, planned_count


@dataclass(frozen=True)
class Share:
    """What the plan gave one incarnation, and what the coordinator knows of its end."""

    index: int
    incarnation: int
    assignments: tuple[tuple[Assignment, float], ...]  # (assignment, until_s)
    lost: bool = False  # declared lost during the run
    silent_from_s: float = math.inf  # after this it provably sent nothing


@dataclass(frozen=True)
class Delivery:
    """What reached the archive from one incarnation."""

    arrivals: int = 0
    intended: int | None = None  # its own count, when it reported after finishing
    complete: bool = False  # it finished and every row it recorded was acknowledged
    skipped: int = 0  # planned to it, never sent: a revision reached it late


@dataclass(frozen=True)
class Tally:
    planned: int = 0
    rows: int = 0
    lost: int = 0
    unknown: int = 0

    def __add__(self, other: Tally) -> Tally:
        return Tally(self.planned + other.planned, self.rows + other.rows,
                     self.lost + other.lost, self.unknown + other.unknown)


def scheduled(share: Share, until_s: float) -> int:
    """Requests the plan gave ``share`` before ``until_s``."""
    return sum(planned_count(a, min(u, until_s)) for a, u in share.assignments if min(u, until_s) > a.from_s)


def tally(share: Share, delivery: Delivery, stop_s: float, scheduled_model: bool = True) -> Tally:
    """The incarnation's part of the identity. ``stop_s``: when the run stopped (its
    planned end if it ran to the end). ``scheduled_model`` False (closed model): the
    plan does not fix a count, only what the worker said it started is known."""
    rows = delivery.arrivals
    if delivery.complete and delivery.intended is not None:
        done = delivery.intended  # every request it walked through has a row, or is unknown
        walked = done + delivery.skipped
        planned = max(scheduled(share, stop_s), walked) if share.lost and scheduled_model else walked
        return _balanced(planned, rows, unknown=max(0, done - rows))
    if not scheduled_model:
        known = max(rows, delivery.intended or 0)
        return _balanced(known, rows, unknown=known - rows)
    planned = max(scheduled(share, stop_s), rows)
    maybe_sent = scheduled(share, min(stop_s, share.silent_from_s))
    return _balanced(planned, rows, unknown=max(0, maybe_sent - rows))


def _balanced(planned: int, rows: int, unknown: int) -> Tally:
    unknown = min(unknown, planned - rows)
    return Tally(planned, rows, planned - rows - unknown, unknown)


def orphaned(planned: int | None, rows: int) -> Tally:
    """The identity when the coordinator died with every share it knew: ``planned``,
    what the scenario's plan gave the whole cluster until the stop (None in the closed
    model, whose plan fixes no count: then the rows are all that is known); every planned
    arrival without a row may or may not have been sent."""
    planned = rows if planned is None else max(planned, rows)
    return Tally(planned, rows, 0, planned - rows)
