"""Outbound preview: every default mapping row, fallbacks, hygiene, picklists and pre-flight."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from domain_helpers import (
    COMPANY_ID,
    NOW,
    PRIORITY,
    QUEUE,
    STATUS,
    SYS_ID,
    IncidentFactory,
    build_incident,
    tenant_fields,
    wire_field,
)
from hypothesis import given, settings
from hypothesis import strategies as st

from app.config import ConstantRule, OutboundConfig, TemplateRule, ValueMapRule
from app.domain.outbound import PICKLIST_FIELDS, FieldPreview, Preview, outbound_synced_values, preview
from app.domain.records import TicketMetadata
from app.domain.text import utf16_len


def with_fields(outbound: OutboundConfig, **rules: Any) -> OutboundConfig:
    """A copy of ``outbound`` with some field rules replaced (None removes the rule)."""
    fields = dict(outbound.fields)
    for target, rule in rules.items():
        if rule is None:
            fields.pop(target, None)
        else:
            fields[target] = rule
    return outbound.model_copy(update={"fields": fields})


def field(result: Preview, target: str) -> FieldPreview:
    item = result.field(target)
    assert item is not None, f"no preview row for {target}"
    return item


def test_default_mapping_gives_the_exact_body(
    make_incident: IncidentFactory, outbound: OutboundConfig, metadata: TicketMetadata
) -> None:
    result = preview(make_incident(), outbound, metadata, now=NOW)

    assert result.ok, result.errors
    assert result.warnings == ()
    assert result.payload == {
        "title": "Email server down",
        "description": "Users cannot send mail since 09:40.\n\n--\nServiceNow incident INC0010002",
        "status": STATUS["New"],
        "priority": PRIORITY["Medium"],
        "queueID": QUEUE["Level I Support"],
        "dueDateTime": "2024-05-02T10:00:00.000Z",
        "companyID": COMPANY_ID,
        "externalID": SYS_ID,
    }
    assert json.loads(result.to_json()) == result.payload
    assert list(json.loads(result.to_json())) == list(result.payload)
    assert (result.sys_id, result.number) == (SYS_ID, "INC0010002")


def test_fields_come_in_a_stable_order_then_alphabetically(
    make_incident: IncidentFactory, outbound: OutboundConfig, metadata: TicketMetadata
) -> None:
    extra = with_fields(
        outbound,
        source=None,
        issueType=ConstantRule(rule="constant", value="Software"),
        contactID=ConstantRule(rule="constant", value=30682901),
    )
    result = preview(make_incident(), extra, metadata, now=NOW)

    targets = [item.target for item in result.fields]
    assert targets == [
        "title",
        "description",
        "status",
        "priority",
        "queueID",
        "dueDateTime",
        "companyID",
        "externalID",
        "contactID",
        "issueType",
    ]
    assert result.payload["issueType"] == 10
    assert result.payload["contactID"] == 30682901


@pytest.mark.parametrize(
    ("sn_priority", "label"),
    [(1, "Critical"), (2, "High"), (3, "Medium"), (4, "Low"), (5, "Low")],
)
def test_priority_rows_resolve_labels_to_tenant_ids(
    make_incident: IncidentFactory,
    outbound: OutboundConfig,
    metadata: TicketMetadata,
    sn_priority: int,
    label: str,
) -> None:
    result = preview(make_incident(priority=sn_priority), outbound, metadata, now=NOW)

    row = field(result, "priority")
    assert result.payload["priority"] == PRIORITY[label]
    assert (row.value, row.display) == (PRIORITY[label], label)
    assert row.sources == (("priority", str(sn_priority)),)
    assert row.rule == f"value map on priority: '{sn_priority}' -> '{label}'"
    assert row.warnings == ()


def test_status_is_the_constant_new(
    make_incident: IncidentFactory, outbound: OutboundConfig, metadata: TicketMetadata
) -> None:
    row = field(preview(make_incident(), outbound, metadata, now=NOW), "status")
    assert (row.value, row.display, row.rule) == (STATUS["New"], "New", "constant 'New'")


def test_queue_falls_back_to_default_queue_quietly_when_the_map_is_empty(
    make_incident: IncidentFactory, outbound: OutboundConfig, metadata: TicketMetadata
) -> None:
    row = field(preview(make_incident(category="hardware"), outbound, metadata, now=NOW), "queueID")
    assert (row.value, row.display) == (QUEUE["Level I Support"], "Level I Support")
    assert "outbound.default_queue" in row.rule
    assert row.warnings == ()


def test_queue_map_hit_and_miss(
    make_incident: IncidentFactory, outbound: OutboundConfig, metadata: TicketMetadata
) -> None:
    mapped = with_fields(
        outbound,
        queueID=ValueMapRule(
            rule="value_map",
            source="category",
            default="@default_queue",
            map={"network": "Network Team", "database": "DBA"},
        ),
    )
    hit = field(preview(make_incident(category="network"), mapped, metadata, now=NOW), "queueID")
    assert (hit.value, hit.display) == (QUEUE["Network Team"], "Network Team")
    assert hit.rule == "value map on category: 'network' -> 'Network Team'"
    assert hit.warnings == ()

    result = preview(make_incident(category="inquiry"), mapped, metadata, now=NOW)
    miss = field(result, "queueID")
    assert miss.value == QUEUE["Level I Support"]
    # A configured default is deliberate: said in the rule, not raised as a warning (issue 14).
    assert miss.warnings == ()
    assert (
        miss.rule == "value map on category: no entry for 'inquiry', outbound.default_queue 'Level I Support'"
    )
    assert result.warnings == ()
    assert result.ok


def test_default_queue_missing_is_an_error(
    make_incident: IncidentFactory, outbound: OutboundConfig, metadata: TicketMetadata
) -> None:
    result = preview(make_incident(), outbound.model_copy(update={"default_queue": ""}), metadata, now=NOW)
    assert field(result, "queueID").error == "outbound.default_queue is not set"
    assert "queueID" not in result.payload
    assert not result.ok


def test_unmapped_priority_uses_the_rule_default_without_a_warning(
    make_incident: IncidentFactory, outbound: OutboundConfig, metadata: TicketMetadata
) -> None:
    partial = with_fields(
        outbound,
        priority=ValueMapRule(rule="value_map", source="priority", default="Medium", map={"1": "Critical"}),
    )
    row = field(preview(make_incident(priority=4), partial, metadata, now=NOW), "priority")
    assert (row.value, row.display) == (PRIORITY["Medium"], "Medium")
    assert row.warnings == ()
    assert row.rule == "value map on priority: no entry for '4', default 'Medium'"


def test_unmapped_value_without_default_leaves_the_field_out(
    make_incident: IncidentFactory, outbound: OutboundConfig, metadata: TicketMetadata
) -> None:
    no_default = with_fields(
        outbound,
        issueType=ValueMapRule(rule="value_map", source="category", map={"hardware": "Hardware"}),
    )
    result = preview(make_incident(category="network"), no_default, metadata, now=NOW)
    row = field(result, "issueType")
    assert row.value is None and not row.sent
    assert row.warnings == ("unmapped value 'network' for category and no default; field left out",)
    assert "issueType" not in result.payload
    assert result.ok  # issueType is optional for this tenant


@pytest.mark.parametrize(
    ("sn_priority", "label", "due"),
    [
        (1, "Critical", "2024-05-01T14:00:00.000Z"),
        (2, "High", "2024-05-01T18:00:00.000Z"),
        (3, "Medium", "2024-05-02T10:00:00.000Z"),
        (4, "Low", "2024-05-04T10:00:00.000Z"),
        (5, "Low", "2024-05-04T10:00:00.000Z"),
    ],
)
def test_due_date_follows_the_priority_label(
    make_incident: IncidentFactory,
    outbound: OutboundConfig,
    metadata: TicketMetadata,
    sn_priority: int,
    label: str,
    due: str,
) -> None:
    row = field(preview(make_incident(priority=sn_priority), outbound, metadata, now=NOW), "dueDateTime")
    assert row.value == due
    assert row.sources == (("priority", label),)
    hours = {"Critical": 4, "High": 8, "Medium": 24, "Low": 72}[label]
    assert row.rule == f"due {hours} h after now because priority is {label}"


def test_due_date_for_a_label_without_hours_uses_the_default(
    make_incident: IncidentFactory, outbound: OutboundConfig, metadata: TicketMetadata
) -> None:
    always_high = with_fields(outbound, priority=ConstantRule(rule="constant", value="High"))
    rule = outbound.fields["dueDateTime"]
    no_high = rule.model_copy(update={"hours": {"Critical": 4}, "default_hours": 12})
    result = preview(make_incident(), with_fields(always_high, dueDateTime=no_high), metadata, now=NOW)
    row = field(result, "dueDateTime")
    assert row.value == "2024-05-01T22:00:00.000Z"
    assert row.warnings == ("no due-time entry for priority 'High'; used the default 12 h",)


def test_company_and_external_id_are_set_by_the_app(
    make_incident: IncidentFactory, outbound: OutboundConfig, metadata: TicketMetadata
) -> None:
    result = preview(make_incident(), outbound, metadata, now=NOW)
    company, external = field(result, "companyID"), field(result, "externalID")
    assert (company.value, company.rule) == (COMPANY_ID, "from configuration outbound.company_id")
    assert (external.value, external.rule) == (SYS_ID, "incident sys_id (prevents duplicate tickets)")
    assert external.sources == (("sys_id", SYS_ID),)


def test_company_id_zero_is_an_error(
    make_incident: IncidentFactory, outbound: OutboundConfig, metadata: TicketMetadata
) -> None:
    result = preview(make_incident(), outbound.model_copy(update={"company_id": 0}), metadata, now=NOW)
    assert field(result, "companyID").error == "outbound.company_id is not set"
    assert "companyID: outbound.company_id is not set" in result.errors
    assert "companyID" not in result.payload


def test_rules_for_app_owned_fields_are_ignored(
    make_incident: IncidentFactory, outbound: OutboundConfig, metadata: TicketMetadata
) -> None:
    sneaky = with_fields(outbound, externalID=ConstantRule(rule="constant", value="x"))
    result = preview(make_incident(), sneaky, metadata, now=NOW)
    assert result.payload["externalID"] == SYS_ID
    assert any("externalID" in warning and "ignored" in warning for warning in result.warnings)


def test_title_is_cut_to_the_rule_limit(
    make_incident: IncidentFactory, outbound: OutboundConfig, metadata: TicketMetadata
) -> None:
    result = preview(make_incident(short_description="x" * 300), outbound, metadata, now=NOW)
    row = field(result, "title")
    assert isinstance(row.value, str) and len(row.value) == 255 and row.value.endswith("…")
    assert row.warnings == (
        "cut to 255 characters (rule max_length and Autotask field length); the text had 300",
    )
    assert result.ok

    short = with_fields(
        outbound, title=TemplateRule(rule="template", template="{short_description}", max_length=80)
    )
    row = field(preview(make_incident(short_description="x" * 300), short, metadata, now=NOW), "title")
    assert isinstance(row.value, str) and len(row.value) == 80
    assert row.warnings == ("cut to 80 characters (rule max_length); the text had 300",)


def test_title_is_cut_to_the_tenant_limit_when_smaller(
    make_incident: IncidentFactory, outbound: OutboundConfig
) -> None:
    narrow = TicketMetadata.from_wire(tenant_fields(title=wire_field("title", length=100, required=True)))
    row = field(preview(make_incident(short_description="y" * 300), outbound, narrow, now=NOW), "title")
    assert isinstance(row.value, str) and len(row.value) == 100
    assert row.warnings == ("cut to 100 characters (Autotask field length); the text had 300",)


def test_limits_count_emoji_as_two_units_and_never_split_them(
    make_incident: IncidentFactory, outbound: OutboundConfig, metadata: TicketMetadata
) -> None:
    row = field(preview(make_incident(short_description="🔥" * 200), outbound, metadata, now=NOW), "title")
    assert isinstance(row.value, str)
    assert utf16_len(row.value) <= 255
    assert set(row.value) == {"🔥", "…"}
    assert row.value.encode("utf-8")  # no lone surrogate


def test_control_characters_are_stripped_but_layout_is_kept(
    make_incident: IncidentFactory, outbound: OutboundConfig, metadata: TicketMetadata
) -> None:
    incident = make_incident(
        short_description="Disk\x00 full\x1b[31m\x7f",
        description="line 1\r\n\tline 2\x0c",
    )
    result = preview(incident, outbound, metadata, now=NOW)
    title, description = field(result, "title"), field(result, "description")
    assert title.value == "Disk full[31m"
    assert title.warnings == ("removed 3 control characters",)
    assert isinstance(description.value, str) and description.value.startswith("line 1\r\n\tline 2\n")
    assert description.warnings == ("removed 1 control character",)
    assert result.ok


@pytest.mark.parametrize(
    "hostile",
    [
        "Outlook 🔥💥 crashes 👩‍💻",
        "\u202eevil.exe\u200f RTL \u200e mark",
        "<script>alert('x')</script> &amp; <b>bold</b>",
        "x^ORactive=false^NQcategory=hr",
        "{number} {0} {{ }} %s $(rm -rf /)",
        "'; DROP TABLE tickets; --",
    ],
)
def test_hostile_values_travel_intact(
    make_incident: IncidentFactory, outbound: OutboundConfig, metadata: TicketMetadata, hostile: str
) -> None:
    result = preview(
        make_incident(short_description=hostile, description=hostile), outbound, metadata, now=NOW
    )
    assert result.ok, result.errors
    assert result.payload["title"] == hostile
    assert result.payload["description"] == f"{hostile}\n\n--\nServiceNow incident INC0010002"
    assert json.loads(result.to_json())["title"] == hostile
    assert result.warnings == ()


def test_derived_names_are_offered_to_templates(
    make_incident: IncidentFactory, outbound: OutboundConfig, metadata: TicketMetadata
) -> None:
    titled = with_fields(
        outbound,
        title=TemplateRule(rule="template", template="[{priority_label}|{state_label}] {short_description}"),
    )
    row = field(preview(make_incident(priority=5, state=2), titled, metadata, now=NOW), "title")
    assert row.value == "[5 - Planning|In Progress] Email server down"
    assert ("priority_label", "5 - Planning") in row.sources


@pytest.mark.parametrize(
    ("template", "fragment"),
    [("{nonexistent}", "unknown field {nonexistent}"), ("{number.__class__}", "plain field name"), ("{", "")],
)
def test_bad_templates_are_field_errors_not_exceptions(
    make_incident: IncidentFactory,
    outbound: OutboundConfig,
    metadata: TicketMetadata,
    template: str,
    fragment: str,
) -> None:
    bad = with_fields(outbound, description=TemplateRule(rule="template", template=template))
    row = field(preview(make_incident(), bad, metadata, now=NOW), "description")
    assert row.error is not None and row.error.startswith("template error:") and fragment in row.error
    assert row.value is None


def test_picklists_not_loaded_is_an_error_per_picklist(
    make_incident: IncidentFactory, outbound: OutboundConfig
) -> None:
    result = preview(make_incident(), outbound, None, now=NOW)
    for target in ("status", "priority", "queueID"):
        assert field(result, target).error == "picklists not loaded yet"
        assert target not in result.payload
    assert field(result, "priority").display == "Medium"  # the intended label is still shown
    assert result.payload["dueDateTime"] == "2024-05-02T10:00:00.000Z"
    assert result.payload["title"] == "Email server down"
    assert not result.ok


def test_unknown_label_names_the_label_and_the_valid_ones(
    make_incident: IncidentFactory, outbound: OutboundConfig, metadata: TicketMetadata
) -> None:
    result = preview(
        make_incident(),
        with_fields(outbound, status=ConstantRule(rule="constant", value="Open")),
        metadata,
        now=NOW,
    )
    assert field(result, "status").error == (
        "'Open' is not an active Autotask status label; valid labels: "
        "New, Complete, Waiting Customer, In Progress, Escalate, Waiting Vendor"
    )
    assert "status: 'Open' is not an active Autotask status label" in result.errors[0]


def test_inactive_label_is_refused(
    make_incident: IncidentFactory, outbound: OutboundConfig, metadata: TicketMetadata
) -> None:
    retired = with_fields(outbound, status=ConstantRule(rule="constant", value="Retired"))
    row = field(preview(make_incident(), retired, metadata, now=NOW), "status")
    assert row.error is not None and row.error.startswith("'Retired' is not an active Autotask status label")


def test_labels_match_case_insensitively_and_display_autotask_spelling(
    make_incident: IncidentFactory, outbound: OutboundConfig, metadata: TicketMetadata
) -> None:
    lower = with_fields(outbound, status=ConstantRule(rule="constant", value="waiting customer"))
    row = field(preview(make_incident(), lower, metadata, now=NOW), "status")
    assert (row.value, row.display) == (STATUS["Waiting Customer"], "Waiting Customer")


def test_integer_constant_on_a_picklist_is_an_id(
    make_incident: IncidentFactory, outbound: OutboundConfig, metadata: TicketMetadata
) -> None:
    by_id = with_fields(outbound, status=ConstantRule(rule="constant", value=STATUS["Complete"]))
    row = field(preview(make_incident(), by_id, metadata, now=NOW), "status")
    assert (row.value, row.display) == (STATUS["Complete"], "Complete")

    unknown = with_fields(outbound, status=ConstantRule(rule="constant", value=777))
    assert field(preview(make_incident(), unknown, metadata, now=NOW), "status").error == (
        "id 777 is not an Autotask status value"
    )


def test_tenant_required_field_without_a_rule_is_an_error(
    make_incident: IncidentFactory, outbound: OutboundConfig
) -> None:
    strict = TicketMetadata.from_wire(
        tenant_fields(
            billingCodeID=wire_field("billingCodeID", "integer", required=True, reference="BillingCode")
        )
    )
    result = preview(make_incident(), outbound, strict, now=NOW)
    assert field(result, "billingCodeID").error == "required field billingCodeID is empty"
    assert "billingCodeID: required field billingCodeID is empty" in result.errors
    # read-only required fields (id, createDate) are Autotask's business, not ours
    assert result.field("id") is None and result.field("createDate") is None


def test_required_field_with_empty_value_is_an_error_even_without_metadata(
    make_incident: IncidentFactory, outbound: OutboundConfig
) -> None:
    result = preview(make_incident(short_description="   "), outbound, None, now=NOW)
    assert field(result, "title").error == "required field title is empty"


def test_missing_core_rules_are_errors(make_incident: IncidentFactory, metadata: TicketMetadata) -> None:
    bare = OutboundConfig(company_id=COMPANY_ID)
    result = preview(make_incident(), bare, metadata, now=NOW)
    assert set(result.errors) >= {
        "title: required field title is empty",
        "status: required field status is empty",
        "priority: required field priority is empty",
        "queueID: Autotask needs a queueID, or both assignedResourceID and assignedResourceRoleID",
        "dueDateTime: required field dueDateTime is empty",
    }
    assert result.payload == {"companyID": COMPANY_ID, "externalID": SYS_ID}


def test_text_for_an_integer_field_is_converted_or_refused(
    make_incident: IncidentFactory, outbound: OutboundConfig, metadata: TicketMetadata
) -> None:
    ok = with_fields(outbound, contactID=ConstantRule(rule="constant", value=" 30682901 "))
    assert preview(make_incident(), ok, metadata, now=NOW).payload["contactID"] == 30682901
    bad = with_fields(outbound, contactID=ConstantRule(rule="constant", value="Jane"))
    assert field(preview(make_incident(), bad, metadata, now=NOW), "contactID").error == (
        "Autotask expects a whole number here, got 'Jane'"
    )


def test_synced_values_are_the_labels_we_pushed(
    make_incident: IncidentFactory, outbound: OutboundConfig, metadata: TicketMetadata
) -> None:
    result = preview(make_incident(priority=5), outbound, metadata, now=NOW)
    assert outbound_synced_values(result) == {"status": "New", "priority": "Low"}
    assert outbound_synced_values(preview(make_incident(), outbound, None, now=NOW)) == {}


def test_picklist_fields_constant() -> None:
    assert {"status", "priority", "queueID", "serviceLevelAgreementID"} <= PICKLIST_FIELDS
    assert "title" not in PICKLIST_FIELDS


_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]")


@settings(max_examples=150, deadline=None)
@given(
    short_description=st.text(max_size=400),
    description=st.text(max_size=300),
    category=st.text(max_size=20),
    number=st.text(max_size=20),
    priority=st.integers(min_value=-3, max_value=9),
    with_metadata=st.booleans(),
)
def test_preview_never_raises_and_payload_is_always_clean(
    metadata: TicketMetadata,
    outbound: OutboundConfig,
    short_description: str,
    description: str,
    category: str,
    number: str,
    priority: int,
    with_metadata: bool,
) -> None:
    incident = build_incident(
        short_description=short_description,
        description=description,
        category=category,
        number=number,
        priority=priority,
    )
    result = preview(incident, outbound, metadata if with_metadata else None, now=NOW)

    assert None not in result.payload.values()
    json.dumps(result.payload, ensure_ascii=False).encode("utf-8")
    for target, value in result.payload.items():
        assert isinstance(value, int | str)
        if isinstance(value, str):
            assert not _CONTROL.search(value), target
    for target, limit in (("title", 255), ("description", 8000)):
        value = result.payload.get(target)
        if isinstance(value, str):
            assert utf16_len(value) <= limit
    for target in PICKLIST_FIELDS & result.payload.keys():
        assert isinstance(result.payload[target], int)
    if not with_metadata:
        assert not result.ok
    for item in result.fields:
        if item.error:
            assert f"{item.target}: {item.error}" in result.errors
