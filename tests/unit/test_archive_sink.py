import numpy as np
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest

from helpers import FakeSeconds
from loadray.archive import SampleSink, read_manifest, read_samples
from loadray.archive.sink import roll_after_s
from loadray.errors import ArchiveError
from helpers import first_attempt_columns
from loadray.schema import SCHEMA, SCHEMA_VERSION, SCHEMA_VERSION_KEY

START = 1_700_000_000_000_000_000
END = START + 5_000_000_000


def batch(n, worker=0, offset=0, step="root"):
    i = np.arange(offset, offset + n, dtype=np.int64)
    return pa.RecordBatch.from_arrays(
        [
            pa.array(START + i * 1_000_000),
            pa.array(START + i * 1_000_000 + 10),
            pa.array(np.full(n, 2_000_000, dtype=np.int64)),
            pa.array(np.full(n, 1_999_990, dtype=np.int64)),
            pa.array(np.full(n, 200, dtype=np.int16)),
            pa.array([None] * n, type=pa.dictionary(pa.int8(), pa.string())),
            pa.array([step] * n, type=pa.dictionary(pa.int16(), pa.string())),
            pa.array(np.zeros(n, dtype=np.int16)),
            pa.array(np.full(n, worker, dtype=np.int16)),
            pa.array(np.full(n, 5, dtype=np.int32)),
            *first_attempt_columns(n),
        ],
        schema=SCHEMA,
    )


def kv(path):
    return pq.read_metadata(path).metadata


def parquet_names(d):
    return sorted(p.name for p in d.iterdir() if p.name.endswith(".parquet"))


def test_rolls_parts_each_complete_and_readable(tmp_path):
    sink = SampleSink(tmp_path / "samples", START, rows_per_file=10)
    sink.write(0, batch(7))
    sink.write(0, batch(18, offset=7))  # crosses two boundaries
    assert sink.rows_written == 25
    # the rolled parts are already closed: readable before close()
    first = tmp_path / "samples" / "worker-000-0000.parquet"
    assert pq.read_table(first).num_rows == 10
    sink.close(END)
    names = parquet_names(tmp_path / "samples")
    assert names == ["worker-000-0000.parquet", "worker-000-0001.parquet", "worker-000-0002.parquet"]
    tables = [pq.read_table(tmp_path / "samples" / n) for n in names]
    assert [t.num_rows for t in tables] == [10, 10, 5]
    assert sum(t.num_rows for t in tables) == 25
    intended = np.concatenate([t.column("intended_ns").to_numpy() for t in tables])
    assert (intended == START + np.arange(25) * 1_000_000).all()
    for n in names:
        meta = kv(tmp_path / "samples" / n)
        assert meta[SCHEMA_VERSION_KEY] == SCHEMA_VERSION.encode()
        assert meta[b"loadray.run_start_ns"] == str(START).encode()
    assert b"loadray.run_end_ns" not in kv(tmp_path / "samples" / names[0])
    assert b"loadray.run_end_ns" not in kv(tmp_path / "samples" / names[1])
    assert kv(tmp_path / "samples" / names[2])[b"loadray.run_end_ns"] == str(END).encode()
    group = pq.read_metadata(tmp_path / "samples" / names[2]).row_group(0)
    intended, step = group.column(0), group.column(SCHEMA.names.index("step"))
    assert (intended.compression, "DELTA_BINARY_PACKED" in intended.encodings) == ("LZ4", True)  # LZ4_RAW
    assert (step.compression, "RLE_DICTIONARY" in step.encodings) == ("ZSTD", True)


def test_a_full_part_is_complete_at_once_and_the_end_time_is_in_the_manifest(tmp_path):
    sink = SampleSink(tmp_path, START, rows_per_file=10)
    sink.write(3, batch(20, worker=3))
    assert parquet_names(tmp_path) == ["worker-003-0000.parquet", "worker-003-0001.parquet"]
    assert sink.rows_kept == 20
    sink.close(END)
    assert parquet_names(tmp_path) == ["worker-003-0000.parquet", "worker-003-0001.parquet"]
    manifest = read_manifest(tmp_path)
    assert manifest.complete and manifest.run_end_ns == END and manifest.rows == 20
    assert [(p.file, p.worker, p.rows) for p in manifest.parts] == [
        ("worker-003-0000.parquet", 3, 10), ("worker-003-0001.parquet", 3, 10)]


def test_workers_get_their_own_series_and_close_is_idempotent(tmp_path):
    sink = SampleSink(tmp_path / "samples", START, rows_per_file=100)
    sink.write(0, batch(5, worker=0))
    sink.write(12, batch(6, worker=12))
    sink.write(0, batch(4, worker=0, offset=5))
    sink.close(END)
    sink.close(END + 1)  # no-op
    assert sink.closed and sink.rows_written == 15
    assert parquet_names(tmp_path / "samples") == [
        "worker-000-0000.parquet",
        "worker-012-0000.parquet",
    ]
    table, meta = read_samples(tmp_path)
    assert table.num_rows == 15
    assert (meta.start_ns, meta.end_ns) == (START, END)
    with pytest.raises(ArchiveError):
        sink.write(0, batch(1))


def test_plain_string_columns_are_cast_to_the_schema(tmp_path):
    b = batch(3)
    cols = {name: b.column(i) for i, name in enumerate(b.schema.names)}
    cols["error"] = pa.array([None, "timeout", None], type=pa.string())
    cols["step"] = pa.array(["a", "b", "a"], type=pa.string())
    plain = pa.RecordBatch.from_pydict(cols)
    sink = SampleSink(tmp_path / "samples", START)
    sink.write(0, plain)
    sink.close(END)
    table, _ = read_samples(tmp_path)
    assert table.schema.field("error").type == SCHEMA.field("error").type
    assert table.column("error").to_pylist() == [None, "timeout", None]
    assert table.column("step").to_pylist() == ["a", "b", "a"]


def test_batch_missing_columns_is_refused(tmp_path):
    sink = SampleSink(tmp_path, START)
    with pytest.raises(ArchiveError, match="sample schema"):
        sink.write(0, pa.RecordBatch.from_pydict({"intended_ns": pa.array([1])}))
    sink.close(END)


def test_close_without_rows_still_records_the_run_times(tmp_path):
    sink = SampleSink(tmp_path / "samples", START)
    sink.close(END)
    table, meta = read_samples(tmp_path)
    assert table.num_rows == 0 and table.schema.equals(SCHEMA, check_metadata=False)
    assert (meta.start_ns, meta.end_ns) == (START, END)


def test_small_batches_are_buffered_into_row_groups(tmp_path):
    sink = SampleSink(tmp_path, START, rows_per_file=10_000, row_group_rows=250)
    for k in range(10):
        sink.write(0, batch(100, offset=k * 100))
    sink.close(END)
    md = pq.read_metadata(tmp_path / "worker-000-0000.parquet")
    assert [md.row_group(i).num_rows for i in range(md.num_row_groups)] == [300, 300, 300, 100]
    assert md.num_rows == 1000
    assert (pq.read_table(tmp_path / "worker-000-0000.parquet").column("intended_ns").to_numpy()
            == START + np.arange(1000) * 1_000_000).all()


@pytest.mark.parametrize("elapsed, roll, limit", [
    (0, 5, 5), (60, 5, 5), (100, 5, 5), (200, 5, 10), (600, 5, 30), (36_000, 5, 30),
    (0, 1, 1), (0, 60, 60), (36_000, 60, 60),
])
def test_roll_after_grows_with_the_run_and_is_capped(elapsed, roll, limit):
    assert roll_after_s(elapsed, roll) == limit


def test_an_open_part_is_hidden_until_it_completes_after_roll_s(tmp_path):
    clock = FakeSeconds()
    samples = tmp_path / "samples"
    sink = SampleSink(samples, START, roll_s=5.0, clock=clock)
    sink.write(0, batch(30))
    assert parquet_names(samples) == []
    assert (samples / ".worker-000-0000.parquet.tmp").is_file()
    assert ds.dataset(samples, format="parquet").count_rows() == 0  # readers pass the temp part by
    table, meta = read_samples(tmp_path)
    assert table.num_rows == 0 and meta.skipped == ("samples/.worker-000-0000.parquet.tmp",)
    clock.now += 4.9
    sink.write(0, batch(20, offset=30))
    assert parquet_names(samples) == [] and sink.rows_kept == 0
    clock.now += 0.1
    sink.tick()  # no new rows needed: time alone completes the part
    assert parquet_names(samples) == ["worker-000-0000.parquet"] and sink.rows_kept == 50
    assert not (samples / ".worker-000-0000.parquet.tmp").exists()
    assert [(p.file, p.rows) for p in read_manifest(samples).parts] == [("worker-000-0000.parquet", 50)]
    assert not read_manifest(samples).complete
    sink.write(0, batch(5, offset=50))
    sink.close(END, {"events": [], "warnings": ["w"]})
    manifest = read_manifest(samples)
    assert manifest.complete and manifest.rows == 55 and manifest.record == {"events": [], "warnings": ["w"]}
    assert parquet_names(samples) == ["worker-000-0000.parquet", "worker-000-0001.parquet"]
    assert not (samples / ".loadray-reserve").exists()


def test_each_worker_rolls_on_its_own_age_and_the_end_time_reaches_the_reader(tmp_path):
    clock = FakeSeconds()
    sink = SampleSink(tmp_path / "samples", START, roll_s=5.0, clock=clock)
    sink.write(0, batch(10, worker=0))
    clock.now += 3
    sink.write(1, batch(10, worker=1))
    clock.now += 2
    sink.tick()
    assert parquet_names(tmp_path / "samples") == ["worker-000-0000.parquet"]
    clock.now += 3
    sink.tick()
    assert parquet_names(tmp_path / "samples") == ["worker-000-0000.parquet", "worker-001-0000.parquet"]
    sink.close(END)  # no part open: the end time is in the manifest only
    table, meta = read_samples(tmp_path)
    assert table.num_rows == 20 and (meta.start_ns, meta.end_ns) == (START, END) and meta.skipped == ()


def test_parts_workers_wrote_themselves_join_the_manifest_beside_the_sinks_own(tmp_path):
    from loadray.archive.part_series import PartSeries
    from loadray.archive.fs import locate

    run = tmp_path / "run"
    sink = SampleSink(run / "samples", START)
    series = PartSeries(locate(run), 1, 0, START)  # a worker on the driver's node
    series.append(batch(30, worker=1), 30, 1)
    (theirs,) = series.close()
    sink.write(0, batch(20))  # a worker on another host: its rows come to the driver
    sink.add_part(theirs)
    sink.tick()
    assert [(p.file, p.worker, p.rows) for p in read_manifest(run / "samples").parts] == [
        ("worker-001-0000.parquet", 1, 30)]
    sink.close(START + 10**9)
    manifest = read_manifest(run / "samples")
    assert manifest.complete and manifest.rows == 50 == ds.dataset(run / "samples", format="parquet").count_rows()
    assert sorted(p.file for p in manifest.parts) == ["worker-000-0000.parquet", "worker-001-0000.parquet"]


def test_a_workers_full_disk_stops_the_sink_with_its_unwritten_rows_counted(tmp_path):
    from loadray.archive.part_series import WrittenPart
    from loadray.errors import DiskError

    samples = tmp_path / "samples"
    sink = SampleSink(samples, START)
    sink.add_part(WrittenPart("worker-001-0000.parquet", 1, 0, 40, 40, 3))
    sink.write(0, batch(10))  # open: dropped with the stop
    with pytest.raises(DiskError) as info:
        sink.worker_disk_failed("disk full", 25)
    assert str(info.value) == f"disk full at {samples} after 75 rows; the archive holds the 40 rows written before"
    with pytest.raises(DiskError):
        sink.write(0, batch(1))
    cut = read_manifest(samples).cut
    assert (cut["rows_received"], cut["rows_kept"], cut["problem"]) == (75, 40, "disk full")
    assert [p.name for p in samples.iterdir() if p.name.endswith(".tmp")] == []


def test_a_part_another_worker_completes_after_the_disk_stop_is_kept_and_counted_where_it_is_said(tmp_path):
    from loadray.archive.part_series import WrittenPart
    from loadray.errors import DiskError

    samples = tmp_path / "samples"
    sink = SampleSink(samples, START)
    sink.add_part(WrittenPart("worker-001-0000.parquet", 1, 0, 40, 40, 3))
    with pytest.raises(DiskError) as info:
        sink.worker_disk_failed("disk full", 25)
    sink.add_part(WrittenPart("worker-002-0000.parquet", 2, 0, 30, 30, 2))  # it had room: completed after
    sink.close(START + 10**9)
    said = f"disk full at {samples} after 95 rows; the archive holds the 70 rows written before"
    assert str(info.value) == said  # the error the run is unwinding with says the final counts
    manifest = read_manifest(samples)
    assert (manifest.rows, manifest.complete) == (70, False)
    assert (manifest.cut["rows_received"], manifest.cut["rows_kept"], manifest.cut["message"]) == (95, 70, said)
