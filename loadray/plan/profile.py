"""The cluster-wide arrival profile: rate(t), the cumulative intended count N(t), and
its inverse, the intended time of request k.

Pure math: no clock, no I/O. Request k (k = 0, 1, ...) is intended at the instant the
cumulative count reaches k, so the first request goes at t = 0 and a phase of
``duration`` seconds at ``rate`` req/s holds exactly ``duration * rate`` requests.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from loadray.scenario.model import Phase

if TYPE_CHECKING:
    from loadray.plan.revision import PlanPhase


@dataclass(frozen=True)
class Segment:
    """One phase placed on the time axis with the count already reached at its start."""

    index: int
    start_s: float
    duration_s: float
    rate: float
    end_rate: float
    start_count: float

    @property
    def end_s(self) -> float:
        return self.start_s + self.duration_s

    @property
    def count(self) -> float:
        return (self.rate + self.end_rate) * self.duration_s / 2.0

    @property
    def end_count(self) -> float:
        return self.start_count + self.count

    def rate_at(self, t: float) -> float:
        frac = (t - self.start_s) / self.duration_s
        return self.rate + (self.end_rate - self.rate) * frac

    def count_at(self, t: float) -> float:
        tau = t - self.start_s
        slope = (self.end_rate - self.rate) / self.duration_s
        return self.start_count + self.rate * tau + slope * tau * tau / 2.0

    def time_of(self, k: float) -> float:
        """Time at which the cumulative count reaches ``k`` (start_count <= k <= end_count)."""
        c = k - self.start_count
        a = (self.end_rate - self.rate) / (2.0 * self.duration_s)
        b = self.rate
        if c <= 0.0:
            return self.start_s
        disc = b * b + 4.0 * a * c
        # Stable root of a*tau^2 + b*tau - c = 0; also right for a == 0 (tau = c / b).
        tau = 2.0 * c / (b + math.sqrt(max(disc, 0.0)))
        return self.start_s + min(tau, self.duration_s)


    def times_of(self, ks: np.ndarray) -> np.ndarray:
        """:meth:`time_of` for many request numbers at once (same formula, vectorised)."""
        c = np.maximum(ks - self.start_count, 0.0)
        a = (self.end_rate - self.rate) / (2.0 * self.duration_s)
        b = self.rate
        denom = b + np.sqrt(np.maximum(b * b + 4.0 * a * c, 0.0))
        tau = np.divide(2.0 * c, denom, out=np.zeros_like(c), where=c > 0.0)
        return self.start_s + np.minimum(tau, self.duration_s)


class Profile:
    """Phases laid end to end."""

    def __init__(self, phases: Sequence[Phase | PlanPhase]) -> None:
        segments, start, count = [], 0.0, 0.0
        for i, phase in enumerate(phases):
            number = getattr(phase, "number", None)  # a PlanPhase keeps its row number
            seg = Segment(i if number is None else number, start, phase.duration_s, phase.rate, phase.end_rate, count)
            segments.append(seg)
            start, count = seg.end_s, seg.end_count
        self.segments: tuple[Segment, ...] = tuple(segments)
        self.duration_s = start
        self.total = count

    @property
    def intended(self) -> int:
        """How many requests the whole profile intends (k = 0 .. intended-1)."""
        return math.ceil(self.total - 1e-9)

    def segment_at(self, t: float) -> Segment | None:
        for seg in self.segments:
            if seg.start_s <= t < seg.end_s:
                return seg
        return None

    def rate(self, t: float) -> float:
        seg = self.segment_at(t)
        return 0.0 if seg is None else seg.rate_at(t)

    def count(self, t: float) -> float:
        """Cumulative intended count N(t): requests intended in [0, t)... as a real number."""
        if t <= 0.0:
            return 0.0
        seg = self.segment_at(t)
        return self.total if seg is None else seg.count_at(t)

    def segment_of(self, k: int) -> Segment:
        """The segment in which request ``k`` falls."""
        for seg in self.segments:
            if k < seg.end_count - 1e-9:
                return seg
        raise IndexError(f"request {k} is beyond the profile ({self.intended} intended)")

    def time_of(self, k: int) -> float:
        return self.segment_of(k).time_of(k)
