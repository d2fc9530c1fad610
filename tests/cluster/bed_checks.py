"""The guarantees a fault test checks, collected rather than stopped at the first failure,
so a failing run says everything it got wrong at once (with what the recorder saw)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from bed_runs import Finished, describe, node_address
from testbed import TestBed

MAX_PER_SECOND = 315  # 300 req/s planned, +5%
DEFAULT_LEASE_S = 2.0  # until the summary names its own
DEFAULT_FLUSH_S = 1.0


@dataclass
class Checks:
    bed: TestBed
    result: Finished
    marks: dict[str, float]  # name -> epoch
    failures: list[str] = field(default_factory=list)

    def check(self, ok: bool, what: str) -> None:
        if not ok:
            self.failures.append(what)

    def run_ok(self, exit_code: int = 0) -> None:
        """The driver's exit code, and the target never got more than the plan + 5%."""
        self.exit_code(exit_code)
        self.no_second_over()

    def accounted(self, share_rate: float | None = None) -> None:
        """The accounting identity (and ``unknown``'s bound); then report every failure."""
        self.identity()
        if share_rate is not None:
            self.unknown_bounded(share_rate)
        self.done()

    def done(self) -> None:
        seen = describe(self.bed, self.result, self.marks)
        if os.environ.get("LOADRAY_BED_SHOW"):  # the figures of a passing run too (pytest -s)
            print("\n--- what the bed saw ---\n" + seen)
        assert not self.failures, "\n".join(f"- {f}" for f in self.failures) + "\n--- what the bed saw ---\n" + seen

    def cut_host_fenced(self, ip: str, workers: set[int], cut: str, lease_s: float = 3.0) -> None:
        """A host cut from the other Ray hosts at mark ``cut`` (the target reachable), then
        healed: :meth:`cut_host_silent`, the load redistributed and the host back, placement
        by host address, the identity exact; then report every failure."""
        self.cut_host_silent(ip, workers, cut, lease_s)
        self.events("redistribute", "heal|rejoined")
        self.placement_addresses()
        self.accounted()

    def cut_host_silent(self, ip: str, workers: set[int], cut: str, lease_s: float = 3.0) -> None:
        """The run ended well (no second over the plan), no arrival from ``ip`` later than
        ``lease_s`` after mark ``cut``, every arrival from it a row of its worker(s), each of
        them ``fenced`` and ``worker_lost``."""
        self.run_ok()
        self.silent_after(ip, self.marks[cut] + lease_s, f"the {cut} + {lease_s:g} s")
        self.arrivals_are_rows(ip, workers)
        for w in workers:
            self.events("fenced", "worker_lost", worker=w)

    @property
    def start(self) -> float:
        return self.result.start_epoch or self.marks["first_arrival"]

    # -- what the target counted ----------------------------------------------------------

    def no_second_over(self, limit: int = MAX_PER_SECOND) -> None:
        per = self.bed.recorder.per_second()
        worst = max(per.values(), default=0)
        self.check(worst <= limit, f"a second held {worst} arrivals (> {limit})")

    def silent_after(self, ip: str, epoch: float, what: str) -> None:
        s = self.bed.recorder.stats().get(ip)
        late = 0 if s is None else sum(n for sec, n in s.per_second.items() if sec > epoch)
        last = None if s is None else s.last
        self.check(s is None or last <= epoch,
                   f"{ip} sent after {what} ({epoch - self.start:.2f}s): last arrival at "
                   f"{(last or 0) - self.start:.2f}s, ~{late} arrivals in later seconds")

    def recovers(self, since: float, until: float, low: int = 285, high: int = MAX_PER_SECOND) -> None:
        per = {sec: n for sec, n in self.bed.recorder.per_second().items() if since <= sec and sec + 1 <= until}
        bad = {sec - int(self.start): n for sec, n in per.items() if not low <= n <= high}
        self.check(bool(per) and not bad, f"rate not back in [{low}, {high}] between "
                   f"{since - self.start:.1f}s and {until - self.start:.1f}s: {bad or 'no full second'}")

    # -- what the run recorded ------------------------------------------------------------

    def exit_code(self, expected: int) -> None:
        self.check(self.result.exit_code == expected, f"exit {self.result.exit_code}, expected {expected}")

    def identity(self) -> None:
        s = self.result.summary
        keys = ("planned", "rows", "lost", "unknown")
        if not all(k in s for k in keys):
            self.check(False, f"summary.json lacks {[k for k in keys if k not in s]} (planned = rows + lost + unknown)")
            return
        self.check(s["planned"] == s["rows"] + s["lost"] + s["unknown"],
                   f"planned {s['planned']} != rows {s['rows']} + lost {s['lost']} + unknown {s['unknown']}")
        self.check(s["rows"] == self.result.rows, f"summary rows {s['rows']} != archive rows {self.result.rows}")

    def errors_only(self, *kinds: str, seen: tuple[str, ...] = ()) -> None:
        """Every row that is not a success has one of these error kinds, and each kind of
        ``seen`` is among them."""
        by_kind = self.result.summary.get("errors_by_kind") or {}
        odd = {k: n for k, n in by_kind.items() if k not in kinds}
        self.check(not odd, f"errors other than {list(kinds)}: {odd}")
        missing = [k for k in seen if not by_kind.get(k)]
        self.check(not missing, f"no {missing} rows (errors by kind: {by_kind})")

    def unknown_bounded(self, share_rate: float) -> None:
        s = self.result.summary
        bound = share_rate * (s.get("lease_s", DEFAULT_LEASE_S) + s.get("flush_interval_s", DEFAULT_FLUSH_S))
        self.check(s.get("unknown", 0) <= bound, f"unknown {s.get('unknown')} > {bound:g} (share x (lease + flush))")

    def arrivals_are_rows(self, ip: str, workers: set[int]) -> None:
        """Every arrival from ``ip`` is a row of the worker(s) that ran there."""
        s = self.bed.recorder.stats().get(ip)
        arrived = 0 if s is None else s.total
        rows = sum(self.result.rows_by_worker.get(w, 0) for w in workers)
        self.check(bool(workers), f"no worker was placed on {ip}")
        self.check(arrived <= rows, f"{arrived} arrivals from {ip} but {rows} rows of its worker(s) {sorted(workers)}")

    def arrivals_accounted(self, ip: str, workers: set[int]) -> None:
        """Arrivals from a host that did not come back: rows of its worker(s) plus the
        requests the summary counts as ``unknown`` (sent or not, cannot be told) cover them."""
        s = self.bed.recorder.stats().get(ip)
        arrived = 0 if s is None else s.total
        rows = sum(self.result.rows_by_worker.get(w, 0) for w in workers)
        unknown = self.result.summary.get("unknown", 0)
        self.check(arrived <= rows + unknown, f"{arrived} arrivals from {ip} but {rows} rows of its worker(s) "
                   f"{sorted(workers)} + {unknown} unknown")

    def events(self, *names: str, worker: int | None = None) -> None:
        """Each name (``a|b``: one of them) is in summary.json's events (for ``worker``)."""
        events = self.result.summary.get("events", [])
        for name in names:
            options = name.split("|")
            hit = [e for e in events if e.get("event") in options and (worker is None or e.get("worker") == worker)]
            self.check(bool(hit), f"no {name!r} event" + (f" for worker {worker}" if worker is not None else ""))

    def event_within(self, name: str, since: float, limit_s: float, worker: int | None = None) -> None:
        hit = [e for e in self.result.events(name) if worker is None or e.get("worker") == worker]
        at = min((e["at_s"] for e in hit), default=None)
        since_s = since - self.start
        self.check(at is not None and at <= since_s + limit_s,
                   f"{name!r} at {at}s, later than {since_s:.2f}s + {limit_s:g}s")

    def placement_addresses(self) -> None:
        placement = self.result.summary.get("placement")
        if not placement:
            self.check(False, "summary.json has no placement")
            return
        ips = {h.ip for h in self.bed.hosts}
        for p in placement:
            want = self.bed.nodes().get(p.get("node"))
            self.check(p.get("address") in ips and (want is None or p.get("address") == want),
                       f"placement {p}: address is not the worker's host address ({want})")


def worker_address(bed: TestBed, result: Finished, worker: int) -> str | None:
    return next((node_address(bed, p) for p in result.placement if p["worker"] == worker), None)
