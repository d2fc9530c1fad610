"""A scenario with streamed steps on a storage URI is refused before anything starts."""

import pytest

from loadray.driver import RunOptions, run
from loadray.errors import UsageError
from loadray.scenario import parse_scenario

pytestmark = pytest.mark.ray  # it calls run(); refused before Ray starts, but marked like every caller of run()


def test_streamed_steps_on_a_uri_are_refused_in_one_line_before_any_load(monkeypatch):
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", "http://127.0.0.1:1")  # were the store contacted: loopback only
    scenario = parse_scenario({
        "target": "http://127.0.0.1:1", "load": {"phases": [{"duration": "1s", "rate": 1}]},
        "requests": [{"name": "s", "path": "/stream", "stream": "chunks"}],
    })
    with pytest.raises(UsageError, match=r"^--out s3://bucket/run: a scenario with stream: or llm: steps") as info:
        run(scenario, RunOptions(out="s3://bucket/run", quiet=True))
    assert "\n" not in str(info.value)
