"""Where a run lives: a local directory, or a storage URI read through ``pyarrow.fs``.

``locate("runs/x")`` is the local directory; ``locate("s3://bucket/prefix/run")`` (also
``gs://``, ``hdfs://``, ``file://`` on a shared mount, any scheme
``pyarrow.fs.FileSystem.from_uri`` knows) is the run under that URI. For ``s3://`` the
endpoint comes from ``AWS_ENDPOINT_URL_S3``, else ``AWS_ENDPOINT_URL`` (an S3-compatible
store: MinIO, Ceph, moto...), the region from ``AWS_REGION`` / ``AWS_DEFAULT_REGION``,
credentials from the AWS SDK's usual chain (``AWS_ACCESS_KEY_ID``..., ``~/.aws``); query
options of the URI (``?endpoint_override=...&scheme=http``) win over the environment.

A ``Path`` made from a URI has lost a slash (``Path("s3://b/k")`` is ``s3:/b/k``): such
a path is read as the URI it came from, so a command line parsed into ``Path`` objects
still reaches the store.

A store that does not answer (a hung server, a black-holed endpoint: the connection is
accepted, no byte comes back) holds each call for the AWS SDK's limits: 1 s to connect,
3 s without a byte, 3 attempts (~10 s a look, ~30 s an upload). :func:`silence` asks once
with a bound of its own, so the end of a run spends at most :data:`ANSWER_WAIT_S` on a
store that is gone (:class:`StoreSilent`).
"""

from __future__ import annotations

import os
import re
import threading
from dataclasses import dataclass
from pathlib import Path, PurePath
from urllib.parse import parse_qs, urlsplit

import pyarrow.fs as pafs

from loadray.errors import ArchiveError, DiskError, UsageError

from .diskspace import refused

__all__ = ["ANSWER_WAIT_S", "RunLocation", "StoreSilent", "check_scheme", "is_uri", "locate", "silence",
           "spelled_as_uri"]

#: Schemes read as storage URIs (anything else with a ``:`` is a local path).
SCHEMES = ("s3", "gs", "gcs", "hdfs", "viewfs", "abfs", "abfss", "file", "mock")
_URI = re.compile(r"^([a-z][a-z0-9+.-]*):(/*)(.*)$", re.IGNORECASE | re.DOTALL)
# Local files are memory-mapped: the Parquet decoder reads the compressed pages from the
# page cache where they are (a part is complete once renamed into place, never changed).
_LOCAL = pafs.LocalFileSystem(use_mmap=True)
#: How long :func:`silence` waits for the store to answer one look at the run.
ANSWER_WAIT_S = 5.0


class StoreSilent(DiskError):
    """The run's store did not answer at the end of the run (exit 1): nothing more was
    asked of it (the line says what it holds and where the other rows went)."""


def _uri_text(where: str | os.PathLike[str]) -> str | None:
    """The URI ``where`` names, or None for a local path (see the module docstring)."""
    text = os.fspath(where)
    found = _URI.match(text)
    if found is None or found.group(1).lower() not in SCHEMES:
        return None
    scheme, slashes, rest = found.group(1).lower(), found.group(2), found.group(3)
    if isinstance(where, PurePath) and len(slashes) == 1:  # Path("s3://b/k") -> "s3:/b/k"
        slashes = "///" if scheme == "file" else "//"
    return f"{scheme}:{slashes}{rest}"


def is_uri(where: str | os.PathLike[str]) -> bool:
    """Whether ``where`` names a storage URI rather than a local path."""
    return _uri_text(where) is not None


def spelled_as_uri(where: str | os.PathLike[str]) -> bool:
    """Whether ``where`` is written as a storage URI (``scheme:/...``, also of a scheme
    loadray does not read, or a scheme it reads; a Windows drive ``C:`` aside) rather
    than a local path."""
    text = os.fspath(where)
    found = _URI.match(text)
    if found is None or len(found.group(1)) == 1:
        return False
    return bool(found.group(2)) or found.group(1).lower() in SCHEMES


def check_scheme(where: str | os.PathLike[str]) -> None:
    """A run's place written as a URI of a scheme loadray does not read (``s4://b/x``) is
    refused (:class:`UsageError` naming ``--out``), never made as a local ``s4:`` folder."""
    if spelled_as_uri(where) and not is_uri(where):
        text = os.fspath(where)
        known = ", ".join(f"{s}://" for s in SCHEMES if s != "mock")
        raise UsageError(f"--out {text}: unsupported storage scheme {text.split(':', 1)[0]!r} (a local directory, "
                         f"or one of {known})")


def _s3(uri: str) -> tuple[pafs.FileSystem, str]:
    """An S3 file system honouring ``AWS_ENDPOINT_URL_S3`` / ``AWS_ENDPOINT_URL`` (pyarrow
    reads only the latter) and the path inside it. Writes open lazily
    (``allow_delayed_open``): an object under 10 MiB is then one PutObject, never a
    multipart upload a failure could leave behind (see :mod:`.store_part`)."""
    parts = urlsplit(uri)
    query = parse_qs(parts.query)
    endpoint = os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL")
    if "endpoint_override" in query or not endpoint:
        lazy = "" if "allow_delayed_open" in query else f"{'&' if parts.query else '?'}allow_delayed_open=true"
        return pafs.FileSystem.from_uri(uri + lazy)
    target = urlsplit(endpoint if "://" in endpoint else f"https://{endpoint}")
    region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"
    fs = pafs.S3FileSystem(endpoint_override=target.netloc, scheme=target.scheme or "https", region=region,
                           allow_delayed_open=True)
    return fs, f"{parts.netloc}{parts.path}".rstrip("/")


def _filesystem(uri: str) -> tuple[pafs.FileSystem, str]:
    try:
        if uri.startswith("s3:"):
            return _s3(uri)
        return pafs.FileSystem.from_uri(uri)
    except (OSError, ValueError, TypeError) as exc:  # pyarrow maps its errors to these
        raise ArchiveError(f"{uri}: cannot open: {str(exc).splitlines()[0]}") from None


@dataclass(frozen=True)
class RunLocation:
    """A run directory on some file system: ``root`` is its path inside ``filesystem``
    (no trailing slash); ``local`` is the directory as given when it is local (None
    for a URI); ``display`` names it in messages."""

    filesystem: pafs.FileSystem
    root: str
    display: str
    local: Path | None = None

    def __str__(self) -> str:
        return self.display

    @property
    def name(self) -> str:
        """The run directory's own name (its last path component)."""
        return self.root.rstrip("/").rsplit("/", 1)[-1]

    def path(self, *parts: str) -> str:
        """The path of ``parts`` inside the run, for ``filesystem``."""
        return "/".join([self.root, *parts])

    def shown(self, *parts: str) -> str:
        """``parts`` inside the run as the user would write it (for messages)."""
        if self.local is not None:
            return str(self.local.joinpath(*parts))
        return "/".join([self.display.rstrip("/"), *parts])

    def kind(self, *parts: str) -> pafs.FileType:
        try:
            return self.filesystem.get_file_info(self.path(*parts)).type
        except OSError as exc:
            raise ArchiveError(f"{self.shown(*parts)}: cannot read: {str(exc).splitlines()[0]}") from None

    def is_file(self, *parts: str) -> bool:
        return self.kind(*parts) == pafs.FileType.File

    def is_dir(self, *parts: str) -> bool:
        """A directory; on an object store, a prefix that holds at least one object."""
        if self.kind(*parts) == pafs.FileType.Directory:
            return True
        return self.local is None and bool(self.files(*parts))

    def files(self, *parts: str) -> list[pafs.FileInfo]:
        """The files directly inside directory ``parts`` (none when it does not exist)."""
        selector = pafs.FileSelector(self.path(*parts), allow_not_found=True, recursive=False)
        try:
            return [i for i in self.filesystem.get_file_info(selector) if i.type == pafs.FileType.File]
        except OSError as exc:
            raise ArchiveError(f"{self.shown(*parts)}: cannot list: {str(exc).splitlines()[0]}") from None

    def read_bytes(self, *parts: str) -> bytes:
        """The file's bytes; FileNotFoundError when it is missing, OSError otherwise."""
        if self.local is not None:
            return self.local.joinpath(*parts).read_bytes()
        if not self.is_file(*parts):
            raise FileNotFoundError(self.shown(*parts))
        with self.filesystem.open_input_stream(self.path(*parts)) as f:
            return f.read()

    def write_bytes(self, data: bytes, *parts: str) -> None:
        """Replace the file whole: locally a temp file renamed into place; on an object
        store one PUT (readers see the old object or the new one, never half). A write
        the store refuses (or that cannot reach it) raises :class:`DiskError`, as a
        full disk does."""
        if self.local is not None:
            from .rundir import write_bytes_atomic

            target = self.local.joinpath(*parts)
            try:
                for depth in range(1, len(parts)):  # never the run directory itself (removed: ENOENT)
                    self.local.joinpath(*parts[:depth]).mkdir(exist_ok=True)
                write_bytes_atomic(target, data)
            except OSError as exc:  # not a full disk (that is DiskError already): read-only...
                raise refused(exc, target.parent, f"could not write {target.name}") from None
            return
        try:
            with self.filesystem.open_output_stream(self.path(*parts)) as f:
                f.write(data)
        except OSError as exc:
            raise DiskError(f"{self.shown(*parts)}: cannot write: {str(exc).splitlines()[0]}") from None


def locate(where: str | os.PathLike[str] | RunLocation) -> RunLocation:
    """The :class:`RunLocation` of a local directory or a storage URI."""
    if isinstance(where, RunLocation):
        return where
    uri = _uri_text(where)
    if uri is None:
        local = Path(where)
        return RunLocation(_LOCAL, os.path.abspath(local), str(local), local)
    fs, root = _filesystem(uri)
    if isinstance(fs, pafs.LocalFileSystem):  # file:///shared/mount/run
        local = Path(root)
        return RunLocation(_LOCAL, root.rstrip("/") or "/", uri, local)
    return RunLocation(fs, root.rstrip("/"), uri)


def silence(loc: RunLocation, within_s: float = ANSWER_WAIT_S) -> str | None:
    """None when the store answers one look at the run (whatever the answer: a refusal
    is an answer) within ``within_s``; else why not: ``no answer in 5 s``, or the error
    of a store that cannot be reached (S3: the SDK's ``NETWORK_CONNECTION``, e.g. a
    refused connection: ``Failed to connect to 127.0.0.1:9000 after 0 ms: Could not
    connect to server``). A look that hangs is left to the SDK's own limits in a daemon
    thread (it writes nothing). A local directory always answers."""
    if loc.local is not None:
        return None
    answer: list[BaseException | None] = []

    def look() -> None:
        try:
            loc.filesystem.get_file_info(loc.root)
            answer.append(None)
        except BaseException as exc:  # told to the caller
            answer.append(exc)

    thread = threading.Thread(target=look, name="loadray-store-look", daemon=True)
    thread.start()
    thread.join(within_s)
    if not answer:
        return f"no answer in {within_s:g} s"
    text = (str(answer[0] or "").splitlines() or [""])[0]
    if "NETWORK_CONNECTION" in text:  # the SDK's words after its preamble: "Failed to connect to ..."
        return text.split("Details: ", 1)[-1]
    return None
