"""An attached desk beside a running engine (same store, own connection, no credentials): it sees
new items, decisions and results live through the change feed, and its approval is pushed."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest
from sim_harness import SimHarness
from team_helpers import next_event

from app.engine.desk import AttachedDesk, NeedsEngine, holder_text
from app.engine.events import (
    AuditRecorded,
    EngineEvent,
    HealthChanged,
    ItemQueued,
    ItemUpdated,
    LinkChanged,
)
from app.store import Store


def _state(number: str, state: str) -> Callable[[EngineEvent], bool]:
    def match(event: EngineEvent) -> bool:
        return (
            isinstance(event, ItemQueued | ItemUpdated)
            and event.row.number == number
            and event.row.state == state
        )

    return match


async def test_desk_follows_the_engine_and_its_approval_is_pushed(harness: SimHarness, team_url: str) -> None:
    config = harness.config(store={"url": team_url})
    engine = harness.engine(config)
    await engine.start()
    desk = AttachedDesk(config, Store.open(team_url), name="anna")
    await desk.start()
    try:
        text, level = desk.holder_text()
        assert level == "ok" and "test on" in text and "heartbeat" in text
        assert await desk.list_queue() == []
        incident = harness.incident(short_description="Scanner jams")
        number = incident["number"]
        queued = asyncio.ensure_future(next_event(desk.bus, _state(number, "pending")))
        health = asyncio.ensure_future(
            next_event(desk.bus, lambda e: isinstance(e, HealthChanged) and e.health.level == "ok")
        )
        await engine.poll_now()
        assert isinstance(await queued, ItemQueued)
        await health

        # The desk previews from the stored snapshot; picklists come from the store (none yet:
        # ids unresolved, said plainly), and explains from the store without any credentials.
        draft = await desk.preview(number)
        assert draft.payload["title"] == "Scanner jams"
        explanation = await desk.explain(number)
        assert explanation.in_queue and "waiting for approval" in explanation.summary

        pushed = asyncio.ensure_future(next_event(desk.bus, _state(number, "pushed")))
        linked = asyncio.ensure_future(
            next_event(desk.bus, lambda e: isinstance(e, LinkChanged) and e.row.incident_number == number)
        )
        audited = asyncio.ensure_future(
            next_event(
                desk.bus,
                lambda e: isinstance(e, AuditRecorded) and e.row.kind == "create" and e.row.outcome == "ok",
            )
        )
        [result] = await desk.approve([number], by="anna")
        assert result.ok
        await pushed
        await linked
        await audited
        assert len(harness.tickets_for(incident["sys_id"])) == 1
        # With picklists stored by the engine's push, the desk's preview resolves ids too.
        assert await desk.stored_picklists() is not None
    finally:
        await desk.close()
        await engine.stop()


async def test_desk_says_plainly_what_needs_the_engine(harness: SimHarness, team_url: str) -> None:
    config = harness.config(store={"url": team_url})
    desk = AttachedDesk(config, Store.open(team_url))
    await desk.start()
    try:
        explanation = await desk.explain("INC9999999")
        assert not explanation.found and "needs the engine" in explanation.summary
        assert "no engine is running" in explanation.summary
        result = await desk.push_anyway("INC9999999", "anna", "urgent")
        assert not result.ok and "needs the engine" in result.message
        try:
            await desk.test_connection("autotask")
        except NeedsEngine as exc:
            assert "no API credentials" in str(exc)
        else:
            raise AssertionError("a desk cannot test connections")
        text, level = desk.holder_text()
        assert level == "none" and "not running" in text
    finally:
        await desk.close()


def test_holder_text_turns_into_a_warning_when_heartbeats_lapse() -> None:
    from datetime import UTC, datetime, timedelta

    from app.store import EngineLease

    now = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)
    lease = EngineLease(
        token="t", holder="triage-sync run", pid=4242, hostname="srv-01", started_at=now, heartbeat_at=now
    )
    assert holder_text(lease, now + timedelta(seconds=3), hostname="desk-7") == (
        "Engine: triage-sync run on srv-01, pid 4242, heartbeat 3 s ago",
        "ok",
    )
    assert holder_text(lease, now + timedelta(seconds=45), hostname="desk-7")[1] == "late"
    text, level = holder_text(lease, now + timedelta(seconds=75), hostname="desk-7")
    assert level == "stale" and "no heartbeat for 75 s" in text and "Take over" in text


async def test_a_burst_of_new_items_reaches_the_desk_whole(
    harness: SimHarness, team_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """More new rows than one page (the first poll of thousands, here 12 with a page of 5)."""
    from datetime import UTC, datetime

    from app.domain.records import Incident
    from app.engine import desk as desk_module

    monkeypatch.setattr(desk_module, "PAGE", 5)
    config = harness.config(store={"url": team_url})
    desk = AttachedDesk(config, Store.open(team_url))
    await desk.start()
    queued: set[str] = set()
    all_seen = asyncio.Event()

    def watch(event: EngineEvent) -> None:
        if isinstance(event, ItemQueued):
            queued.add(event.row.number)
            if len(queued) == 12:
                all_seen.set()

    desk.bus.subscribe(watch)
    writer = Store.open(team_url)
    try:
        now = datetime.now(UTC)
        for n in range(12):
            incident = Incident(
                sys_id=f"{n:032x}",
                number=f"INC{n:07d}",
                short_description=f"Burst {n}",
                category="hardware",
                priority=3,
                caller_id="c",
                sys_updated_on=now,
                sys_mod_count=0,
            )
            await asyncio.to_thread(writer.upsert_from_incident, incident, now=now)
        await asyncio.wait_for(all_seen.wait(), 20)
    finally:
        writer.close()
        await desk.close()
