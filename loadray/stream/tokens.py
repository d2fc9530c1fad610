"""Output tokens carried by one event of an LLM API's stream.

``openai`` (chat/completions and completions, as OpenAI, vLLM, TGI, llama.cpp and
Ollama's OpenAI API stream them): an event ``data: {json}`` carries one token per
choice whose ``delta.content`` (chat) or ``text`` (completions) is a non-empty string
(servers stream one token per event; one that packs several counts as one here: see
``usage`` in :mod:`loadray.stream.log`); ``data: [DONE]``, the role chunk, the usage
chunk and anything that is not JSON carry none."""

from __future__ import annotations

import json

__all__ = ["openai_tokens", "openai_usage"]


def _payload(data: bytes | None) -> dict | None:
    if not data or data == b"[DONE]" or data[:1] != b"{":
        return None
    try:
        doc = json.loads(data)
    except ValueError:
        return None
    return doc if isinstance(doc, dict) else None


def openai_tokens(data: bytes | None) -> tuple[int, int | None]:
    """(tokens in this event, the stream's reported ``usage.completion_tokens`` or None)."""
    doc = _payload(data)
    if doc is None:
        return 0, None
    n = 0
    choices = doc.get("choices")
    for choice in choices if isinstance(choices, list) else ():
        if not isinstance(choice, dict):
            continue
        delta = choice.get("delta")
        text = delta.get("content") if isinstance(delta, dict) else choice.get("text")
        if isinstance(text, str) and text:
            n += 1
    return n, openai_usage(doc)


def openai_usage(doc: dict) -> int | None:
    usage = doc.get("usage")
    if isinstance(usage, dict):
        value = usage.get("completion_tokens")
        if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
            return value
    return None
