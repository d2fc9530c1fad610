"""Streamed answers of the built-in target: chunked bodies and a fake OpenAI-compatible
chat completion, each piece written at an absolute time (no drift over a long stream).

- ``GET /stream?chunks=N&interval=10ms[&size=B][&format=sse]``: N HTTP/1.1 chunks
  (chunked transfer encoding), chunk ``i`` (0-based) at ``(i + 1) * interval`` after the
  request arrived, so the first body byte comes after one interval and the last after
  ``N * interval``; each chunk is ``size`` bytes (default 16) of text, or with
  ``format=sse`` one Server-Sent Event ``data: chunk i``. Defaults: 10 chunks, 10 ms.
- ``POST /v1/chat/completions`` (OpenAI's chat API, ``"stream": true``): first a role
  chunk at once (as vLLM and OpenAI send it: the first body byte is not the first
  token), then ``tokens`` content chunks, token ``i`` at ``ttft + i * itl`` after
  arrival, one token each, the last with ``finish_reason: "stop"``; with
  ``stream_options.include_usage`` a usage chunk; then ``data: [DONE]``. Without
  ``"stream": true`` the whole completion is one JSON answer after the last token's
  time. Pace: query ``ttft``, ``itl``, ``tokens`` (durations like ``200ms``; tokens a
  count) override the body's ``max_tokens`` and the defaults (100 ms, 20 ms, 16).

Bad parameters answer 400 with a one-line reason (``{"error": {"message": ...}}`` on the
chat API). These answers are outside the fault model (latency/errors/stalls apply to the
other paths); they are counted in ``/__stats`` like any request.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable

from aiohttp import web

from loadray.units import parse_duration

__all__ = ["CHAT_PATH", "STREAM_PATH", "STREAM_PREFIXES", "stream_handler"]

STREAM_PATH = "/stream"
CHAT_PATH = "/v1/chat/completions"
STREAM_PREFIXES = (STREAM_PATH, CHAT_PATH)
MAX_CHUNKS = 100_000
MAX_SIZE = 1 << 20
MAX_WAIT_S = 600.0
DEFAULT_TTFT_S, DEFAULT_ITL_S, DEFAULT_TOKENS = 0.1, 0.02, 16

Handler = Callable[[web.BaseRequest], Awaitable[web.StreamResponse]]
Clock = Callable[[], float]


class _Bad(ValueError):
    """A parameter the endpoint cannot use: a 400 answer."""


def stream_handler(path: str, clock: Clock = time.monotonic) -> Handler | None:
    """The handler of ``path`` (one of :data:`STREAM_PREFIXES`), else None."""
    if path == STREAM_PATH:
        return lambda request: _chunks(request, clock)
    if path == CHAT_PATH:
        return lambda request: _chat(request, clock)
    return None


async def _at(clock: Clock, when: float) -> None:
    """Sleep until ``clock() >= when`` (timers may fire a fraction of a ms early)."""
    wait = when - clock()
    while wait > 0:
        await asyncio.sleep(wait)
        wait = when - clock()


def _count(value: str | None, name: str, default: int, high: int) -> int:
    if value is None:
        return default
    try:
        n = int(value)
    except ValueError:
        raise _Bad(f"{name} must be a whole number, got {value!r}") from None
    if not 0 <= n <= high:
        raise _Bad(f"{name} must be between 0 and {high}, got {n}")
    return n


def _wait(value: str | None, name: str, default: float) -> float:
    if value is None:
        return default
    try:
        seconds = parse_duration(value)
    except ValueError as exc:
        raise _Bad(f"{name}: {exc}") from None
    if not 0 <= seconds <= MAX_WAIT_S:
        raise _Bad(f"{name} must be between 0 and {MAX_WAIT_S:g}s, got {value!r}")
    return seconds


async def _chunks(request: web.BaseRequest, clock: Clock) -> web.StreamResponse:
    arrived = clock()
    q = request.query
    try:
        n = _count(q.get("chunks"), "chunks", 10, MAX_CHUNKS)
        interval = _wait(q.get("interval"), "interval", 0.01)
        size = _count(q.get("size"), "size", 16, MAX_SIZE)
        if q.get("format", "raw") not in ("raw", "sse"):
            raise _Bad(f"format must be raw or sse, got {q.get('format')!r}")
        sse = q.get("format") == "sse"
    except _Bad as exc:
        return web.Response(status=400, text=f"{exc}\n")
    response = web.StreamResponse(headers={"Content-Type": "text/event-stream" if sse else "text/plain"})
    response.enable_chunked_encoding()
    await response.prepare(request)
    for i in range(n):
        await _at(clock, arrived + (i + 1) * interval)
        await response.write(f"data: chunk {i}\n\n".encode() if sse else _filler(i, size))
    await response.write_eof()
    return response


def _filler(i: int, size: int) -> bytes:
    head = f"{i}:".encode()
    return (head + b"x" * max(0, size - len(head)))[:size]


def _pace(request: web.BaseRequest, body: dict) -> tuple[float, float, int]:
    q = request.query
    tokens = body.get("max_tokens", body.get("max_completion_tokens"))
    if tokens is not None and (not isinstance(tokens, int) or isinstance(tokens, bool) or tokens < 0):
        raise _Bad(f"max_tokens must be a whole number >= 0, got {tokens!r}")
    n = _count(q.get("tokens"), "tokens", DEFAULT_TOKENS if tokens is None else min(tokens, MAX_CHUNKS), MAX_CHUNKS)
    return _wait(q.get("ttft"), "ttft", DEFAULT_TTFT_S), _wait(q.get("itl"), "itl", DEFAULT_ITL_S), n


async def _chat(request: web.BaseRequest, clock: Clock) -> web.StreamResponse:
    arrived = clock()
    if request.method != "POST":
        return web.Response(status=405, text="method not allowed\n", headers={"Allow": "POST"})
    try:
        body = json.loads(await request.read() or b"{}")
        if not isinstance(body, dict):
            raise _Bad("the body must be a JSON object")
        ttft, itl, n = _pace(request, body)
    except (ValueError, _Bad) as exc:
        message = str(exc) if isinstance(exc, _Bad) else f"the body is not JSON: {exc}"
        return web.json_response({"error": {"message": message, "type": "invalid_request_error"}}, status=400)
    model = str(body.get("model") or "loadray-fake")
    if body.get("stream") is not True:
        await _at(clock, arrived + ttft + max(0, n - 1) * itl)
        return web.json_response(_completion(model, n))
    usage = isinstance(body.get("stream_options"), dict) and body["stream_options"].get("include_usage") is True
    response = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"})
    response.enable_chunked_encoding()
    await response.prepare(request)
    await response.write(_event(_chunk(model, {"role": "assistant", "content": ""})))
    for i in range(n):
        await _at(clock, arrived + ttft + i * itl)
        await response.write(_event(_chunk(model, {"content": f"tok{i} "}, "stop" if i == n - 1 else None)))
    if usage:
        await response.write(_event({**_chunk(model, None), "choices": [], "usage": _usage(n)}))
    await response.write(b"data: [DONE]\n\n")
    await response.write_eof()
    return response


def _chunk(model: str, delta: dict | None, finish: str | None = None) -> dict:
    choice = {"index": 0, "delta": delta or {}, "finish_reason": finish}
    return {"id": "chatcmpl-loadray", "object": "chat.completion.chunk", "created": 0, "model": model,
            "choices": [choice]}


def _usage(n: int) -> dict:
    return {"prompt_tokens": 1, "completion_tokens": n, "total_tokens": n + 1}


def _completion(model: str, n: int) -> dict:
    text = "".join(f"tok{i} " for i in range(n))
    message = {"role": "assistant", "content": text}
    return {"id": "chatcmpl-loadray", "object": "chat.completion", "created": 0, "model": model,
            "choices": [{"index": 0, "message": message, "finish_reason": "stop"}], "usage": _usage(n)}


def _event(payload: dict) -> bytes:
    return b"data: " + json.dumps(payload, separators=(",", ":")).encode() + b"\n\n"
