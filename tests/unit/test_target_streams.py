"""The built-in target's streamed answers, as a real child process on 127.0.0.1: the
chunked /stream and the fake OpenAI /v1/chat/completions (pace, framing, bad input)."""

from __future__ import annotations

import http.client
import json
import time

import pytest

from loadray.target import LOOPBACK, TargetOptions, start_target


@pytest.fixture(scope="module")
def target():
    t = start_target(TargetOptions())
    try:
        yield t
    finally:
        t.stop()


def fetch(target, path, method="GET", body=None):
    conn = http.client.HTTPConnection(LOOPBACK, target.port, timeout=10)
    conn.request(method, path, body=None if body is None else json.dumps(body),
                 headers={"Content-Type": "application/json"} if body is not None else {})
    resp = conn.getresponse()
    return resp, resp.read()


def test_stream_sends_n_chunks_chunked_at_the_interval(target):
    start = time.monotonic()
    resp, body = fetch(target, "/stream?chunks=8&interval=10ms&size=5")
    took = time.monotonic() - start
    assert resp.status == 200 and resp.getheader("Transfer-Encoding") == "chunked"
    assert body == b"".join(f"{i}:xxx".encode() for i in range(8)) and 0.08 <= took < 0.5
    resp, body = fetch(target, "/stream?chunks=3&interval=0s&format=sse")
    assert resp.getheader("Content-Type").startswith("text/event-stream")
    assert body == b"data: chunk 0\n\ndata: chunk 1\n\ndata: chunk 2\n\n"


def test_chat_streams_role_then_tokens_then_usage_and_done(target):
    body = {"model": "m", "stream": True, "max_tokens": 4, "stream_options": {"include_usage": True}}
    start = time.monotonic()
    resp, raw = fetch(target, "/v1/chat/completions?ttft=50ms&itl=10ms", "POST", body)
    took = time.monotonic() - start
    events = [e[len(b"data: "):] for e in raw.split(b"\n\n") if e]
    assert resp.status == 200 and events[-1] == b"[DONE]" and 0.08 <= took < 0.5
    docs = [json.loads(e) for e in events[:-1]]
    assert docs[0]["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    assert [d["choices"][0]["delta"]["content"] for d in docs[1:5]] == ["tok0 ", "tok1 ", "tok2 ", "tok3 "]
    assert docs[4]["choices"][0]["finish_reason"] == "stop" and docs[5]["usage"]["completion_tokens"] == 4


def test_chat_without_stream_answers_one_completion(target):
    resp, raw = fetch(target, "/v1/chat/completions?ttft=0s&itl=0s&tokens=3", "POST", {"model": "m"})
    doc = json.loads(raw)
    assert resp.status == 200 and doc["choices"][0]["message"]["content"] == "tok0 tok1 tok2 "
    assert doc["usage"]["completion_tokens"] == 3


@pytest.mark.parametrize("method, path, body, status, says", [
    ("GET", "/stream?chunks=x", None, 400, b"chunks must be a whole number"),
    ("GET", "/stream?chunks=-1", None, 400, b"chunks must be between 0 and"),
    ("GET", "/stream?interval=fast", None, 400, b"interval: expected a duration"),
    ("GET", "/stream?format=json", None, 400, b"format must be raw or sse"),
    ("GET", "/v1/chat/completions", None, 405, b"method not allowed"),
    ("POST", "/v1/chat/completions?ttft=1h", {}, 400, b"ttft must be between 0 and 600s"),
    ("POST", "/v1/chat/completions", {"max_tokens": -2}, 400, b"max_tokens must be a whole number"),
    ("POST", "/v1/chat/completions", [1], 400, b"the body must be a JSON object"),
])
def test_bad_parameters_answer_one_line(target, method, path, body, status, says):
    resp, raw = fetch(target, path, method, body)
    assert resp.status == status and says in raw, raw
