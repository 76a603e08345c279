"""The impact of a rule change, computed from real rule objects, snapshots, picklists and links."""

from __future__ import annotations

from typing import Any

from domain_helpers import COMPANY_ID, NOW, build_incident

from app.config import AppConfig, parse_config
from app.domain.impact import (
    HeldIncident,
    LinkedValues,
    changed_rules,
    combine,
    compute_impact,
    held_impact,
    links_impact,
    return_targets,
)
from app.domain.records import TicketMetadata


def rules(**sections: Any) -> AppConfig:
    """The shipped defaults (with a company id) plus the given TOML-shaped overrides."""
    data: dict[str, Any] = {"outbound": {"company_id": COMPANY_ID}}
    for name, value in sections.items():
        data.setdefault(name, {}).update(value)
    return parse_config(data, "test.toml")


def queued(number: int, **fields: Any) -> HeldIncident:
    sys_id = f"{number:032x}"
    return HeldIncident(build_incident(sys_id=sys_id, number=f"INC{number:07d}", **fields), queued=True)


def test_priority_map_change_counts_altered_tickets_by_field(metadata: TicketMetadata) -> None:
    old = rules()
    new = rules(
        outbound={
            "fields": {
                "priority": {
                    "rule": "value_map",
                    "source": "priority",
                    "default": "Medium",
                    "map": {"1": "Critical", "2": "Critical", "3": "High", "4": "Low", "5": "Low"},
                }
            }
        }
    )
    held = [queued(1, priority=2), queued(2, priority=3), queued(3, priority=4)]
    report = compute_impact(old, new, held, [], metadata, now=NOW)

    assert [item.number for item in report.altered] == ["INC0000001", "INC0000002"]
    first = report.altered[0].diffs
    # The due time follows the priority: both fields change, and the report names both.
    assert [(d.field, d.before, d.after) for d in first][0] == ("priority", "High", "Critical")
    assert report.field_counts == {"priority": 2, "dueDateTime": 2}
    assert report.rules_changed == ("outbound.fields.priority",)
    assert report.changes_queued
    assert report.summary()[0] == "this change alters 2 queued tickets (priority on 2, dueDateTime on 2)"


def test_label_the_tenant_lacks_is_a_new_preflight_failure(metadata: TicketMetadata) -> None:
    new = rules(outbound={"fields": {"priority": {"rule": "constant", "value": "Urgent"}}})
    report = compute_impact(rules(), new, [queued(1)], [], metadata, now=NOW)

    assert [item.number for item in report.newly_failing] == ["INC0000001"]
    assert "'Urgent' is not an active Autotask priority label" in report.newly_failing[0].detail
    assert any(line.startswith("1 queued item would fail pre-flight: priority:") for line in report.summary())


def test_trigger_change_finds_newly_matching_and_no_longer_matching(metadata: TicketMetadata) -> None:
    wider = rules(
        trigger={
            "conditions": [
                {"field": "active", "op": "equals", "value": "true"},
                {"field": "category", "op": "in", "values": ["software", "inquiry"]},
            ]
        }
    )
    held = [
        queued(1, category="software"),
        queued(2, category="network"),  # queued under the saved rule, not under the new one
        HeldIncident(build_incident(sys_id="a" * 32, number="INC0000009", category="inquiry"), queued=False),
    ]
    report = compute_impact(rules(), wider, held, [], metadata, now=NOW)

    assert [item.number for item in report.newly_matching] == ["INC0000009"]
    assert [item.number for item in report.no_longer_matching] == ["INC0000002"]
    assert "not one of software, inquiry" in report.no_longer_matching[0].detail
    assert not report.altered
    assert report.rules_changed == ("trigger.conditions",)


def test_return_trip_change_against_linked_tickets_current_values(metadata: TicketMetadata) -> None:
    new = rules(
        return_trip={
            "status": {"Waiting Customer": {"state": 2, "hold_reason": ""}},
            "priority": {"Low": {"impact": 3, "urgency": 3}},
        }
    )
    links = [
        LinkedValues("INC0000001", "T20240501.0001", {"status": "Waiting Customer", "priority": "High"}),
        LinkedValues("INC0000002", "T20240501.0002", {"status": "In Progress", "priority": "Low"}),
        LinkedValues("INC0000003", "T20240501.0003", {"status": "In Progress", "priority": "High"}),
    ]
    report = compute_impact(rules(), new, [], links, metadata, now=NOW)

    changed = {item.number: item.diffs for item in report.returns_altered}
    assert set(changed) == {"INC0000001 (ticket T20240501.0001)", "INC0000002 (ticket T20240501.0002)"}
    (state,) = changed["INC0000001 (ticket T20240501.0001)"]
    assert (state.field, state.before, state.after) == (
        "state",
        "3 (On Hold), hold reason 1",
        "2 (In Progress)",
    )
    assert report.return_field_counts == {"state": 1, "impact/urgency": 1}
    assert not report.changes_queued and report.changes_anything
    assert set(report.rules_changed) == {"return_trip.status.Waiting Customer", "return_trip.priority.Low"}


def test_unmapped_label_and_return_trip_off_are_reported() -> None:
    config = rules()
    assert return_targets(config.return_trip, {"status": "Escalate"}) == {"state": "(no rule)"}
    assert return_targets(config.return_trip, {"status": "complete"})["state"] == (
        "6 (Resolved), close code Solution provided"
    )
    off = rules(return_trip={"enabled": False}).return_trip
    assert return_targets(off, {"status": "Complete", "priority": "High"}) == {
        "status": "(return trip off)",
        "priority": "(return trip off)",
    }


def test_unchanged_rules_report_nothing_and_missing_picklists_are_noted() -> None:
    report = compute_impact(rules(), rules(), [queued(1)], [], None, now=NOW)
    assert not report.changes_anything
    assert report.summary()[0] == "the rules are unchanged"
    assert "picklists are not in the store yet" in report.summary()[-1]
    assert changed_rules(rules(), rules()) == ()


def test_details_list_every_affected_record(metadata: TicketMetadata) -> None:
    new = rules(outbound={"fields": {"status": {"rule": "constant", "value": "In Progress"}}})
    report = compute_impact(rules(), new, [queued(1), queued(2)], [], metadata, now=NOW)
    assert report.details() == [
        "queued tickets that change:",
        "  INC0000001: status 'New' -> 'In Progress'",
        "  INC0000002: status 'New' -> 'In Progress'",
    ]


def test_a_report_computed_in_slices_is_the_whole_report(metadata: TicketMetadata) -> None:
    new = rules(outbound={"fields": {"status": {"rule": "constant", "value": "In Progress"}}})
    held = [queued(n, priority=n % 5 + 1) for n in range(1, 8)]
    links = [LinkedValues("INC0000001", "T1", {"status": "Complete"})]
    whole = compute_impact(rules(), new, held, links, metadata, now=NOW)
    parts = [
        held_impact(rules(), new, held[start : start + 3], metadata, now=NOW) for start in range(0, 7, 3)
    ]
    assert combine([*parts, links_impact(rules(), new, links)], picklists_known=True) == whole
    assert whole.queued_checked == 7 and len(whole.altered) == 7 and whole.field_counts == {"status": 7}
