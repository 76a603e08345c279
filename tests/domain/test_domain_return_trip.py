"""Return trip: ticket status/priority changes -> one incident PATCH, with no echoes and no no-op writes."""

from __future__ import annotations

import pytest
from domain_helpers import NOW, PRIORITY, STATUS, IncidentFactory
from hypothesis import given, settings
from hypothesis import strategies as st

from app.config import AppConfig, OutboundConfig, ReturnTripConfig
from app.domain.outbound import outbound_synced_values, preview
from app.domain.records import Ticket, TicketMetadata
from app.domain.return_trip import FieldChange, plan_update, ticket_values

NUMBER = "T20240501.0001"
PUSHED = {"status": "New", "priority": "Medium"}


def ticket(status: str = "New", priority: str = "Medium", resolution: str = "", **extra: object) -> Ticket:
    return Ticket.model_validate(
        {
            "id": 128926,
            "ticket_number": NUMBER,
            "status": STATUS[status],
            "priority": PRIORITY[priority],
            "resolution": resolution,
            **extra,
        }
    )


@pytest.fixture(scope="module")
def trip(config: AppConfig) -> ReturnTripConfig:
    return config.return_trip


def test_ticket_values_are_labels(metadata: TicketMetadata) -> None:
    values = ticket_values(ticket("Waiting Customer", "Critical", "Replaced PSU"), metadata)
    assert values == {"status": "Waiting Customer", "priority": "Critical", "resolution": "Replaced PSU"}
    unknown = Ticket(id=1, status=99, priority=None)
    # An id the picklists do not know is left out, never stored as "#99" (issue 11).
    assert ticket_values(unknown, metadata) == {"priority": "", "resolution": ""}


@pytest.mark.parametrize(
    ("status", "patch", "reason"),
    [
        ("In Progress", {"state": "2"}, "Autotask status 'In Progress' -> state 2 (In Progress)"),
        (
            "Waiting Customer",
            {"state": "3", "hold_reason": "1"},
            "Autotask status 'Waiting Customer' -> state 3 (On Hold)",
        ),
        (
            "Waiting Vendor",
            {"state": "3", "hold_reason": "4"},
            "Autotask status 'Waiting Vendor' -> state 3 (On Hold)",
        ),
    ],
)
def test_status_rows(
    metadata: TicketMetadata, trip: ReturnTripConfig, status: str, patch: dict[str, str], reason: str
) -> None:
    update = plan_update(ticket(status), metadata, PUSHED, trip)
    work_note = update.patch.pop("work_notes")
    assert update.patch == patch
    assert work_note == f"Autotask ticket {NUMBER} changed: status 'New' -> '{status}' (Triage Sync)."
    assert update.changes[0] == FieldChange("state", None, patch["state"], reason)
    assert update.synced == {"status": status, "priority": "Medium", "resolution": ""}
    assert update.warnings == ()


def test_complete_resolves_with_close_fields_in_the_same_patch(
    metadata: TicketMetadata, trip: ReturnTripConfig
) -> None:
    update = plan_update(ticket("Complete", resolution="Replaced the\x00 PSU."), metadata, PUSHED, trip)
    assert update.patch == {
        "state": "6",
        "close_code": "Solution provided",
        "close_notes": "Replaced the PSU.",
        "work_notes": f"Autotask ticket {NUMBER} changed: status 'New' -> 'Complete' (Triage Sync).",
    }
    assert [change.field for change in update.changes] == ["state", "close_code", "close_notes"]


def test_complete_without_resolution_uses_the_default_notes(
    metadata: TicketMetadata, trip: ReturnTripConfig
) -> None:
    update = plan_update(ticket("Complete", resolution="  "), metadata, PUSHED, trip)
    assert update.patch["close_notes"] == f"Resolved in Autotask ticket {NUMBER}."
    assert update.patch["close_code"] == "Solution provided"


def test_default_close_code_when_the_rule_has_none(metadata: TicketMetadata, trip: ReturnTripConfig) -> None:
    rules = dict(trip.status)
    rules["Complete"] = rules["Complete"].model_copy(
        update={"close_code": None, "close_notes_from_resolution": False}
    )
    custom = trip.model_copy(update={"status": rules, "default_close_code": "Workaround provided"})
    update = plan_update(ticket("Complete", resolution="ignored"), metadata, PUSHED, custom)
    assert update.patch["close_code"] == "Workaround provided"
    assert update.patch["close_notes"] == f"Resolved in Autotask ticket {NUMBER}."


@pytest.mark.parametrize(
    ("priority", "impact", "urgency"),
    [("Critical", "1", "1"), ("High", "1", "2"), ("Medium", "2", "2"), ("Low", "2", "3")],
)
def test_priority_rows_set_impact_and_urgency_never_priority(
    metadata: TicketMetadata, trip: ReturnTripConfig, priority: str, impact: str, urgency: str
) -> None:
    update = plan_update(ticket(priority=priority), metadata, {"status": "New", "priority": "unknown"}, trip)
    assert "priority" not in update.patch
    assert (update.patch["impact"], update.patch["urgency"]) == (impact, urgency)
    labels = {"1": "High", "2": "Medium", "3": "Low"}
    assert update.changes[0].reason == (
        f"Autotask priority '{priority}' -> impact {impact} ({labels[impact]}), "
        f"urgency {urgency} ({labels[urgency]})"
    )


def test_unchanged_values_produce_nothing(metadata: TicketMetadata, trip: ReturnTripConfig) -> None:
    update = plan_update(
        ticket("Complete", "Critical"), metadata, {"status": "Complete", "priority": "Critical"}, trip
    )
    assert update.empty and update.patch == {} and update.changes == ()
    assert update.synced == {"status": "Complete", "priority": "Critical", "resolution": ""}


def test_only_the_changed_value_is_sent(metadata: TicketMetadata, trip: ReturnTripConfig) -> None:
    update = plan_update(
        ticket("In Progress", "Medium"), metadata, {"status": "New", "priority": "Medium"}, trip
    )
    assert set(update.patch) == {"state", "work_notes"}


def test_both_changes_go_in_one_patch_with_one_work_note(
    metadata: TicketMetadata, trip: ReturnTripConfig
) -> None:
    update = plan_update(ticket("In Progress", "Critical"), metadata, PUSHED, trip)
    assert update.patch == {
        "state": "2",
        "impact": "1",
        "urgency": "1",
        "work_notes": (
            f"Autotask ticket {NUMBER} changed: status 'New' -> 'In Progress', "
            "priority 'Medium' -> 'Critical' (Triage Sync)."
        ),
    }


def test_values_already_on_the_incident_are_not_sent(
    make_incident: IncidentFactory, metadata: TicketMetadata, trip: ReturnTripConfig
) -> None:
    already = make_incident(state=2, impact=1, urgency=2, priority=2)
    update = plan_update(ticket("In Progress", "High"), metadata, PUSHED, trip, already)
    assert update.empty and "work_notes" not in update.patch
    assert update.synced["status"] == "In Progress"

    half = make_incident(state=2, impact=1, urgency=3)
    update = plan_update(ticket("In Progress", "High"), metadata, PUSHED, trip, half)
    assert update.patch == {
        "urgency": "2",
        "work_notes": f"Autotask ticket {NUMBER} changed: priority 'Medium' -> 'High' (Triage Sync).",
    }
    assert update.changes == (
        FieldChange("urgency", "3", "2", "Autotask priority 'High' -> impact 1 (High), urgency 2 (Medium)"),
    )


def test_an_already_resolved_incident_keeps_its_close_fields(
    make_incident: IncidentFactory, metadata: TicketMetadata, trip: ReturnTripConfig
) -> None:
    resolved = make_incident(state=6, close_code="User error", close_notes="Fixed by the caller.")
    update = plan_update(ticket("Complete", resolution="Replaced PSU"), metadata, PUSHED, trip, resolved)
    assert update.empty


@pytest.mark.parametrize("state", [7, 8])
def test_closed_or_canceled_incidents_are_not_written(
    make_incident: IncidentFactory, metadata: TicketMetadata, trip: ReturnTripConfig, state: int
) -> None:
    update = plan_update(ticket("In Progress"), metadata, PUSHED, trip, make_incident(state=state))
    assert update.empty
    assert len(update.warnings) == 1 and "not written back" in update.warnings[0]
    assert update.synced["status"] == "In Progress"


def test_status_without_a_rule_is_a_warning_and_still_synced(
    metadata: TicketMetadata, trip: ReturnTripConfig
) -> None:
    update = plan_update(ticket("Escalate"), metadata, PUSHED, trip)
    assert update.empty
    assert update.warnings == ("no return-trip rule for Autotask status 'Escalate'; incident left unchanged",)
    assert update.synced["status"] == "Escalate"
    # next cycle: nothing new, no repeated warning
    again = plan_update(ticket("Escalate"), metadata, update.synced, trip)
    assert again.empty and again.warnings == ()


def test_disabled_return_trip_changes_nothing(metadata: TicketMetadata, trip: ReturnTripConfig) -> None:
    update = plan_update(
        ticket("Complete", "Critical"), metadata, PUSHED, trip.model_copy(update={"enabled": False})
    )
    assert update.empty and update.synced == PUSHED


def test_planning_incident_pushed_as_low_stays_planning(
    make_incident: IncidentFactory, outbound: OutboundConfig, metadata: TicketMetadata, trip: ReturnTripConfig
) -> None:
    planning = make_incident(impact=3, urgency=3, priority=5)
    pushed = preview(planning, outbound, metadata, now=NOW)
    assert pushed.payload["priority"] == PRIORITY["Low"]
    last_synced = outbound_synced_values(pushed)

    created = Ticket.model_validate(
        {
            "id": 128926,
            "ticket_number": NUMBER,
            "status": pushed.payload["status"],
            "priority": pushed.payload["priority"],
        }
    )
    update = plan_update(created, metadata, last_synced, trip, planning)
    assert update.empty  # impact/urgency stay 3/3, so ServiceNow keeps priority 5 - Planning

    # Without the stored values the return trip would "map back" Low -> impact 2/urgency 3 (= 4 - Low).
    naive = plan_update(created, metadata, {}, trip, planning)
    assert naive.patch["impact"] == "2"

    # A real change by a technician is still carried over.
    raised = created.model_copy(update={"priority": PRIORITY["High"]})
    assert plan_update(raised, metadata, update.synced, trip, planning).patch["impact"] == "1"


@settings(max_examples=200, deadline=None)
@given(
    status=st.sampled_from(list(STATUS)),
    priority=st.sampled_from(list(PRIORITY)),
    synced_status=st.sampled_from([*STATUS, ""]),
    synced_priority=st.sampled_from([*PRIORITY, ""]),
    resolution=st.text(max_size=50),
)
def test_plan_is_idempotent_and_never_sends_priority(
    metadata: TicketMetadata,
    trip: ReturnTripConfig,
    status: str,
    priority: str,
    synced_status: str,
    synced_priority: str,
    resolution: str,
) -> None:
    current = ticket(status, priority, resolution)
    update = plan_update(current, metadata, {"status": synced_status, "priority": synced_priority}, trip)
    assert "priority" not in update.patch
    assert all(isinstance(value, str) for value in update.patch.values())
    if update.patch.get("state") in ("6", "7"):
        assert update.patch["close_code"] and update.patch["close_notes"].strip()
    assert (not update.patch) or "work_notes" in update.patch
    assert plan_update(current, metadata, update.synced, trip).empty
