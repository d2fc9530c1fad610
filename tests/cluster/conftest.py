"""The cluster test bed as fixtures: one bed (3 hosts, Ray on each) for the whole session,
recovered between tests (faults healed, recorder reset, Ray restarted when a fault may
have cost it a node). Every test here carries the ``cluster`` marker."""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from testbed import TestBed, unavailable  # noqa: E402

HERE = Path(__file__).resolve().parent
DEFAULT_ADDRESS_FILE = Path("/tmp/ray/ray_current_cluster")


def pytest_collection_modifyitems(config, items):
    for item in items:
        if Path(str(item.fspath)).resolve().parent == HERE:
            item.add_marker(pytest.mark.cluster)


def _stat(path: Path):
    try:
        st = path.stat()
        return (st.st_ino, st.st_mtime_ns, st.st_size)
    except FileNotFoundError:
        return None


@pytest.fixture(scope="session")
def testbed_session():
    reason = unavailable()
    if reason:
        pytest.skip(reason)
    if signal.getsignal(signal.SIGTERM) is signal.SIG_DFL:  # so atexit cleans up on SIGTERM too
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(128 + signal.SIGTERM))
    before = {p: _stat(p) for p in (DEFAULT_ADDRESS_FILE, Path.home() / ".ray" / "auth_token")}
    bed = TestBed(n_hosts=3, num_cpus=1)
    try:
        bed.start()
        bed.untouched_before = before  # for the privacy test
        yield bed
    finally:
        bed.close()


@pytest.fixture
def bed(testbed_session):
    try:
        yield testbed_session
    finally:
        testbed_session.recover()


@pytest.fixture
def stat_of():
    return _stat


@pytest.fixture
def bed_pid():
    return os.getpid()
