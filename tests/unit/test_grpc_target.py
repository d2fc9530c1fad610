"""The built-in gRPC target: its flag, its process's second ready line, its counters,
faults and injected codes (real calls on 127.0.0.1)."""

from __future__ import annotations

import argparse
import asyncio

import grpc
import pytest

from loadray.errors import UsageError
from loadray.target import TargetOptions, add_target_arguments, options_from_args, target_argv
from loadray.target.grpc_server import SERVICE, GrpcTarget, _types, grpc_stats


def parse(*argv: str) -> TargetOptions:
    parser = argparse.ArgumentParser()
    add_target_arguments(parser)
    return options_from_args(parser.parse_args(list(argv)))


def test_grpc_port_flag_parses_round_trips_and_names_itself_when_bad():
    assert parse("--grpc-port", "50051").grpc_port == 50051 and parse().grpc_port is None
    options = TargetOptions(grpc_port=0, latency_s=0.02)
    assert parse(*target_argv(options)) == options
    for bad, message in (("x", "expected an integer"), ("70000", "must be 0..65535")):
        with pytest.raises(UsageError) as caught:
            parse("--grpc-port", bad)
        assert str(caught.value).startswith("--grpc-port: ") and message in str(caught.value)


def test_the_target_process_reports_its_grpc_address_and_counts_calls(builtin_target):
    target = builtin_target(grpc_port=0, latency_s=0.01)
    assert target.grpc_address.startswith("127.0.0.1:") and target.stats()["requests"] == 0
    t = _types()
    with grpc.insecure_channel(target.grpc_address) as channel:
        unary = channel.unary_unary(f"/{SERVICE}/Unary", t["Request"].SerializeToString, t["Reply"].FromString)
        replies = [unary(t["Request"](text=f"m{i}"), timeout=5) for i in range(3)]
        with pytest.raises(grpc.RpcError) as caught:
            unary(t["Request"](code=7), timeout=5)
    assert [(r.text, r.id) for r in replies] == [("m0", "c1"), ("m1", "c2"), ("m2", "c3")]
    assert caught.value.code() == grpc.StatusCode.PERMISSION_DENIED
    before = grpc_stats(target.grpc_address, reset=True)
    assert before["calls"] == 4 and before["codes"] == {"0": 3, "7": 1} and before["messages"] == 3
    assert grpc_stats(target.grpc_address)["calls"] == 0


def test_error_rate_ends_that_fraction_internal_and_latency_delays_every_call():
    async def main():
        async with GrpcTarget(TargetOptions(error_rate=0.5, latency_s=0.03, seed=4)) as target:
            t = _types()
            async with grpc.aio.insecure_channel(target.address) as channel:
                unary = channel.unary_unary(f"/{SERVICE}/Unary", t["Request"].SerializeToString, t["Reply"].FromString)
                loop = asyncio.get_running_loop()
                start = loop.time()
                results = await asyncio.gather(*(unary(t["Request"](), timeout=5) for _ in range(40)),
                                               return_exceptions=True)
                return results, loop.time() - start, target.stats.snapshot()

    results, took, stats = asyncio.run(main())
    failed = [r for r in results if isinstance(r, grpc.aio.AioRpcError)]
    assert {r.code() for r in failed} == {grpc.StatusCode.INTERNAL}
    assert stats["statuses"] == {"0": 40 - len(failed), "13": len(failed)} and 10 <= len(failed) <= 30
    assert took >= 0.03


def test_loadray_target_with_grpc_port_prints_both_addresses_and_serves_grpc():
    import subprocess
    import sys

    proc = subprocess.Popen([sys.executable, "-m", "loadray", "target", "--port", "0", "--grpc-port", "0"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        http, grpc_line = proc.stdout.readline().strip(), proc.stdout.readline().strip()
        assert http.startswith("loadray target listening on http://127.0.0.1:")
        assert grpc_line.startswith("loadray grpc target listening on 127.0.0.1:")
        address = grpc_line.rsplit(" ", 1)[1]
        assert grpc_stats(address) == {"per_second": {}, "messages": 0, "connections": 0, "calls": 0, "codes": {}}
    finally:
        proc.terminate()
        assert proc.wait(timeout=10) == 0
