"""The fault tests of :mod:`test_bed_faults` on gRPC and HTTP/2: 300 req/s across 3 real
Ray hosts, host 3 faulted at 4 s and healed at 8 s. A gRPC worker sends its calls on one
channel (an HTTP/2 worker: streams on one connection) that lives across the fault.
Counted by the recorder, which serves h2c and the built-in gRPC target beside HTTP/1.1.

- isolated (link down: the channel goes silent, no RST, no FIN): the worker fences within
  its lease, and what it wrote before fencing sits in the kernel; it must be dropped when
  the worker closes the channel, not retransmitted when the link comes back (it was: 23
  gRPC calls, and on HTTP/2 17 requests, arrived 2.4 s after the heal, 5 s after the fence);
- cut from the target only (Ray whole, the worker keeps sending): the silent HTTP/2
  connection must be given up, not revived by the heal with its backlog at once (it was:
  496 arrivals from host 3 in one second, its 354 timeout rows all served).

Kept to two runs for CI's time; removed, and passing when they were (see git history,
commit 9a6d3fa): the same on HTTP/2 isolated, on HTTP/1.1 isolated, HTTP/2 and gRPC
partitioned, and gRPC cut from the target (~36 of ~640 deadline-exceeded calls still
reach the target after that heal: grpcio's own reconnection, reported, not pinned)."""

from __future__ import annotations

import pytest
from bed_checks import MAX_PER_SECOND
from bed_faulted import DURATION_S, SHARE, isolation_healed, target_cut_healed

from loadray.target.grpc_server import PROTO, SERVICE

pytestmark = pytest.mark.cluster

# Requests that may reach the target and still be timeout rows: in flight at the cut
# (their answers lost), and those started on the new connection with their deadline nearly
# spent (5 in one run); a revived connection served all its timeouts (354).
LATE_SERVED = 25


def test_grpc_unary_isolated_healed(bed, tmp_path):
    """The link goes down: calls on the silent channel end as ``grpc_deadline_exceeded``
    (500 ms) or are cut at the fence, and what the worker wrote to it before fencing must
    not reach the target when the link comes back (nor anything after)."""
    assert bed.recorder.grpc_address, "the recorder serves no gRPC (grpcio missing?)"
    c, w3 = isolation_healed(bed, tmp_path, requests=[{"name": "unary", "grpc": _unary(bed), "timeout": "500ms"}])
    c.errors_only("cut", "grpc_deadline_exceeded", "grpc_unavailable", seen=("grpc_deadline_exceeded", "cut"))
    c.cut_host_fenced(bed.ip(3), w3, "isolate")


def _unary(bed) -> dict:
    return {"proto": str(PROTO), "service": SERVICE, "method": "Unary", "address": bed.recorder.grpc_address,
            "message": {"text": "bed"}}


def test_http2_target_cut_healed(bed, tmp_path):
    """Host 3 loses the target (not Ray) from 4 s to 8 s: its worker keeps its lease and
    goes on at its rate, its streams time out (500 ms). The connection gone silent must be
    given up, not revived by the heal: a stream recorded as ``timeout`` never reaches the
    target (it did: all 354 arrived in the second after the heal, 696 arrivals in it).
    What waited for the new connection within its timeout goes out when it opens (at most
    timeout x share = 50 more in a second)."""
    c, w3 = target_cut_healed(bed, tmp_path, http={"version": 2, "timeout": "500ms"})
    c.exit_code(0)
    c.no_second_over(MAX_PER_SECOND + int(SHARE * 0.5))
    c.errors_only("timeout", "cut", "connect_error", "connect_timeout", seen=("timeout",))
    seen = bed.recorder.stats().get(bed.ip(3))
    arrived, ok = (seen.total if seen else 0), sum(c.result.ok_by_worker.get(w, 0) for w in w3)
    c.check(bool(w3) and ok <= arrived <= ok + LATE_SERVED,
            f"{arrived} arrivals from host 3, {ok} ok rows of its worker(s) {sorted(w3)}: "
            f"{arrived - ok} requests recorded as failed reached the target")
    c.recovers(c.marks["heal"] + 2, c.start + DURATION_S)
    c.accounted()


