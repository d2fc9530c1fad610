"""When the disk says no: which write errors stop a run (full disk, quota, I/O error),
their one-line wording, and a small space reserve that is given back when the disk
fills so the archive can still record how it ended.
"""

from __future__ import annotations

import contextlib
import errno
import os
from collections.abc import Callable, Iterator
from pathlib import Path

from loadray.errors import ArchiveError, DiskError

__all__ = ["DEFAULT_RESERVE_BYTES", "SpaceReserve", "cut_message", "disk_problem", "is_disk_error",
           "reraise_disk_error", "write_guard"]

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


def disk_problem(exc: OSError) -> str:
    """``disk full``, ``disk quota exceeded``... for an error :func:`is_disk_error` accepts."""
    return _PROBLEMS.get(exc.errno or 0, "disk error")


def reraise_disk_error(exc: BaseException, path: str | os.PathLike[str], what: str) -> None:
    """Raise :class:`DiskError` (``disk full at PATH: WHAT``) when ``exc`` is a disk error."""
    if is_disk_error(exc):
        raise DiskError(f"{disk_problem(exc)} at {path}: {what}") from None  # type: ignore[arg-type]


def cut_message(problem: str, where: object, received: int, kept: int, rows: str = "rows") -> str:
    """The line of a part series the disk stopped: ``disk full at DIR after N rows; the
    archive holds the M rows written before`` (``rows``: what they are, e.g. "chunk rows")."""
    return f"{problem} at {where} after {received} {rows}; the archive holds the {kept} {rows} written before"


@contextlib.contextmanager
def write_guard(where: object, what: str, on_full: Callable[[OSError], object]) -> Iterator[None]:
    """Writes of ``what`` (samples, chunks) under ``where``: an OSError the disk raised
    because it is full goes to ``on_full`` (which stops the writer and raises
    :class:`DiskError`); any other one is ``ArchiveError`` (``WHERE: cannot write WHAT: why``)."""
    try:
        yield
    except OSError as exc:
        if not is_disk_error(exc):
            raise ArchiveError(f"{where}: cannot write {what}: {exc.strerror or exc}") from None
        on_full(exc)
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
        try:
            os.unlink(self.path)
        except FileNotFoundError:
            pass
