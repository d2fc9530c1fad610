"""The cluster test bed as fixtures: one bed (3 hosts, Ray on each) for the whole session,
recovered between tests (faults healed, recorder reset, Ray restarted when a fault may
have cost it a node), removed after the last test here. Every test module here carries
the ``cluster`` marker."""

from __future__ import annotations

import signal
import sys
from dataclasses import replace
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

import bed_ray  # noqa: E402
from bed_netns import root_network_settings  # noqa: E402
from testbed import TestBed, unavailable  # noqa: E402

HERE = Path(__file__).resolve().parent
DEFAULT_ADDRESS_FILE = Path("/tmp/ray/ray_current_cluster")


_started: list[TestBed] = []


@pytest.hookimpl(trylast=True)  # after the test's own fixtures are torn down
def pytest_runtest_teardown(item, nextitem):
    """Tear the bed down after the last test that uses it, not at the session's end (the
    rest of the suite should not share the machine with three idle Ray nodes)."""
    if _started and (nextitem is None or Path(str(nextitem.fspath)).resolve().parent != HERE):
        _started.pop().close()


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
    root_net = root_network_settings()
    bed = TestBed(n_hosts=3, num_cpus=1)
    _started.append(bed)
    try:
        bed.start()
        bed.untouched_before = before  # for the privacy test
        bed.root_net_before = root_net  # for the firewall test
        yield bed
    finally:
        bed.close()


@pytest.fixture
def bed(testbed_session):
    testbed_session.prepare()
    try:
        yield testbed_session
    finally:
        testbed_session.recover()


@pytest.fixture(scope="module")
def dashboard_bed(testbed_session):
    """The shared bed with Ray's dashboard and job server on the head host (``ray start
    --include-dashboard=true``; needs ray[default]: ``pip install -e '.[cluster]'``), for
    one module: Ray is restarted with it, and without it again by the next test's
    ``prepare`` after the module (one bed, never two, in a session)."""
    missing = bed_ray.dashboard_missing()
    if missing:
        raise RuntimeError(missing)
    bed = testbed_session
    bed.settings = replace(bed.settings, dashboard=True)
    bed.restart_ray()
    try:
        yield bed
    finally:
        bed.settings = replace(bed.settings, dashboard=False)
        bed.disturbed = True


@pytest.fixture
def jobs_bed(dashboard_bed):
    dashboard_bed.prepare()
    try:
        yield dashboard_bed
    finally:
        dashboard_bed.recover()


@pytest.fixture
def stat_of():
    return _stat
