"""Per-ticket overrides (app.domain.overrides) and their effect on the payload and its explanation."""

from __future__ import annotations

from datetime import timedelta

from domain_helpers import NOW, PRIORITY, QUEUE, IncidentFactory

from app.config import OutboundConfig
from app.domain.outbound import preview
from app.domain.overrides import (
    FieldOverride,
    check_override,
    overrides_from_json,
    overrides_to_json,
)
from app.domain.records import TicketMetadata, format_iso_time


def by_anna(value: str) -> FieldOverride:
    return FieldOverride(value, "Anna", NOW)


def test_overrides_replace_the_mapped_values_in_the_payload_and_say_who(
    make_incident: IncidentFactory, outbound: OutboundConfig, metadata: TicketMetadata
) -> None:
    incident = make_incident(priority=3)  # the mapping gives Medium
    mapped = preview(incident, outbound, metadata, now=NOW)
    assert mapped.payload["priority"] == PRIORITY["Medium"]
    overrides = {
        "priority": by_anna("High"),
        "queueID": by_anna("Network Team"),
        "title": by_anna("Mail outage: sales floor"),
        "issueType": by_anna("Software"),  # no rule in the mapping at all
    }
    result = preview(incident, outbound, metadata, now=NOW, overrides=overrides)
    assert result.ok, result.errors
    assert result.payload["priority"] == PRIORITY["High"]
    assert result.payload["queueID"] == QUEUE["Network Team"]
    assert result.payload["title"] == "Mail outage: sales floor"
    assert result.payload["issueType"] == 10
    # The due time follows the overridden priority (High: 8 h), as the mapping's rule says.
    assert result.payload["dueDateTime"] == format_iso_time(NOW + timedelta(hours=8))
    priority = result.field("priority")
    assert priority is not None and priority.overridden_by == "Anna"
    assert priority.display == "High"
    assert priority.rule == "overridden by Anna (the mapping gave 'Medium')"
    issue = result.field("issueType")
    assert issue is not None and issue.rule == "overridden by Anna (the mapping gave no value)"
    untouched = result.field("status")
    assert untouched is not None and untouched.overridden_by is None
    # Everything not overridden is exactly what the mapping gives.
    for name in ("status", "description", "companyID", "externalID"):
        assert result.payload[name] == mapped.payload[name]


def test_an_override_the_tenant_does_not_know_blocks_the_push(
    make_incident: IncidentFactory, outbound: OutboundConfig, metadata: TicketMetadata
) -> None:
    result = preview(
        make_incident(), outbound, metadata, now=NOW, overrides={"queueID": by_anna("Retired Queue")}
    )
    assert not result.ok
    assert any(error.startswith("queueID: 'Retired Queue' is not an active") for error in result.errors)


def test_check_override_validates_labels_and_title_length(metadata: TicketMetadata) -> None:
    assert check_override("priority", "high", metadata) is None  # labels match in any case
    assert check_override("priority", "Urgent (old)", metadata) == (
        "'Urgent (old)' is not an active Autotask priority label"
    )
    assert check_override("title", "  ", metadata) == "the title must not be empty"
    assert check_override("title", "x" * 255, metadata) is None
    assert (
        check_override("title", "x" * 256, metadata)
        == "the title may have at most 255 characters (it has 256)"
    )
    assert check_override("title", "two\nlines", metadata) is not None
    assert check_override("companyID", "1", metadata) is not None
    assert check_override("queueID", "DBA", None) is not None  # picklists not loaded: cannot tell


def test_overrides_round_trip_through_json_and_ignore_junk() -> None:
    stored = overrides_to_json({"priority": by_anna("High")})
    assert overrides_from_json(stored) == {"priority": by_anna("High")}
    junk = {"priority": "High", "companyID": {"value": "1", "by": "x", "at": NOW.isoformat()}, "title": {}}
    assert overrides_from_json(junk) == {}
