"""Running a coroutine without an asyncio Task, resumed from the callback that ends
its wait: the flow path's per-arrival driver.

An asyncio Task costs, on every await of a response, a loop iteration (the future
schedules the task's wakeup) and a trip through the Task machinery; on the flow path
that is most of what a step costs beyond the HTTP/1.1 core (DESIGN §4). An
:class:`InlineTask` instead resumes its coroutine *inside* the callback that completes
a :class:`Resumable` (the HTTP core's ``data_received``), as the open-model fast
path's ``on_done`` runs inside it. What the coroutine awaits otherwise is waited for
as a Task would: a bare ``yield`` (``asyncio.sleep(0)``) resumes on the next loop
iteration, an asyncio future (a timer's, a lock's) when it is done.

A :class:`Resumable` awaited from an ordinary Task behaves as a future, so the same
coroutine runs under either driver. Code that needs ``asyncio.current_task()`` (aiohttp's
timeouts) must run in a Task.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine, Generator
from typing import Any

__all__ = ["InlineTask", "Resumable"]

_running: InlineTask | None = None  # the inline task whose coroutine runs right now


class Resumable:
    """An awaitable whose value is ``result`` once :meth:`complete` is called; a waiter
    that goes away (cancelled) calls :meth:`abandon`. Subclasses add slots."""

    __slots__ = ("_resume", "_future", "completed", "result")

    def __init__(self) -> None:
        self._resume: Callable[[], None] | None = None
        self._future: asyncio.Future | None = None
        self.completed = False
        self.result: Any = None

    def __await__(self) -> Generator[Any, None, Any]:
        if not self.completed:
            try:
                if _running is not None:  # driven inline: resumed by complete() itself
                    yield self
                else:  # driven by an asyncio Task: a plain future
                    self._future = asyncio.get_running_loop().create_future()
                    yield from self._future
            except BaseException:
                if not self.completed:
                    self.abandon()
                raise
        return self.result

    def abandon(self) -> None:
        """Nobody waits for the outcome any more (the waiter was cancelled)."""

    def complete(self, result: Any = None) -> None:
        """The outcome is in: resume the waiter, once."""
        if self.completed:
            return
        self.completed = True
        self.result = result
        resume, future = self._resume, self._future
        if resume is not None:
            self._resume = None
            resume()
        elif future is not None and not future.done():
            future.set_result(None)


class InlineTask:
    """Runs ``coro`` at once, until its first wait; see the module docstring.
    ``on_exit(task)`` runs when the coroutine has returned, raised or was cancelled."""

    __slots__ = ("_coro", "_waiting", "_on_exit", "_resume", "_done")

    def __init__(self, coro: Coroutine[Any, Any, Any], on_exit: Callable[[InlineTask], None] | None = None) -> None:
        self._coro = coro
        self._waiting: Any = None  # the Resumable or future waited for
        self._on_exit = on_exit
        self._resume: Callable[[], None] | None = self._step  # bound once (a cycle: broken at the exit)
        self._done = False
        self._step()

    def done(self) -> bool:
        """The coroutine has returned, raised or was cancelled."""
        return self._done

    def cancel(self) -> None:
        """Throw CancelledError into the coroutine where it waits (no-op once done)."""
        if self._done:
            return
        waiting, self._waiting = self._waiting, None
        if isinstance(waiting, Resumable):
            waiting._resume = None
        elif waiting is not None:
            waiting.remove_done_callback(self._wakeup)
            waiting.cancel()
        self._step(asyncio.CancelledError())

    def _step(self, exc: BaseException | None = None) -> None:
        global _running
        self._waiting = None
        outer, _running = _running, self
        try:
            yielded = self._coro.send(None) if exc is None else self._coro.throw(exc)
        except BaseException as raised:
            self._exit(raised)
            return
        finally:
            _running = outer
        if isinstance(yielded, Resumable):  # the common case, inline: the HTTP core resumes us
            self._waiting = yielded
            yielded._resume = self._resume
        else:
            self._wait(yielded)

    def _wait(self, yielded: Any) -> None:
        """Wait for what the coroutine yielded other than a :class:`Resumable`."""
        if yielded is None:  # a bare yield: one loop iteration
            asyncio.get_running_loop().call_soon(self._step)
        else:  # an asyncio future (what a Task accepts)
            yielded._asyncio_future_blocking = False
            self._waiting = yielded
            yielded.add_done_callback(self._wakeup)

    def _wakeup(self, future: asyncio.Future) -> None:
        try:
            future.result()
        except BaseException as exc:
            self._step(exc)
            return
        self._step()

    def _exit(self, raised: BaseException) -> None:
        self._done = True
        self._resume = None  # refcounting frees the task and its coroutine: no work for the GC
        if self._on_exit is not None:
            self._on_exit(self)
        if not isinstance(raised, (StopIteration, asyncio.CancelledError)):
            if not isinstance(raised, Exception):
                raise raised
            asyncio.get_running_loop().call_exception_handler(
                {"message": "unhandled exception in an inline task", "exception": raised}
            )
