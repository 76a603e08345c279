"""Writes to the incident respect it and are verified: closed incidents are never written, a field an
ACL ignored or a business rule reverted is a visible warning (and what the instance holds is
stored), a correlation_id owned by another integration is left alone, and the close code is checked
against the instance's own choices before the first resolve."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qs

import pytest
from engine_harness import Harness, pushed, ticket_id

from app.connectors.errors import Rejected
from app.engine import connections
from app.secrets import Secret
from app.store import AuditOutcome, WritebackState


def incident_patches(harness: Harness) -> list[Any]:
    return [w for w in harness.sn.api_writes() if w.action == "update"]


def incident_reads(harness: Harness) -> list[str]:
    """The sysparm_query of every incident list GET (the poll and the return trip's batched read)."""
    return [
        parse_qs(entry.query).get("sysparm_query", [""])[0]
        for entry in harness.sn.requests.entries("GET", "/table/incident")
        if entry.path.endswith("/incident")
    ]


async def test_a_foreign_correlation_id_is_left_alone(harness: Harness) -> None:
    incident = harness.incident(correlation_id="JIRA-4711", correlation_display="JIRA-4711")
    engine = harness.engine(harness.config(outbound={"auto_push": True}))
    report = await engine.run_once()
    assert report.ok, report.failures
    [ticket] = harness.tickets_for(incident["sys_id"])
    record = harness.sn.get_record(incident["sys_id"])
    assert (record["correlation_id"], record["correlation_display"]) == ("JIRA-4711", "JIRA-4711")
    assert len(harness.writeback_notes(incident["sys_id"])) == 1  # the incident still hears of it
    link = engine.store.get_link(sys_id=incident["sys_id"])
    assert link is not None and link.ticket_id == ticket["id"]
    assert link.writeback_state == WritebackState.DONE
    assert link.note is not None and "JIRA-4711" in link.note and "left unchanged" in link.note
    # Further cycles neither push again nor touch the foreign value.
    again = await engine.run_once()
    assert again.ok and again.pushed == 0
    assert len(harness.tickets_for(incident["sys_id"])) == 1
    assert harness.sn.get_record(incident["sys_id"])["correlation_id"] == "JIRA-4711"


async def test_a_foreign_correlation_display_alone_is_left_alone_too(harness: Harness) -> None:
    incident = harness.incident(correlation_display="Vendor case 88")
    engine = harness.engine(harness.config(outbound={"auto_push": True}))
    assert (await engine.run_once()).ok
    record = harness.sn.get_record(incident["sys_id"])
    assert (record["correlation_id"], record["correlation_display"]) == ("", "Vendor case 88")
    assert len(harness.writeback_notes(incident["sys_id"])) == 1
    link = engine.store.get_link(sys_id=incident["sys_id"])
    assert link is not None and link.note is not None and "correlation_display" in link.note


async def test_closed_incidents_are_skipped_with_a_visible_reason(harness: Harness) -> None:
    engine, [closed, cancelled, open_one] = await pushed(harness, 3)
    harness.sn.update_incident(
        closed["sys_id"], state="7", close_code="Solution provided", close_notes="Closed by phone"
    )
    harness.sn.update_incident(cancelled["sys_id"], state="8")
    writes_before = len(incident_patches(harness))
    harness.sn.requests.clear()
    for incident in (closed, cancelled, open_one):
        harness.at.technician_update(ticket_id(harness, incident["sys_id"]), status="In Progress")
    report = await engine.run_once()
    assert report.ok, report.failures  # a skip is not a failure
    assert report.applied == 1
    patches = incident_patches(harness)[writes_before:]
    assert [w.sys_id for w in patches] == [open_one["sys_id"]]
    for incident, label in ((closed, "Closed"), (cancelled, "Canceled")):
        link = engine.store.get_link(sys_id=incident["sys_id"])
        assert link is not None and link.note is not None and label in link.note
        [event] = [e for e in engine.store.list_audit(sys_id=incident["sys_id"]) if e.kind == "skip"]
        assert event.outcome == AuditOutcome.SKIPPED and label in event.summary
    # One batched read of the incidents about to change, not one GET per change.
    batched = [q for q in incident_reads(harness) if q.startswith("sys_idIN")]
    assert len(batched) == 1 and all(i["sys_id"] in batched[0] for i in (closed, cancelled, open_one))
    assert harness.sn.requests.count("GET", f"/table/incident/{open_one['sys_id']}") == 0


async def test_a_reverted_write_is_a_warning_and_what_the_instance_holds_is_stored(
    harness: Harness,
) -> None:
    engine, [incident] = await pushed(harness)
    tid = ticket_id(harness, incident["sys_id"])
    harness.at.technician_update(tid, status="In Progress")
    assert (await engine.run_once()).applied == 1
    harness.sn.settings.reverting_rule_fields = {"state"}
    harness.at.technician_update(tid, status="Complete", resolution="Disk replaced")
    report = await engine.run_once()
    assert report.ok, report.failures
    assert harness.sn.get_record(incident["sys_id"])["state"] == "2"
    [event] = [e for e in engine.store.list_audit(sys_id=incident["sys_id"]) if "instance kept" in e.summary]
    assert "sent state 6, instance kept 2" in event.summary
    assert event.outcome == AuditOutcome.FAILED  # shown as a warning, not as "updated"
    assert json.loads(event.response_body or "{}")["state"] == "2"  # what the instance holds
    link = engine.store.get_link(sys_id=incident["sys_id"])
    assert link is not None and link.note is not None and "sent state 6, instance kept 2" in link.note
    # Not sent again and again: the ticket's value counts as synced.
    writes = len(incident_patches(harness))
    assert (await engine.run_once()).ok
    assert len(incident_patches(harness)) == writes


async def test_a_field_the_acl_ignored_is_a_warning(harness: Harness) -> None:
    engine, [incident] = await pushed(harness)
    harness.sn.settings.acl_read_only_fields = {"impact", "urgency"}
    harness.at.technician_update(ticket_id(harness, incident["sys_id"]), priority="Critical")
    report = await engine.run_once()
    assert report.ok, report.failures
    summaries = [e.summary for e in engine.store.list_audit(sys_id=incident["sys_id"])]
    assert any("sent impact 1, instance kept 3" in s for s in summaries), summaries


async def test_an_unknown_close_code_stops_the_resolve_before_it_is_sent(harness: Harness) -> None:
    incident = harness.incident()
    config = harness.config(
        outbound={"auto_push": True},
        return_trip={"status": {"Complete": {"state": 6, "close_code": "Fixed it"}}},
    )
    engine = harness.engine(config)
    assert (await engine.run_once()).ok
    harness.at.technician_update(ticket_id(harness, incident["sys_id"]), status="Complete", resolution="Done")
    writes = len(incident_patches(harness))
    report = await engine.run_once()
    assert not report.ok
    assert any("'Fixed it'" in f and "Solution provided" in f for f in report.failures), report.failures
    assert len(incident_patches(harness)) == writes  # nothing sent
    assert harness.sn.get_record(incident["sys_id"])["state"] != "6"
    # The same check in Test connection: connected, but not usable as configured.
    with pytest.raises(Rejected) as refused:
        await engine.test_connection("servicenow")
    assert "Connected" in str(refused.value) and "'Fixed it'" in str(refused.value)


async def test_settings_test_connection_checks_the_close_codes(harness: Harness) -> None:
    """The Settings dialog's Test connection (unsaved settings, no engine) checks them too."""
    password = Secret(harness.sn.settings.password)
    good = harness.config()
    message = await connections.test_servicenow(good.servicenow, password, return_trip=good.return_trip)
    assert message.startswith("Connected")
    bad = harness.config(return_trip={"default_close_code": "Fixed it"})
    with pytest.raises(Rejected, match="return_trip.default_close_code: close code 'Fixed it'"):
        await connections.test_servicenow(bad.servicenow, password, return_trip=bad.return_trip)
