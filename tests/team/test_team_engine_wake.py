"""An approval written by another process (here: another Store, so another connection and origin)
wakes the engine's push loop at once, through the change feed, not at the next push tick."""

from __future__ import annotations

import asyncio

import pytest
from sim_harness import SimHarness

from app.engine import engine as engine_module
from app.engine.events import EngineEvent, ItemQueued, PushSucceeded
from app.store import Store

WAIT = 20.0


async def test_a_desk_approval_wakes_the_push_loop(
    harness: SimHarness, team_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Nothing but the change feed can wake the push loop within the test's bound: the tick and
    # both polls are an hour away once the first cycle is done.
    monkeypatch.setattr(engine_module, "PUSH_TICK_SECONDS", 3600.0)
    incident = harness.incident(short_description="Printer on fire")
    config = harness.config(
        store={"url": team_url},
        servicenow={"poll_seconds": 3600},
        autotask={"poll_seconds": 3600},
    )
    events: list[EngineEvent] = []
    engine = harness.engine(config, events=events)
    queued = asyncio.Event()
    pushed = asyncio.Event()

    def watch(event: EngineEvent) -> None:
        if isinstance(event, ItemQueued):
            queued.set()
        if isinstance(event, PushSucceeded):
            pushed.set()

    engine.bus.subscribe(watch)
    await engine.start()
    await asyncio.wait_for(queued.wait(), WAIT)
    desk = Store.open(team_url)
    try:
        [result] = await asyncio.to_thread(desk.approve, [incident["number"]], "anna")
        assert result.ok
        await asyncio.wait_for(pushed.wait(), WAIT)
    finally:
        desk.close()
    await engine.stop()
    assert len(harness.tickets_for(incident["sys_id"])) == 1
