"""The partition test of :mod:`test_bed_faults` on HTTP/2 and gRPC: 300 req/s across 3
real Ray hosts, host 3 partitioned from the other Ray hosts at 4 s (the target stays
reachable) and healed at 8 s. An HTTP/2 worker multiplexes its requests as streams on one
connection (a gRPC worker: on one channel), which stays open across the partition: the
worker must still fence within its lease and send nothing after, not even on that
connection after the heal. Checks as for HTTP/1.1 (``Checks.cut_host_fenced``), counted
by the recorder, which serves h2c and the built-in gRPC target beside HTTP/1.1."""

from __future__ import annotations

import pytest

from bed_faulted import isolation_healed, partition_healed

from loadray.target.grpc_server import PROTO, SERVICE

pytestmark = pytest.mark.cluster


def test_http2_partition_healed(bed, tmp_path):
    c, w3 = partition_healed(bed, tmp_path, http={"version": 2})
    c.check(set(c.result.summary.get("errors_by_kind") or {}) <= {"cut", "dropped"},
            f"errors by kind {c.result.summary.get('errors_by_kind')}")
    c.cut_host_fenced(bed.ip(3), w3, "partition")


def test_grpc_unary_partition_healed(bed, tmp_path):
    assert bed.recorder.grpc_address, "the recorder serves no gRPC (grpcio missing?)"
    call = {"proto": str(PROTO), "service": SERVICE, "method": "Unary", "address": bed.recorder.grpc_address,
            "message": {"text": "bed"}}
    c, w3 = partition_healed(bed, tmp_path, requests=[{"name": "unary", "grpc": call}])
    c.cut_host_fenced(bed.ip(3), w3, "partition")


def test_http2_isolated_healed(bed, tmp_path):
    """The connection goes silent: what the worker wrote to it before fencing must not
    reach the target when the link comes back (nor anything after)."""
    c, w3 = isolation_healed(bed, tmp_path, http={"version": 2})
    c.cut_host_fenced(bed.ip(3), w3, "isolate")
