"""A whole LoadWorker in fake time: its mode, pacing, flushes, CPU figure and lease,
with an in-memory transport (every timer on the one jumping clock: no real waiting)."""

from __future__ import annotations

import asyncio
import dataclasses

import pyarrow as pa
import pytest
import helpers
from helpers import JumpClock, run_in_fake_time

from loadray.engine.fast_client import FlowSession
from loadray.engine.failures import status_error
from loadray.engine.flow_client import Reply
from loadray.engine.lease import FINISHED, LAPSED
from loadray.engine.modes import Closed, FastOpen, FlowOpen
from loadray.engine.transport import Transport
from loadray.engine.worker import LoadWorker, WorkerSpec
from loadray.scenario.model import Think

S = 1_000_000_000
MS = 1_000_000
URL = "http://127.0.0.1:1"


class MemoryTransport(Transport):
    """Answers every request 200 after ``SERVICE_NS`` on the clock it was given."""

    SERVICE_NS = 5 * MS

    async def open(self, prewarm: int = 0) -> None:
        self.prewarmed = prewarm

    def submit(self, index, ctx, trace=0):
        asyncio.get_running_loop().call_later(self.SERVICE_NS / 1e9, self.on_done, ctx, 200, None, 10)

    async def close(self) -> None:
        pass


def memory_factory(kind, requests, settings, on_done, clock):
    return MemoryTransport(requests, settings, on_done, clock)


def scenario(**doc):
    return helpers.scenario(URL, [{"duration": "3s", "rate": 200}], workers=1, trace=False, **doc)


def test_each_scenario_gets_its_mode():
    flows = {"flows": [{"name": "f", "steps": [{"name": "a", "path": "/"}, {"name": "b", "path": "/"}]}]}
    closed = {**flows, "load": {"model": "closed", "phases": [{"duration": "1s", "users": 2}]}}
    assert type(LoadWorker(WorkerSpec(0, 1, scenario())).mode) is FastOpen
    assert type(LoadWorker(WorkerSpec(0, 1, scenario(**flows))).mode) is FlowOpen
    assert type(LoadWorker(WorkerSpec(0, 1, scenario(**closed))).mode) is Closed


def test_a_run_in_fake_time_sends_every_request_on_time_and_reports_each_second():
    clock = JumpClock()
    seconds = []

    async def report(second):
        seconds.append(second)

    def spend_cpu():  # the process uses a quarter of a core
        clock.cpu_used_ns += S // 4 // 100
        clock.call_at(clock.now_ns + S // 100, spend_cpu)

    async def main():
        worker = LoadWorker(WorkerSpec(0, 1, scenario()), clock, memory_factory, reporter=report)
        ready = await worker.prepare()
        spend_cpu()
        start = clock.wall_ns() + S
        counters = await worker.run(start)
        return worker, ready, counters, start

    worker, ready, counters, start = run_in_fake_time(main, clock)
    table = pa.Table.from_batches(worker.drain().batches)
    intended = table.column("intended_ns").to_pylist()
    assert counters.sent == counters.done == table.num_rows == 600 and ready.connections == 12
    assert intended == [start + k * 5 * MS for k in range(600)]  # exact, not "about"
    assert set(table.column("service_ns").to_pylist()) == {5 * MS}
    assert set(table.column("latency_ns").to_pylist()) == {5 * MS}
    # one heartbeat per flush interval (1 s of fake time, from the run() call 1 s before
    # the start: the first one sees the request due at the start) and the final one
    assert [s.sent for s in seconds] == [1, 199, 200, 200, 0] and sum(s.done for s in seconds) == 600
    assert all(abs(s.cpu_percent - 25.0) < 1.5 for s in seconds[:4])
    assert all(s.loop_lag_ms == 0 for s in seconds[:4])
    assert worker.lease.reason == FINISHED


def test_a_wall_clock_step_mid_run_moves_neither_the_schedule_nor_the_rows_nor_the_heartbeats():
    # the host's clock is stepped 2 s ahead 1.5 s into the run (an NTP step): the run is
    # on its monotonic clock from its start on, its epoch fixed once (the driver's timeline)
    clock = JumpClock()
    seconds = []

    async def report(second):
        seconds.append(second)

    def ntp_step():
        clock.wall_offset_ns += 2 * S

    async def main():
        worker = LoadWorker(WorkerSpec(0, 1, scenario()), clock, memory_factory, reporter=report)
        await worker.prepare()
        start = clock.wall_ns() + S
        asyncio.get_running_loop().call_later(2.5, ntp_step)
        await worker.run(start)
        return worker, start

    worker, start = run_in_fake_time(main, clock)
    intended = pa.Table.from_batches(worker.drain().batches).column("intended_ns").to_pylist()
    assert intended == [start + k * 5 * MS for k in range(600)]
    assert [s.at_ns - start for s in seconds[:4]] == [0, S, 2 * S, 3 * S]  # not 4 s, 5 s after the step


def test_a_lease_nobody_renews_fences_the_worker_at_its_end():
    """lease 2 s, renewals never answered (a partition): exactly what was due before the
    lease ended is sent, then the worker fences itself and says why."""
    clock = JumpClock()
    asked = []

    async def renew(lapsed):
        asked.append((clock.now_ns, lapsed))
        await asyncio.sleep(10)  # hangs like a call into a partition
        return None

    async def main():
        worker = LoadWorker(WorkerSpec(0, 1, scenario(cluster={"lease": "2s"})), clock, memory_factory,
                            renewer=renew)
        await worker.prepare()
        granted = clock.wall_ns()
        await worker.run(granted + S // 2, granted_epoch_ns=granted)
        return worker, granted

    worker, granted = run_in_fake_time(main, clock)
    drained = worker.drain()
    table = pa.Table.from_batches(drained.batches)
    lease_end = granted + 2 * S
    assert table.num_rows == 300  # 1.5 s of sending at 200/s before the lease ended
    assert max(table.column("intended_ns").to_pylist()) < lease_end
    lease_end_mono = lease_end - clock.wall_offset_ns
    assert drained.fenced == LAPSED and lease_end_mono <= worker.lease.fenced_at_ns <= lease_end_mono + 5 * MS
    # a renewal every third of the lease, each on its own (none waits for the hung one)
    gaps = {b[0] - a[0] for a, b in zip(asked, asked[1:])}
    assert len(asked) == 7 and gaps <= {S // 3 - 1, S // 3, S // 3 + 1} and not any(lapsed for _, lapsed in asked)


# -- the flow path in fake time: an in-memory flow client on the same clock ------------------


class MemoryFlowClient:
    """Answers each step after ``SERVICE_S``: 503 for the first ``FAILS`` attempts at one
    URL, then 200 (a retried step sends the same URL again)."""

    SERVICE_S = 0.05
    FAILS = 0

    def __init__(self, settings, clock) -> None:
        self.clock = clock
        self.attempts: dict[str, int] = {}

    async def open(self) -> None:
        pass

    def session(self):
        return FlowSession()

    async def send(self, session, out, keep):
        sent = self.clock.monotonic_ns()
        await asyncio.sleep(self.SERVICE_S)
        n = self.attempts[out.url] = self.attempts.get(out.url, 0) + 1
        status = 503 if n <= self.FAILS else 200
        return Reply(status, status_error(status), sent, self.clock.monotonic_ns(), 10)

    async def close(self) -> None:
        pass


def run_flows(scn, client=MemoryFlowClient):
    clock = JumpClock()

    async def main():
        worker = LoadWorker(WorkerSpec(0, 1, scn), clock, client_factory=client)
        await worker.prepare()
        start = clock.wall_ns() + S
        counters = await worker.run(start)
        return pa.Table.from_batches(worker.drain().batches).to_pandas(), counters, start, clock

    return run_in_fake_time(main, clock)


@pytest.mark.parametrize("think_s, latency_s", [(0.1, 0.05), (0.25, 0.01)])
def test_closed_model_throughput_is_exactly_users_over_latency_plus_think(think_s, latency_s):
    """Each of 4 users loops: its iteration takes the latency, then it thinks; in 3 s of
    fake time that is exactly floor(3 / (latency + think)) iterations each."""
    flows = [{"name": "r", "steps": [{"name": "r", "path": "/"}]}]
    load = {"model": "closed", "think": f"{think_s}s", "phases": [{"duration": "3s", "users": 4}]}

    class Client(MemoryFlowClient):
        SERVICE_S = latency_s

    rows, counters, start, clock = run_flows(scenario(flows=flows, load=load), Client)
    period_ns = round((think_s + latency_s) * 1e9)
    each = -(-3 * S // period_ns)  # iterations that start before the 3 s end
    assert len(rows) == counters.done == 4 * each and rows["error"].isna().all()
    assert rows["user"].value_counts().to_dict() == {u: each for u in range(4)}
    for _, user in rows.groupby("user"):
        assert set(user["intended_ns"].diff().dropna()) == {period_ns}  # no drift at all
        assert set(user["service_ns"]) == {round(latency_s * 1e9)}


def test_retries_back_off_exactly_and_every_attempt_is_a_row():
    flaky = {"name": "flaky", "path": "/flaky", "query": {"id": "{{ uuid }}"},
             "retry": {"max_attempts": 3, "backoff": {"base": "80ms", "cap": "150ms", "jitter": "none"},
                       "on_status": [503]}}

    class Client(MemoryFlowClient):
        FAILS = 2

    rows, counters, start, _ = run_flows(
        scenario(flows=[{"name": "f", "steps": [flaky]}], load={"phases": [{"duration": "1s", "rate": 10}]}), Client)
    assert counters.errors == 0 and rows["attempt"].value_counts().to_dict() == {1: 10, 2: 10, 3: 10}
    for _, r in rows.groupby("flow_id"):
        r = r.sort_values("attempt")
        assert list(r["error"].astype(object).fillna("ok")) == ["http_5xx", "http_5xx", "ok"]
        assert r["intended_ns"].nunique() == 1  # latency spans every attempt and the waits
        done = (r["intended_ns"] + r["latency_ns"]).to_numpy()
        assert ((r["sent_ns"].to_numpy()[1:] - done[:-1]) // MS).tolist() == [80, 150]  # base, then the cap
        assert r["latency_ns"].iloc[-1] == 3 * 50 * MS + 230 * MS


def test_a_backoff_of_1e300_s_keeps_the_first_attempt_and_the_run_ends_at_its_end():
    """A wait of 1e300 s is not a number of nanoseconds: the retry never comes, and the
    run still ends with its plan (fake time: the end is exact)."""
    flaky = {"name": "flaky", "path": "/flaky", "query": {"id": "{{ uuid }}"},
             "retry": {"max_attempts": 3, "on_status": [503]}}
    scn = scenario(flows=[{"name": "f", "steps": [flaky]}], load={"phases": [{"duration": "1s", "rate": 10}]},
                   http={"timeout": "1s"})
    step = scn.flows[0].steps[0]
    step = dataclasses.replace(step, retry=dataclasses.replace(step.retry, base_s=1e300, cap_s=1e300, jitter="none"))
    scn = dataclasses.replace(scn, flows=(dataclasses.replace(scn.flows[0], steps=(step,)),))

    class Client(MemoryFlowClient):
        FAILS = 5

    rows, counters, start, clock = run_flows(scn, Client)
    assert len(rows) == 10 and set(rows["error"]) == {"http_5xx"} and set(rows["attempt"]) == {1}
    # the end: the planned second plus at most the drain (timeout 1 s + 1 s margin), not 1e300 s
    assert clock.wall_ns() - start <= 3 * S + 100 * MS


def test_a_think_time_of_1e300_s_ends_each_users_turn_at_the_run_end():
    load = {"model": "closed", "think": "1s", "phases": [{"duration": "1s", "users": 3}]}
    scn = dataclasses.replace(scenario(flows=[{"name": "u", "steps": [{"name": "u", "path": "/"}]}], load=load),
                              think=Think("constant", 1e300))
    rows, counters, start, clock = run_flows(scn)
    assert len(rows) == 3 and rows["error"].isna().all() and set(rows["user"]) == {0, 1, 2}
    assert counters.done == counters.sent == 3
    assert clock.wall_ns() - start == S  # the users' turns end with the run's one second
