"""The closed-model loop of one worker: its virtual users, each looping one flow
iteration after another with a think time in between.

A user runs only inside its active windows (:mod:`loadray.plan.users`); an iteration
that is under way when its window closes finishes first. An iteration is intended at
the end of the previous think time (or the window's start) and counted like an
open-model arrival in :class:`~loadray.counters.Counters`, so the live status
and the in-flight figure read the same in both models. A think time that reaches past
the run's end (even 1e300 s) ends the user's turn at the end; an iteration that raises
counts as failed (its rows are the flow path's to record) and the user goes on.
"""

from __future__ import annotations

import asyncio
import functools
import math
import random
from collections.abc import Awaitable, Callable

from loadray.counters import Counters
from loadray.engine.clock import Clock, sleep_through
from loadray.plan.profile import Profile
from loadray.plan.revision import Assignment
from loadray.plan.users import Window, active_windows, owned_users, phase_at
from loadray.scenario.model import Think


class UserDone(Exception):
    """Raised by an iteration when its user has nothing more to do (no feeder rows)."""


# (user, intended monotonic ns, phase) -> True when the iteration passed
Iteration = Callable[[int, int, int], Awaitable[bool]]


def think_s(think: Think, rng: random.Random) -> float:
    """One think time, in seconds."""
    if think.kind == "uniform":
        return rng.uniform(think.a, think.b)
    if think.kind == "exponential":
        return rng.expovariate(1.0 / think.a) if think.a > 0 else 0.0
    return think.a


def think_until(think: Think, rng: random.Random, now_ns: int, end_ns: int) -> int:
    """When a user that starts thinking at ``now_ns`` is ready again: at most ``end_ns``
    (a think time of 1e300 s is a float, not a number of nanoseconds)."""
    try:
        seconds = think_s(think, rng)
    except (ArithmeticError, ValueError):  # a mean so small its inverse overflows
        seconds = 0.0
    if not seconds * 1e9 < end_ns - now_ns:  # also NaN
        return max(now_ns, end_ns)
    return now_ns + max(0, int(seconds * 1e9))


class ClosedLoop:
    def __init__(self, clock: Clock, iteration: Iteration, think: Think, seed: int) -> None:
        self.clock = clock
        self.iteration = iteration
        self.think = think
        self.seed = seed
        self.counters = Counters()
        self._stopped = False
        self._start_ns = 0
        self._end_ns = 0
        self._profile: Profile | None = None
        self._windows: dict[int, list[Window]] = {}
        self._tasks: dict[int, asyncio.Task] = {}
        self._sleeping: set[asyncio.Task] = set()

    @property
    def stopped(self) -> bool:
        return self._stopped

    def stop(self) -> None:
        """Start no more iterations; users thinking or waiting end now."""
        self._stopped = True
        for task in list(self._sleeping):
            task.cancel()

    async def run(self, assignment: Assignment, start_ns: int, end_ns: int) -> None:
        """Run the users of ``assignment`` (and its revisions) until the end or a stop."""
        self._start_ns, self._end_ns = start_ns, end_ns
        self.assign(assignment)
        while not self._stopped and self.clock.monotonic_ns() < end_ns:
            await self._sleep(min(end_ns, self.clock.monotonic_ns() + 100_000_000))
        self.stop()
        while self._tasks:  # iterations under way finish (or are cancelled by the caller)
            await asyncio.wait(list(self._tasks.values()))

    def assign(self, assignment: Assignment) -> None:
        """Own the users of ``assignment`` from its ``from_s`` on."""
        profile = Profile(assignment.phases)
        self._profile = profile
        owned = owned_users(profile, assignment.rank, assignment.workers)
        self._windows = {u: active_windows(profile, u, assignment.from_s) for u in owned}
        for user, windows in self._windows.items():
            if windows and user not in self._tasks and not self._stopped:
                task = asyncio.ensure_future(self._user(user))
                self._tasks[user] = task
                task.add_done_callback(functools.partial(self._user_ended, user))

    def _user_ended(self, user: int, task: asyncio.Task) -> None:
        self._tasks.pop(user, None)

    async def drain(self, deadline_ns: int) -> None:
        while self._tasks and self.clock.monotonic_ns() < deadline_ns:
            await asyncio.wait(list(self._tasks.values()), timeout=0.01)

    def cancel(self) -> None:
        for task in list(self._tasks.values()):
            task.cancel()

    async def _user(self, user: int) -> None:
        rng = random.Random(f"{self.seed}/user/{user}")
        c = self.counters
        ready = self.clock.monotonic_ns()
        while not self._stopped:
            window = self._window(user, ready)
            if window is None:
                return
            ready = max(ready, window[0])
            if ready > self.clock.monotonic_ns():
                if not await self._sleep(ready):
                    return
                continue  # a revision may have moved the windows meanwhile
            c.intended += 1
            c.sent += 1
            assert self._profile is not None  # assigned before any user starts
            phase = phase_at(self._profile, (ready - self._start_ns) / 1e9)
            try:
                ok = await self.iteration(user, ready, phase)
            except UserDone:
                return
            except Exception:  # the flow path records its rows; this iteration failed
                ok = False
            finally:
                c.done += 1
            if not ok:
                c.errors += 1
            now = self.clock.monotonic_ns()
            ready = think_until(self.think, rng, now, self._end_ns)
            if ready <= now:  # no think time: let the loop breathe (an iteration may not have awaited)
                await asyncio.sleep(0)

    def _window(self, user: int, now_ns: int) -> tuple[int, int] | None:
        """The current or next window of ``user`` (monotonic ns) ending after ``now_ns``."""
        for start_s, end_s in self._windows.get(user, ()):
            start = self._start_ns + int(start_s * 1e9)
            end = min(self._end_ns, self._start_ns + math.ceil(end_s * 1e9))
            if end > now_ns and start < end:
                return start, end
        return None

    async def _sleep(self, until_ns: int) -> bool:
        """Sleep until ``until_ns``; False when a stop cut it short."""
        task = asyncio.ensure_future(sleep_through(self.clock, until_ns))
        self._sleeping.add(task)
        try:
            await task
        except asyncio.CancelledError:
            if not self._stopped:
                raise
            return False
        finally:
            self._sleeping.discard(task)
        return not self._stopped
