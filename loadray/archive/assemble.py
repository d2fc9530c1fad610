"""Record batches -> one table with a single contiguous chunk per column, in one copy.

``dataset.to_table().combine_chunks()`` materialises every row twice (the decoded
chunks, then their concatenation). Here each decoded batch is copied straight into
columns allocated once for the whole run and then released, so its memory is reused
by the next batch: half the fresh memory, which is what costs most on small VMs.
Dictionary columns are unified on the way (one dictionary per column). Validity stays
packed (no bool per row), and the values of all-null batches are not copied: a column
that is null in whole files (``flow_ns`` of a run without flows) touches no memory.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator

import numpy as np
import pyarrow as pa

__all__ = ["assemble"]


def _values(arr: pa.Array, dtype: np.dtype) -> np.ndarray:
    data = np.frombuffer(arr.buffers()[1], dtype=dtype, count=arr.offset + len(arr)) if len(arr) else np.empty(0, dtype)
    return data[arr.offset :]


class _Validity:
    """A column's validity bitmap, packed as Arrow keeps it: made on the first null
    (zeroed pages, untouched until written), then each batch's bits appended in place,
    its bitmap bytes copied as they are when it starts on a byte boundary."""

    def __init__(self, n: int) -> None:
        self.n = n
        self.bitmap: np.ndarray | None = None
        self.nulls = 0

    def put(self, at: int, arr: pa.Array) -> None:
        if arr.null_count == 0 and self.bitmap is None:
            return
        if self.bitmap is None:
            self.bitmap = np.zeros((self.n + 7) // 8, np.uint8)
            self._ones(0, at)
        if arr.null_count == 0:
            self._ones(at, len(arr))
            return
        self.nulls += arr.null_count
        source = np.frombuffer(arr.buffers()[0], np.uint8)
        if at % 8 == 0 and arr.offset % 8 == 0:
            first = arr.offset // 8
            packed = self.bitmap[at // 8 : (at + len(arr) + 7) // 8]
            packed[:] = source[first : first + packed.size]
            if len(arr) % 8:  # bits past the batch's end: the next batch ORs its own in
                packed[-1] &= np.uint8((1 << (len(arr) % 8)) - 1)
            return
        bits = np.unpackbits(source, bitorder="little")[arr.offset : arr.offset + len(arr)]
        head = min(-at % 8, bits.size)
        if head:
            byte = int(np.packbits(bits[:head], bitorder="little")[0]) << (at % 8)
            self.bitmap[at // 8] |= np.uint8(byte)
        rest = np.packbits(bits[head:], bitorder="little")
        start = (at + head) // 8
        self.bitmap[start : start + rest.size] = rest

    def _ones(self, at: int, length: int) -> None:
        assert self.bitmap is not None
        head = min(-at % 8, length)
        if head:
            self.bitmap[at // 8] |= np.uint8(((1 << head) - 1) << (at % 8))
        at, length = at + head, length - head
        self.bitmap[at // 8 : (at + length) // 8] = 0xFF
        if length % 8:
            self.bitmap[(at + length) // 8] = np.uint8((1 << (length % 8)) - 1)

    def buffer(self) -> pa.Buffer | None:
        return None if self.bitmap is None else pa.py_buffer(self.bitmap)


class _Primitive:
    """A fixed-width integer column: values (left unwritten in all-null batches, so
    the pages of a column that is mostly null are never touched) plus validity."""

    def __init__(self, type_: pa.DataType, n: int) -> None:
        self.type = type_
        self.dtype = np.dtype(type_.to_pandas_dtype())
        self.values = np.empty(n, self.dtype)
        self.valid = _Validity(n)

    def put(self, at: int, arr: pa.Array) -> None:
        if arr.null_count < len(arr):
            self.values[at : at + len(arr)] = _values(arr, self.dtype)
        self.valid.put(at, arr)

    def _array(self, type_: pa.DataType, values: np.ndarray) -> pa.Array:
        buffers = [self.valid.buffer(), pa.py_buffer(values)]
        return pa.Array.from_buffers(type_, values.size, buffers, null_count=self.valid.nulls)

    def finish(self) -> pa.Array:
        return self._array(self.type, self.values)


class _Dictionary(_Primitive):
    """A dictionary column: each batch's codes remapped onto one run-wide dictionary
    (copied as they are when its dictionary is the run's so far, in the same order)."""

    def __init__(self, type_: pa.DictionaryType, n: int) -> None:
        super().__init__(type_.index_type, n)
        self.value_type = type_.value_type
        self.names: dict[object, int] = {}

    def put(self, at: int, arr: pa.Array) -> None:
        lut = [self.names.setdefault(v, len(self.names)) for v in arr.dictionary.to_pylist()]
        if len(self.names) > np.iinfo(self.values.dtype).max:
            self.values = self.values.astype(np.int32)  # outgrew the file's index type
        codes = _values(arr.indices, np.dtype(arr.indices.type.to_pandas_dtype()))
        out = self.values[at : at + len(arr)]
        if arr.null_count == len(arr):
            pass
        elif lut == list(range(len(lut))):
            out[:] = codes
        else:
            np.take(np.array(lut or [0], self.values.dtype), codes, out=out, mode="clip")
        self.valid.put(at, arr.indices)

    def finish(self) -> pa.Array:
        index_type = pa.from_numpy_dtype(self.values.dtype)
        dictionary = pa.array(list(self.names), self.value_type)
        return pa.DictionaryArray.from_arrays(self._array(index_type, self.values), dictionary)


class _Chunks:
    """Any other type: collect the chunks, concatenate at the end."""

    def __init__(self, type_: pa.DataType, n: int) -> None:
        self.type = type_
        self.chunks: list[pa.Array] = []

    def put(self, at: int, arr: pa.Array) -> None:
        self.chunks.append(arr)

    def finish(self) -> pa.Array:
        return pa.concat_arrays(self.chunks) if self.chunks else pa.array([], self.type)


@contextlib.contextmanager
def _small_pages() -> Iterator[None]:
    """Allocate without numpy's transparent-huge-page advice. On the VMs this runs on
    (host memory in small pages) first touch of huge pages is 2-4x slower: 1 GB took
    1.2-3.1 s with the advice and 0.6-0.9 s without; the columns are written once,
    front to back, so small pages lose nothing."""
    core = getattr(np, "_core", None) or getattr(np, "core", None)
    toggle = getattr(getattr(core, "multiarray", None), "_set_madvise_hugepage", None)
    if toggle is None:
        yield
        return
    previous = toggle(False)
    try:
        yield
    finally:
        toggle(previous)


def _builder(type_: pa.DataType, n: int) -> _Primitive | _Chunks:
    if pa.types.is_dictionary(type_) and pa.types.is_integer(type_.index_type):
        return _Dictionary(type_, n)
    if pa.types.is_integer(type_):
        return _Primitive(type_, n)
    return _Chunks(type_, n)


def assemble(schema: pa.Schema, rows: int, batches: Iterable[pa.RecordBatch]) -> pa.Table:
    """One table of ``rows`` rows from ``batches`` (conforming to ``schema``)."""
    with _small_pages():
        builders = [_builder(f.type, rows) for f in schema]
    at = 0
    for batch in batches:
        if at + batch.num_rows > rows:
            raise ValueError(f"more rows than the {rows} announced")
        for builder, column in zip(builders, batch.columns):
            builder.put(at, column)
        at += batch.num_rows
    if at != rows:
        raise ValueError(f"{at} rows read, {rows} announced")
    arrays = [b.finish() for b in builders]
    if all(a.type == f.type for a, f in zip(arrays, schema)):
        return pa.Table.from_arrays(arrays, schema=schema)
    return pa.Table.from_arrays(arrays, names=schema.names).replace_schema_metadata(schema.metadata)
