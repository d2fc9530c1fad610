"""What ``loadray submit`` and its job entrypoint say to each other through the job's log.

Ray's job server carries one thing from a job back to the submitting machine: the
entrypoint's stdout and stderr, as text. So the entrypoint (:mod:`loadray.cli.job_entry`)
writes, around and after loadray's own output, marker lines ``@@loadray-job <job id>
<what> ...``::

    @@loadray-job ID start                         the entrypoint is running
    @@loadray-job ID bundle SIZE SHA256 all|without-samples
    <the run directory as a tar archive, base64, LINE_CHARS characters a line>
    @@loadray-job ID bundle-end
    @@loadray-job ID left BYTES IP PATH            what did not come stayed there
    @@loadray-job ID stored URI                    (--out URI) the store holds the run
    @@loadray-job ID exit CODE                     loadray's own exit code

and the client reads them back with :class:`LogDecoder`; every other line is shown as
it is. A marker counts only at the start of a line and only with this job's id (random,
chosen by the client), so nothing loadray or a target prints can forge one.
"""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import tarfile
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import IO, BinaryIO

MARK = "@@loadray-job"
LINE_CHARS = 65536  # base64 characters per line (a multiple of 4: each line decodes alone)
SAMPLES = "samples"
WHOLE, WITHOUT_SAMPLES = "all", "without-samples"
DEFAULT_FETCH_LIMIT = 100 * 1024 * 1024  # bytes of archive a job sends back (--fetch-limit)
HELD_LINES = 200  # Ray's lines before the entrypoint ran, kept to explain a job that never started


def marker(job_id: str, *fields: object) -> str:
    return " ".join([MARK, job_id, *map(str, fields)])


# --- the cluster side --------------------------------------------------------------------


class TooLarge(Exception):
    """The archive would pass its size limit."""


class _Limited:
    """A binary file that refuses to grow past ``limit`` bytes."""

    def __init__(self, out: BinaryIO, limit: int) -> None:
        self.out, self.limit, self.size = out, limit, 0

    def write(self, data: bytes) -> int:
        self.size += len(data)
        if self.size > self.limit:
            raise TooLarge(self.size)
        return self.out.write(data)

    def tell(self) -> int:
        return self.size

    def flush(self) -> None:
        self.out.flush()


def pack(run_dir: Path, out: BinaryIO, limit: int, samples: bool = True) -> int:
    """Write ``run_dir``'s files (regular files and folders; ``samples/`` only when
    ``samples``) to ``out`` as an uncompressed tar (Parquet is compressed already);
    returns its size. Raises :class:`TooLarge` as soon as it passes ``limit`` bytes."""
    sink = _Limited(out, limit)
    with tarfile.open(fileobj=sink, mode="w", format=tarfile.PAX_FORMAT) as tar:  # type: ignore[call-overload]
        for path in sorted(run_dir.rglob("*")):
            rel = path.relative_to(run_dir)
            if not samples and rel.parts[0] == SAMPLES:
                continue
            if path.is_symlink() or not (path.is_file() or path.is_dir()):
                continue
            tar.add(path, arcname=rel.as_posix(), recursive=False)
    return sink.size


def bundle_lines(job_id: str, tar: BinaryIO, size: int, kind: str) -> Iterator[str]:
    """The marker lines and base64 lines that carry the ``size``-byte archive ``tar``."""
    tar.seek(0)
    digest = hashlib.sha256()
    for block in iter(lambda: tar.read(1 << 20), b""):
        digest.update(block)
    yield marker(job_id, "bundle", size, digest.hexdigest(), kind)
    tar.seek(0)
    chunk = LINE_CHARS // 4 * 3
    for block in iter(lambda: tar.read(chunk), b""):
        yield base64.b64encode(block).decode("ascii")
    yield marker(job_id, "bundle-end")


def tree_size(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file() and not p.is_symlink())


# --- the client side ---------------------------------------------------------------------


@dataclass(frozen=True)
class Left:
    """The run directory at ``ip:path`` stayed on the cluster: ``missing_bytes`` of it
    (``samples/``, or all of it) did not come, being over the limit."""

    missing_bytes: int
    ip: str
    path: str


@dataclass(frozen=True)
class Bundle:
    """A received archive, checked against its size and SHA-256."""

    file: IO[bytes]  # positioned anywhere; :func:`extract` rewinds it
    size: int
    kind: str


class LogDecoder:
    """Reads a job's log as it arrives (chunks may split lines anywhere): returns the
    lines to show and collects the markers. ``bundle_to`` is a binary file that
    receives the decoded archive.

    After a broken stream, :meth:`restart` makes the next ``feed`` skip what was read
    already (a job's log is re-sent from its start). With ``preamble`` False, the lines
    before the entrypoint's ``start`` (Ray's own) are held in :attr:`held`, not returned."""

    def __init__(self, job_id: str, bundle_to: IO[bytes], preamble: bool = True) -> None:
        self.prefix = f"{MARK} {job_id} "
        self.preamble = preamble
        self.held: deque[str] = deque(maxlen=HELD_LINES)
        self.started = False
        self.exit_code: int | None = None
        self.left: Left | None = None
        self.stored: str | None = None  # the URI the run was written to (--out URI)
        self.bundle: Bundle | None = None
        self.error: str | None = None  # what was wrong with the bundle
        self.receiving: tuple[int, str] | None = None  # (size, kind) while a bundle arrives
        self.read = 0  # characters of the log read so far
        self._at = 0  # characters of the current stream seen (a new stream starts at the log's start)
        self._partial = ""
        self._out = bundle_to
        self._expect: tuple[int, str, str] | None = None  # size, sha256, kind
        self._digest = hashlib.sha256()
        self._received = 0

    def restart(self) -> None:
        self._at = 0

    def feed(self, text: str) -> list[str]:
        start, self._at = self._at, self._at + len(text)
        if start < self.read:
            text = text[self.read - start:]
        self.read += len(text)
        *lines, self._partial = (self._partial + text).split("\n")
        return [shown for line in lines if (shown := self._line(line.rstrip("\r"))) is not None]

    def close(self) -> list[str]:
        """The last line, when the log does not end with a line break."""
        rest, self._partial = self._partial, ""
        shown = self._line(rest.rstrip("\r")) if rest else None
        return [] if shown is None else [shown]

    def _line(self, line: str) -> str | None:
        if self._expect is not None and not line.startswith(self.prefix):
            self._base64(line)
            return None
        if not line.startswith(self.prefix):
            if self.started or self.preamble:
                return line
            self.held.append(line)
            return None
        words = line[len(self.prefix):].split(" ")
        handler = getattr(self, "_on_" + words[0].replace("-", "_"), None)
        if handler is None:
            return line  # a marker of a newer entrypoint: show it rather than drop it
        try:
            handler(words[1:])
        except (ValueError, IndexError):
            self._fail(f"a malformed marker line: {line[:200]!r}")
        return None

    def _on_start(self, words: list[str]) -> None:
        self.started = True

    def _on_exit(self, words: list[str]) -> None:
        self.exit_code = int(words[0])

    def _on_left(self, words: list[str]) -> None:
        self.left = Left(int(words[0]), words[1], " ".join(words[2:]))

    def _on_stored(self, words: list[str]) -> None:
        if not words[0]:
            raise ValueError("stored without a URI")
        self.stored = words[0]

    def _on_bundle(self, words: list[str]) -> None:
        size, digest, kind = int(words[0]), words[1], words[2]
        self._out.seek(0)
        self._out.truncate()
        self._expect, self._digest, self._received = (size, digest, kind), hashlib.sha256(), 0
        self.receiving = (size, kind)

    def _base64(self, line: str) -> None:
        try:
            data = base64.b64decode(line, validate=True)
        except (binascii.Error, ValueError):
            self._fail(f"the run directory's archive has a line that is not base64: {line[:80]!r}")
            return
        self._digest.update(data)
        self._received += len(data)
        self._out.write(data)

    def _on_bundle_end(self, words: list[str]) -> None:
        if self._expect is None:
            raise ValueError("bundle-end without bundle")
        size, digest, kind = self._expect
        self._expect, self.receiving = None, None
        if self._received != size or self._digest.hexdigest() != digest:
            self._fail(f"the run directory's archive arrived damaged ({self._received} of {size} bytes, "
                       f"checksum {'ok' if self._digest.hexdigest() == digest else 'wrong'})")
            return
        self._out.flush()
        self.bundle = Bundle(self._out, size, kind)

    def _fail(self, what: str) -> None:
        self.error = self.error or what  # the first thing that went wrong explains the rest


class UnsafeArchive(Exception):
    pass


def extract(bundle: Bundle, dest: Path) -> list[str]:
    """Unpack ``bundle`` into the existing folder ``dest``: regular files and folders
    only, every name relative and inside ``dest``. Returns the names written."""
    bundle.file.seek(0)
    names = []
    with tarfile.open(fileobj=bundle.file, mode="r:") as tar:
        members = tar.getmembers()
        for m in members:
            _check_member(m)
        for m in members:
            target = dest.joinpath(*PurePosixPath(m.name).parts)
            if m.isdir():
                target.mkdir(parents=True, exist_ok=True)
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            source = tar.extractfile(m)
            assert source is not None
            with open(target, "wb") as out:
                for block in iter(functools.partial(source.read, 1 << 20), b""):
                    out.write(block)
            names.append(m.name)
    return names


def _check_member(m: tarfile.TarInfo) -> None:
    name = PurePosixPath(m.name)
    if not (m.isfile() or m.isdir()):
        raise UnsafeArchive(f"{m.name!r} is not a regular file or folder")
    if name.is_absolute() or ".." in name.parts or not name.parts or "\\" in m.name:
        raise UnsafeArchive(f"{m.name!r} is not a plain relative name")
