"""Typed records of live statistics: what a worker reports each second and the
cluster-wide snapshot the coordinator hands to the console and the Prometheus exporter."""

from __future__ import annotations

from dataclasses import astuple, dataclass, field
from typing import Literal

from loadray.live.histogram import LogHistogram


@dataclass(frozen=True)
class Tally:
    """Counts over the rows a worker flushed, by the summary's accounting
    (:mod:`loadray.analysis.summary`): what the live rules judge, so that live and
    final figures count the same rows the same way."""

    rows: int = 0  # intended requests (every row)
    dropped: int = 0  # never sent (dropped at the in-flight cap, or fenced)
    cut: int = 0  # sent, still in flight when the run stopped
    errors: int = 0  # completed with an error
    flows: int = 0  # flow instances that ended (rows with ``flow_ns``)
    flows_failed: int = 0  # of those, instances with a failed logical request

    @property
    def sent(self) -> int:
        return self.rows - self.dropped

    @property
    def completed(self) -> int:
        return self.sent - self.cut

    def __add__(self, other: Tally) -> Tally:
        return Tally(*(a + b for a, b in zip(astuple(self), astuple(other))))


@dataclass(frozen=True)
class StepRows:
    """The figures of one step's rows in a heartbeat (the rows whose ``step`` is its
    name), for the live rules scoped to that step: kept only for the steps such a rule
    names (:func:`loadray.live.rules.live_steps`)."""

    latency: LogHistogram = field(default_factory=LogHistogram.empty)
    service: LogHistogram = field(default_factory=LogHistogram.empty)
    ttfb: LogHistogram = field(default_factory=LogHistogram.empty)
    rows: Tally = field(default_factory=Tally)  # flow instances are not counted per step


@dataclass(frozen=True)
class WorkerSecond:
    """One worker's heartbeat: what happened since its previous one."""

    worker: int
    at_ns: int  # epoch ns when the report was made
    # the pacing loop's counters (requests; flow instances on the flow path), for the console
    sent: int = 0
    done: int = 0  # completed (ok + errors)
    errors: int = 0
    dropped: int = 0
    in_flight: int = 0  # at report time
    latency: LogHistogram = field(default_factory=LogHistogram.empty)  # completed, corrected
    service: LogHistogram = field(default_factory=LogHistogram.empty)  # completed, done - sent
    ttfb: LogHistogram = field(default_factory=LogHistogram.empty)  # completed that measured one
    rows: Tally = field(default_factory=Tally)  # the rows flushed since the previous one
    outcomes: dict[str, int] = field(default_factory=dict)  # "2xx"/"4xx"/"5xx" or error kind
    send_lag_p99_ms: float = 0.0
    loop_lag_ms: float = 0.0  # how late the 1 s report timer fired
    cpu_percent: float = 0.0  # the worker process's CPU use over the interval
    exhausted: str | None = None  # a stop_run feeder this worker ran out of: stop the run
    incarnation: int = 0  # which actor of this worker index sent it
    steps: dict[str, StepRows] = field(default_factory=dict)  # per live-scoped step (see StepRows)


@dataclass(frozen=True)
class Totals:
    sent: int = 0
    done: int = 0
    errors: int = 0
    dropped: int = 0
    lost: int = 0  # intended by dead workers and never sent


#: Where a run is: one value of the coordinator's, shown by the console and /metrics.
RunState = Literal["starting", "running", "paused", "stopping", "finished"]


@dataclass(frozen=True)
class LiveStatus:
    """The cluster-wide picture, refreshed every second by the coordinator."""

    state: RunState = "starting"
    elapsed_s: float = 0.0
    duration_s: float = 0.0
    phase: int = 0
    target_rate: float = 0.0  # what the plan asks for now, per second (open model)
    target_unit: str = "req"  # what target_rate counts: "req", or "flows" when a flow has steps
    users: int | None = None  # closed model: the virtual users the plan asks for now
    achieved_rate: float = 0.0  # sends/s over the last second
    p50_ms: float | None = None  # last second, corrected latency
    p99_ms: float | None = None
    errors_per_s: float = 0.0
    in_flight: int = 0
    totals: Totals = field(default_factory=Totals)
    workers_alive: int = 0
    workers_total: int = 0
    outcomes: dict[str, int] = field(default_factory=dict)  # run totals by status class / error kind
    latency: LogHistogram = field(default_factory=LogHistogram.empty)  # whole run so far
    warnings: tuple[str, ...] = ()
    aborted: str | None = None  # why the run was stopped early by a threshold/breaker
