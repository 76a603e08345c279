"""Outbound pipeline end to end: ServiceNow simulator -> engine -> Autotask simulator, over loopback HTTP."""

from __future__ import annotations

import asyncio
import contextlib
import json

from engine_harness import Harness

from app.engine.events import EngineEvent, ItemQueued, PushSucceeded
from app.store import QueueState, WritebackState


async def test_happy_path_creates_exact_ticket_links_and_writes_back(harness: Harness) -> None:
    incident = harness.incident(
        short_description="Laptop will not boot",
        description="Black screen after update",
        impact="1",
        urgency="2",
    )
    events: list[EngineEvent] = []
    engine = harness.engine(events=events)

    first = await engine.run_once()
    assert first.ok, first.failures
    assert first.queued == 1 and first.pushed == 0  # nothing goes out without approval
    assert harness.at.tickets() == []
    assert any(isinstance(e, ItemQueued) and e.row.sys_id == incident["sys_id"] for e in events)

    results = await engine.approve([incident["number"]])
    assert results[0].ok
    second = await engine.run_once()
    assert second.ok, second.failures
    assert second.pushed == 1

    [ticket] = harness.tickets_for(incident["sys_id"])
    at = harness.at
    assert ticket["title"] == "Laptop will not boot"
    assert ticket["description"].startswith("Black screen after update")
    assert incident["number"] in ticket["description"]
    assert ticket["priority"] == at.picklist_id("priority", "High")  # SN priority 2 -> High
    assert ticket["status"] == at.picklist_id("status", "New")
    assert ticket["queueID"] == at.picklist_id("queueID", "Level I Support")
    assert ticket["companyID"] == 174
    assert ticket["dueDateTime"]

    link = engine.store.get_link(sys_id=incident["sys_id"])
    assert link is not None and link.ticket_id == ticket["id"]
    assert link.ticket_number == ticket["ticketNumber"]
    assert link.writeback_state == WritebackState.DONE
    record = harness.sn.get_record(incident["sys_id"])
    assert record["correlation_id"] == str(ticket["id"])
    assert record["correlation_display"] == ticket["ticketNumber"]
    notes = harness.sn.journal(incident["sys_id"])
    assert len(notes) == 1 and ticket["ticketNumber"] in notes[0]["value"]
    item = engine.store.get_item(incident["sys_id"])
    assert item is not None and item.state == QueueState.PUSHED
    # Announced once, with the number (read for the whole round in one query).
    succeeded = [e for e in events if isinstance(e, PushSucceeded)]
    assert [(e.ticket_id, e.ticket_number) for e in succeeded] == [(ticket["id"], ticket["ticketNumber"])]
    queries = harness.at.requests.entries("POST", "/Tickets/query")
    number_reads = [e for e in queries if e.body.get("IncludeFields") == ["id", "ticketNumber"]]
    assert len(number_reads) == 1

    # The audit trail holds the exact body sent.
    creates = [e for e in engine.store.list_audit(sys_id=incident["sys_id"]) if e.kind == "create"]
    assert creates and json.loads(creates[0].request_body or "{}")["externalID"] == incident["sys_id"]

    # Our own write-back is not a new reason to push: further cycles create nothing.
    third = await engine.run_once()
    assert third.ok and third.pushed == 0 and third.queued == 0
    assert len(harness.tickets_for(incident["sys_id"])) == 1


async def test_non_matching_incidents_are_never_sent(harness: Harness) -> None:
    harness.incident(category="inquiry")
    harness.incident(category="hardware", state="8")  # cancelled: not active
    engine = harness.engine(harness.config(outbound={"auto_push": True}))
    report = await engine.run_once()
    assert report.ok, report.failures
    assert report.queued == 0
    assert harness.at.tickets() == []
    assert harness.at.requests.count("POST", "/Tickets") == 0 or all(
        not entry.path.lower().endswith("/tickets") for entry in harness.at.requests.entries("POST")
    )


async def test_incident_changed_after_queueing_is_pushed_with_new_values(harness: Harness) -> None:
    incident = harness.incident(short_description="Old title")
    engine = harness.engine(harness.config(outbound={"freshness_seconds": 0}))
    await engine.run_once()
    harness.sn.update_incident(incident["sys_id"], short_description="New title", impact="1", urgency="1")
    await engine.approve([incident["number"]])
    report = await engine.run_once()
    assert report.ok, report.failures
    [ticket] = harness.tickets_for(incident["sys_id"])
    assert ticket["title"] == "New title"
    assert ticket["priority"] == harness.at.picklist_id("priority", "Critical")


async def test_incident_cancelled_before_approval_is_not_pushed(harness: Harness) -> None:
    incident = harness.incident()
    engine = harness.engine(harness.config(outbound={"freshness_seconds": 0}))
    await engine.run_once()
    harness.sn.update_incident(incident["sys_id"], state="8")
    await engine.approve([incident["number"]])
    report = await engine.run_once()
    assert report.ok, report.failures
    assert harness.tickets_for(incident["sys_id"]) == []
    item = engine.store.get_item(incident["sys_id"])
    assert item is not None and item.state == QueueState.DROPPED
    assert item.drop_reason and "active" in item.drop_reason


async def test_recategorised_incident_leaves_queue_on_poll(harness: Harness) -> None:
    incident = harness.incident()
    engine = harness.engine()
    await engine.run_once()
    harness.sn.update_incident(incident["sys_id"], category="inquiry")
    report = await engine.run_once()
    assert report.removed == 1
    item = engine.store.get_item(incident["sys_id"])
    assert item is not None and item.state == QueueState.DROPPED
    dropped = [e for e in engine.store.list_audit(sys_id=incident["sys_id"]) if e.kind == "dropped"]
    assert dropped and "category" in dropped[0].summary


async def test_lost_create_response_leads_to_exactly_one_ticket(harness: Harness) -> None:
    incident = harness.incident()
    engine = harness.engine(harness.config(outbound={"auto_push": True}))
    # The create is processed, then the connection drops before the answer arrives.
    harness.at.faults.inject("reset_after", method="POST", path=r"/Tickets$", count=1)
    # The same run searches (read-only) and links what it finds: no second create, nothing left.
    first = await engine.run_once()
    assert first.ok, (first.failures, first.undone)
    assert len(harness.tickets_for(incident["sys_id"])) == 1
    item = engine.store.get_item(incident["sys_id"])
    assert item is not None and item.state == QueueState.PUSHED

    second = await engine.run_once()
    assert second.ok, second.failures
    assert len(harness.tickets_for(incident["sys_id"])) == 1
    assert [e.kind for e in engine.store.list_audit(sys_id=incident["sys_id"])].count("recovered") == 1


async def test_kill_between_create_and_link_leads_to_exactly_one_ticket(harness: Harness) -> None:
    """The engine dies after the create landed and before the link was stored: the create's answer
    is held back by the simulator (``hang_after``) and the running cycle is cancelled meanwhile."""
    incident = harness.incident()
    engine = harness.engine(harness.config(outbound={"auto_push": True}))
    harness.at.faults.inject("hang_after", method="POST", path=r"/Tickets$", seconds=2)
    cycle = asyncio.ensure_future(engine.run_once())
    for _ in range(500):  # bounded: the create lands within a few loop turns
        if harness.tickets_for(incident["sys_id"]) or cycle.done():
            break
        await asyncio.sleep(0.01)
    [ticket] = harness.tickets_for(incident["sys_id"])
    cycle.cancel()  # the kill: nothing after the create runs
    with contextlib.suppress(asyncio.CancelledError):
        await cycle
    assert engine.store.get_link(sys_id=incident["sys_id"]) is None
    item = engine.store.get_item(incident["sys_id"])
    assert item is not None and item.state == QueueState.PUSHING
    await engine.close()

    restarted = harness.engine(harness.config(outbound={"auto_push": True}), holder="restarted")
    report = await restarted.run_once()
    assert report.ok, (report.failures, report.undone)
    assert len(harness.tickets_for(incident["sys_id"])) == 1
    link = restarted.store.get_link(sys_id=incident["sys_id"])
    assert link is not None and link.ticket_id == ticket["id"]


async def test_validation_refusal_fails_item_with_api_message_and_others_continue(harness: Harness) -> None:
    harness.incident(short_description="First")
    harness.incident(short_description="Second")
    engine = harness.engine(harness.config(outbound={"auto_push": True, "push_concurrency": 1}))
    # Autotask answers validation errors with HTTP 500 and {"errors": [...]}: a refusal, not a glitch.
    harness.at.faults.inject("status", method="POST", path=r"/Tickets$", status=500, count=1)
    report = await engine.run_once()
    states = {str(i.state): i for i in engine.store.list_items()}
    assert sorted(states) == ["failed", "pushed"]
    failed = states["failed"]
    assert failed.last_error and report.failures
    assert failed.next_retry_at is None  # permanent: waits for a person
    posts = len(harness.at.requests.entries("POST", "/Tickets"))
    await engine.run_once()
    assert len(harness.at.requests.entries("POST", "/Tickets")) == posts + 1  # the poll query only
    assert harness.tickets_for(failed.sys_id) == []

    [retried] = await engine.retry([failed.number])
    assert retried.ok
    final = await engine.run_once()
    assert final.ok, final.failures
    assert len(harness.tickets_for(failed.sys_id)) == 1


async def test_preflight_failure_is_permanent_and_names_the_field(harness: Harness) -> None:
    incident = harness.incident()
    config = harness.config(outbound={"auto_push": True, "default_queue": "No Such Queue"})
    engine = harness.engine(config)
    report = await engine.run_once()
    assert report.failures and "queue" in report.failures[0].lower()
    item = engine.store.get_item(incident["sys_id"])
    assert item is not None and item.state == QueueState.FAILED
    assert harness.at.tickets() == []


async def test_autotask_rate_limit_retry_after_is_honoured(harness: Harness) -> None:
    incident = harness.incident()
    engine = harness.engine(harness.config(outbound={"auto_push": True}))
    harness.at.faults.inject("status", method="POST", path=r"/Tickets$", status=429, retry_after=120, count=5)
    report = await engine.run_once()
    assert not report.ok
    item = engine.store.get_item(incident["sys_id"])
    assert item is not None and item.next_retry_at is not None
    wait = (item.next_retry_at - item.updated_at).total_seconds()
    assert wait >= 119, wait
    assert harness.tickets_for(incident["sys_id"]) == []
    # Not due yet: another cycle does not try again.
    posts_before = len(harness.at.requests.entries("POST", "/Tickets"))
    await engine.run_once()
    assert len(harness.at.requests.entries("POST", "/Tickets")) == posts_before + 1  # only the query


async def test_paging_over_more_than_one_page_on_servicenow(harness: Harness) -> None:
    for n in range(7):
        harness.incident(short_description=f"Disk {n}")
    engine = harness.engine(harness.config(servicenow={"page_size": 3}))
    report = await engine.run_once()
    assert report.queued == 7
    # Paged by key: the third page asks for the rows after the sixth one's (stamp, sys_id).
    gets = [e for e in harness.sn.requests.entries("GET", "/table/incident") if "ORsys_id%3E" in e.query]
    assert len(gets) >= 2, "the second and third pages were requested after a key"


async def test_servicenow_auth_failure_pauses_cleanly_with_one_status(harness: Harness) -> None:
    harness.incident()
    engine = harness.engine(password="wrong")
    report = await engine.run_once()
    assert report.failures
    health = engine.health("servicenow")
    assert health.level == "auth_failed"
    assert "servicenow.username" in health.message
    requests_before = harness.sn.requests.count()
    again = await engine.run_once()
    assert harness.sn.requests.count() == requests_before  # paused: no hammering
    assert again.queued == 0
    auth_events = [e for e in engine.store.list_audit(direction="system") if e.kind == "auth"]
    assert len(auth_events) == 1
    assert "wrong" not in auth_events[0].summary


async def test_explain_and_dry_run(harness: Harness) -> None:
    queued = harness.incident()
    other = harness.incident(category="inquiry")
    engine = harness.engine()
    await engine.run_once()
    inside = await engine.explain(queued["number"])
    assert inside.found and inside.in_queue and inside.state == "pending"
    outside = await engine.explain(other["number"])
    assert outside.found and not outside.in_queue
    assert any("category" in reason for reason in outside.reasons)
    missing = await engine.explain("INC9999999")
    assert not missing.found

    requests_before = len(harness.at.requests.entries("POST"))
    report = await engine.dry_run()
    assert [e.number for e in report.would_create] == [queued["number"]]
    assert report.would_create[0].payload["externalID"] == queued["sys_id"]
    assert len(harness.at.requests.entries("POST")) == requests_before  # no write, no query
    assert harness.at.tickets() == []


async def test_reject_removes_without_pushing(harness: Harness) -> None:
    incident = harness.incident()
    engine = harness.engine()
    await engine.run_once()
    [result] = await engine.reject([incident["number"]])
    assert result.ok
    engine.set_auto_push(True)
    report = await engine.run_once()
    assert report.pushed == 0
    assert harness.tickets_for(incident["sys_id"]) == []


async def test_push_anyway_sends_an_incident_the_trigger_does_not_select(harness: Harness) -> None:
    other = harness.incident(category="inquiry")  # the trigger does not select it
    engine = harness.engine()
    await engine.run_once()
    explained = await engine.explain(other["number"])
    assert explained.found and not explained.in_queue and explained.can_push_anyway
    refused = await engine.push_anyway(other["number"], "alice", "  ")
    assert not refused.ok and "why" in refused.message
    result = await engine.push_anyway(other["number"], "alice", "VIP caller, agreed with the lead")
    assert result.ok, result.message
    [row] = await engine.list_queue(states=["approved"])
    assert (row.decided_by, row.forced_reason) == ("alice", "VIP caller, agreed with the lead")
    # the push re-reads the incident and checks the trigger again: a person's decision stands
    report = await engine.run_once()
    assert report.ok and report.pushed == 1, report.failures
    assert len(harness.tickets_for(other["sys_id"])) == 1
    audit = await engine.list_audit(sys_id=other["sys_id"])
    assert any(
        row.summary.startswith(f"{other['number']} pushed anyway by alice (the trigger does not select it)")
        for row in audit
    )
    again = await engine.push_anyway(other["number"], "alice", "again")
    assert not again.ok and "already linked" in again.message
