"""A 500 is not always a verdict on the ticket: refused credentials and a busy database, end to end."""

from __future__ import annotations

from engine_harness import Harness
from sim_harness import RETRY_ATTEMPTS

from app.store import AuditDirection, QueueState


async def test_revoked_integration_code_pauses_autotask_and_fails_no_item(harness: Harness) -> None:
    incidents = [harness.incident(short_description=f"Disk {n} failing") for n in range(3)]
    engine = harness.engine()
    assert (await engine.run_once()).ok
    await engine.approve([incident["number"] for incident in incidents])

    harness.at.settings.integration_code = "REVOKED"  # an admin revokes the code while we run
    report = await engine.run_once()

    assert not report.ok
    for incident in incidents:
        item = engine.store.get_item(incident["sys_id"])
        assert item is not None and item.state != QueueState.FAILED, item.last_error
    assert harness.at.tickets() == []
    health = engine.health("autotask")
    assert health.level == "auth_failed" and "autotask.integration_code" in health.message
    banners = [e for e in engine.store.list_audit(direction=AuditDirection.SYSTEM) if e.kind == "auth"]
    assert len(banners) == 1 and "IntegrationCode is invalid" in banners[0].summary

    harness.at.settings.integration_code = "DEMO"  # fixed in Settings; the user presses Poll now
    await engine.poll_now()
    for incident in incidents:
        item = engine.store.get_item(incident["sys_id"])
        assert item is not None and item.state == QueueState.PUSHED
        assert len(harness.tickets_for(incident["sys_id"])) == 1


async def test_deadlocked_create_is_retried_not_failed(harness: Harness) -> None:
    [incident] = [harness.incident(short_description="Mail server down")]
    engine = harness.engine()
    assert (await engine.run_once()).ok
    await engine.approve([incident["number"]])
    # Every inline try of this cycle meets a busy database.
    harness.at.inject_server_error("deadlock", method="POST", path="/Tickets$", count=RETRY_ATTEMPTS)

    busy = await engine.run_once()
    item = engine.store.get_item(incident["sys_id"])
    assert item is not None and item.state == QueueState.APPROVED and item.next_retry_at is not None
    assert "deadlock" in (item.last_error or "") and not busy.ok

    calm = await engine.run_once()
    assert calm.ok, calm.failures
    item = engine.store.get_item(incident["sys_id"])
    assert item is not None and item.state == QueueState.PUSHED
    assert len(harness.tickets_for(incident["sys_id"])) == 1
