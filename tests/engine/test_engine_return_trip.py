"""Return trip end to end: technicians change Autotask tickets -> linked incidents are updated."""

from __future__ import annotations

from engine_harness import Harness, pushed, ticket_id

from app.engine.events import EngineEvent, LinkChanged, ReturnApplied, ReturnFailed


def api_patches(harness: Harness, sys_id: str) -> list[dict[str, str]]:
    return [w.fields for w in harness.sn.api_writes() if w.sys_id == sys_id and w.action == "update"]


async def test_status_and_priority_changes_are_applied(harness: Harness) -> None:
    engine, [incident] = await pushed(harness)
    events: list[EngineEvent] = []
    engine.bus.subscribe(events.append)
    tid = ticket_id(harness, incident["sys_id"])
    writes_before = len(api_patches(harness, incident["sys_id"]))

    harness.at.technician_update(tid, status="In Progress", priority="Critical")
    report = await engine.run_once()
    assert report.ok, report.failures
    assert report.applied == 1
    record = harness.sn.get_record(incident["sys_id"])
    assert record["state"] == "2"
    assert (record["impact"], record["urgency"], record["priority"]) == ("1", "1", "1")
    patches = api_patches(harness, incident["sys_id"])
    assert len(patches) == writes_before + 1  # one PATCH for both fields
    applied = [e for e in events if isinstance(e, ReturnApplied)]
    assert applied and {c.field for c in applied[0].changes} >= {"state", "impact", "urgency"}

    # Resolve: the close fields travel with the state (the data policy would refuse otherwise).
    harness.at.technician_update(tid, status="Complete", resolution="Replaced the disk")
    report = await engine.run_once()
    assert report.ok, report.failures
    record = harness.sn.get_record(incident["sys_id"])
    assert record["state"] == "6"
    assert record["close_code"] == "Solution provided"
    assert record["close_notes"] == "Replaced the disk"


async def test_unchanged_ticket_causes_no_incident_write(harness: Harness) -> None:
    engine, [incident] = await pushed(harness)
    tid = ticket_id(harness, incident["sys_id"])
    writes = len(api_patches(harness, incident["sys_id"]))
    # A note moves lastActivityDate but changes no mapped value.
    harness.at.add_technician_note(tid, "Called the user, no answer")
    report = await engine.run_once()
    assert report.ok and report.applied == 0
    assert len(api_patches(harness, incident["sys_id"])) == writes


async def test_planning_incident_stays_planning_after_round_trip(harness: Harness) -> None:
    engine, [incident] = await pushed(harness, impact="3", urgency="3")
    assert harness.sn.get_record(incident["sys_id"])["priority"] == "5"
    [ticket] = harness.tickets_for(incident["sys_id"])
    assert ticket["priority"] == harness.at.picklist_id("priority", "Low")
    for _ in range(2):
        report = await engine.run_once()
        assert report.ok and report.applied == 0
    record = harness.sn.get_record(incident["sys_id"])
    assert (record["priority"], record["impact"], record["urgency"]) == ("5", "3", "3")


async def test_paging_over_more_than_one_autotask_page(harness: Harness) -> None:
    # 500 other integrations' tickets changed recently: ours is only on the second page (500 a page).
    harness.at.seed_tickets(500, externalID="someone-else")
    engine, incidents = await pushed(harness, count=2)
    for incident in incidents:
        harness.at.technician_update(ticket_id(harness, incident["sys_id"]), status="In Progress")
    report = await engine.run_once()
    assert report.ok, report.failures
    assert report.applied == 2
    assert all(harness.sn.get_record(i["sys_id"])["state"] == "2" for i in incidents)
    assert harness.at.requests.entries("POST", "/Tickets/query/next"), "the cursor was followed"


async def test_failed_update_is_retried_and_never_lost(harness: Harness) -> None:
    engine, [incident] = await pushed(harness)
    events: list[EngineEvent] = []
    engine.bus.subscribe(events.append)
    tid = ticket_id(harness, incident["sys_id"])
    harness.at.technician_update(tid, status="In Progress")
    harness.sn.faults.inject("status", method="PATCH", path=r"/incident/", status=503, count=10)
    report = await engine.run_once()
    assert not report.ok
    assert any(isinstance(e, ReturnFailed) for e in events)
    assert harness.sn.get_record(incident["sys_id"])["state"] == "1"
    harness.sn.faults.clear()
    report = await engine.run_once()
    assert report.ok, report.failures
    assert report.applied == 1
    assert harness.sn.get_record(incident["sys_id"])["state"] == "2"
    # Exactly once: a further cycle writes nothing.
    writes = len(api_patches(harness, incident["sys_id"]))
    await engine.run_once()
    assert len(api_patches(harness, incident["sys_id"])) == writes


async def test_refused_update_can_be_retried_by_the_user(harness: Harness) -> None:
    engine, [incident] = await pushed(harness)
    tid = ticket_id(harness, incident["sys_id"])
    harness.at.technician_update(tid, status="In Progress")
    harness.sn.faults.inject("status", method="PATCH", path=r"/incident/", status=403, count=1)
    report = await engine.run_once()
    assert report.failures and "403" in report.failures[0]
    assert harness.sn.get_record(incident["sys_id"])["state"] == "1"
    await engine.retry_return(tid)
    assert harness.sn.get_record(incident["sys_id"])["state"] == "2"


async def test_unlinked_tickets_are_ignored(harness: Harness) -> None:
    engine, [incident] = await pushed(harness)
    other = harness.at.add_ticket(title="Someone else's", externalID="not-ours")
    harness.at.technician_update(other, status="Complete")
    report = await engine.run_once()
    assert report.ok and report.applied == 0


async def test_links_carry_the_tickets_title_created_adopted_and_retitled(harness: Harness) -> None:
    """Links show the ticket's title: stored at create/adopt, refreshed from the return trip's reads."""
    engine, [incident] = await pushed(harness, short_description="Printer on floor 3 jams")
    tid = ticket_id(harness, incident["sys_id"])
    created_title = (harness.at.ticket(tid) or {})["title"]
    assert created_title
    link = engine.store.get_link(sys_id=incident["sys_id"])
    assert link is not None and link.ticket_title == created_title

    events: list[EngineEvent] = []
    engine.bus.subscribe(events.append)
    harness.at.technician_update(tid, title="Floor 3 printer: fuser replaced")  # no mapped value moves
    report = await engine.run_once()
    assert report.ok and report.applied == 0, report.failures
    link = engine.store.get_link(sys_id=incident["sys_id"])
    assert link is not None and link.ticket_title == "Floor 3 printer: fuser replaced"
    changed = [e for e in events if isinstance(e, LinkChanged)]
    assert [e.row.ticket_title for e in changed] == ["Floor 3 printer: fuser replaced"]
    await engine.close()

    # A new store (lost database, second desk) adopts the ticket with its current title.
    second_db = harness.tmp / "second-desk.sqlite3"
    second = harness.engine(
        harness.config(outbound={"auto_push": True}, store={"url": f"sqlite:///{second_db}"}),
        holder="second desk",
    )
    assert (await second.run_once()).ok
    adopted = second.store.get_link(sys_id=incident["sys_id"])
    assert adopted is not None and adopted.adopted
    assert adopted.ticket_title == "Floor 3 printer: fuser replaced"


async def test_the_stored_return_trip_reads_as_the_sentence_the_desk_shows(harness: Harness) -> None:
    """After a restart the Activity tab shows the audit summary: it said "state 6, close_code …"."""
    engine, [incident] = await pushed(harness)
    tid = ticket_id(harness, incident["sys_id"])
    number = (harness.at.ticket(tid) or {})["ticketNumber"]
    harness.at.technician_update(tid, status="In Progress", priority="High")
    report = await engine.run_once()
    assert report.ok and report.applied == 1, report.failures
    [row] = [r for r in engine.store.list_audit(sys_id=incident["sys_id"]) if r.direction == "return"]
    assert row.summary == (
        f"{number} moved to In Progress → incident In Progress; "
        f"{number} priority High → incident impact High, urgency Medium"
    )
