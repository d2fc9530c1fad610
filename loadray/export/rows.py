"""``loadray export``: a run's rows as CSV or JSON lines, streamed in bounded memory.

The archive is read file by file, one batch of :data:`BATCH_ROWS` rows at a time, with
no read-ahead: each batch is encoded and written before the next is read, so memory
stays flat whatever the archive's size. (A dataset scanner reads ahead as fast as it
can decode: behind a slower writer it held 400 MB of a 6M-row archive at once.) Both encoders are
vectorised (Arrow's CSV writer; JSON lines assembled column by column with Arrow
compute, text values JSON-escaped once per distinct value).

CSV: a header line, then one line per row; a null is an empty field. JSON lines: one
object per row, keys in column order, nulls as ``null``, integers exact (epoch
nanoseconds do not fit a double: they are never floats here).
"""

from __future__ import annotations

import errno
import json
import os
from collections.abc import Iterable, Iterator, Sequence
from typing import BinaryIO

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from loadray.archive import open_dataset
from loadray.errors import ArchiveError, UsageError

__all__ = ["BATCH_ROWS", "export_rows", "pick_columns"]

BATCH_ROWS = 1 << 16


def pick_columns(wanted: str | None, available: Sequence[str]) -> list[str]:
    """``--columns a,b`` checked against the archive's columns (all when None)."""
    if wanted is None:
        return list(available)
    names = [n.strip() for n in wanted.split(",") if n.strip()]
    unknown = [n for n in names if n not in available]
    if unknown or not names:
        raise UsageError(f"--columns: unknown column {unknown[0]!r} (columns: {', '.join(available)})"
                         if unknown else "--columns: name at least one column")
    return names


def export_rows(run_dir: str | os.PathLike[str], fmt: str, out: BinaryIO, columns: str | None = None) -> int:
    """Write every row of the run at ``run_dir`` to ``out``; returns the rows written."""
    dataset, meta = open_dataset(run_dir)
    names = pick_columns(columns, dataset.schema.names)
    batches = _batches(dataset, names) if meta.files else iter(())
    schema = pa.schema([pa.field(n, _plain_type(dataset.schema.field(n).type)) for n in names])
    try:
        return (_csv if fmt == "csv" else _jsonl)(map(_plain, batches), schema, out)
    except (pa.ArrowInvalid, pa.ArrowIOError) as exc:
        if isinstance(exc, BrokenPipeError) or getattr(exc, "errno", None) == errno.EPIPE:
            raise BrokenPipeError(errno.EPIPE, "the reader went away") from None  # `| head`
        raise ArchiveError(f"{run_dir}: cannot read samples: {str(exc).splitlines()[0]}") from None


def _batches(dataset, names: list[str]) -> Iterator[pa.RecordBatch]:
    """The rows, pulled one batch at a time (files missing a newer column: nulls)."""
    for fragment in dataset.get_fragments():
        yield from fragment.to_batches(schema=dataset.schema, columns=names, batch_size=BATCH_ROWS,
                                       use_threads=False, batch_readahead=0, fragment_readahead=0)


def _plain_type(kind: pa.DataType) -> pa.DataType:
    return kind.value_type if pa.types.is_dictionary(kind) else kind


def _plain(batch: pa.RecordBatch) -> pa.RecordBatch:
    """Dictionary columns as their values (the CSV writer and JSON want plain text)."""
    columns = [c.dictionary_decode() if pa.types.is_dictionary(c.type) else c for c in batch.columns]
    return pa.RecordBatch.from_arrays(columns, names=batch.schema.names)


def _csv(batches: Iterable[pa.RecordBatch], schema: pa.Schema, out: BinaryIO) -> int:
    rows = 0
    with pacsv.CSVWriter(out, schema) as writer:
        for batch in batches:
            writer.write_batch(batch)
            rows += batch.num_rows
    return rows


def _jsonl(batches: Iterable[pa.RecordBatch], schema: pa.Schema, out: BinaryIO) -> int:
    keys = [json.dumps(name) for name in schema.names]
    rows = 0
    for batch in batches:
        if not batch.num_rows:
            continue
        parts: list = []
        for i, (key, column) in enumerate(zip(keys, batch.columns)):
            parts += [("{" if i == 0 else ",") + key + ":", _json_values(column)]
        lines = pc.binary_join_element_wise(*parts, "}\n", "")
        out.write(_text_bytes(lines))
        rows += batch.num_rows
    return rows


def _json_values(column: pa.Array) -> pa.Array:
    """Each value as JSON text (``null`` for nulls); text escaped once per distinct value."""
    kind = column.type
    if pa.types.is_string(kind) or pa.types.is_large_string(kind):
        encoded = pc.dictionary_encode(column)
        escaped = pa.array([json.dumps(v) for v in encoded.dictionary.to_pylist()], pa.string())
        text = pc.take(escaped, encoded.indices)
    elif pa.types.is_boolean(kind):
        text = pc.if_else(column, "true", "false")
    else:
        text = pc.cast(column, pa.string())
    return pc.fill_null(text, "null")


def _text_bytes(lines: pa.Array) -> memoryview:
    """The bytes of a string array's values, back to back (no copy)."""
    offsets = np.frombuffer(lines.buffers()[1], dtype=np.int32)
    start, end = offsets[lines.offset], offsets[lines.offset + len(lines)]
    return memoryview(lines.buffers()[2])[start:end]
