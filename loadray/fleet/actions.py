"""What the conductor asks its Ray shell to do: typed, one record per kind."""

from __future__ import annotations

from dataclasses import dataclass

from loadray.live.rules import Breach
from loadray.plan.revision import Assignment

Key = tuple[int, int]  # (worker index, incarnation)


@dataclass(frozen=True)
class Start:
    """Run ``key``'s worker from the common start under ``assignment``."""

    key: Key
    assignment: Assignment


@dataclass(frozen=True)
class Revise:
    key: Key
    assignment: Assignment


@dataclass(frozen=True)
class Halt:
    """Stop sending (a stop, an abort); fire and forget: a partitioned worker fences itself."""

    key: Key


@dataclass(frozen=True)
class Spawn:
    """Create and pre-warm incarnation ``key`` (a restart), preferably not on ``avoid_node``."""

    key: Key
    avoid_node: str | None


@dataclass(frozen=True)
class Alert:
    breach: Breach


Action = Start | Revise | Halt | Spawn | Alert
