"""Typed records of what a run did besides its rows: events and worker placement.
Serialised to plain dicts in one place (:func:`as_dict`) for the archive."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Literal

EventKind = Literal[
    "rate", "pause", "resume", "stop", "abort", "breach",
    "fenced", "worker_lost", "redistribute", "restart", "restart_failed", "rejoined",
]


@dataclass(frozen=True)
class RunEvent:
    """Something that happened at ``at_s`` seconds after the common start."""

    at_s: float
    event: EventKind
    worker: int | None = None
    why: str | None = None  # a loss's or stop's reason, a breach's expression
    rate: float | None = None  # a rate change's new rate
    policy: str | None = None  # a loss's on_worker_loss policy
    value: float | None = None  # a breach's measured value
    workers: tuple[int, ...] | None = None  # a redistribution's survivors
    kind: str | None = None  # a breach's kind: threshold or breaker
    step: str | None = None  # the step a breached rule is scoped to


@dataclass(frozen=True)
class Placement:
    """Where one incarnation of a worker ran."""

    worker: int
    incarnation: int
    node: str
    address: str
    host: str
    pid: int
    clock_offset_ms: float | None = None  # its host's wall clock minus the driver's (corrected for)
    clock_error_ms: float | None = None  # +- that much


def as_dict(record: RunEvent | Placement) -> dict[str, Any]:
    """The record without its empty fields (``at_s`` rounded to the millisecond)."""
    out = {k: v for k, v in asdict(record).items() if v is not None}
    if "at_s" in out:
        out["at_s"] = round(out["at_s"], 3)
    if "workers" in out:
        out["workers"] = list(out["workers"])
    return out
