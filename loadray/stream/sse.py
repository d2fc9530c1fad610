"""Server-Sent Events split out of a byte stream as it arrives (the WHATWG
``text/event-stream`` framing: an event ends at a blank line; lines end in CRLF, LF or
CR). Pure: bytes in, complete events out; an event cut off by the end of the stream
is not an event (as the spec says)."""

from __future__ import annotations

import re

__all__ = ["MAX_EVENT", "SseSplitter", "data_of"]

_END = re.compile(rb"\r\n\r\n|\n\n|\r\r|\r\n\n|\n\r\n")


#: The most of one event kept; its size is counted whole. A stream that never ends an
#: event costs at most this much memory, and the splitter stays linear in what it reads.
MAX_EVENT = 1 << 20
_TAIL = 3  # a blank line is at most 4 bytes: the last 3 of a piece may begin one


class SseSplitter:
    """``feed(data)`` returns ``(event, size)`` for each event ``data`` completed: the
    event without its blank line (its first ``limit`` bytes) and its whole size."""

    __slots__ = ("_rest", "_kept", "_skipped", "limit")

    def __init__(self, limit: int = MAX_EVENT) -> None:
        self.limit = limit
        self._rest = b""  # the event under way, since what was kept or skipped of it
        self._kept = b""  # an event over the limit: its first ``limit`` bytes ...
        self._skipped = 0  # ... and how many bytes after them were counted, not kept

    def feed(self, data: bytes) -> list[tuple[bytes, int]]:
        rest = self._rest
        buf = rest + data if rest else data
        events: list[tuple[bytes, int]] = []
        start = 0
        for m in _END.finditer(buf, max(0, len(rest) - _TAIL)):  # no blank line ends before
            events.append(self._event(buf[start:m.start()]))
            start = m.end()
        self._hold(buf[start:])
        return events

    def _event(self, piece: bytes) -> tuple[bytes, int]:
        kept, size = self._kept, len(self._kept) + self._skipped + len(piece)
        self._kept, self._skipped = b"", 0
        return ((kept + piece)[:self.limit] if kept else piece[:self.limit]), size

    def _hold(self, rest: bytes) -> None:
        room = self.limit - len(self._kept)
        if len(rest) <= room + _TAIL:
            self._rest = rest
            return
        self._kept += rest[:room]
        self._skipped += len(rest) - room - _TAIL
        self._rest = rest[-_TAIL:]


def data_of(event: bytes) -> bytes | None:
    """The event's ``data`` (its ``data:`` lines joined by LF), None without any."""
    parts = []
    for line in event.replace(b"\r\n", b"\n").replace(b"\r", b"\n").split(b"\n"):
        if line.startswith(b"data:"):
            value = line[5:]
            parts.append(value[1:] if value[:1] == b" " else value)
        elif line == b"data":
            parts.append(b"")
    return b"\n".join(parts) if parts else None
