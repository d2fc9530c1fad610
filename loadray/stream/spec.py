"""What a step asks of a streamed response (``stream:`` and ``llm:`` on a step)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

__all__ = ["LLM_PROFILES", "STREAM_KINDS", "StreamSpec"]

StreamKind = Literal["sse", "chunks"]
STREAM_KINDS: tuple[StreamKind, ...] = ("sse", "chunks")
LLM_PROFILES = ("openai",)


@dataclass(frozen=True)
class StreamSpec:
    """``kind``: ``sse`` (one mark per Server-Sent Event) or ``chunks`` (one per HTTP/1.1
    chunk; a body that is not chunked: one per piece read); ``llm``: the token format
    of an LLM API (``openai``: chat/completions chunks), which needs ``sse``."""

    kind: StreamKind = "sse"
    llm: str | None = None
