"""What the driver sleeps on between answers: woken at once by another thread (Ray's
callback of an answered call) and by a signal handler (the first Ctrl+C), never by
itself before its timeout."""

from __future__ import annotations

import signal
import threading
import time

from loadray.cluster.waker import Waker


def timed_wait(waker: Waker, timeout_s: float) -> tuple[bool, float]:
    t0 = time.monotonic()
    return waker.wait(timeout_s), time.monotonic() - t0


def test_it_sleeps_its_whole_timeout_when_nothing_comes_and_set_stays_until_cleared():
    waker = Waker()
    woken, took = timed_wait(waker, 0.2)
    assert not woken and took >= 0.19
    waker.set()
    waker.set()  # twice: one clear empties it
    assert timed_wait(waker, 5)[0] and timed_wait(waker, 5)[0]
    waker.clear()
    assert not timed_wait(waker, 0.05)[0]


def test_another_thread_wakes_it_at_once():
    waker = Waker()
    threading.Timer(0.1, waker.set).start()
    woken, took = timed_wait(waker, 10)
    assert woken and took < 2


def test_a_signal_handler_wakes_it_at_once():
    waker, seen = Waker(), []

    def handler(signum, frame):
        seen.append(signum)
        waker.set()

    previous = signal.signal(signal.SIGALRM, handler)
    try:
        signal.setitimer(signal.ITIMER_REAL, 0.1)
        woken, took = timed_wait(waker, 10)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
    assert seen == [signal.SIGALRM] and woken and took < 2
