"""Picklists that follow the tenant, end to end: child labels under their parent, values added or
renamed in Autotask while the engine runs, unknown ids on the return trip."""

from __future__ import annotations

from typing import Any

from engine_harness import Harness, Shift
from sim_harness import RETRY_ATTEMPTS

from app.engine.engine import SyncEngine
from app.store import QueueState

NEW_QUEUE_ID = 29683499
NEW_STATUS_ID = 13


def constant(value: str) -> dict[str, str]:
    return {"rule": "constant", "value": value}


async def approved_push(harness: Harness, engine: SyncEngine, incident: dict[str, str]) -> None:
    await engine.approve([incident["number"]])
    await engine.run_once()


async def test_a_repeated_child_label_files_the_type_under_its_parent(harness: Harness) -> None:
    config = harness.config(
        outbound={"fields": {"issueType": constant("Software"), "subIssueType": constant("Other")}}
    )
    incident = harness.incident()
    engine = harness.engine(config)
    await engine.run_once()
    field = (await engine.preview(incident["number"])).field("subIssueType")
    assert field is not None and field.display == "Software › Other"  # the preview shows the pair

    await approved_push(harness, engine, incident)

    [ticket] = harness.tickets_for(incident["sys_id"])
    software = harness.at.picklist_id("issueType", "Software")
    assert ticket["issueType"] == software
    assert ticket["subIssueType"] == harness.at.picklist_id("subIssueType", "Other", parent=software)


async def test_a_queue_added_in_autotask_is_found_without_a_restart(harness: Harness) -> None:
    rules: dict[str, Any] = {"rule": "value_map", "source": "category", "map": {"hardware": "Service Desk"}}
    engine = harness.engine(harness.config(outbound={"fields": {"queueID": rules}}))
    incident = harness.incident()
    await engine.run_once()  # the picklists are read (and kept) now
    harness.at.set_picklist("queueID", NEW_QUEUE_ID, "Service Desk")  # an admin adds the queue

    await approved_push(harness, engine, incident)

    item = engine.store.get_item(incident["sys_id"])
    assert item is not None and item.state == QueueState.PUSHED, item.last_error if item else None
    [ticket] = harness.tickets_for(incident["sys_id"])
    assert ticket["queueID"] == NEW_QUEUE_ID
    reads = [e for e in engine.store.list_audit(direction="system") if e.kind == "picklists"]
    assert reads and "did not know" in reads[0].summary


async def test_a_value_replaced_in_autotask_is_refreshed_when_refused(harness: Harness) -> None:
    engine = harness.engine()
    incident = harness.incident()
    await engine.run_once()
    old = harness.at.picklist_id("queueID", "Level I Support")
    # An admin retires the queue and creates one with the same name: our stored id is refused.
    harness.at.set_picklist("queueID", old, "Level I Support (old)", active=False)
    harness.at.set_picklist("queueID", NEW_QUEUE_ID, "Level I Support")

    await approved_push(harness, engine, incident)

    item = engine.store.get_item(incident["sys_id"])
    assert item is not None and item.state == QueueState.PUSHED, item.last_error if item else None
    [ticket] = harness.tickets_for(incident["sys_id"])
    assert ticket["queueID"] == NEW_QUEUE_ID


async def test_a_retired_value_fails_pre_flight_with_the_valid_ones(harness: Harness) -> None:
    engine = harness.engine()
    incident = harness.incident()
    await engine.run_once()
    old = harness.at.picklist_id("queueID", "Level I Support")
    harness.at.set_picklist("queueID", old, "Level I Support", active=False)  # retired, no successor
    harness.at.set_picklist("queueID", NEW_QUEUE_ID, "Service Desk")

    await approved_push(harness, engine, incident)

    item = engine.store.get_item(incident["sys_id"])
    assert item is not None and item.state == QueueState.FAILED
    assert "'Level I Support' is not an active Autotask queueID label" in (item.last_error or "")
    assert "Service Desk" in (item.last_error or "")
    assert harness.tickets_for(incident["sys_id"]) == []


async def test_return_trip_meets_a_new_status_and_never_stores_its_id(harness: Harness) -> None:
    config = harness.config(
        outbound={"auto_push": True}, return_trip={"status": {"Working On It": {"state": 2}}}
    )
    incident = harness.incident()
    engine = harness.engine(config)
    assert (await engine.run_once()).pushed == 1
    [ticket] = harness.tickets_for(incident["sys_id"])
    harness.at.set_picklist("status", NEW_STATUS_ID, "Working On It")  # added while we run
    harness.at.technician_update(ticket["id"], status=NEW_STATUS_ID)

    report = await engine.run_once()

    assert report.ok, report.failures
    assert harness.sn.get_record(incident["sys_id"])["state"] == "2"
    link = engine.store.get_link(sys_id=incident["sys_id"])
    assert link is not None and link.return_synced["status"] == "Working On It"


async def test_picklists_come_from_the_store_until_their_time_to_live(harness: Harness, shift: Shift) -> None:
    first = harness.engine(clock=harness.at.clock.now)
    await first.run_once()
    await first.close()
    fields_reads = harness.at.requests.count("GET", "/Tickets/entityInformation/fields")

    again = harness.engine(clock=harness.at.clock.now)
    await again.run_once()
    assert harness.at.requests.count("GET", "/Tickets/entityInformation/fields") == fields_reads
    shift(3601)  # autotask.picklist_ttl_seconds (one hour by default) has passed
    await again.run_once()
    assert harness.at.requests.count("GET", "/Tickets/entityInformation/fields") == fields_reads + 1


async def test_a_refresh_that_cannot_be_read_defers_the_item(harness: Harness) -> None:
    rules: dict[str, Any] = {"rule": "value_map", "source": "category", "map": {"hardware": "Service Desk"}}
    engine = harness.engine(harness.config(outbound={"fields": {"queueID": rules}}))
    incident = harness.incident()
    await engine.run_once()
    harness.at.set_picklist("queueID", NEW_QUEUE_ID, "Service Desk")
    fields = r"/Tickets/entityInformation/fields$"
    harness.at.faults.inject("status", method="GET", path=fields, status=503, count=RETRY_ATTEMPTS)

    await approved_push(harness, engine, incident)
    item = engine.store.get_item(incident["sys_id"])
    assert item is not None and item.state == QueueState.APPROVED  # not failed: it could not be told
    assert item.next_retry_at is not None and "503" in (item.last_error or "")
    assert harness.tickets_for(incident["sys_id"]) == []

    await engine.run_once()
    item = engine.store.get_item(incident["sys_id"])
    assert item is not None and item.state == QueueState.PUSHED
