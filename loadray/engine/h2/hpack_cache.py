"""HPACK that remembers header blocks: a load test sends the same request headers and
reads the same response headers (``server``, ``content-type``, ``date`` for a whole
second) thousands of times; pure-Python HPACK (the Huffman decoding above all) was a
third of the HTTP/2 client's CPU per request.

Encoding (:class:`CachingEncoder`, no Huffman): the block of a header list is reused
while the encoder's table is as it was when the block was made and making it added
nothing to it. Headers sent never-indexed (the ``traceparent``, new in every request)
are encoded after the others, each time, so they do not spoil the reuse.

Decoding (:class:`CachingDecoder`):
a block's headers depend on the decoder's dynamic table only through the entries it
reads from it. So a block that read none is remembered with what it added to the
table; the same bytes again give the same headers, and its additions are replayed
(cheap) so the table stays exactly as a full decode would leave it. A block that read
the dynamic table, or changed its size, or is over ``MAX_BLOCK_BYTES``, is always decoded in full. The outcome is the
same as :class:`hpack.Decoder`'s for every sequence of blocks (a table test checks it).
"""

from __future__ import annotations

from typing import Any

import hpack
from hpack.table import HeaderTable

__all__ = ["CachingDecoder", "CachingEncoder", "MAX_BLOCK_BYTES", "MAX_BLOCKS"]

MAX_BLOCKS = 512  # blocks remembered per connection (forgotten all at once when full)
# a longer block is never remembered: a target sending distinct 60 KB blocks (hpack lets
# a header list reach 64 KiB) would otherwise hold ~90 MB per connection
MAX_BLOCK_BYTES = 8192
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


class _CountedTable(HeaderTable):
    """A header table that counts its additions (each may also evict)."""

    def __init__(self) -> None:
        super().__init__()
        self.adds = 0

    def add(self, name: bytes, value: bytes) -> None:
        self.adds += 1
        super().add(name, value)


class CachingEncoder(hpack.Encoder):
    def __init__(self) -> None:
        super().__init__()
        self.header_table = self.table = _CountedTable()
        self._made: dict[tuple, tuple[tuple, bytes]] = {}
        self.hits = 0

    def _state(self) -> tuple:
        table = self.table
        return table.adds, table.maxsize, table.resized

    def encode(self, headers: Any, huffman: bool = False) -> bytes:
        plain: list = []
        secret: list = []
        for header in headers:
            (secret if isinstance(header, hpack.NeverIndexedHeaderTuple) else plain).append(header)
        key = tuple(plain)
        state = self._state()
        made = self._made.get(key)
        if made is not None and made[0] == state:
            block = made[1]
            self.hits += 1
        else:
            block = super().encode(plain, huffman=False)
            if self._state() == state:  # it changed nothing: valid until the table changes
                if len(self._made) >= MAX_BLOCKS:
                    self._made.clear()
                self._made[key] = (state, block)
        if secret:
            block += super().encode(secret, huffman=False)
        return block


class CachingDecoder(hpack.Decoder):
    def __init__(self, max_header_list_size: int = hpack.hpack.DEFAULT_MAX_HEADER_LIST_SIZE) -> None:
        super().__init__(max_header_list_size)
        self.header_table = self.table = _WatchedTable()
        self._seen: dict[tuple[bytes, bool], tuple[tuple[Any, ...], tuple[tuple[bytes, bytes], ...]]] = {}
        self.hits = 0

    def decode(self, data: bytes, raw: bool = False) -> list[Any]:
        if len(data) > MAX_BLOCK_BYTES:
            return list(super().decode(data, raw))
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
