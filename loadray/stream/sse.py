"""Server-Sent Events split out of a byte stream as it arrives (the WHATWG
``text/event-stream`` framing: an event ends at a blank line; lines end in CRLF, LF or
CR). Pure: bytes in, complete events out; an event cut off by the end of the stream
is not an event (as the spec says)."""

from __future__ import annotations

import re

__all__ = ["SseSplitter", "data_of"]

_END = re.compile(rb"\r\n\r\n|\n\n|\r\r|\r\n\n|\n\r\n")


class SseSplitter:
    """``feed(data)`` returns the events ``data`` completed (each without its blank line)."""

    __slots__ = ("_rest",)

    def __init__(self) -> None:
        self._rest = b""

    def feed(self, data: bytes) -> list[bytes]:
        buf = self._rest + data if self._rest else data
        events: list[bytes] = []
        start = 0
        for m in _END.finditer(buf):
            events.append(buf[start:m.start()])
            start = m.end()
        self._rest = buf[start:]
        return events


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
