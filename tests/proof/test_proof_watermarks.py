"""Watermarks never pass unstored data: polls whose faults outlast the inline retries, including a
failure on page 2 after page 1 was stored, on both systems."""

from __future__ import annotations

import pytest
from proof_harness import RETRY_ATTEMPTS, Harness, RefusingTransport, Sleeps

from app.simulators.faults import FaultKind
from app.store import QueueState


@pytest.mark.parametrize("kind", ["status", "html", "truncated", "reset_after", "hang"])
async def test_servicenow_poll_failing_past_retries_keeps_watermark(
    harness: Harness, kind: FaultKind
) -> None:
    h = harness
    incidents = [h.incident() for _ in range(3)]
    engine = h.engine(h.config(), timeout=0.5, sleeps=Sleeps())
    h.sn.faults.inject(kind, method="GET", path=r"/table/incident$", count=RETRY_ATTEMPTS, seconds=0.8)
    first = await engine.run_once()
    assert not first.ok and first.queued == 0
    cursor = engine.store.get_cursor("servicenow")
    assert cursor.watermark is None and cursor.last_error
    second = await engine.run_once()
    assert second.ok, second.failures
    assert second.queued == 3
    assert {i.sys_id for i in engine.store.list_items()} == {i["sys_id"] for i in incidents}


async def test_servicenow_page_two_lost_keeps_watermark_and_page_one(harness: Harness) -> None:
    h = harness
    incidents = [h.incident(short_description=f"n{n}") for n in range(3)]
    transport = RefusingTransport()
    engine = h.engine(h.config(servicenow={"page_size": 1}), sleeps=Sleeps(), transport=transport)
    transport.refuse("GET", r"/table/incident$", count=RETRY_ATTEMPTS, skip=1)  # page 1 ok, page 2 refused
    first = await engine.run_once()
    assert not first.ok
    assert len(engine.store.list_items()) == 1  # page 1 is stored ...
    assert engine.store.get_cursor("servicenow").watermark is None  # ... but the watermark holds
    second = await engine.run_once()
    assert second.ok, second.failures
    assert sorted(i.sys_id for i in engine.store.list_items()) == sorted(i["sys_id"] for i in incidents)
    assert all(i.state == QueueState.PENDING for i in engine.store.list_items())


async def test_autotask_page_two_lost_keeps_watermark_and_applies_everything(harness: Harness) -> None:
    h = harness
    # 500 tickets of another integration first, so ours land on the second page of every query.
    h.at.seed_tickets(500, externalID="other-integration")
    incidents = [h.incident(short_description=f"n{n}") for n in range(3)]
    transport = RefusingTransport()
    engine = h.engine(h.config(outbound={"auto_push": True}), sleeps=Sleeps(), transport=transport)
    setup = await engine.run_once()
    assert setup.ok and setup.pushed == 3, setup.failures
    mark = engine.store.get_cursor("autotask").watermark
    for incident in incidents:
        [ticket] = h.tickets_for(incident["sys_id"])
        h.at.technician_update(ticket["id"], status="In Progress")
    transport.refuse("POST", r"/Tickets/query/next$", count=RETRY_ATTEMPTS)
    first = await engine.run_once()
    assert not first.ok and first.applied == 0
    assert engine.store.get_cursor("autotask").watermark == mark
    second = await engine.run_once()
    assert second.ok, second.failures
    for incident in incidents:
        assert h.sn.get_record(incident["sys_id"])["state"] == "2"
        assert len(h.return_notes(incident["sys_id"])) == 1
    after = engine.store.get_cursor("autotask")  # the successful poll stored its watermark
    assert mark is not None and after.watermark is not None and after.watermark >= mark
    assert after.last_success_at and after.last_failure_at and after.last_success_at > after.last_failure_at
