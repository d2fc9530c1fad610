"""One Parquet part while it is being written: under a temporary name that no reader
takes (``.worker-007-0003.parquet.tmp``), renamed to its final name only once its
footer is written and on disk, so a part a reader sees is always complete.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from loadray.errors import ArchiveError

__all__ = ["COMPRESSION", "OpenPart", "parquet_writer", "part_name", "temp_name"]

COMPRESSION = "lz4_raw"  # the integer columns'; the text columns' is TEXT_COMPRESSION
TEXT_COMPRESSION = "zstd"
#: Encoding of the integer columns (the text columns are dictionary-encoded).
INT_ENCODING = "DELTA_BINARY_PACKED"
TEMP_SUFFIX = ".tmp"


def parquet_writer(sink, schema: pa.Schema) -> pq.ParquetWriter:
    """Integer columns delta bit-packed and LZ4 (raw block format): consecutive send
    times differ by a few bits, a latency needs ~25 bits, a status or a phase almost
    none, and LZ4 decodes at a fraction of zstd's cost. Text columns (step, error,
    trace_id...) dictionary-encoded and zstd: the run below's trace ids took 1.4 B/row
    with zstd, 5.5 with LZ4. Against the previous format (zstd everywhere, plain integers; still
    read, alone or mixed with new parts), measured on 160k rows of a 20k req/s run
    against nginx with W3C trace ids (and on 200k rows of ``benchmarks/report_scale.py``):
    13.7 against 16.6 B/row (9.5 / 12.2), encoding 264 against 360 ns/row (185 / 262),
    decoding 97 against 163 ns/row (63 / 108). A dictionary on the nanosecond columns
    never pays (390 ns/row to encode, 13.9 B/row)."""
    text = [f.name for f in schema if pa.types.is_dictionary(f.type) or pa.types.is_string(f.type)]
    codecs = {f.name: TEXT_COMPRESSION if f.name in text else COMPRESSION for f in schema}
    ints = {f.name: INT_ENCODING for f in schema if pa.types.is_integer(f.type)}
    return pq.ParquetWriter(sink, schema, compression=codecs, use_dictionary=text, column_encoding=ints)


def part_name(worker: int, part: int) -> str:
    return f"worker-{worker:03d}-{part:04d}.parquet"


def temp_name(name: str) -> str:
    """The name a part has while it is written: hidden (leading dot) and not ``*.parquet``,
    so pyarrow, pandas, DuckDB and polars globs all pass it by."""
    return f".{name}{TEMP_SUFFIX}"


class OpenPart:
    """A part being written. :meth:`finish` completes it; :meth:`abort` deletes it. A
    write or a finish that fails drops the part at once (a row group cut short leaves
    bytes no footer describes: completed later it would be unreadable), and it can no
    longer be completed, whoever holds it."""

    def __init__(self, directory: Path, name: str, schema: pa.Schema, opened_at: float) -> None:
        self.name = name
        self.final = directory / name
        self.temp = directory / temp_name(name)
        self.opened_at = opened_at
        self.rows = 0  # rows handed to the writer
        self.dropped = False
        self._file = pa.OSFile(str(self.temp), "wb")
        try:
            self._writer = parquet_writer(self._file, schema)
        except BaseException:
            self._file.close()
            self._unlink()
            raise

    def write(self, table: pa.Table) -> None:
        self._check()
        try:
            self._writer.write_table(table)
        except BaseException:
            self.abort()
            raise
        self.rows += table.num_rows

    def finish(self, metadata: dict[str, str] | None = None) -> Path:
        """Footer (with ``metadata``), fsync, rename into place; returns the final path."""
        self._check()
        try:
            if metadata:
                self._writer.add_key_value_metadata(metadata)
            self._writer.close()
            os.fsync(self._file.fileno())
            self._file.close()
            os.replace(self.temp, self.final)
        except BaseException:
            self.abort()
            raise
        return self.final

    def _check(self) -> None:
        if self.dropped:
            raise ArchiveError(f"{self.final}: dropped after a failed write, not completed")

    def abort(self) -> None:
        """Drop the part (its rows are lost); never raises."""
        self.dropped = True
        with contextlib.suppress(Exception):
            self._writer.close()  # may fail again on a full disk
        self._writer.is_open = False  # no second attempt from ParquetWriter.__del__
        with contextlib.suppress(Exception):
            self._file.close()
        self._unlink()

    def _unlink(self) -> None:
        with contextlib.suppress(OSError):
            os.unlink(self.temp)
