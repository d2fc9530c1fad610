"""The pre-flight connect check (real sockets on 127.0.0.1) and the ``--address`` probe."""

from __future__ import annotations

import socket
import time

import pytest

from loadray.cluster.address_probe import probe_address, split_address
from loadray.errors import ClusterError, TargetError
from loadray.preflight import Endpoint, check_targets, endpoints, preflight
from loadray.scenario import parse_scenario


@pytest.fixture
def listening():
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        yield server.getsockname()[1]


@pytest.fixture
def closed():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _scenario(target: str, *paths: str, env=None):
    requests = [{"path": p} for p in paths] or [{"path": "/"}]
    return parse_scenario({"target": target, "load": {"phases": [{"duration": "1s", "rate": 1}]},
                           "requests": requests}, environ=env or {})


def test_endpoints_are_the_target_and_literal_absolute_urls_once_each():
    scn = _scenario("http://u:pw@127.0.0.1:8080", "/a", "https://127.0.0.1/x", "http://127.0.0.1:8080/y",
                    "http://{{ uuid }}:9/z", "http://127.0.0.1:7/?token=abc")
    assert endpoints(scn) == [Endpoint("http://***@127.0.0.1:8080", "127.0.0.1", 8080),
                              Endpoint("https://127.0.0.1", "127.0.0.1", 443),
                              Endpoint("http://127.0.0.1:7", "127.0.0.1", 7)]


def test_a_target_from_the_environment_is_shown_masked():
    scn = _scenario("http://${HOST}:8080", env={"HOST": "127.0.0.1"})
    assert endpoints(scn) == [Endpoint("http://***:8080", "127.0.0.1", 8080)]


def test_check_targets_names_each_one_that_cannot_be_reached(listening, closed):
    points = [Endpoint(f"http://127.0.0.1:{listening}", "127.0.0.1", listening),
              Endpoint(f"http://127.0.0.1:{closed}", "127.0.0.1", closed)]
    assert check_targets(points, 2.0) == [f"http://127.0.0.1:{closed}: connection refused (is the target up?)"]


def test_a_silent_target_is_bounded_by_the_timeout():
    def never(address, timeout):
        time.sleep(timeout)
        raise socket.timeout()

    started = time.monotonic()
    assert check_targets([Endpoint("http://10.77.0.9:80", "10.77.0.9", 80)] * 3, 0.2, never) == [
        "http://10.77.0.9:80: no answer within 0.2 s"] * 3
    assert time.monotonic() - started < 1.0  # all at once


def test_modes(closed, listening):
    down, up = _scenario(f"http://127.0.0.1:{closed}"), _scenario(f"http://127.0.0.1:{listening}")
    said: list[str] = []
    preflight(down, "warn", said.append)
    preflight(up, "warn", said.append)
    preflight(down, "off", said.append)
    assert said == [f"warning: preflight: http://127.0.0.1:{closed}: connection refused (is the target up?); "
                    "the run goes on (--preflight strict refuses to start)"]
    with pytest.raises(TargetError) as info:
        preflight(down, "strict", said.append)
    assert str(info.value) == (f"preflight: http://127.0.0.1:{closed}: connection refused (is the target up?); "
                               "not started (--preflight strict)")
    preflight(up, "strict", said.append)


@pytest.mark.parametrize(("address", "split"), [
    ("127.0.0.1:6379", ("127.0.0.1", 6379)), ("head.example:1", ("head.example", 1)), ("[::1]:6379", ("::1", 6379)),
    ("auto", None), ("ray://127.0.0.1:10001", None), ("127.0.0.1:0", None), ("127.0.0.1:70000", None),
])
def test_split_address(address, split):
    assert split_address(address) == split


def test_the_address_probe_fails_at_once_on_a_closed_port(closed):
    started = time.monotonic()
    with pytest.raises(ClusterError) as info:
        probe_address(f"127.0.0.1:{closed}")
    assert str(info.value) == (f"--address 127.0.0.1:{closed}: nothing listens there (connection refused); "
                               "give the head node's address as `ray start --head` printed it")
    assert time.monotonic() - started < 1.0
    probe_address("auto")  # left to Ray


def test_the_address_probe_of_a_listener_passes(listening):
    probe_address(f"127.0.0.1:{listening}")
