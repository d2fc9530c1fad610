"""The closed model's plan: when each virtual user is active.

In the closed model a phase's ``rate``/``to`` are user counts. User ``u`` (cluster-wide,
from 0) is active while the planned count ``users(t) >= u + 1``: with a constant phase
of N users, users 0..N-1 run the whole phase; in a ramp from a to b users join (or
leave) one by one as the line crosses each whole number. Worker ``w`` of ``W`` runs
the users with ``u % W == w``.
"""

from __future__ import annotations

import math

from loadray.plan.profile import Profile, Segment

Window = tuple[float, float]  # [start_s, end_s) since the common start
_EPS = 1e-9


def max_users(profile: Profile) -> int:
    """The most users active at any time."""
    return max((math.floor(max(s.rate, s.end_rate) + _EPS) for s in profile.segments), default=0)


def owned_users(profile: Profile, rank: int, workers: int) -> list[int]:
    return list(range(rank, max_users(profile), workers))


def active_windows(profile: Profile, user: int, from_s: float = 0.0) -> list[Window]:
    """The time intervals (from ``from_s`` on) in which ``user`` is active, merged."""
    need = user + 1
    windows: list[Window] = []
    for seg in profile.segments:
        span = _segment_span(seg, need)
        if span is None:
            continue
        start, end = max(span[0], from_s), span[1]
        if end - start <= _EPS:
            continue
        if windows and abs(windows[-1][1] - start) <= _EPS:
            windows[-1] = (windows[-1][0], end)
        else:
            windows.append((start, end))
    return windows


def _segment_span(seg: Segment, need: float) -> Window | None:
    """Where ``seg``'s count is >= ``need``: a linear count reaches it at one point."""
    a, b = seg.rate, seg.end_rate
    if a + _EPS >= need and b + _EPS >= need:
        return seg.start_s, seg.end_s
    if a + _EPS < need and b + _EPS < need:
        return None
    crossing = seg.start_s + seg.duration_s * (need - a) / (b - a)
    return (crossing, seg.end_s) if b > a else (seg.start_s, crossing)


def users_at(profile: Profile, t: float) -> int:
    return math.floor(profile.rate(t) + _EPS)


def phase_at(profile: Profile, t: float) -> int:
    """The phase number in force at ``t`` (the last one after the end)."""
    seg = profile.segment_at(t)
    if seg is None:
        seg = profile.segments[-1] if t >= profile.duration_s else profile.segments[0]
    return seg.index

