"""Shared fixtures: one local Ray per session (2 CPUs), the built-in target, and a test PKI."""

from __future__ import annotations

import datetime
import ipaddress
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

#: The first lane, at normal priority: what holds a rate to the second, times real
#: sockets to the millisecond, fills a disk at a rate, or makes the bed's network
#: namespaces (one at a time). (test_cli_running_ray's namespaces are unshared: its own.)
_LANE_A = ("tests/cluster/", "tests/ray/", "tests/e2e/test_cli_run.py", "tests/e2e/test_cli_diskfull.py",
           "tests/unit/test_engine_",
           "tests/unit/test_stream_clients", "tests/unit/test_h2_", "tests/unit/test_target_",
           "tests/unit/test_grpc_", "tests/unit/test_live_", "tests/unit/test_preflight")
_LAST = "tests/cluster/"  # last: the bed's bursts (three Ray nodes (re)started at once) meet unit tests
_NICE = 10  # the second lane's priority under xdist: about a tenth of a core the first lane wants


def _lane(item) -> str:
    return "lane-a" if item.nodeid.split("::", 1)[0].startswith(_LANE_A) else "lane-b"


@pytest.hookimpl(tryfirst=True)  # before xdist appends the group to each node id
def pytest_collection_modifyitems(config, items):
    """Two lanes for pytest-xdist's ``-n 2 --dist loadgroup`` (what the CI runs): each
    worker takes one lane whole. The first runs, in order, the tests that hold a rate
    per second, time sockets or compare latencies, or make network namespaces; the
    second, everything else (unit tests, the CLI end to end) at nice 10, so the first
    lane's generators get a core when they want one."""
    for item in items:
        item.add_marker(pytest.mark.xdist_group(_lane(item)))
    items.sort(key=lambda item: item.nodeid.startswith(_LAST))  # stable: the rest keeps its order



def pytest_runtest_setup(item):
    if os.environ.get("PYTEST_XDIST_WORKER") and _lane(item) == "lane-b" and os.nice(0) < _NICE:
        os.nice(_NICE - os.nice(0))  # this worker and every process it starts


@pytest.fixture(scope="session")
def ray_local():
    import ray

    if not ray.is_initialized():
        ray.init(address="local", num_cpus=2, include_dashboard=False, logging_level="WARNING")
    yield ray
    ray.shutdown()


@pytest.fixture
def builtin_target():
    """Factory: start the built-in target with options; stopped (by PID) after the test."""
    from loadray.target import start_target
    from loadray.target.options import TargetOptions

    started = []

    def start(**options):
        handle = start_target(TargetOptions(**options))
        started.append(handle)
        return handle

    yield start
    for handle in started:
        handle.stop()


@dataclass(frozen=True)
class Pki:
    ca: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path


@pytest.fixture(scope="session")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    """A CA, a server certificate for 127.0.0.1 and a client certificate, all from it."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    now = datetime.datetime.now(datetime.timezone.utc)
    d = tmp_path_factory.mktemp("pki")

    def name(cn: str) -> x509.Name:
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])

    def issue(cn: str, issuer_key: Any, issuer: x509.Name | None, ca: bool, extra: list) -> tuple[Any, Any]:
        key = ec.generate_private_key(ec.SECP256R1())
        builder = (
            x509.CertificateBuilder()
            .subject_name(name(cn))
            .issuer_name(issuer or name(cn))
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=1))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=ca, path_length=None), True)
        )
        for ext, critical in extra:
            builder = builder.add_extension(ext, critical)
        return key, builder.sign(issuer_key or key, hashes.SHA256())

    def write(stem: str, key: Any, cert: Any) -> tuple[Path, Path]:
        cert_path, key_path = d / f"{stem}.pem", d / f"{stem}.key"
        cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        key_path.write_bytes(key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ))
        return cert_path, key_path

    ca_key, ca_cert = issue("loadray test CA", None, None, True, [
        (x509.KeyUsage(False, False, False, False, False, True, True, False, False), True),
    ])
    server = issue("127.0.0.1", ca_key, ca_cert.subject, False, [
        (x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False),
        (x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), False),
    ])
    client = issue("loadray client", ca_key, ca_cert.subject, False, [
        (x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), False),
    ])
    ca_path, _ = write("ca", ca_key, ca_cert)
    return Pki(ca_path, *write("server", *server), *write("client", *client))


@pytest.fixture
def tmpfs(tmp_path):
    """Factory: mount a small tmpfs (root only, else the test is skipped) and return its
    directory; every mount is undone after the test, whatever happened."""
    import os
    import subprocess

    mounted: list[Path] = []

    def mount(size: str = "4m", name: str = "disk") -> Path:
        if os.geteuid() != 0:
            pytest.skip("mounting a tmpfs needs root")
        where = tmp_path / name
        where.mkdir()
        done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size},mode=0755", "tmpfs", str(where)],
                              capture_output=True, text=True)
        if done.returncode != 0:
            pytest.skip(f"cannot mount a tmpfs: {done.stderr.strip()}")
        mounted.append(where)
        return where

    try:
        yield mount
    finally:
        for where in reversed(mounted):
            if subprocess.run(["umount", str(where)], capture_output=True).returncode != 0:
                subprocess.run(["umount", "-l", str(where)], capture_output=True)
