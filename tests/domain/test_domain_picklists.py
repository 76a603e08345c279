"""Picklists that follow the tenant: parent/child labels, field names in any case, unknown ids."""

from __future__ import annotations

from typing import Any

import pytest
from domain_helpers import NOW, STATUS, IncidentFactory, picklist, tenant_fields, wire_field

from app.config import ConstantRule, OutboundConfig, ReturnTripConfig
from app.domain.outbound import preview
from app.domain.records import Ticket, TicketMetadata
from app.domain.return_trip import plan_update, unknown_ids

ISSUE = {"Hardware": 9, "Software": 10, "Network": 12}
# Child labels repeat under several parents, as on real tenants.
SUB_ISSUES: list[tuple[int, str, int]] = [
    (136, "Server", 9),
    (137, "Other", 9),
    (140, "Licensing", 10),
    (141, "Other", 10),
    (142, "General", 10),
    (150, "Other", 12),
    (151, "General", 12),
]


def sub_issue_field() -> dict[str, Any]:
    entries = [
        {
            "value": str(value),
            "label": label,
            "isDefaultValue": False,
            "sortOrder": index,
            "parentValue": str(parent),
            "isActive": True,
            "isSystem": False,
        }
        for index, (value, label, parent) in enumerate(SUB_ISSUES)
    ]
    field = wire_field("subIssueType", "integer", values=entries)
    field["picklistParentValueField"] = "issueType"
    return field


def tenant() -> TicketMetadata:
    return TicketMetadata.from_wire(
        tenant_fields(
            issueType=wire_field("issueType", "integer", values=picklist(ISSUE)),
            subIssueType=sub_issue_field(),
        )
    )


def with_rules(outbound: OutboundConfig, **labels: str) -> OutboundConfig:
    fields = dict(outbound.fields)
    for target, label in labels.items():
        fields[target] = ConstantRule(rule="constant", value=label)
    return outbound.model_copy(update={"fields": fields})


def test_child_label_resolves_under_its_parent(
    outbound: OutboundConfig, make_incident: IncidentFactory
) -> None:
    meta = tenant()
    for parent, expected in (("Software", 141), ("Network", 150), ("Hardware", 137)):
        draft = preview(
            make_incident(), with_rules(outbound, issueType=parent, subIssueType="Other"), meta, now=NOW
        )
        assert draft.ok, draft.errors
        assert draft.payload["subIssueType"] == expected
        field = draft.field("subIssueType")
        assert field is not None and field.display == f"{parent} › Other"  # the preview shows the pair


def test_child_label_not_under_its_parent_is_refused_with_the_valid_ones(
    outbound: OutboundConfig, make_incident: IncidentFactory
) -> None:
    draft = preview(
        make_incident(),
        with_rules(outbound, issueType="Hardware", subIssueType="Licensing"),
        tenant(),
        now=NOW,
    )
    assert not draft.ok
    [error] = [e for e in draft.errors if e.startswith("subIssueType")]
    assert "'Licensing' is not an active Autotask subIssueType label under issueType 'Hardware'" in error
    assert "valid labels: Server, Other" in error


def test_repeated_child_label_without_a_parent_is_refused(
    outbound: OutboundConfig, make_incident: IncidentFactory
) -> None:
    draft = preview(make_incident(), with_rules(outbound, subIssueType="General"), tenant(), now=NOW)
    [error] = [e for e in draft.errors if e.startswith("subIssueType")]
    assert "under several issueType values" in error and "Software, Network" in error
    unique = preview(make_incident(), with_rules(outbound, subIssueType="Licensing"), tenant(), now=NOW)
    assert unique.payload.get("subIssueType") == 140  # a label under one parent needs no parent rule


def _pascal(name: str) -> str:
    return name[:1].upper() + name[1:]


def test_field_names_in_another_case(outbound: OutboundConfig, make_incident: IncidentFactory) -> None:
    """PascalCase names (and keys) have been seen in real entityInformation/fields answers."""
    fields: list[dict[str, Any]] = []
    for item in tenant_fields():
        renamed = {**item, "name": _pascal(str(item["name"]))}
        if item["name"] == "status":  # keys in another case, too
            renamed = {_pascal(key): value for key, value in renamed.items()}
        fields.append(renamed)
    meta = TicketMetadata.from_wire(fields)
    assert meta.id_for_label("status", "In Progress") == STATUS["In Progress"]
    assert meta.label_for_id("STATUS", STATUS["New"]) == "New"
    assert meta.field("queueid") is not None
    draft = preview(make_incident(), outbound, meta, now=NOW)
    assert draft.ok, draft.errors
    assert draft.payload["status"] == STATUS["New"]
    assert not any(key[:1].isupper() for key in draft.payload)  # records keep the API's spelling


def test_a_ticket_that_omits_a_null_field_reads_as_null() -> None:
    ticket = Ticket.from_wire({"id": 5, "Status": 1, "priority": 2})
    assert ticket.status == 1 and ticket.resolution == "" and ticket.due_date_time is None


def test_unknown_status_id_is_never_stored_as_last_synced() -> None:
    meta = tenant()
    ticket = Ticket(id=5, ticket_number="T1", status=77, priority=1)  # 77: added in Autotask just now
    config = ReturnTripConfig()
    update = plan_update(ticket, meta, {"status": "New", "priority": "High"}, config)
    assert update.synced["status"] == "New"  # not "#77": the change is applied once the label is known
    assert update.empty
    assert any("77" in warning for warning in update.warnings)


@pytest.mark.parametrize("field_name", ["status", "priority"])
def test_unknown_ids_are_reported(field_name: str) -> None:
    meta = tenant()
    ticket = Ticket(id=5, **{field_name: 99})
    assert meta.label_for_id(field_name, 99) is None
    assert unknown_ids(ticket, meta) == [(field_name, 99)]
