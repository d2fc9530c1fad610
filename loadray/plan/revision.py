"""Plan revisions: changing the schedule mid-run without breaking its count.

The effective plan is always a list of :class:`PlanPhase` laid from t = 0, so the
cumulative count N(t) of a revised plan equals the old one up to the revision instant
and the request numbers k continue. Revisions come from live control (a new rate, a
pause, a resume) and from worker loss (the same plan over fewer workers).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

from loadray.plan.profile import Profile
from loadray.plan.split import first_k_at, owned_between
from loadray.scenario.model import Phase


@dataclass(frozen=True)
class PlanPhase:
    """A phase of the effective plan; ``number`` is what rows carry in ``phase``."""

    duration_s: float
    rate: float
    to: float | None
    number: int

    @property
    def end_rate(self) -> float:
        return self.rate if self.to is None else self.to


@dataclass(frozen=True)
class Assignment:
    """What one worker sends: its rank among ``workers`` under ``phases`` from ``from_s``."""

    phases: tuple[PlanPhase, ...]
    workers: int
    rank: int
    from_s: float = 0.0
    revision: int = 0


def plan_phases(phases: Sequence[Phase]) -> tuple[PlanPhase, ...]:
    return tuple(PlanPhase(p.duration_s, p.rate, p.to, i) for i, p in enumerate(phases))


def split_at(phases: Sequence[PlanPhase], t: float) -> tuple[list[PlanPhase], list[PlanPhase]]:
    """The plan before and after ``t``; a phase spanning ``t`` is cut in two (same number)."""
    before, after, start = [], [], 0.0
    for p in phases:
        end = start + p.duration_s
        if end <= t:
            before.append(p)
        elif start >= t:
            after.append(p)
        else:
            mid = p.rate + (p.end_rate - p.rate) * (t - start) / p.duration_s
            before.append(replace(p, duration_s=t - start, to=None if p.to is None else mid))
            after.append(replace(p, duration_s=end - t, rate=mid if p.to is not None else p.rate))
        start = end
    return before, after


def with_rate(phases: Sequence[PlanPhase], t: float, rate: float, end_s: float, number: int) -> tuple[PlanPhase, ...]:
    """Hold ``rate`` (0 pauses) from ``t`` to ``end_s``; the run's end does not move."""
    before, _ = split_at(phases, t)
    tail = [PlanPhase(end_s - t, rate, None, number)] if end_s > t else []
    return tuple(before + tail)


def with_base(phases: Sequence[PlanPhase], t: float, base: Sequence[PlanPhase]) -> tuple[PlanPhase, ...]:
    """Go back to the scenario's own plan from ``t`` (``resume``)."""
    before, _ = split_at(phases, t)
    _, after = split_at(base, t)
    return tuple(before + after)


def planned_count(a: Assignment, until_s: float) -> int:
    """Requests ``a`` gives its worker in [a.from_s, until_s)."""
    profile = Profile(a.phases)
    lo = first_k_at(profile, a.from_s)
    hi = min(first_k_at(profile, until_s), profile.intended)
    return owned_between(lo, hi, a.rank, a.workers)
