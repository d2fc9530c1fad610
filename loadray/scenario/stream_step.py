"""``stream:`` and ``llm:`` on a step: what it records of a streamed response.

- ``stream: sse`` (Server-Sent Events) or ``stream: chunks`` (HTTP/1.1 chunks): every
  chunk's arrival goes to the ``chunks/`` side table (:mod:`loadray.stream.table`);
- ``llm: openai``: an OpenAI-compatible streaming API (chat/completions or completions);
  implies ``stream: sse`` and adds time to first token, inter-token latency, output
  tokens and tokens/s to the summary and the report.

A definition that cannot stream is refused here, naming its YAML path: an unknown kind
or profile, ``llm`` with ``stream: chunks``, a HEAD step (no body), and an ``llm`` step
whose JSON body does not ask for a stream (``"stream": true``).
"""

from __future__ import annotations

from typing import Any

from loadray.errors import ScenarioError
from loadray.fields import Fields, choice, key_path, show
from loadray.stream.spec import LLM_PROFILES, STREAM_KINDS, StreamSpec

__all__ = ["STREAM_KEYS", "stream_spec"]

STREAM_KEYS = ("stream", "llm")


def stream_spec(fields: Fields, method: str) -> StreamSpec | None:
    """The step's :class:`StreamSpec`, None when it streams nothing."""
    kind = fields.get("stream", choice(*STREAM_KINDS), None)
    llm = fields.get("llm", choice(*LLM_PROFILES), None)
    if kind is None and llm is None:
        return None
    if llm is not None and kind == "chunks":
        raise ScenarioError(fields.path_of("llm"), "needs stream: sse (an LLM API streams Server-Sent Events), "
                                                   "got stream: chunks")
    if method == "HEAD":
        where = fields.path_of("stream" if kind is not None else "llm")
        raise ScenarioError(where, "a HEAD request has no response body to stream (use GET or POST)")
    if llm is not None:
        _asks_for_stream(fields.value.get("json"), fields.path_of("json"))
    return StreamSpec("chunks" if kind == "chunks" else "sse", llm)


def _asks_for_stream(body: Any, path: str) -> None:
    """An OpenAI request body streams only with ``"stream": true``."""
    if not isinstance(body, dict):
        return  # no JSON body, or a template: nothing to check here
    if "stream" not in body:
        raise ScenarioError(path, 'needs "stream": true for llm: openai (else the answer comes in one piece)')
    if body["stream"] is not True:
        raise ScenarioError(key_path(path, "stream"), f"must be true for llm: openai, got {show(body['stream'])}")
