"""The signal handling of `loadray run`'s stages, in process with real signals: the
line each stage says, exit codes, and the second signal while the load runs."""

from __future__ import annotations

import os
import signal
import time

import pytest

from loadray.driver_signals import STAGE_LOAD, STAGE_RAY, STAGE_REPORT, STAGE_STOP, STAGE_TARGET, Interrupts, Stage
from loadray.errors import Interrupted

pytestmark = pytest.mark.ray  # starts Ray (the fast loop is -m 'not ray and not cluster')


def signal_self(signum):
    os.kill(os.getpid(), signum)
    time.sleep(5)  # the handler raises long before
    raise AssertionError("the signal did not interrupt")


@pytest.mark.parametrize("stage, signum, says", [
    (STAGE_TARGET, signal.SIGTERM,
     "interrupted by SIGTERM while starting the target: no request was sent; RUN holds only scenario.yaml"),
    (STAGE_RAY, signal.SIGINT,
     "interrupted by SIGINT while starting Ray: no request was sent; RUN holds only scenario.yaml"),
    (STAGE_STOP, signal.SIGTERM,
     "interrupted by SIGTERM while stopping Ray: the samples are archived; "
     "`loadray report RUN` rebuilds summary.json and report.html"),
    (STAGE_REPORT, signal.SIGINT,
     "interrupted by SIGINT while building the report: the samples are archived; "
     "`loadray report RUN` rebuilds summary.json and report.html"),
])
def test_a_signal_outside_the_load_stops_at_once_naming_the_stage(stage, signum, says):
    before = signal.getsignal(signum)
    with pytest.raises(Interrupted) as info:
        with Stage("RUN") as s:
            s.enter(stage)
            signal_self(signum)
    assert str(info.value) == says
    assert info.value.exit_code == {signal.SIGINT: 130, signal.SIGTERM: 143}[signum]
    assert signal.getsignal(signum) is before


def test_while_the_load_runs_the_first_signal_is_a_flag_and_the_second_stops_at_once():
    with pytest.raises(Interrupted) as info:
        with Stage("RUN") as s:
            s.enter(STAGE_LOAD)
            with Interrupts() as interrupts:
                os.kill(os.getpid(), signal.SIGTERM)
                time.sleep(0.2)
                assert interrupts.signum == signal.SIGTERM  # still running: the workers get stopped
                signal_self(signal.SIGINT)
    assert str(info.value) == ("interrupted twice (SIGINT): stopped at once; RUN keeps the rows written so far "
                               "(`loadray report RUN` builds the report from them)")
    assert info.value.exit_code == 130


def test_rays_sigterm_exit_and_a_keyboard_interrupt_count_as_signals():
    with pytest.raises(Interrupted) as info:
        with Stage("RUN") as s:
            s.enter(STAGE_RAY)
            raise SystemExit(signal.SIGTERM)  # what Ray's own handler does
    assert info.value.exit_code == 143
    with pytest.raises(Interrupted) as info:
        with Stage("RUN") as s:
            s.enter(STAGE_RAY)
            raise KeyboardInterrupt
    assert info.value.exit_code == 130
    with pytest.raises(SystemExit):  # any other exit passes through
        with Stage("RUN"):
            raise SystemExit(3)
