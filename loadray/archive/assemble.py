"""Record batches -> one table with a single contiguous chunk per column, in one copy.

``dataset.to_table().combine_chunks()`` materialises every row twice (the decoded
chunks, then their concatenation). Here each decoded batch is copied straight into
columns allocated once for the whole run and then released, so its memory is reused
by the next batch: half the fresh memory, which is what costs most on small VMs.
Dictionary columns are unified on the way (one dictionary per column).
"""

from __future__ import annotations

import contextlib
from typing import Iterable, Iterator

import numpy as np
import pyarrow as pa

__all__ = ["assemble"]


def _bits(arr: pa.Array) -> np.ndarray | None:
    """Validity of ``arr`` as bools, None when it has no nulls."""
    if arr.null_count == 0:
        return None
    bits = np.unpackbits(np.frombuffer(arr.buffers()[0], dtype=np.uint8), bitorder="little")
    return bits[arr.offset : arr.offset + len(arr)].view(bool)


def _values(arr: pa.Array, dtype: np.dtype) -> np.ndarray:
    data = np.frombuffer(arr.buffers()[1], dtype=dtype, count=arr.offset + len(arr)) if len(arr) else np.empty(0, dtype)
    return data[arr.offset :]


class _Primitive:
    """A fixed-width integer column (values plus a validity mask made on first null)."""

    def __init__(self, type_: pa.DataType, n: int) -> None:
        self.type = type_
        self.dtype = np.dtype(type_.to_pandas_dtype())
        self.values = np.empty(n, self.dtype)
        self.valid: np.ndarray | None = None

    def put(self, at: int, arr: pa.Array) -> None:
        self.values[at : at + len(arr)] = _values(arr, self.dtype)
        self._valid(at, _bits(arr), len(arr))

    def _valid(self, at: int, bits: np.ndarray | None, length: int) -> None:
        if bits is None:
            if self.valid is not None:
                self.valid[at : at + length] = True
            return
        if self.valid is None:
            self.valid = np.ones(self.values.size, bool)
        self.valid[at : at + length] = bits

    def _array(self, type_: pa.DataType, values: np.ndarray) -> pa.Array:
        if self.valid is None:
            return pa.Array.from_buffers(type_, values.size, [None, pa.py_buffer(values)], null_count=0)
        bitmap = np.packbits(self.valid, bitorder="little")
        nulls = int(self.valid.size - np.count_nonzero(self.valid))
        return pa.Array.from_buffers(type_, values.size, [pa.py_buffer(bitmap), pa.py_buffer(values)], null_count=nulls)

    def finish(self) -> pa.Array:
        return self._array(self.type, self.values)


class _Dictionary(_Primitive):
    """A dictionary column: each batch's codes remapped onto one run-wide dictionary."""

    def __init__(self, type_: pa.DictionaryType, n: int) -> None:
        super().__init__(type_.index_type, n)
        self.value_type = type_.value_type
        self.names: dict[object, int] = {}

    def put(self, at: int, arr: pa.Array) -> None:
        lut = [self.names.setdefault(v, len(self.names)) for v in arr.dictionary.to_pylist()] or [0]
        if len(self.names) > np.iinfo(self.values.dtype).max:
            self.values = self.values.astype(np.int32)  # outgrew the file's index type
        codes = _values(arr.indices, np.dtype(arr.indices.type.to_pandas_dtype()))
        np.take(np.array(lut, self.values.dtype), codes, out=self.values[at : at + len(arr)], mode="clip")
        self._valid(at, _bits(arr.indices), len(arr))

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
