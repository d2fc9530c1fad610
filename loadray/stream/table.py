"""The ``chunks/`` side table: one row per chunk of a streamed response (``stream:`` on
a step), so the gaps between chunks can be analysed; a worker's rows are flushed with
its samples and archived as ``chunks/worker-NNN.parquet``.

======================  ==========================================================
column                  meaning
======================  ==========================================================
``worker``              the worker that sent the request
``flow_id``, ``step``,  the sample row the chunk belongs to (its ``flow_id``,
``attempt``             ``step`` and ``attempt`` columns; with ``worker`` and
                        ``sent_ns`` they name one row)
``sent_ns``             the request's ``sent_ns`` (epoch ns)
``index``               0, 1, ... in arrival order
``t_ns``                ns from ``sent_ns`` until the chunk was complete
``bytes``               its size (an SSE event without its blank line)
``tokens``              LLM profile: output tokens the chunk carried (else null)
``usage``               LLM profile: ``usage.completion_tokens`` the chunk reported
                        (else null)
======================  ==========================================================

Every chunk of one request is in the same flush, so in the same Parquet row group.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pyarrow as pa

from .log import Mark

__all__ = ["CHUNK_SCHEMA", "CHUNKS_DIR", "ChunkBuffer", "TABLE_KEY", "is_chunk_batch"]

CHUNKS_DIR = "chunks"
TABLE_KEY = b"loadray.table"
CHUNK_SCHEMA = pa.schema(
    [
        pa.field("worker", pa.int16(), nullable=False),
        pa.field("flow_id", pa.int64()),
        pa.field("step", pa.dictionary(pa.int16(), pa.string())),
        pa.field("attempt", pa.int8(), nullable=False),
        pa.field("sent_ns", pa.int64(), nullable=False),
        pa.field("index", pa.int32(), nullable=False),
        pa.field("t_ns", pa.int64(), nullable=False),
        pa.field("bytes", pa.int32(), nullable=False),
        pa.field("tokens", pa.int32()),
        pa.field("usage", pa.int32()),
    ],
    metadata={TABLE_KEY: CHUNKS_DIR.encode()},
)
_RAW = pa.struct([("flow_id", pa.int64()), ("step", pa.int64()), ("attempt", pa.int64()), ("sent", pa.int64()),
                  ("index", pa.int64()), ("t", pa.int64()), ("bytes", pa.int64()), ("tokens", pa.int64()),
                  ("usage", pa.int64())])


def is_chunk_batch(batch: pa.RecordBatch | pa.Table) -> bool:
    """Whether ``batch`` is a ``chunks/`` batch (not samples)."""
    meta = batch.schema.metadata
    return bool(meta) and meta.get(TABLE_KEY) == CHUNKS_DIR.encode()


class ChunkBuffer:
    """One worker's chunk rows until its next flush (times monotonic until then)."""

    def __init__(self, worker: int, step_names: Sequence[str], anchor_ns: int) -> None:
        self.worker = worker
        self.anchor_ns = anchor_ns
        self._steps = pa.array(list(step_names), pa.string())
        self._rows: list[tuple] = []

    def __len__(self) -> int:
        return len(self._rows)

    def add(self, flow_id: int | None, step: int, attempt: int, sent: int, marks: Sequence[Mark]) -> None:
        """The chunks of one attempt sent at monotonic ``sent``."""
        self._rows.extend((flow_id, step, attempt, sent, i, t - sent, n, tokens, usage)
                          for i, (t, n, tokens, usage) in enumerate(marks))

    def flush(self) -> pa.RecordBatch | None:
        if not self._rows:
            return None
        raw = pa.array(self._rows, _RAW).flatten()
        self._rows = []
        n = len(raw[0])
        columns = [
            pa.array(np.full(n, self.worker, np.int16)),
            raw[0],
            pa.DictionaryArray.from_arrays(raw[1].cast(pa.int16()), self._steps),
            raw[2].cast(pa.int8()),
            pa.array(np.asarray(raw[3]) + self.anchor_ns),
            raw[4].cast(pa.int32()),
            raw[5],
            raw[6].cast(pa.int32()),
            raw[7].cast(pa.int32()),
            raw[8].cast(pa.int32()),
        ]
        return pa.RecordBatch.from_arrays(columns, schema=CHUNK_SCHEMA)
