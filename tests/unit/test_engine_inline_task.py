"""InlineTask and Resumable: a coroutine resumed straight from the callback that
completes what it waits for, or waiting like a Task for anything else."""

from __future__ import annotations

import asyncio

import pytest

from loadray.engine.inline_task import InlineTask, Resumable


class Job(Resumable):
    """A Resumable that records being abandoned."""

    __slots__ = ("abandoned",)

    def __init__(self) -> None:
        super().__init__()
        self.abandoned = False

    def abandon(self) -> None:
        self.abandoned = True


def test_a_resumable_resumes_the_coroutine_inside_complete():
    async def main():
        log: list[str] = []
        job = Job()

        async def body():
            log.append("start")
            log.append(await job)
            return "end"

        exited: list[InlineTask] = []
        task = InlineTask(body(), exited.append)
        assert log == ["start"] and not task.done()  # ran at once, up to its wait
        job.complete("answer")
        assert log == ["start", "answer"] and task.done() and exited == [task]  # no loop turn in between
        job.complete("again")  # once only
        assert log == ["start", "answer"]

    asyncio.run(main())


def test_futures_timers_and_bare_yields_are_waited_for_like_a_task():
    async def main():
        loop = asyncio.get_running_loop()
        log: list[object] = []
        future = loop.create_future()

        async def body():
            log.append(await future)
            await asyncio.sleep(0)  # a bare yield: one loop iteration
            log.append("yielded")
            await asyncio.sleep(0.01)
            log.append("slept")
            ready = Job()
            ready.complete("done")  # completed before it is awaited
            log.append(await ready)

        task = InlineTask(body())
        loop.call_soon(future.set_result, 7)
        for _ in range(100):
            if task.done():
                break
            await asyncio.sleep(0.005)
        assert log == [7, "yielded", "slept", "done"]

    asyncio.run(main())


@pytest.mark.parametrize("waiting_on", ["resumable", "future"])
def test_cancel_throws_where_the_coroutine_waits(waiting_on):
    async def main():
        loop = asyncio.get_running_loop()
        job, future = Job(), loop.create_future()
        log: list[str] = []

        async def body():
            try:
                await (job if waiting_on == "resumable" else future)
            except asyncio.CancelledError:
                log.append("cancelled")
                raise

        exited: list[InlineTask] = []
        task = InlineTask(body(), exited.append)
        task.cancel()
        assert log == ["cancelled"] and task.done() and exited == [task]
        assert job.abandoned == (waiting_on == "resumable") and future.cancelled() == (waiting_on == "future")
        job.complete("late")  # nobody waits: nothing happens
        task.cancel()  # once done: nothing happens
        assert log == ["cancelled"]

    asyncio.run(main())


def test_an_exception_reaches_the_loop_exception_handler():
    async def main():
        seen: list[BaseException] = []
        asyncio.get_running_loop().set_exception_handler(lambda loop, context: seen.append(context["exception"]))

        async def body():
            raise KeyError("defect")

        task = InlineTask(body())
        assert task.done() and [type(e) for e in seen] == [KeyError]

    asyncio.run(main())


def test_under_a_task_a_resumable_is_a_future():
    async def main():
        job, other = Job(), Job()

        async def body(resumable):
            return await resumable

        task = asyncio.ensure_future(body(job))
        await asyncio.sleep(0)
        job.complete(5)
        assert await task == 5
        waiting = asyncio.ensure_future(body(other))
        await asyncio.sleep(0)
        waiting.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiting
        assert other.abandoned
        done = Job()
        done.complete("ready")
        assert await done == "ready"  # completed before it was awaited

    asyncio.run(main())
