"""Bad stream / llm definitions: one ScenarioError line naming the YAML path (and, from
the CLI, exit 2 with that one line and no traceback)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from loadray.errors import ScenarioError
from loadray.scenario import parse_scenario
from loadray.stream import StreamSpec

CHAT = {"model": "m", "stream": True, "messages": [{"role": "user", "content": "hi"}]}


def doc(**step):
    return {
        "name": "s", "target": "http://127.0.0.1:9", "load": {"phases": [{"duration": "1s", "rate": 1}]},
        "flows": [{"name": "f", "steps": [{"name": "a", "path": "/"}, {"name": "chat", "method": "POST",
                                                                        "path": "/v1/chat/completions", **step}]}],
    }


BAD = [
    # (step keys, YAML path, message fragment)
    ({"stream": "websocket"}, "flows[0].steps[1].stream", "must be one of: sse, chunks, got 'websocket'"),
    ({"stream": True}, "flows[0].steps[1].stream", "must be one of: sse, chunks, got true"),
    ({"stream": ["sse"]}, "flows[0].steps[1].stream", "must be one of: sse, chunks"),
    ({"llm": "anthropic", "json": CHAT}, "flows[0].steps[1].llm", "must be one of: openai, got 'anthropic'"),
    ({"llm": {"kind": "openai"}, "json": CHAT}, "flows[0].steps[1].llm", "must be one of: openai"),
    ({"llm": "openai", "stream": "chunks", "json": CHAT}, "flows[0].steps[1].llm",
     "needs stream: sse (an LLM API streams Server-Sent Events), got stream: chunks"),
    ({"stream": "sse", "method": "HEAD"}, "flows[0].steps[1].stream", "a HEAD request has no response body"),
    ({"llm": "openai", "method": "HEAD"}, "flows[0].steps[1].llm", "a HEAD request has no response body"),
    ({"llm": "openai", "json": {**CHAT, "stream": False}}, "flows[0].steps[1].json.stream",
     "must be true for llm: openai, got false"),
    ({"llm": "openai", "json": {**CHAT, "stream": "yes"}}, "flows[0].steps[1].json.stream",
     "must be true for llm: openai, got 'yes'"),
    ({"llm": "openai", "json": {"model": "m"}}, "flows[0].steps[1].json", 'needs "stream": true for llm: openai'),
    ({"strem": "sse"}, "flows[0].steps[1]", "unknown key 'strem'"),
]


@pytest.mark.parametrize("step, path, message", BAD, ids=[f"{i}-{b[1]}" for i, b in enumerate(BAD)])
def test_a_bad_stream_definition_is_one_line_naming_its_path(step, path, message):
    with pytest.raises(ScenarioError) as info:
        parse_scenario(doc(**step))
    text = str(info.value)
    assert text.startswith(f"{path}: ") and message in text and "\n" not in text, text


@pytest.mark.parametrize(
    "step, spec",
    [({"stream": "sse"}, StreamSpec("sse")), ({"stream": "chunks"}, StreamSpec("chunks")),
     ({"llm": "openai", "json": CHAT}, StreamSpec("sse", "openai")),
     ({"llm": "openai", "stream": "sse", "body": "{{ uuid }}"}, StreamSpec("sse", "openai"))],
)
def test_good_definitions_give_their_spec_and_leave_the_fast_path(step, spec):
    scenario = parse_scenario(doc(**step))
    assert scenario.flows[0].steps[1].stream == spec and scenario.flows[0].steps[0].stream is None
    plain = {k: v for k, v in doc().items() if k != "flows"}
    one = parse_scenario({**plain, "requests": [{"name": "r", "path": "/", **step}]})
    assert one.flows[0].steps[0].stream == spec and not one.simple  # a streamed step goes on the flow path


def test_the_cli_says_it_in_one_line_and_exits_2(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(doc(llm="openai", stream="chunks", json=CHAT)))
    done = subprocess.run([sys.executable, "-m", "loadray", "validate", str(path)], capture_output=True, text=True,
                          cwd=Path(__file__).resolve().parents[2], timeout=60)
    assert done.returncode == 2, done.stderr
    assert done.stderr.strip().count("\n") == 0 and "flows[0].steps[1].llm: needs stream: sse" in done.stderr
    assert "Traceback" not in done.stderr and done.stdout == ""
