"""Server-Sent Events framing, OpenAI token counting and the per-request chunk log:
pure, table-driven, on a fake clock."""

from __future__ import annotations

import json

import pytest

from loadray.stream import ChunkLog, StreamSpec
from loadray.stream.sse import SseSplitter, data_of
from loadray.stream.tokens import openai_tokens


@pytest.mark.parametrize(
    "pieces, events",
    [
        ([b"data: a\n\ndata: b\n\n"], [b"data: a", b"data: b"]),
        ([b"data: a\n", b"\ndata: b\n\n"], [b"data: a", b"data: b"]),  # the blank line in the next piece
        ([b"data: a\r\n\r\n"], [b"data: a"]),
        ([b"data: a\r\n", b"\r\n"], [b"data: a"]),
        ([b"data: a\r\n\r", b"\n"], [b"data: a"]),  # CRLF cut between pieces
        ([b"data: a\r\rdata: b\r\r"], [b"data: a", b"data: b"]),  # CR line ends
        ([b"event: x\ndata: 1\ndata: 2\n\n"], [b"event: x\ndata: 1\ndata: 2"]),
        ([b"data: never ended"], []),  # cut off by the end of the stream: not an event
        ([b"d", b"a", b"ta: x", b"\n", b"\n"], [b"data: x"]),
    ],
)
def test_events_split_at_blank_lines_whatever_the_pieces(pieces, events):
    split = SseSplitter()
    assert [e for piece in pieces for e in split.feed(piece)] == [(e, len(e)) for e in events]


@pytest.mark.parametrize("piece", [1, 7, 4096, 70_000])
def test_an_event_over_the_limit_is_counted_whole_and_kept_to_the_limit(piece):
    body = b"data: " + b"x" * 250_000 + b"\r\n\r\ndata: next\n\n"
    split = SseSplitter(limit=1000)
    got = [e for i in range(0, len(body), piece) for e in split.feed(body[i:i + piece])]
    assert [(len(e), n) for e, n in got] == [(1000, 250_006), (10, 10)]
    assert got[0][0] == b"data: " + b"x" * 994 and got[1][0] == b"data: next"


def test_a_stream_that_never_ends_an_event_holds_at_most_the_limit():
    split, limit = SseSplitter(limit=64 << 10), 64 << 10
    piece = b"y" * 65536
    for _ in range(3000):  # 196 MB without a blank line: linear, bounded
        assert split.feed(piece) == []
        assert len(split._kept) + len(split._rest) <= limit + 3
    (event, size), = split.feed(b"\n\n")
    assert (len(event), size) == (limit, 3000 * 65536)


@pytest.mark.parametrize(
    "event, data",
    [(b"data: x", b"x"), (b"data:x", b"x"), (b"data: 1\ndata: 2", b"1\n2"), (b"event: ping", None),
     (b": comment\ndata: y", b"y"), (b"data", b"")],
)
def test_data_of_an_event(event, data):
    assert data_of(event) == data


def _chunk(content=None, text=None, usage=None, choices=1):
    doc = {"choices": [({"delta": {"content": content}} if text is None else {"text": text})] * choices}
    if usage is not None:
        doc["usage"] = {"completion_tokens": usage}
    return json.dumps(doc).encode()


@pytest.mark.parametrize(
    "data, found",
    [
        (_chunk("tok"), (1, None)),
        (_chunk(""), (0, None)),  # the role chunk
        (_chunk(None), (0, None)),
        (_chunk(text="tok"), (1, None)),  # the completions API
        (_chunk("a", choices=2), (2, None)),  # n=2: a token per choice
        (json.dumps({"choices": [], "usage": {"completion_tokens": 50}}).encode(), (0, 50)),
        (b"[DONE]", (0, None)),
        (b"not json", (0, None)),
        (b"{broken", (0, None)),
        (None, (0, None)),
        (b'{"choices": "x"}', (0, None)),
    ],
)
def test_openai_tokens_of_an_event(data, found):
    assert openai_tokens(data) == found


class Ticks:
    """A clock that moves 1 ms at each reading."""

    def __init__(self) -> None:
        self.t = 0

    def __call__(self) -> int:
        self.t += 1_000_000
        return self.t


def test_an_sse_log_marks_each_event_when_its_blank_line_arrives():
    log = ChunkLog(StreamSpec("sse"), Ticks())
    for piece in (b"data: a\n\nda", b"ta: bb\n", b"\ndata: c\n\n"):
        log.body(piece)
    assert log.finish() == [(1_000_000, 7, None, None), (3_000_000, 8, None, None), (3_000_000, 7, None, None)]


def test_an_llm_log_counts_tokens_and_keeps_the_reported_usage():
    log = ChunkLog(StreamSpec("sse", "openai"), Ticks())
    log.body(b"data: " + _chunk("") + b"\n\n")
    log.body(b"data: " + _chunk("a") + b"\n\ndata: " + _chunk("b") + b"\n\n")
    log.body(b"data: " + json.dumps({"choices": [], "usage": {"completion_tokens": 9}}).encode() + b"\n\n")
    log.body(b"data: [DONE]\n\n")
    assert [(t // 1_000_000, tokens, usage) for t, _, tokens, usage in log.finish()] == [
        (1, 0, None), (2, 1, None), (2, 1, None), (3, 0, 9), (4, 0, None)]


def test_a_chunks_log_marks_http_chunks_when_chunked_else_each_piece():
    chunked = ChunkLog(StreamSpec("chunks"), Ticks())
    chunked.body(b"abc")
    chunked.body(b"de")  # the same HTTP chunk, read in two pieces
    chunked.chunk_end()
    chunked.body(b"f")
    chunked.chunk_end()
    chunked.chunk_end()  # the empty last chunk
    assert chunked.finish() == [(2_000_000, 5, None, None), (3_000_000, 1, None, None)]
    plain = ChunkLog(StreamSpec("chunks"), Ticks())
    plain.body(b"abc")
    plain.body(b"de")
    assert plain.finish() == [(1_000_000, 3, None, None), (2_000_000, 2, None, None)]
