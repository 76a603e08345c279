"""One way to run coroutines from Qt slots: strong references, named preemptive tasks, logged failures.

Qt slots are synchronous; the engine is asyncio. ``spawn`` schedules a coroutine on the running
(qasync) loop, keeps a strong reference until it ends (an unreferenced task may be garbage collected
mid-flight) and routes failures to ``on_error`` or the log, never into the void.
``TaskSlot`` is a named "preemptive" slot: starting a new task cancels the previous one, which is what
a preview of the current selection or a search-as-you-type wants.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

log = logging.getLogger(__name__)

T = TypeVar("T")
ErrorHandler = Callable[[BaseException], None]

_background: set[asyncio.Task[Any]] = set()


def _loop() -> asyncio.AbstractEventLoop:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.get_event_loop_policy().get_event_loop()


def spawn(
    coro: Coroutine[Any, Any, T],
    *,
    name: str,
    on_error: ErrorHandler | None = None,
) -> asyncio.Task[T]:
    """Run ``coro`` in the background; errors go to ``on_error`` (or the log), cancellation is quiet."""
    task = _loop().create_task(coro, name=name)
    _background.add(task)

    def done(finished: asyncio.Task[T]) -> None:
        _background.discard(finished)
        if finished.cancelled():
            return
        error = finished.exception()
        if error is None:
            return
        if on_error is not None:
            try:
                on_error(error)
            except Exception:
                log.exception("error handler of task %s failed", name)
        else:
            log.error("background task %s failed", name, exc_info=error)

    task.add_done_callback(done)
    return task


def pending_tasks() -> int:
    """How many background tasks are still running (used at shutdown and in tests)."""
    return len(_background)


async def drain(prefix: str, timeout: float = 5.0) -> None:
    """Let background tasks whose name starts with ``prefix`` finish (a decision being recorded)."""
    tasks = [task for task in _background if not task.done() and task.get_name().startswith(prefix)]
    if tasks:
        await asyncio.wait(tasks, timeout=timeout)


async def cancel_all() -> None:
    """Cancel every background task and wait for them to end (shutdown)."""
    tasks = [task for task in _background if not task.done()]
    for task in tasks:
        task.cancel()
    if tasks:
        await asyncio.gather(*tasks, return_exceptions=True)


class TaskSlot:
    """A named slot holding at most one task: ``start`` cancels the previous one first."""

    def __init__(self, name: str, on_error: ErrorHandler | None = None) -> None:
        self.name = name
        self.on_error = on_error
        self.task: asyncio.Task[Any] | None = None

    def start(self, coro: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
        self.cancel()
        self.task = spawn(coro, name=self.name, on_error=self.on_error)
        return self.task

    def cancel(self) -> None:
        if self.task is not None and not self.task.done():
            self.task.cancel()
        self.task = None

    @property
    def busy(self) -> bool:
        return self.task is not None and not self.task.done()
