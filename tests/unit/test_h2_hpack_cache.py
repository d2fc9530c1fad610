"""The caching HPACK decoder gives exactly what hpack's own decoder gives, block after
block, whatever the blocks read from or add to the dynamic table."""

from __future__ import annotations

import random

import hpack
import pytest

from loadray.engine.h2.hpack_cache import MAX_BLOCK_BYTES, MAX_BLOCKS, CachingDecoder, CachingEncoder

SERVER = [(b":status", b"200"), (b"server", b"nginx/1.22.1"), (b"content-type", b"text/plain")]


def blocks(seed: int, nginx: bool, n: int = 400) -> list[bytes]:
    """A server's header blocks: mostly the same headers, a date that changes now and
    then, new cookies (new entries), table size updates; from one indexing encoder
    (later blocks read the dynamic table) or, as nginx does, literals added to the
    table but never read from it (a fresh encoder per block)."""
    rng = random.Random(seed)
    shared = hpack.Encoder()
    out = []
    second = 0
    for i in range(n):
        if rng.random() < 0.05:
            second += 1
        headers = [*SERVER, (b"date", f"Sun, 29 Nov 2026 14:00:{second % 60:02d} GMT".encode())]
        if rng.random() < 0.2:
            headers.append((b"set-cookie", f"id={rng.randrange(50)}".encode()))
        if rng.random() < 0.1:
            headers.append(hpack.NeverIndexedHeaderTuple(b"x-trace", f"{i}".encode()))
        encoder = hpack.Encoder() if nginx else shared
        if not nginx and rng.random() < 0.02:
            encoder.header_table_size = rng.choice([0, 256, 4096])
        out.append(encoder.encode(headers, huffman=rng.random() < 0.8))
    return out


@pytest.mark.parametrize("nginx", [False, True])
@pytest.mark.parametrize("seed", range(3))
def test_same_headers_and_same_table_as_hpack_block_after_block(seed, nginx):
    plain, cached = hpack.Decoder(), CachingDecoder()
    for block in blocks(seed, nginx):
        assert cached.decode(block, raw=True) == plain.decode(block, raw=True)
        assert list(cached.header_table.dynamic_entries) == list(plain.header_table.dynamic_entries)
        assert cached.header_table.maxsize == plain.header_table.maxsize
    if nginx:
        assert cached.hits > 200  # the repeats (same date, no cookie, no trace) were served from memory


def test_a_block_that_reads_the_dynamic_table_is_never_reused():
    encoder = hpack.Encoder()
    first = encoder.encode([(b"x-a", b"1")])  # literal, added to the table
    again = encoder.encode([(b"x-a", b"1")])  # now an index into the dynamic table
    decoder = CachingDecoder()
    assert decoder.decode(first, raw=True) == [(b"x-a", b"1")]
    assert decoder.decode(again, raw=True) == [(b"x-a", b"1")]
    assert decoder.decode(again, raw=True) == [(b"x-a", b"1")]
    assert decoder.hits == 0


def test_memory_is_bounded():
    encoder = hpack.Encoder()
    encoder.header_table_size = 0  # nothing indexed: every block is remembered
    decoder = CachingDecoder()
    decoder.decode(encoder.encode([(b"a", b"b")]), raw=True)  # carries the size update
    for i in range(MAX_BLOCKS * 2 + 3):
        decoder.decode(encoder.encode([(b"x-n", str(i).encode())]), raw=True)
    assert 0 < len(decoder._seen) <= MAX_BLOCKS


def test_long_blocks_are_decoded_in_full_never_remembered():
    # a hostile target's distinct 60 KB blocks: before, 511 of them held ~88 MB
    encoder, plain, decoder = hpack.Encoder(), hpack.Decoder(), CachingDecoder()
    encoder.header_table_size = 0  # nothing indexed: every block could be remembered
    for i in range(20):
        block = encoder.encode([(b":status", b"200"), (b"x-a", b"%06d" % i + b"a" * 60_000)])
        assert len(block) > MAX_BLOCK_BYTES
        assert decoder.decode(block, raw=True) == plain.decode(block, raw=True)
    small = encoder.encode([(b":status", b"200")])
    assert decoder.decode(small, raw=True) == decoder.decode(small, raw=True) == [(b":status", b"200")]
    assert len(decoder._seen) == 1 and decoder.hits == 1


def requests(seed: int, n: int = 400) -> list[list]:
    """A client's header lists: a few fixed requests, templated paths now and then (new
    table entries), a never-indexed traceparent on most."""
    rng = random.Random(seed)
    fixed = [[(b":method", b"GET"), (b":scheme", b"http"), (b":authority", b"127.0.0.1:80"), (b":path", p),
              (b"user-agent", b"loadray")] for p in (b"/", b"/a", b"/b")]
    out = []
    for i in range(n):
        head = list(rng.choice(fixed))
        if rng.random() < 0.1:
            head[3] = (b":path", f"/orders/{rng.randrange(1000)}".encode())
        if rng.random() < 0.7:
            head.append(hpack.NeverIndexedHeaderTuple(b"traceparent", f"00-{i:032x}-{i:016x}-01".encode()))
        out.append(head)
    return out


@pytest.mark.parametrize("seed", range(3))
def test_cached_encoding_decodes_to_the_same_headers_and_keeps_the_tables_in_step(seed):
    encoder, decoder = CachingEncoder(), hpack.Decoder()
    rng = random.Random(seed)
    for head in requests(seed):
        if rng.random() < 0.01:  # the server changes SETTINGS_HEADER_TABLE_SIZE
            encoder.header_table_size = decoder.max_allowed_table_size = rng.choice([0, 200, 4096])
        decoded = decoder.decode(encoder.encode(head), raw=True)
        plain = [h for h in head if not isinstance(h, hpack.NeverIndexedHeaderTuple)]
        secret = [h for h in head if isinstance(h, hpack.NeverIndexedHeaderTuple)]
        assert [tuple(h) for h in decoded] == [tuple(h) for h in plain + secret]
        assert list(decoder.header_table.dynamic_entries) == list(encoder.header_table.dynamic_entries)
    assert encoder.hits > 100  # every templated path (a new entry) starts the reuse over


def test_without_never_indexed_headers_the_blocks_are_hpacks_own():
    cached, plain = CachingEncoder(), hpack.Encoder()
    for head in requests(7):
        head = [h for h in head if not isinstance(h, hpack.NeverIndexedHeaderTuple)]
        assert cached.encode(head) == plain.encode(head, huffman=False)
