"""The one exception tree for operator mistakes and environment failures.

Request failures are never exceptions: they are rows with ``status``/``error``.
Everything a user can get wrong (bad YAML, bad flag, unreachable cluster) raises a
subclass of :class:`LoadrayError`; the CLI prints ``str(exc)`` as one line and exits
with ``exc.exit_code``.
"""

from __future__ import annotations

import signal

__all__ = [
    "LoadrayError",
    "UsageError",
    "ScenarioError",
    "ClusterError",
    "TargetError",
    "ArchiveError",
    "DiskError",
    "Interrupted",
]

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_USAGE = 2
EXIT_THRESHOLDS = 99
EXIT_SIGINT = 130
EXIT_SIGTERM = 143


class LoadrayError(Exception):
    """Root of every error loadray raises on purpose."""

    exit_code = EXIT_FAILURE


class UsageError(LoadrayError):
    """A bad command line: names the flag that is wrong."""

    exit_code = EXIT_USAGE


class ScenarioError(LoadrayError):
    """A bad scenario: names the YAML path (``load.phases[1].rate``) that is wrong."""

    exit_code = EXIT_USAGE

    def __init__(self, path: str, message: str) -> None:
        self.path = path
        self.message = message
        super().__init__(f"{path}: {message}" if path else message)


class ClusterError(LoadrayError):
    """Ray could not be reached, or workers could not be placed or started."""


class CoordinatorLost(ClusterError):
    """The run's coordinator died or stopped answering mid-run: its workers went with it
    (Ray ends the actors an actor made). The run stops; what was archived stays."""


class TargetError(LoadrayError):
    """The built-in target could not be started."""


class ArchiveError(LoadrayError):
    """A run directory is missing, unreadable, or of a newer schema."""

    exit_code = EXIT_USAGE


class DiskError(ArchiveError):
    """The disk refused a write (full, over quota, I/O error, read-only, a directory
    removed or made immutable): the run stops, what was written before stays readable."""

    exit_code = EXIT_FAILURE


class Interrupted(LoadrayError):
    """SIGINT or SIGTERM ended the command before it finished: exit 130 or 143."""

    def __init__(self, signum: int, message: str = "") -> None:
        self.signum = int(signum)
        super().__init__(message or f"interrupted by {signal_name(self.signum)}")

    @property
    def exit_code(self) -> int:  # type: ignore[override]
        return EXIT_SIGTERM if self.signum == signal.SIGTERM else EXIT_SIGINT


def signal_name(signum: int) -> str:
    """``SIGTERM`` for 15; the number itself for a signal Python does not name."""
    try:
        return signal.Signals(signum).name
    except ValueError:
        return f"signal {signum}"
