"""HPACK decoding that remembers header blocks it has seen: a load test reads the same
response headers thousands of times (``server``, ``content-type``, ``date`` for a whole
second), and the pure-Python Huffman decoding of them was a quarter of the HTTP/2
client's CPU per request.

A block's headers depend on the decoder's dynamic table only through the entries it
reads from it. So a block that read none is remembered with what it added to the
table; the same bytes again give the same headers, and its additions are replayed
(cheap) so the table stays exactly as a full decode would leave it. A block that read
the dynamic table, or changed its size, is always decoded in full. The outcome is the
same as :class:`hpack.Decoder`'s for every sequence of blocks (a table test checks it).
"""

from __future__ import annotations

from typing import Any

import hpack
from hpack.table import HeaderTable

__all__ = ["CachingDecoder", "MAX_BLOCKS"]

MAX_BLOCKS = 512  # blocks remembered per connection (forgotten all at once when full)
_STATIC = len(HeaderTable.STATIC_TABLE)


class _WatchedTable(HeaderTable):
    """A header table that tells whether a decode read its dynamic part, and what it added."""

    def __init__(self) -> None:
        super().__init__()
        self.read_dynamic = False
        self.added: list[tuple[bytes, bytes]] | None = None

    def get_by_index(self, index: int) -> tuple[bytes, bytes]:
        if index > _STATIC:
            self.read_dynamic = True
        return super().get_by_index(index)

    def add(self, name: bytes, value: bytes) -> None:
        if self.added is not None:
            self.added.append((name, value))
        super().add(name, value)


class CachingDecoder(hpack.Decoder):
    def __init__(self, max_header_list_size: int = hpack.hpack.DEFAULT_MAX_HEADER_LIST_SIZE) -> None:
        super().__init__(max_header_list_size)
        self.header_table = self.table = _WatchedTable()
        self._seen: dict[tuple[bytes, bool], tuple[tuple[Any, ...], tuple[tuple[bytes, bytes], ...]]] = {}
        self.hits = 0

    def decode(self, data: bytes, raw: bool = False) -> list[Any]:
        key = (bytes(data), raw)
        table = self.table
        seen = self._seen.get(key)
        if seen is not None:
            headers, added = seen
            for name, value in added:
                table.add(name, value)
            self.hits += 1
            return list(headers)
        size = table.maxsize
        table.read_dynamic, table.added = False, []
        try:
            decoded = list(super().decode(data, raw))
        finally:
            additions, table.added = table.added or [], None
        if not table.read_dynamic and table.maxsize == size:
            if len(self._seen) >= MAX_BLOCKS:
                self._seen.clear()
            self._seen[key] = (tuple(decoded), tuple(additions))
        return decoded
