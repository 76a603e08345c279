"""The trigger means what it says: Resolved incidents stay ``active`` on a real instance (the simulator
does the same), so the default trigger excludes Resolved, Closed and Canceled; and the pre-push re-read
is what stops an incident that changed after the poll, even when the next poll cannot see it."""

from __future__ import annotations

from engine_harness import Harness

from app.store import QueueState

LIST_PATH = r"/table/incident$"  # the poll's list query, not the re-read of one record


async def test_default_trigger_never_pushes_a_resolved_incident(harness: Harness) -> None:
    resolved = harness.incident(state="6", close_code="Solution provided", close_notes="Fixed by phone")
    assert harness.sn.get_record(resolved["sys_id"])["active"] == "true"  # as on a real instance
    engine = harness.engine(harness.config(outbound={"auto_push": True}))
    report = await engine.run_once()
    assert report.ok, report.failures
    assert report.queued == 0 and harness.at.tickets() == []


async def test_pre_push_reread_drops_an_incident_resolved_after_the_poll(harness: Harness) -> None:
    incident = harness.incident()
    config = harness.config(outbound={"freshness_seconds": 0})  # every push re-reads first
    engine = harness.engine(config)
    assert (await engine.run_once()).queued == 1
    harness.sn.update_incident(
        incident["sys_id"], state="6", close_code="Solution provided", close_notes="Fixed"
    )
    harness.sn.faults.inject("status", method="GET", path=LIST_PATH, count=None, status=500)
    assert (await engine.approve([incident["number"]]))[0].ok
    report = await engine.run_once()
    harness.sn.faults.clear()
    assert not report.ok  # the poll failed, so only the re-read could see the change
    assert harness.at.tickets() == []
    item = engine.store.get_item(incident["sys_id"])
    assert item is not None and item.state == QueueState.DROPPED
    assert item.drop_reason is not None and "Resolved" in item.drop_reason


async def test_pre_push_reread_alone_stops_a_recategorised_incident(harness: Harness) -> None:
    """The trigger is checked on the fresh record, not the poll's snapshot (no later poll helps)."""
    incident = harness.incident()
    engine = harness.engine(harness.config(outbound={"freshness_seconds": 0}))
    assert (await engine.run_once()).queued == 1
    harness.sn.update_incident(incident["sys_id"], category="inquiry")
    harness.sn.faults.inject("status", method="GET", path=LIST_PATH, count=None, status=500)
    assert (await engine.approve([incident["number"]]))[0].ok
    await engine.run_once()
    harness.sn.faults.clear()
    assert harness.at.tickets() == []
    item = engine.store.get_item(incident["sys_id"])
    assert item is not None and item.state == QueueState.DROPPED
    assert item.drop_reason is not None and "category" in item.drop_reason
