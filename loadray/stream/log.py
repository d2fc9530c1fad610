"""One streamed response's chunks as they arrive: the per-request recorder a client
feeds (``body`` for each piece of the body read, ``chunk_end`` at each HTTP/1.1 chunk's
end) and the runner reads (:attr:`ChunkLog.marks`).

A mark is ``(t, bytes, tokens, usage)``: the monotonic ns at which the chunk was
complete, its size and, under an LLM profile, the output tokens it carried (else None)
and the ``usage.completion_tokens`` it reported (the last event of a stream asked for it
with ``stream_options.include_usage``; else None):

- ``sse``: one mark per Server-Sent Event (its bytes without the blank line; an event
  over :data:`~.sse.MAX_EVENT` is counted whole, its tokens read from its first bytes);
- ``chunks``: one mark per HTTP/1.1 chunk of a chunked body (the empty last chunk is
  not one); a body that is not chunked: one mark per piece read.
"""

from __future__ import annotations

from collections.abc import Callable

from .spec import StreamSpec
from .sse import SseSplitter, data_of
from .tokens import openai_tokens

__all__ = ["ChunkLog", "Mark"]

Mark = tuple[int, int, "int | None", "int | None"]


class ChunkLog:
    __slots__ = ("now", "sse", "llm", "marks", "_split", "_pieces", "_open", "_open_t", "_chunked")

    def __init__(self, spec: StreamSpec, now: Callable[[], int]) -> None:
        self.now = now
        self.sse = spec.kind == "sse"
        self.llm = spec.llm is not None
        self.marks: list[Mark] = []
        self._split = SseSplitter() if self.sse else None
        self._pieces: list[Mark] = []  # chunks: each piece read, until a chunk end is seen
        self._open = 0  # chunks: bytes of the HTTP chunk under way
        self._open_t = 0
        self._chunked = False

    def body(self, data: bytes) -> None:
        """A piece of the body arrived (now)."""
        t = self.now()
        if self._split is not None:
            for event, size in self._split.feed(data):
                self._event(t, event, size)
            return
        self._open += len(data)
        self._open_t = t
        if not self._chunked:
            self._pieces.append((t, len(data), None, None))

    def _event(self, t: int, event: bytes, size: int) -> None:
        if not self.llm:
            self.marks.append((t, size, None, None))
            return
        self.marks.append((t, size, *openai_tokens(data_of(event))))

    def chunk_end(self) -> None:
        """An HTTP/1.1 chunk ended."""
        if self._split is not None:
            return
        if not self._chunked:
            self._chunked = True
            self._pieces.clear()
        if self._open:
            self.marks.append((self._open_t, self._open, None, None))
            self._open = 0

    def finish(self) -> list[Mark]:
        """The marks, once the response is complete (or cut)."""
        if self._split is None and not self._chunked:
            self.marks = self._pieces
        return self.marks
