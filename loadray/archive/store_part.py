"""One Parquet part written by a worker straight to the run's storage, visible only
once complete (in ``samples/``, or its ``chunks/`` companion, :mod:`.part_series`).

- A local directory (also ``file://`` on a shared mount): streamed to a hidden
  temporary name and renamed into place after fsync (:class:`~.part.OpenPart`).
- An object store (``s3://``, ``gs://``): encoded into memory and uploaded in one go
  when it completes. S3 makes an object visible only when its upload completes, GCS
  when its upload ends: a worker that dies mid-part leaves no object. On S3 the part
  goes up as one PutObject (:mod:`.fs` opens S3 with ``allow_delayed_open``: pyarrow
  then starts a multipart upload only for an object of 10 MiB or more), so an upload
  that fails or is cut leaves nothing behind either, not even an incomplete multipart
  upload (invisible, but billed until an ``AbortIncompleteMultipartUpload`` lifecycle
  rule drops it): :mod:`.part_series` completes a part before it reaches
  :data:`STORE_PART_BYTES`. (pyarrow cannot abort a multipart upload it started.)
- Any other ``pyarrow.fs`` file system (``hdfs://``...): encoded into memory, uploaded
  under the hidden temporary name, then moved into place.

A part is small (a few seconds of one worker's rows: delta-packed integers keep them
at ~6-17 B a row), so holding one in memory costs little.
"""

from __future__ import annotations

import contextlib
from pathlib import Path

import pyarrow as pa

from .fs import RunLocation
from .part import OpenPart, parquet_writer, temp_name
from .rundir import SAMPLES_DIR

__all__ = ["OBJECT_STORES", "STORE_PART_BYTES", "StorePart", "ensure_dir", "ensure_samples_dir", "open_part"]

#: File systems whose objects appear only once their upload completed.
OBJECT_STORES = ("s3", "gcs")
#: An object-store part is completed once its encoded row groups reach this: with the
#: row group still pending (131 072 rows, ~2 MiB at most) and the footer it stays under
#: pyarrow's 10 MiB multipart threshold, so it is one PutObject.
STORE_PART_BYTES = 6 * 1024 * 1024


class StorePart:
    """A part encoded in memory, uploaded when :meth:`finish` is called."""

    def __init__(self, loc: RunLocation, name: str, schema: pa.Schema, opened_at: float,
                 directory: str = SAMPLES_DIR) -> None:
        self.name = name
        self.opened_at = opened_at
        self.rows = 0
        self._loc, self._directory = loc, directory
        self._buffer = pa.BufferOutputStream()
        self._writer = parquet_writer(self._buffer, schema)

    @property
    def nbytes(self) -> int:
        """The bytes encoded so far (row groups written; not the footer)."""
        return self._buffer.tell()

    def write(self, table: pa.Table) -> None:
        self._writer.write_table(table)
        self.rows += table.num_rows

    def finish(self, metadata: dict[str, str] | None = None) -> str:
        """Footer (with ``metadata``), upload; returns the part's path in the store."""
        if metadata:
            self._writer.add_key_value_metadata(metadata)
        self._writer.close()
        data = self._buffer.getvalue()
        fs, final = self._loc.filesystem, self._loc.path(self._directory, self.name)
        direct = fs.type_name in OBJECT_STORES
        target = final if direct else self._loc.path(self._directory, temp_name(self.name))
        with fs.open_output_stream(target) as out:
            out.write(data)
        if not direct:
            fs.move(target, final)
        return final

    def abort(self) -> None:
        """Drop the part (nothing was uploaded yet); never raises."""
        with contextlib.suppress(Exception):
            self._writer.close()
        self._buffer = pa.BufferOutputStream()


def open_part(loc: RunLocation, name: str, schema: pa.Schema, opened_at: float,
              directory: str = SAMPLES_DIR) -> OpenPart | StorePart:
    """The part ``name`` in ``directory`` (``samples/``) of ``loc``, open for writing (see
    the module docstring for how each kind of storage makes it visible only when complete)."""
    if loc.local is not None:
        return OpenPart(Path(loc.root) / directory, name, schema, opened_at)
    return StorePart(loc, name, schema, opened_at, directory)


def ensure_dir(loc: RunLocation, directory: str) -> None:
    """Create ``directory`` in the run (a no-op on object stores, which have none)."""
    if loc.local is not None:
        (Path(loc.root) / directory).mkdir(parents=True, exist_ok=True)
    elif loc.filesystem.type_name not in OBJECT_STORES:
        with contextlib.suppress(OSError):
            loc.filesystem.create_dir(loc.path(directory), recursive=True)


def ensure_samples_dir(loc: RunLocation) -> None:
    """Create ``samples/`` (a no-op on object stores)."""
    ensure_dir(loc, SAMPLES_DIR)
