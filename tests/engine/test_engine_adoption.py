"""Never a second ticket, even without our own database: a lost or restored database, a reinstall or a
second workstation re-queues every triggered incident in the lookback. Before the first create of a
push round the round's sys_ids are looked up in Autotask in one query; what exists is adopted as a
link. An incident whose correlation_id names an existing ticket is linked, not pushed."""

from __future__ import annotations

from typing import Any

from engine_harness import Harness

from app.store import QueueState, WritebackState


def externalid_lookups(harness: Harness) -> list[dict[str, Any]]:
    """Autotask queries that look tickets up by externalID."""
    return [
        entry.body
        for entry in harness.at.requests.entries("POST", "/Tickets/query")
        if "externalID" in str(entry.body.get("filter")) and "exist" not in str(entry.body.get("filter"))
    ]


async def test_a_fresh_store_adopts_every_ticket_and_creates_none(harness: Harness) -> None:
    """Lost database / second workstation: same simulators, a new store, auto-push on."""
    written_back = [harness.incident(short_description=f"written back {n}") for n in range(2)]
    first = harness.engine(harness.config(outbound={"auto_push": True}))
    # The last one's write-back is refused, so its incident does not name the ticket: only the
    # externalID lookup can find it.
    assert (await first.run_once()).ok
    unnamed = harness.incident(short_description="write-back refused")
    harness.sn.faults.inject("status", method="PATCH", path="/table/incident/", status=403, count=1)
    await first.run_once()
    assert harness.sn.get_record(unnamed["sys_id"])["correlation_id"] == ""
    await first.close()
    tickets_before = harness.at.tickets()
    assert len(tickets_before) == 3
    harness.at.requests.clear()

    second_db = harness.tmp / "second-desk.sqlite3"
    second = harness.engine(
        harness.config(outbound={"auto_push": True}, store={"url": f"sqlite:///{second_db}"}),
        holder="second desk",
    )
    report = await second.run_once()
    assert report.ok, report.failures
    assert harness.at.tickets() == tickets_before  # no second ticket for anything
    assert (
        harness.at.requests.count("POST", "/Tickets") - harness.at.requests.count("POST", "/Tickets/query")
        == 0
    )  # not one create
    # Batched, never one per incident: one lookup for the poll page's incidents that name a ticket,
    # one for the push round.
    assert len(externalid_lookups(harness)) == 2
    for incident in [*written_back, unnamed]:
        link = second.store.get_link(sys_id=incident["sys_id"])
        assert link is not None and link.adopted, incident["number"]
        assert link.ticket_id == harness.tickets_for(incident["sys_id"])[0]["id"]
        item = second.store.get_item(incident["sys_id"])
        assert item is not None and item.state == QueueState.PUSHED
    # The incidents that already name their ticket get no second work note; the one that did not
    # is written back once now.
    for incident in written_back:
        assert len(harness.writeback_notes(incident["sys_id"])) == 1
    assert len(harness.writeback_notes(unnamed["sys_id"])) == 1
    ticket_id = harness.tickets_for(unnamed["sys_id"])[0]["id"]
    assert harness.sn.get_record(unnamed["sys_id"])["correlation_id"] == str(ticket_id)
    rows = await second.list_links()
    assert all(row.adopted for row in rows)
    assert any(e.kind == "adopted" for e in second.store.list_audit(sys_id=unnamed["sys_id"]))


async def test_an_incident_naming_an_existing_ticket_is_linked_not_pushed(harness: Harness) -> None:
    """A person (or an earlier install) linked the incident to a ticket that has no externalID."""
    ticket_id = harness.at.add_ticket(title="Opened by phone")
    number = str(harness.at.ticket(ticket_id)["ticketNumber"])  # type: ignore[index]
    incident = harness.incident(correlation_id=str(ticket_id), correlation_display=number)
    engine = harness.engine(harness.config(outbound={"auto_push": True}))
    report = await engine.run_once()
    assert report.ok, report.failures
    assert len(harness.at.tickets()) == 1  # nothing created
    link = engine.store.get_link(sys_id=incident["sys_id"])
    assert link is not None and link.adopted and link.ticket_id == ticket_id
    assert link.ticket_number == number
    assert link.writeback_state == WritebackState.DONE  # the incident already names it
    assert harness.sn.journal(incident["sys_id"]) == []  # no work note, no PATCH
    assert harness.sn.api_writes() == []


async def test_a_correlation_id_naming_no_ticket_is_pushed_normally(harness: Harness) -> None:
    incident = harness.incident(correlation_id="99999999")
    engine = harness.engine(harness.config(outbound={"auto_push": True}))
    report = await engine.run_once()
    assert report.ok, report.failures
    [ticket] = harness.tickets_for(incident["sys_id"])
    link = engine.store.get_link(sys_id=incident["sys_id"])
    assert link is not None and not link.adopted and link.ticket_id == ticket["id"]


async def test_another_integrations_numeric_correlation_id_does_not_adopt_an_unrelated_ticket(
    harness: Harness,
) -> None:
    """correlation_id is often another integration's (a monitoring tool keeps its alert id "1" with
    its own correlation_display). When that number happens to be the id of an unrelated Autotask
    ticket, the incident must not be tied to it: the return trip would copy that ticket's status
    (resolve, close code) onto an incident it has nothing to do with."""
    unrelated = harness.at.add_ticket(title="Printer toner, another customer")
    incident = harness.incident(correlation_id=str(unrelated), correlation_display="MON-ALERT-1")
    engine = harness.engine(harness.config(outbound={"auto_push": True}))
    report = await engine.run_once()
    assert report.ok, report.failures
    [ticket] = harness.tickets_for(incident["sys_id"])  # its own ticket, created
    link = engine.store.get_link(sys_id=incident["sys_id"])
    assert link is not None and not link.adopted and link.ticket_id == ticket["id"] != unrelated
