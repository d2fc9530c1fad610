import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from loadray.archive import SampleSink, read_samples
from loadray.archive.reader import RunMeta
from loadray.analysis import summarize
from loadray.analysis.verdict import exit_code
from loadray.errors import ArchiveError
from loadray.schema import SCHEMA, SCHEMA_VERSION, complete

START = 1_700_000_000_000_000_000
END = START + 3_000_000_000


def rows_table(n, worker=0, steps=("a", "b"), errors=(None, "timeout", "dropped")):
    i = np.arange(n)
    err = [errors[k % len(errors)] for k in range(n)]
    return complete(
        {
            "intended_ns": START + i * 1000,
            "sent_ns": pa.array([None if e == "dropped" else START + k * 1000 + 5 for k, e in enumerate(err)], pa.int64()),
            "latency_ns": pa.array([None if e == "dropped" else 100 + k for k, e in enumerate(err)], pa.int64()),
            "service_ns": pa.array([None if e == "dropped" else 95 + k for k, e in enumerate(err)], pa.int64()),
            "status": pa.array([0 if e else 200 for e in err], pa.int16()),
            "error": pa.array(err, SCHEMA.field("error").type),
            "step": pa.array([steps[k % len(steps)] for k in range(n)], SCHEMA.field("step").type),
            "phase": pa.array(np.zeros(n, np.int16)),
            "worker": pa.array(np.full(n, worker, np.int16)),
            "bytes_in": pa.array(np.zeros(n, np.int32)),
        }
    )


def test_round_trip_unifies_dictionaries_across_files(tmp_path):
    sink = SampleSink(tmp_path / "samples", START, rows_per_file=4)
    t0 = rows_table(9, worker=0, steps=("a", "b"))
    t1 = rows_table(5, worker=1, steps=("c", "a"), errors=("cut", None))
    for b in t0.to_batches(max_chunksize=3):
        sink.write(0, b)
    sink.write(1, t1.to_batches()[0])
    sink.close(END)
    table, meta = read_samples(tmp_path)
    assert table.num_rows == 14
    assert meta == RunMeta(start_ns=START, end_ns=END, schema_version=SCHEMA_VERSION, files=5, skipped=())
    for name in ("error", "step"):
        col = table.column(name)
        assert col.num_chunks == 1
        assert pa.types.is_dictionary(col.type)
    got = sorted(zip(table.column("worker").to_pylist(), table.column("intended_ns").to_pylist(),
                     table.column("step").to_pylist(), table.column("error").to_pylist()))
    want = sorted(zip([0] * 9 + [1] * 5, t0.column("intended_ns").to_pylist() + t1.column("intended_ns").to_pylist(),
                      t0.column("step").to_pylist() + t1.column("step").to_pylist(),
                      t0.column("error").to_pylist() + t1.column("error").to_pylist()))
    assert got == want
    # readable by plain pandas too
    import pandas as pd

    assert len(pd.read_parquet(tmp_path / "samples")) == 14


def _write_file(path, table, version):
    schema = table.schema.with_metadata({b"loadray.schema_version": version.encode(),
                                         b"loadray.run_start_ns": str(START).encode()})
    pq.write_table(table.replace_schema_metadata(schema.metadata), path)


def test_refuses_a_newer_major_schema_version(tmp_path):
    (tmp_path / "samples").mkdir()
    _write_file(tmp_path / "samples" / "worker-000-0000.parquet", rows_table(3), "1.0")
    _write_file(tmp_path / "samples" / "worker-001-0000.parquet", rows_table(3), "2.0")
    with pytest.raises(ArchiveError) as info:
        read_samples(tmp_path)
    assert str(info.value) == (
        "samples/worker-001-0000.parquet: schema version 2.0 is newer than this loadray reads (1.x); upgrade loadray"
    )
    assert "\n" not in str(info.value)


def test_accepts_a_newer_minor_version(tmp_path):
    (tmp_path / "samples").mkdir()
    _write_file(tmp_path / "samples" / "worker-000-0000.parquet", rows_table(3), "1.7")
    table, meta = read_samples(tmp_path)
    assert table.num_rows == 3 and meta.schema_version == "1.7" and meta.end_ns is None


def test_missing_samples_dir_names_the_path(tmp_path):
    with pytest.raises(ArchiveError) as info:
        read_samples(tmp_path / "nope")
    assert str(tmp_path / "nope" / "samples") in str(info.value)


def test_zero_files_gives_an_empty_table(tmp_path):
    (tmp_path / "samples").mkdir()
    table, meta = read_samples(tmp_path)
    assert table.num_rows == 0
    assert table.schema.equals(SCHEMA, check_metadata=False)
    assert meta.start_ns is None and meta.end_ns is None and meta.files == 0


def test_ignores_underscore_and_dot_files(tmp_path):
    sink = SampleSink(tmp_path / "samples", START)
    sink.write(0, rows_table(4).to_batches()[0])
    sink.close(END)
    (tmp_path / "samples" / "_SUCCESS").write_text("")
    (tmp_path / "samples" / ".hidden.parquet").write_bytes(b"junk")
    (tmp_path / "samples" / "_tmp.parquet").write_bytes(b"junk")
    table, meta = read_samples(tmp_path)
    assert table.num_rows == 4 and meta.files == 1 and meta.skipped == ()


def test_crashed_run_keeps_the_rolled_parts(tmp_path):
    sink = SampleSink(tmp_path / "samples", START, rows_per_file=10)
    sink.write(0, rows_table(25).to_batches()[0])
    # the process "dies" here: the third part is open, under its hidden temporary name
    table, meta = read_samples(tmp_path)
    assert table.num_rows == 20
    assert meta.end_ns is None and meta.start_ns == START
    assert meta.skipped == ("samples/.worker-000-0002.parquet.tmp",)
    assert meta.cut is None
    sink.close(END)
    table, meta = read_samples(tmp_path)
    assert table.num_rows == 25 and meta.skipped == () and meta.end_ns == END


def test_older_layout_crash_footerless_part_under_its_final_name_is_skipped(tmp_path):
    """Archives written before parts were renamed into place: the part open at the crash
    has its final name and no footer; no manifest."""
    (tmp_path / "samples").mkdir()
    _write_file(tmp_path / "samples" / "worker-000-0000.parquet", rows_table(10), "1.1")
    whole = (tmp_path / "samples" / "worker-000-0000.parquet").read_bytes()
    (tmp_path / "samples" / "worker-000-0001.parquet").write_bytes(whole[: len(whole) // 2])
    table, meta = read_samples(tmp_path)
    assert table.num_rows == 10 and meta.files == 1
    assert meta.skipped == ("samples/worker-000-0001.parquet",)


def test_a_part_the_complete_manifest_lists_but_is_gone_or_unreadable_is_damage(tmp_path):
    sink = SampleSink(tmp_path / "samples", START, rows_per_file=10)
    sink.write(0, rows_table(30).to_batches()[0])
    sink.close(END)
    (tmp_path / "samples" / "worker-000-0001.parquet").unlink()
    whole = (tmp_path / "samples" / "worker-000-0002.parquet").read_bytes()
    (tmp_path / "samples" / "worker-000-0002.parquet").write_bytes(whole[: len(whole) // 2])  # truncated since
    table, meta = read_samples(tmp_path)
    assert table.num_rows == 10 and meta.skipped == ()
    assert meta.damaged == ("samples/worker-000-0002.parquet", "samples/worker-000-0001.parquet")
    assert meta.damaged_rows == 20

    s = summarize(table, meta)
    assert not s["passed"] and exit_code(s) == 1
    assert s["archive_damaged"] == (
        "the archive is damaged: 2 of the run's parts cannot be read (samples/worker-000-0002.parquet, "
        "samples/worker-000-0001.parquet); the 20 rows the manifest says they held are missing from every figure")
    assert s["warnings"][0] == s["archive_damaged"]


def test_run_dir_with_only_the_scenario_was_interrupted_before_any_request(tmp_path):
    (tmp_path / "scenario.yaml").write_text("name: x\n")
    with pytest.raises(ArchiveError) as info:
        read_samples(tmp_path)
    assert str(info.value) == (
        f"{tmp_path}: the run was interrupted before any request was sent "
        "(only scenario.yaml, no samples/): nothing to report"
    )


V1_0_COLUMNS = ["intended_ns", "sent_ns", "latency_ns", "service_ns", "status", "error", "step", "phase", "worker",
                "bytes_in"]
V1_1_COLUMNS = V1_0_COLUMNS + ["attempt", "user", "flow_id", "flow_ns", "trace_id"]


def test_reads_a_1_0_archive_as_1_1(tmp_path):
    (tmp_path / "samples").mkdir()
    _write_file(tmp_path / "samples" / "worker-000-0000.parquet", rows_table(5).select(V1_0_COLUMNS), "1.0")
    table, meta = read_samples(tmp_path)
    assert table.schema.names == list(SCHEMA.names) and table.num_rows == 5
    assert table.column("attempt").to_pylist() == [1] * 5 and table.column("attempt").null_count == 0
    for name in ("user", "flow_id", "flow_ns", "trace_id", "error_detail"):
        assert table.column(name).null_count == 5
    assert meta.schema_version == "1.0"  # what the files were written in
    only, _ = read_samples(tmp_path, ["latency_ns", "attempt", "flow_ns"])
    assert only.column("attempt").to_pylist() == [1] * 5 and only.column("flow_ns").null_count == 5


def test_mixed_1_0_and_1_1_files(tmp_path):
    (tmp_path / "samples").mkdir()
    _write_file(tmp_path / "samples" / "worker-000-0000.parquet", rows_table(3).select(V1_0_COLUMNS), "1.0")
    newer = rows_table(2, worker=1).set_column(
        SCHEMA.names.index("attempt"), SCHEMA.field("attempt"), pa.array([2, 3], pa.int8()))
    _write_file(tmp_path / "samples" / "worker-001-0000.parquet", newer.select(V1_1_COLUMNS), "1.1")
    table, meta = read_samples(tmp_path)
    assert sorted(table.column("attempt").to_pylist()) == [1, 1, 1, 2, 3]
    assert meta.schema_version == "1.1"


def test_a_1_1_archive_reads_as_1_2_with_no_error_detail_and_mixes_with_1_2_files(tmp_path):
    (tmp_path / "samples").mkdir()
    _write_file(tmp_path / "samples" / "worker-000-0000.parquet", rows_table(3).select(V1_1_COLUMNS), "1.1")
    current = rows_table(2, worker=1).set_column(
        SCHEMA.names.index("error_detail"), SCHEMA.field("error_detail"),
        pa.array([None, "extract: v: UnknownFunctionError: Unknown function: foo()"]).dictionary_encode())
    _write_file(tmp_path / "samples" / "worker-001-0000.parquet", current, "1.2")
    table, meta = read_samples(tmp_path)
    assert table.schema.names == list(SCHEMA.names) and table.num_rows == 5
    assert pa.types.is_dictionary(table.schema.field("error_detail").type)
    details = sorted(zip(table.column("worker").to_pylist(), table.column("error_detail").to_pylist()),
                     key=lambda r: (r[0], r[1] or ""))
    assert details == [(0, None)] * 3 + [(1, None), (1, "extract: v: UnknownFunctionError: Unknown function: foo()")]
    assert meta.schema_version == "1.2"
    only, _ = read_samples(tmp_path, ["error", "error_detail"])
    assert only.column("error_detail").null_count == 4


def test_zstd_parts_of_earlier_versions_mix_with_lz4_delta_parts(tmp_path):
    """Archives written before the LZ4 + delta format (zstd, plain integers) stay readable,
    alone and next to new parts, by the whole-table reader and by the streaming summary."""
    from loadray.analysis import summarize
    from loadray.archive.source import open_source

    sink = SampleSink(tmp_path / "samples", START)
    sink.write(0, rows_table(600, worker=0))
    sink.write(1, rows_table(400, worker=1))
    sink.close(END)
    earlier = tmp_path / "samples" / "worker-000-0000.parquet"
    pq.write_table(pq.read_table(earlier), earlier, compression="zstd")  # the earlier format, same metadata
    columns = {n: pq.read_metadata(tmp_path / "samples" / n).row_group(0).column(0)
               for n in ("worker-000-0000.parquet", "worker-001-0000.parquet")}
    assert {n: (c.compression, "DELTA_BINARY_PACKED" in c.encodings) for n, c in columns.items()} == {
        "worker-000-0000.parquet": ("ZSTD", False), "worker-001-0000.parquet": ("LZ4", True)}
    table, _ = read_samples(tmp_path)
    assert table.num_rows == 1000
    latency = np.sort(table.column("latency_ns").drop_null().to_numpy())
    source = open_source(tmp_path)
    s = summarize(source, source.meta)
    assert s["intended"] == 1000 and s["workers"] == 2
    assert s["latency_ms"]["p99"] == round(float(np.percentile(latency, 99)) / 1e6, 3)
    assert s["latency_ms"]["max"] == round(int(latency[-1]) / 1e6, 3)
