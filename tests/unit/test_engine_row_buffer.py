"""The one row buffer of both paths: rows as tuples, one SCHEMA batch per flush."""

from __future__ import annotations

import pyarrow as pa
import pytest

from loadray.engine.row_buffer import FAST_ROW, FLOW_ROW, NOT_SENT, ROW, RowBuffer, trace_ids, with_flow_ns
from loadray.schema import SCHEMA


def test_trace_ids_match_the_traceparent_format_and_zero_is_null():
    traces = [0, 1, 255, (1 << 40) + 5, 2**64 - 1]
    ids = trace_ids("0123456789abcdef", traces)
    assert ids.to_pylist() == [None] + [f"0123456789abcdef{t:016x}" for t in traces[1:]]
    assert trace_ids("0123456789abcdef", [7, 8]).null_count == 0


def test_every_schema_column_comes_from_a_row_field_or_the_buffer():
    derived = {"latency_ns", "service_ns", "worker", "trace_id"}  # from done, the buffer, trace
    assert set(SCHEMA.names) - derived == {{"intended": "intended_ns", "sent": "sent_ns", "ttfb": "ttfb_ns"}.get(name, name)
                                           for name in ROW if name not in ("done", "trace")}
    assert FAST_ROW == (*ROW[:9], "ttfb", "chunks") and FLOW_ROW == ROW and ROW[-1] == "flow_ns"


def test_a_fast_row_flushes_with_the_defaults_of_a_plain_first_attempt():
    buffer = RowBuffer(3, ["a"], anchor_ns=1_000, fields=FAST_ROW, trace_prefix="ffffffffffffffff")
    buffer.add((10, 11, 20, 200, None, 0, 0, 5, 42, 4, 1))
    buffer.add((12, 13, 25, 503, "http_5xx", 0, 0, 0, 43, None, 0))
    buffer.record_dropped(14, 0, 1)
    batch = buffer.flush()
    assert batch.schema == SCHEMA and len(buffer) == 0 and buffer.flush() is None
    rows = pa.Table.from_batches([batch]).to_pylist()
    assert [r["trace_id"] for r in rows] == ["ffffffffffffffff000000000000002a", "ffffffffffffffff000000000000002b", None]
    assert [(r["intended_ns"], r["sent_ns"], r["latency_ns"], r["service_ns"]) for r in rows] == [
        (1_010, 1_011, 10, 9), (1_012, 1_013, 13, 12), (1_014, None, None, None)]
    assert [(r["attempt"], r["worker"], r["error"], r["phase"]) for r in rows] == [
        (1, 3, None, 0), (1, 3, "http_5xx", 0), (1, 3, "dropped", 1)]
    assert {r["user"] for r in rows} == {r["flow_id"] for r in rows} == {r["error_detail"] for r in rows} == {None}
    assert [(r["ttfb_ns"], r["chunks"]) for r in rows] == [(4, 1), (None, 0), (None, None)]  # the body's timing
    assert buffer.arrivals(batch) == 3  # every fast row is an arrival


def test_flow_rows_carry_flow_fields_and_only_first_attempts_of_first_steps_are_arrivals():
    buffer = RowBuffer(0, ["f/a", "f/b", "g"], anchor_ns=0, fields=FLOW_ROW, first_step=[0, 2])
    row = (1, 2, 3, 200, None, 0, 4, 10, 0, 1, 7, 99, None, None, None, None)
    buffer.add(row)
    buffer.add((1, 4, 6, 503, "http_5xx", 0, 4, 0, 0, 2, 7, 99, None, None, None, None))  # a retry
    buffer.add(with_flow_ns((6, 7, 9, 200, None, 1, 4, 10, 0, 1, 7, 99, None, None, None, None), 8))
    buffer.record_dropped(20, 1, 4)  # flow 1 (g) never started
    batch = buffer.flush()
    table = batch.to_pydict()
    assert table["step"] == ["f/a", "f/a", "f/b", "g"] and table["attempt"] == [1, 2, 1, 1]
    assert table["user"] == [7, 7, 7, None] and table["flow_id"] == [99, 99, 99, None]
    assert table["flow_ns"] == [None, None, 8, None] and table["error"][3] == "dropped"
    assert table["sent_ns"][3] is None and table["trace_id"] == [None] * 4
    assert buffer.arrivals(batch) == 2


def test_the_detail_column_is_a_dictionary_of_strings():
    buffer = RowBuffer(0, ["s"], 0)
    for detail in ("x: E: one", None, "x: E: one"):
        buffer.add((1, 2, 3, 0, "extract" if detail else None, 0, 0, 0, 0, 1, None, 1, detail, 7 if detail else None, 2, None))
    column = buffer.flush().column("error_detail")
    assert column.type == pa.dictionary(pa.int32(), pa.string())
    assert column.to_pylist() == ["x: E: one", None, "x: E: one"] and len(column.dictionary) == 1


def test_ttfb_and_chunks_land_in_their_columns():
    buffer = RowBuffer(0, ["s"], 0)
    buffer.add((1, 2, 30, 200, None, 0, 0, 9, 0, 1, None, 1, None, 7, 3, None))
    buffer.add((1, 2, 30, 0, "timeout", 0, 0, 0, 0, 1, None, 1, None, None, None, None))
    batch = buffer.flush()
    assert batch.column("ttfb_ns").to_pylist() == [7, None] and batch.column("chunks").to_pylist() == [3, None]
    assert batch.schema.field("chunks").type == pa.int32()


def test_a_row_layout_is_the_base_fields_then_others_in_row_order():
    with pytest.raises(ValueError, match="holds the fields"):
        RowBuffer(0, ["s"], 0, fields=("intended", "sent"))
    with pytest.raises(ValueError, match="in the order of"):
        RowBuffer(0, ["s"], 0, fields=(*ROW[:9], "chunks", "ttfb"))
    assert NOT_SENT == -1
