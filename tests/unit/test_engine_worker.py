"""A whole LoadWorker in fake time: its mode, pacing, flushes, CPU figure and lease,
with an in-memory transport (every timer on the one jumping clock: no real waiting)."""

from __future__ import annotations

import asyncio

import pyarrow as pa
from helpers import JumpClock, run_in_fake_time

from loadray.engine.lease import FINISHED, LAPSED
from loadray.engine.modes import Closed, FastOpen, FlowOpen
from loadray.engine.transport import Transport
from loadray.engine.worker import LoadWorker, WorkerSpec
from loadray.scenario import parse_scenario

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
    base = {"target": URL, "workers": 1, "trace": False, "load": {"phases": [{"duration": "3s", "rate": 200}]}}
    if "flows" not in doc:
        base["requests"] = [{"name": "r", "path": "/"}]
    return parse_scenario({**base, **doc})


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
