"""The ``chunks/`` side table of a run (:mod:`loadray.stream.table`) read back one
Parquet row group at a time (every chunk of a request is in one row group), local or
on any ``pyarrow.fs`` store; re-iterable in the same order every time.

A part a worker wrote itself (its footer names the worker, :mod:`.part_series`) is the
companion of the samples part of the same name and is read only when that part is in
the run (:func:`.reader.part_names`): one whose samples part failed after it, or
completed after the run was closed, is passed by (its rows are elsewhere, or unknown).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import pyarrow as pa
import pyarrow.parquet as pq

from loadray.errors import ArchiveError
from loadray.stream.table import CHUNK_SCHEMA, CHUNKS_DIR

from .fs import RunLocation
from .part_series import WORKER_KEY
from .reader import part_names

__all__ = ["ChunkSource", "open_chunks"]


class ChunkSource:
    def __init__(self, loc: RunLocation, paths: Sequence[str]) -> None:
        self.loc = loc
        self.units: list[tuple[str, int]] = []  # (path, row group)
        samples: set[str] | None = None
        for path in paths:
            with loc.filesystem.open_input_file(path) as f:
                md = pq.ParquetFile(f).metadata
            if WORKER_KEY.encode() in (md.metadata or {}):  # a worker's companion part
                samples = part_names(loc) if samples is None else samples
                if path.rsplit("/", 1)[-1] not in samples:
                    continue
            self.units.extend((path, g) for g in range(md.num_row_groups))

    def __len__(self) -> int:
        return len(self.units)

    def batches(self, columns: Sequence[str], stop: int | None = None) -> Iterator[pa.Table]:
        """The first ``stop`` row groups (all by default), with ``columns``."""
        for path, group in self.units[:stop]:
            try:
                with self.loc.filesystem.open_input_file(path) as f:
                    table = pq.ParquetFile(f).read_row_group(group, columns=list(columns))
            except (OSError, pa.ArrowException) as exc:
                raise ArchiveError(f"{path}: unreadable chunks part: {str(exc).splitlines()[0]}") from None
            yield table.cast(pa.schema([CHUNK_SCHEMA.field(c) for c in columns]))


def open_chunks(loc: RunLocation) -> ChunkSource | None:
    """The run's chunks, None when no step streamed."""
    files = sorted(i.path for i in loc.files(CHUNKS_DIR) if i.path.endswith(".parquet"))
    return ChunkSource(loc, files) if files else None
