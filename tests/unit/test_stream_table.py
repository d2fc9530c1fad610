"""The chunks/ side table: rows from a worker's buffer, its archive parts (one row group
per flush: whole requests), and the routing of worker batches between it and samples."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.dataset as ds

from loadray.archive.chunk_sink import ChunkSink, route_chunks
from loadray.archive.chunk_source import open_chunks
from loadray.archive.fs import locate
from loadray.schema import from_rows
from loadray.stream.table import CHUNK_SCHEMA, ChunkBuffer, is_chunk_batch


def test_a_buffer_flushes_rows_with_epoch_send_times_and_times_since_send():
    buf = ChunkBuffer(4, ["a", "f/b"], anchor_ns=1_000_000)
    buf.add(77, 1, 2, 500, [(600, 10, 1, None), (900, 12, 0, 5)])
    buf.add(None, 0, 1, 1_000, [(1_250, 3, None, None)])
    batch = buf.flush()
    assert batch.schema == CHUNK_SCHEMA and len(buf) == 0 and buf.flush() is None
    assert pa.Table.from_batches([batch]).to_pylist() == [
        {"worker": 4, "flow_id": 77, "step": "f/b", "attempt": 2, "sent_ns": 1_000_500, "index": 0, "t_ns": 100,
         "bytes": 10, "tokens": 1, "usage": None},
        {"worker": 4, "flow_id": 77, "step": "f/b", "attempt": 2, "sent_ns": 1_000_500, "index": 1, "t_ns": 400,
         "bytes": 12, "tokens": 0, "usage": 5},
        {"worker": 4, "flow_id": None, "step": "a", "attempt": 1, "sent_ns": 1_001_000, "index": 0, "t_ns": 250,
         "bytes": 3, "tokens": None, "usage": None},
    ]


def test_worker_batches_are_routed_and_each_flush_is_one_row_group(tmp_path):
    samples, sink = [], ChunkSink(tmp_path)
    write = route_chunks(lambda w, b: samples.append((w, b.num_rows)), sink.write)
    for worker in (0, 1, 0):
        buf = ChunkBuffer(worker, ["s"], 0)
        buf.add(1, 0, 1, 0, [(5, 1, None, None)] * (3 + worker))
        write(worker, buf.flush())
    write(0, pa.RecordBatch.from_pylist([], schema=CHUNK_SCHEMA))
    write(1, from_rows([{"intended_ns": 1, "status": 200, "phase": 0, "worker": 1, "bytes_in": 0}]).to_batches()[0])
    sink.close()
    assert samples == [(1, 1)] and sink.rows == 10
    assert sorted(p.name for p in (tmp_path / "chunks").iterdir()) == ["worker-000-0000.parquet",
                                                                       "worker-001-0000.parquet"]
    assert ds.dataset(tmp_path / "chunks").to_table().num_rows == 10
    source = open_chunks(locate(tmp_path))
    assert [t.num_rows for t in source.batches(["t_ns"])] == [3, 3, 4]  # row groups: 2 of worker 0, 1 of worker 1
    assert open_chunks(locate(tmp_path / "nowhere")) is None
    assert is_chunk_batch(buf.flush() or pa.RecordBatch.from_pylist([], schema=CHUNK_SCHEMA))


def test_a_chunks_part_completes_once_open_as_long_as_a_samples_part_may_be(tmp_path):
    """Not only at close: a driver that dies mid-run keeps the chunks of its complete parts."""
    now = [0.0]
    sink = ChunkSink(tmp_path, clock=lambda: now[0])

    def flush(n: int) -> list[str]:
        buf = ChunkBuffer(0, ["s"], 0)
        buf.add(1, 0, 1, 0, [(5, 1, None, None)] * n)
        sink.write(0, buf.flush())
        return sorted(p.name for p in (tmp_path / "chunks").iterdir() if p.name.endswith(".parquet"))

    assert flush(2) == []
    now[0] = 4.9
    assert flush(3) == []  # 4.9 s open: still open
    now[0] = 5.0
    assert flush(4) == ["worker-000-0000.parquet"]  # 5 s open: complete, with all three flushes
    assert ds.dataset(tmp_path / "chunks").to_table().num_rows == 9
    now[0] = 200.0
    assert flush(1) == ["worker-000-0000.parquet"]  # a new part: 200 s in, a part may stay open 10 s and more
    now[0] = 210.0
    assert flush(1) == ["worker-000-0000.parquet"]  # (210 / 20 = 10.5 s by then)
    now[0] = 211.0
    assert flush(1) == ["worker-000-0000.parquet", "worker-000-0001.parquet"]
    sink.close()
    assert ds.dataset(tmp_path / "chunks").to_table().num_rows == 12
