"""When the disk says no: every write error of the run's parts stops the writer (a full
disk, a quota, an I/O error, and as well a file system remounted read-only, a directory
removed or made immutable under it: its open parts are dropped, never renamed into
place half written), their one-line wording (``disk full``, ``read-only file
system``...), and a small space reserve that is given back when the disk fills so the
archive can still record how it ended.
"""

from __future__ import annotations

import contextlib
import errno
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeGuard

from loadray.errors import DiskError

__all__ = ["DEFAULT_RESERVE_BYTES", "SpaceReserve", "cut_message", "disk_problem", "is_disk_error", "refused",
           "reraise_disk_error", "stops_writing", "write_guard"]

#: What a full disk still needs for the last manifest (a few hundred bytes per part).
DEFAULT_RESERVE_BYTES = 1 << 20
RESERVE_NAME = ".loadray-reserve"

_PROBLEMS = {
    errno.ENOSPC: "disk full",
    errno.EDQUOT: "disk quota exceeded",
    errno.EIO: "disk I/O error",
    errno.EFBIG: "file too large",
}


def is_disk_error(exc: BaseException) -> bool:
    """An OSError the disk raised because it cannot take more (or cannot write at all)."""
    return isinstance(exc, OSError) and exc.errno in _PROBLEMS


def stops_writing(exc: BaseException) -> TypeGuard[OSError]:
    """A write error no second attempt mends: one the operating system raised (it has
    an errno: a full disk, a read-only file system, a directory removed...). An object
    store's (unreachable, throttled: no errno) may pass, and is worth trying again."""
    return isinstance(exc, OSError) and exc.errno is not None


def disk_problem(exc: OSError) -> str:
    """``disk full``, ``disk quota exceeded``... for an error :func:`is_disk_error` accepts,
    the OS's words for another (``read-only file system``, ``operation not permitted``)."""
    if exc.errno in _PROBLEMS:
        return _PROBLEMS[exc.errno]
    return os.strerror(exc.errno).lower() if exc.errno else "write error"


def refused(exc: OSError, path: str | os.PathLike[str], what: str) -> DiskError:
    """The error of a write the disk refused: ``PROBLEM at PATH: WHAT`` (exit 1)."""
    return DiskError(f"{disk_problem(exc)} at {path}: {what}")


def reraise_disk_error(exc: BaseException, path: str | os.PathLike[str], what: str) -> None:
    """Raise :class:`DiskError` (``disk full at PATH: WHAT``) when ``exc`` is a disk error."""
    if is_disk_error(exc):
        raise refused(exc, path, what) from None  # type: ignore[arg-type]


def cut_message(problem: str, where: object, received: int, kept: int, rows: str = "rows") -> str:
    """The line of a part series the disk stopped: ``disk full at DIR after N rows; the
    archive holds the M rows written before`` (``rows``: what they are, e.g. "chunk rows")."""
    return f"{problem} at {where} after {received} {rows}; the archive holds the {kept} {rows} written before"


@contextlib.contextmanager
def write_guard(on_stop: Callable[[OSError], object]) -> Iterator[None]:
    """Writes of a writer's parts: any OSError (a full disk, and as well a read-only file
    system, a directory removed or made immutable under it...) goes to ``on_stop``, which
    drops the open parts (so none is renamed into place half written), stops the writer
    and raises :class:`DiskError` (``PROBLEM at WHERE after N rows...``, PROBLEM from
    :func:`disk_problem`)."""
    try:
        yield
    except OSError as exc:
        on_stop(exc)
        raise


class SpaceReserve:
    """A file of ``nbytes`` that holds space for the end of a run: :meth:`release`
    deletes it when the disk is full, so a few small files can still be written."""

    def __init__(self, directory: str | os.PathLike[str], nbytes: int = DEFAULT_RESERVE_BYTES) -> None:
        self.path = Path(directory) / RESERVE_NAME
        self.nbytes = int(nbytes)
        if self.nbytes > 0:
            self._fill()

    def _fill(self) -> None:
        fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        try:
            try:
                os.posix_fallocate(fd, 0, self.nbytes)
            except OSError as exc:
                if exc.errno not in (errno.EOPNOTSUPP, errno.EINVAL):
                    raise
                os.write(fd, bytes(self.nbytes))  # a file system without fallocate
        except BaseException:
            os.close(fd)
            self.release()
            raise
        os.close(fd)

    def release(self) -> None:
        """Delete the reserve (gone already, or in a directory that refuses it: nothing to give)."""
        with contextlib.suppress(OSError):
            os.unlink(self.path)
