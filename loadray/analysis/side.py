"""Folds that run on a second thread while the pass goes on, so two cores fold at once.

The pass is bound by the thread that hands each batch to every fold. Folds that touch
nothing shared but the batch (the time series, the in-flight grid: ``side = True``)
are given each batch on one side thread, in the pass's order; numpy's sorts and most
of its kernels release the GIL, so their work overlaps the main thread's. Before a batch
goes to the side, the main thread computes the keys those folds read (``warm``): the
registry that codes them is only ever written by the main thread. At most
``ahead`` batches wait for the side thread (their arrays are held until then).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

__all__ = ["SideThread", "on_side"]


def on_side(folds: Sequence[Any]) -> tuple[list[Any], list[Any]]:
    """(main thread's folds, side thread's folds)."""
    side = [f for f in folds if getattr(f, "side", False)]
    return [f for f in folds if f not in side], side


class SideThread:
    """Calls run in order on one thread; ``finish`` waits for them (and raises what
    one raised)."""

    def __init__(self, ahead: int = 2) -> None:
        self.ahead = ahead
        self._pool: ThreadPoolExecutor | None = None
        self._pending: deque[Future] = deque()

    def submit(self, call: Callable[[], None]) -> None:
        if self._pool is None:
            self._pool = ThreadPoolExecutor(1, thread_name_prefix="loadray-fold")
        while len(self._pending) >= self.ahead:
            self._pending.popleft().result()
        self._pending.append(self._pool.submit(call))

    def finish(self) -> None:
        try:
            while self._pending:
                self._pending.popleft().result()
        finally:
            self.close()

    def close(self) -> None:
        for future in self._pending:
            future.cancel()
        self._pending.clear()
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None
