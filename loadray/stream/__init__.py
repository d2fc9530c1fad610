"""Streamed responses: what a step asks (:class:`StreamSpec`), the per-request chunk
recorder the clients feed (:class:`ChunkLog`), Server-Sent Events framing and LLM
token counting, and the ``chunks/`` side table (:mod:`.table`)."""

from loadray.stream.log import ChunkLog, Mark
from loadray.stream.spec import LLM_PROFILES, STREAM_KINDS, StreamSpec

__all__ = ["ChunkLog", "LLM_PROFILES", "Mark", "STREAM_KINDS", "StreamSpec"]
