"""The built-in target as a real child process on 127.0.0.1 (real sockets, no mocks)."""

from __future__ import annotations

import http.client
import os
import socket
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from loadray.errors import TargetError
from loadray.target import LOOPBACK, TargetOptions, start_target


SHARED = {
    "plain": TargetOptions(),
    "slow": TargetOptions(latency_s=0.03, jitter_s=0.005, seed=1),
    "failing": TargetOptions(error_rate=1.0),
}


@pytest.fixture(scope="module")
def shared():
    """The targets whose start time does not matter, started concurrently (fast suite)."""
    with ThreadPoolExecutor(len(SHARED)) as pool:
        futures = {name: pool.submit(start_target, opts) for name, opts in SHARED.items()}
    targets = {name: future.result() for name, future in futures.items()}
    try:
        yield targets
    finally:
        for target in targets.values():
            target.stop()


@pytest.fixture
def plain(shared):
    return shared["plain"]


def connect(target) -> http.client.HTTPConnection:
    """A keep-alive connection straight to the target (never through a proxy)."""
    return http.client.HTTPConnection(LOOPBACK, target.port, timeout=10)


def request(conn, method="GET", path="/", body=None):
    conn.request(method, path, body=body)
    resp = conn.getresponse()
    return resp.status, resp.read(), resp


def pid_gone(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(") ", 1)[1].startswith("Z")  # a zombie is dead too
    except FileNotFoundError:
        return True


def test_url_is_loopback_with_a_real_port(plain):
    assert plain.url == f"http://127.0.0.1:{plain.port}"
    assert 0 < plain.port < 65536
    assert plain.alive()


def test_any_method_any_path_is_200_ok(plain):
    conn = connect(plain)
    for method, path, body in [
        ("GET", "/", None),
        ("GET", "/a/b/c?x=1", None),
        ("POST", "/submit", b"x" * 10_000),
        ("PUT", "/thing/1", b"{}"),
        ("DELETE", "/thing/1", None),
        ("PATCH", "/", b"p"),
        ("OPTIONS", "/", None),
    ]:
        status, payload, resp = request(conn, method, path, body)
        assert (method, status, payload) == (method, 200, b"ok\n")
        assert resp.getheader("Content-Length") == "3"
        assert not resp.will_close  # keep-alive
    conn.close()


def test_head_is_200_without_body(plain):
    conn = connect(plain)
    status, payload, _ = request(conn, "HEAD", "/")
    assert (status, payload) == (200, b"")
    conn.close()


def test_stats_count_exactly_by_arrival_second(plain):
    before = plain.reset_stats()
    assert set(before) == {
        "requests", "per_second", "statuses", "unauthorized", "paths", "ids", "flows_in_order",
    }
    conn = connect(plain)
    t0 = int(time.time())
    for i in range(57):
        assert request(conn, "GET" if i % 2 else "POST", f"/n/{i}")[0] == 200
    t1 = int(time.time())
    conn.close()
    stats = plain.stats()
    assert stats["requests"] == 57
    assert stats["statuses"] == {"200": 57}
    assert sum(stats["per_second"].values()) == 57
    seconds = [int(k) for k in stats["per_second"]]
    assert all(t0 <= s <= t1 for s in seconds), (t0, t1, seconds)
    # the stats endpoints themselves are not counted
    assert plain.stats()["requests"] == 57


def test_reset_zeroes_and_returns_what_it_cleared(plain):
    plain.reset_stats()
    conn = connect(plain)
    for _ in range(5):
        request(conn)
    conn.close()
    cleared = plain.reset_stats()
    assert cleared["requests"] == 5
    assert plain.stats() == {
        "requests": 0, "per_second": {}, "statuses": {},
        "unauthorized": 0, "paths": {}, "ids": {}, "flows_in_order": 0,
    }


def test_stats_paths_reject_other_methods_and_are_not_counted(plain):
    plain.reset_stats()
    conn = connect(plain)
    assert request(conn, "POST", "/__stats")[0] == 405
    assert request(conn, "GET", "/__stats/reset")[0] == 405
    assert request(conn, "GET", "/__stats?pretty=1")[0] == 200
    assert plain.stats()["requests"] == 0
    # only the two exact paths are reserved; the rest is ordinary traffic
    assert request(conn, "GET", "/__stats/nope")[:2] == (200, b"ok\n")
    assert request(conn, "GET", "/__statsx")[:2] == (200, b"ok\n")
    conn.close()
    assert plain.stats()["requests"] == 2


def test_latency_is_at_least_configured_and_not_much_more(shared):
    # latency 30 ms + uniform(0, 5 ms)
    conn = connect(shared["slow"])
    request(conn)  # warm the connection
    for _ in range(6):
        t0 = time.perf_counter()
        status, payload, _ = request(conn)
        elapsed = time.perf_counter() - t0
        assert status == 200 and payload == b"ok\n"
        assert 0.03 <= elapsed < 0.035 + 0.05, elapsed
    conn.close()


def test_error_rate_100_percent_gives_500s(shared):
    target = shared["failing"]
    target.reset_stats()
    conn = connect(target)
    assert {request(conn, "GET", f"/{i}")[0] for i in range(20)} == {500}
    conn.close()
    assert target.stats()["statuses"] == {"500": 20}


def test_request_during_stall_completes_at_its_end():
    # windows [0.3, 0.45), [0.6, 0.75), ... after the server listens
    options = TargetOptions(stall_every_s=0.3, stall_for_s=0.15)
    with start_target(options) as target:
        listening = time.monotonic()  # the server started listening a little before this
        conn = connect(target)
        request(conn)
        assert time.monotonic() - listening < 0.25
        time.sleep(max(0.0, listening + 0.33 - time.monotonic()))
        request(conn)  # arrives inside the first window
        done = time.monotonic() - listening
        assert 0.45 - 0.03 <= done <= 0.45 + 0.05, done
        t0 = time.monotonic()
        request(conn)  # outside: immediate
        assert time.monotonic() - t0 < 0.05
        conn.close()


def test_fixed_port_then_stop_is_quick_ends_the_pid_and_reaps_it():
    with socket.socket() as probe:
        probe.bind((LOOPBACK, 0))
        port = probe.getsockname()[1]
    target = start_target(TargetOptions(port=port, latency_s=30.0))
    assert target.url == f"http://127.0.0.1:{port}"
    assert target.stats()["requests"] == 0
    outcome = []

    def slow_request():
        conn = connect(target)
        try:
            outcome.append(request(conn)[0])
        except (http.client.HTTPException, OSError) as exc:
            outcome.append(type(exc).__name__)
        conn.close()

    client = threading.Thread(target=slow_request)
    client.start()
    deadline = time.monotonic() + 5
    while target.stats()["requests"] == 0 and time.monotonic() < deadline:
        time.sleep(0.01)
    pid = target.pid
    assert not pid_gone(pid)
    t0 = time.monotonic()
    assert target.stop() == 0  # SIGTERM -> clean exit 0
    assert time.monotonic() - t0 < 1.0  # the 30 s response in flight is cut, not awaited
    client.join(5)
    assert outcome and outcome[0] != 200
    with pytest.raises(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)  # already reaped: no zombie left
    assert target.stop() == 0  # idempotent
    assert not target.alive()
    with pytest.raises(TargetError):
        target.stats()


def test_sigint_also_exits_0():
    proc = subprocess.Popen(
        [sys.executable, "-m", "loadray.target", "--port", "0"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        first = proc.stdout.readline()
        assert first.startswith("loadray target listening on http://127.0.0.1:")
        proc.send_signal(2)
        assert proc.wait(timeout=10) == 0
        assert proc.stdout.read() == "" and proc.stderr.read() == ""
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_child_exits_when_its_parent_dies():
    code = (
        "import os; from loadray.target import start_target; "
        "t = start_target(); print(t.pid, flush=True); os._exit(0)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=30)
    pid = int(out.stdout.strip())
    deadline = time.monotonic() + 5
    while not pid_gone(pid) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert pid_gone(pid)


def test_port_in_use_is_one_line_target_error():
    with socket.socket() as busy:
        busy.bind((LOOPBACK, 0))
        busy.listen()
        port = busy.getsockname()[1]
        with pytest.raises(TargetError) as info:
            start_target(TargetOptions(port=port))
    message = str(info.value)
    assert "\n" not in message
    assert "failed to start" in message and str(port) in message


def test_invalid_options_are_rejected_before_spawning():
    with pytest.raises(TargetError, match="error_rate"):
        start_target(TargetOptions(error_rate=2.0))
