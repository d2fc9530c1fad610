import numpy as np
import pyarrow as pa
import pytest

from loadray.archive.assemble import assemble

SCHEMA = pa.schema([("x", pa.int64()), ("kind", pa.dictionary(pa.int8(), pa.string())), ("f", pa.float64())])


def batch(xs, kinds, fs):
    return pa.record_batch([pa.array(xs, pa.int64()), pa.array(kinds, SCHEMA.field("kind").type), pa.array(fs)],
                           schema=SCHEMA)


def test_one_contiguous_chunk_per_column_with_dictionaries_unified_and_nulls_kept():
    batches = [batch([1, 2], ["a", "b"], [0.5, 1.5]), batch([None, 4, 5], ["c", None, "a"], [2.5, None, 3.5]),
               batch([6], [None], [4.5])]
    t = assemble(SCHEMA, 6, batches)
    assert t.schema == SCHEMA
    assert all(t.column(n).num_chunks == 1 for n in t.column_names)
    assert t.column("x").to_pylist() == [1, 2, None, 4, 5, 6]
    assert t.column("kind").to_pylist() == ["a", "b", "c", None, "a", None]
    assert t.column("kind").chunk(0).dictionary.to_pylist() == ["a", "b", "c"]
    assert t.column("f").to_pylist() == [0.5, 1.5, 2.5, None, 3.5, 4.5]
    assert t.column("x").null_count == 1 and t.column("kind").null_count == 2


def test_a_dictionary_that_outgrows_its_index_type_is_widened():
    names = [f"k{i}" for i in range(300)]
    batches = [batch([i] * 100, names[i * 100 : (i + 1) * 100], [0.0] * 100) for i in range(3)]
    t = assemble(SCHEMA, 300, batches)
    assert t.column("kind").to_pylist() == names
    assert t.column("kind").type.index_type == pa.int32()


def test_row_count_must_match():
    with pytest.raises(ValueError, match="2 rows read, 3 announced"):
        assemble(SCHEMA, 3, [batch([1, 2], ["a", "b"], [0.0, 0.0])])
    with pytest.raises(ValueError, match="more rows"):
        assemble(SCHEMA, 1, [batch([1, 2], ["a", "b"], [0.0, 0.0])])
    assert assemble(SCHEMA, 0, []).num_rows == 0


def test_validity_and_values_survive_unaligned_sliced_and_all_null_batches():
    rng = np.random.default_rng(3)
    schema = pa.schema([("x", pa.int64()), ("kind", SCHEMA.field("kind").type)])
    for _ in range(200):
        batches = []
        for _ in range(rng.integers(0, 7)):
            size, offset, p_null = int(rng.integers(0, 40)), int(rng.integers(0, 11)), rng.choice([0.0, 0.3, 1.0])
            xs = [None if rng.random() < p_null else int(v) for v in rng.integers(0, 100, size + offset)]
            kinds = [None if rng.random() < p_null else str(k) for k in rng.choice(list("abc"), size + offset)]
            columns = [pa.array(xs, pa.int64()), pa.array(kinds, schema.field("kind").type)]
            batches.append(pa.record_batch(columns, schema=schema).slice(offset, size))
        t = assemble(schema, sum(b.num_rows for b in batches), batches)
        t.validate(full=True)
        expected = pa.Table.from_batches(batches, schema=schema)
        for name in schema.names:
            assert t.column(name).to_pylist() == expected.column(name).to_pylist()
            assert t.column(name).null_count == expected.column(name).null_count
