"""What an attached desk hears and asks at once: another desk's claim reaches this desk and the
engine through the change feed (no timer), and "Push anyway" is asked of the running engine."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from sim_harness import SimHarness
from team_helpers import next_event

from app.engine.attach import attach
from app.engine.events import ReviewersChanged
from app.store import Store


async def test_another_desks_claim_reaches_the_desk_and_the_engine(
    harness: SimHarness, team_url: str
) -> None:
    config = harness.config(store={"url": team_url})
    engine = harness.engine(config)
    await engine.start()
    desk = await attach(config, name="bob")
    carol = Store.open(team_url)  # a third desk: its own connection, its own origin
    try:
        incident = harness.incident(short_description="Printer on fire")
        await engine.poll_now()
        heard_by_desk = asyncio.ensure_future(next_event(desk.bus, lambda e: isinstance(e, ReviewersChanged)))
        heard_by_engine = asyncio.ensure_future(
            next_event(engine.bus, lambda e: isinstance(e, ReviewersChanged))
        )
        await asyncio.to_thread(carol.claim, incident["sys_id"], "carol", now=datetime.now(UTC))
        await heard_by_desk
        await heard_by_engine
        assert await desk.reviewing() == {incident["sys_id"]: ("carol",)}
    finally:
        carol.close()
        await desk.close()
        await engine.stop()


async def test_push_anyway_from_a_desk_is_done_by_the_engine(harness: SimHarness, team_url: str) -> None:
    config = harness.config(store={"url": team_url})
    engine = harness.engine(config)
    await engine.start()
    desk = await attach(config, name="anna")
    try:
        other = harness.incident(category="inquiry")  # the trigger does not select it
        reason = "VIP caller, agreed with the lead"
        result = await desk.push_anyway(other["number"], "anna", reason)
        assert result.ok and result.status == "changed", result
        item = engine.store.get_item(other["number"])
        assert item is not None and (item.decided_by, item.forced_reason) == ("anna", reason)
    finally:
        await desk.close()
        await engine.stop()
