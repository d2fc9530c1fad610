"""A live control command (``loadray control RUN_DIR --rate 600``) as a typed value,
and its wire form: :meth:`Command.to_json` and :meth:`Command.parse` are the one place
it is written and read (the control endpoint's body; the coordinator gets the value).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal, get_args

from loadray.units import shorten

__all__ = ["COMMAND_KINDS", "Command", "CommandKind"]

CommandKind = Literal["rate", "pause", "resume", "stop"]
COMMAND_KINDS: tuple[CommandKind, ...] = get_args(CommandKind)


@dataclass(frozen=True)
class Command:
    """``rate`` carries the new rate (req/s, or users in the closed model); the other
    kinds carry none."""

    kind: CommandKind
    rate: float | None = None

    def to_json(self) -> dict[str, Any]:
        return {"command": self.kind, "rate": self.rate}

    @classmethod
    def parse(cls, body: object, check_rate: Any) -> Command:
        """A command from a body ``{"command": ..., "rate": ...}``; ``check_rate(value)``
        turns a rate into a float or raises ``ValueError``. A bad body raises
        ``ValueError`` with a one-line reason."""
        if not isinstance(body, dict):
            raise ValueError('expected a JSON object {"command": ..., "rate": ...}')
        kind, rate = body.get("command"), body.get("rate")
        if kind not in COMMAND_KINDS:
            raise ValueError(f"unknown command {shorten(kind)} (expected one of: {', '.join(COMMAND_KINDS)})")
        if kind == "rate":
            try:
                return cls("rate", check_rate(rate))
            except ValueError as exc:
                raise ValueError(f"rate: {exc}") from None
        if rate is not None:
            raise ValueError(f"rate: only the 'rate' command takes one, not {kind!r}")
        return cls(kind)
