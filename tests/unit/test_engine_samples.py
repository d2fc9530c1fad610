import pyarrow as pa

from loadray.engine.samples import SampleBuffer, trace_ids
from loadray.schema import SCHEMA


def test_trace_ids_match_the_traceparent_format_and_zero_is_null():
    traces = [0, 1, 255, (1 << 40) + 5, 2**64 - 1]
    ids = trace_ids("0123456789abcdef", traces)
    assert ids.to_pylist() == [None] + [f"0123456789abcdef{t:016x}" for t in traces[1:]]
    assert trace_ids("0123456789abcdef", [7, 8]).null_count == 0


def test_flush_stores_the_trace_ids_with_the_rows():
    buffer = SampleBuffer(3, ["a"], anchor_ns=1_000, trace_prefix="ffffffffffffffff")
    buffer.record(10, 11, 20, 200, None, 0, 0, 5, 42)
    buffer.record(12, 13, 25, 503, "http_5xx", 0, 0, 0, 43)
    batch = buffer.flush()
    assert batch.schema == SCHEMA and len(buffer) == 0
    rows = pa.Table.from_batches([batch]).to_pylist()
    assert [r["trace_id"] for r in rows] == ["ffffffffffffffff000000000000002a", "ffffffffffffffff000000000000002b"]
    assert [(r["latency_ns"], r["service_ns"], r["attempt"], r["worker"]) for r in rows] == [(10, 9, 1, 3), (13, 12, 1, 3)]
