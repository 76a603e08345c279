"""Bounded waits on an event bus (no sleeps): the next event that satisfies a predicate."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from app.engine.events import EngineEvent, EventBus

WAIT = 20.0


async def next_event(
    bus: EventBus, predicate: Callable[[EngineEvent], bool], timeout: float = WAIT
) -> EngineEvent:
    found: asyncio.Future[EngineEvent] = asyncio.get_running_loop().create_future()

    def watch(event: EngineEvent) -> None:
        if not found.done() and predicate(event):
            found.set_result(event)

    unsubscribe = bus.subscribe(watch)
    try:
        return await asyncio.wait_for(found, timeout)
    finally:
        unsubscribe()
