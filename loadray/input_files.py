"""Reading files an operator names (scenarios, feeders): regular files only, of bounded size.

A device (``/dev/zero``), a pipe or a socket is refused before a byte is read, and a
file larger than its limit is refused after at most ``limit + 1`` bytes: nothing here
can grow without bound. Errors are :class:`ScenarioError` naming the file.
"""

from __future__ import annotations

import os
import stat

from loadray.errors import ScenarioError
from loadray.units import format_size


def read_limited(path: str | os.PathLike[str], limit: int, kind: str, raise_with: str) -> bytes:
    """The bytes of the regular file at ``path``; ``kind`` names it in messages
    (``scenario file``) and ``raise_with`` says how to raise ``limit``."""
    where = os.fspath(path)
    try:
        fd = os.open(where, os.O_RDONLY | os.O_NONBLOCK)  # a FIFO must not block the open
    except FileNotFoundError:
        raise ScenarioError(where, "no such file") from None
    except IsADirectoryError:
        raise ScenarioError(where, f"is a directory, not a {kind}") from None
    except OSError as exc:
        raise ScenarioError(where, f"cannot read: {exc.strerror or exc}") from None
    try:
        data = _read(fd, where, limit, kind, raise_with)
    except OSError as exc:
        raise ScenarioError(where, f"cannot read: {exc.strerror or exc}") from None
    finally:
        os.close(fd)
    if len(data) > limit:  # it grew, or its size was not known (/proc)
        raise _too_big(where, f"more than {format_size(limit)}", limit, raise_with)
    return data


def _read(fd: int, where: str, limit: int, kind: str, raise_with: str) -> bytes:
    info = os.fstat(fd)
    if stat.S_ISDIR(info.st_mode):
        raise ScenarioError(where, f"is a directory, not a {kind}")
    if not stat.S_ISREG(info.st_mode):
        raise ScenarioError(where, f"is not a regular file (a device, pipe or socket), not a {kind}")
    if info.st_size > limit:
        raise _too_big(where, format_size(info.st_size), limit, raise_with)
    chunks, left = [], limit + 1
    while left > 0:
        chunk = os.read(fd, min(left, 1 << 20))
        if not chunk:
            break
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def _too_big(where: str, size: str, limit: int, raise_with: str) -> ScenarioError:
    return ScenarioError(where, f"is {size}, over the limit of {format_size(limit)} ({raise_with})")
