"""Domain test builders: an incident factory, the shipped config, and a tenant whose picklist ids are NOT
the commonly assumed ones (priority High=1 ... Critical=4, real-looking queue ids), so a test passes
only when labels are really resolved through metadata."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest

from app.config import AppConfig, OutboundConfig, parse_config
from app.domain.records import Incident, TicketMetadata

NOW = datetime(2024, 5, 1, 10, 0, 0, tzinfo=UTC)
SYS_ID = "9d385017c611228701d22104cc95c371"
COMPANY_ID = 29683770

STATUS = {
    "New": 1,
    "Complete": 5,
    "Waiting Customer": 7,
    "In Progress": 8,
    "Escalate": 11,
    "Waiting Vendor": 12,
}
PRIORITY = {"High": 1, "Medium": 2, "Low": 3, "Critical": 4}
QUEUE = {"Level I Support": 29683482, "Network Team": 29683490, "DBA": 29683495, "Post Sale": 29682833}

IncidentFactory = Callable[..., Incident]


def picklist(values: dict[str, int], inactive: dict[str, int] | None = None) -> list[dict[str, Any]]:
    """Picklist entries as /Tickets/entityInformation/fields sends them: values are strings."""
    entries = [
        {
            "value": str(value),
            "label": label,
            "isDefaultValue": index == 0,
            "sortOrder": index,
            "parentValue": "",
            "isActive": True,
            "isSystem": label in ("New", "Complete", "Waiting Customer"),
        }
        for index, (label, value) in enumerate(values.items())
    ]
    for label, value in (inactive or {}).items():
        entries.append(
            {
                "value": str(value),
                "label": label,
                "isDefaultValue": False,
                "sortOrder": 99,
                "parentValue": "",
                "isActive": False,
                "isSystem": False,
            }
        )
    return entries


def wire_field(
    name: str,
    data_type: str = "string",
    *,
    length: int = 0,
    required: bool = False,
    read_only: bool = False,
    values: list[dict[str, Any]] | None = None,
    reference: str = "",
) -> dict[str, Any]:
    return {
        "name": name,
        "dataType": data_type,
        "length": length,
        "isRequired": required,
        "isReadOnly": read_only,
        "isQueryable": True,
        "isReference": bool(reference),
        "referenceEntityType": reference,
        "isPickList": values is not None,
        "picklistValues": values,
        "picklistParentValueField": "",
        "isSupportedWebhookField": True,
    }


def tenant_fields(**overrides: dict[str, Any]) -> list[dict[str, Any]]:
    """The tenant's ticket field metadata; ``overrides`` replace or add whole field items by name."""
    items = {
        "id": wire_field("id", "long", required=True, read_only=True),
        "ticketNumber": wire_field("ticketNumber", length=50, read_only=True),
        "title": wire_field("title", length=255, required=True),
        "description": wire_field("description", length=8000),
        "companyID": wire_field("companyID", "integer", required=True, reference="Company"),
        "status": wire_field(
            "status", "integer", required=True, values=picklist(STATUS, inactive={"Retired": 20})
        ),
        "priority": wire_field(
            "priority", "integer", required=True, values=picklist(PRIORITY, inactive={"Urgent (old)": 6})
        ),
        "queueID": wire_field("queueID", "integer", values=picklist(QUEUE)),
        "issueType": wire_field("issueType", "integer", values=picklist({"Hardware": 9, "Software": 10})),
        "dueDateTime": wire_field("dueDateTime", "datetime", required=True),
        "externalID": wire_field("externalID", length=50),
        "resolution": wire_field("resolution", length=32000),
        "createDate": wire_field("createDate", "datetime", required=True, read_only=True),
        "contactID": wire_field("contactID", "integer", reference="Contact"),
    }
    items.update(overrides)
    return list(items.values())


@pytest.fixture(scope="session")
def metadata() -> TicketMetadata:
    return TicketMetadata.from_wire(tenant_fields())


@pytest.fixture(scope="session")
def config() -> AppConfig:
    """The shipped defaults, with the company id a real installation sets."""
    defaults = parse_config({}, "default-config.toml")
    outbound = defaults.outbound.model_copy(update={"company_id": COMPANY_ID})
    return defaults.model_copy(update={"outbound": outbound})


@pytest.fixture(scope="session")
def outbound(config: AppConfig) -> OutboundConfig:
    return config.outbound


def build_incident(**overrides: Any) -> Incident:
    values: dict[str, Any] = {
        "sys_id": SYS_ID,
        "number": "INC0010002",
        "short_description": "Email server down",
        "description": "Users cannot send mail since 09:40.",
        "category": "software",
        "active": True,
        "state": 1,
        "impact": 2,
        "urgency": 2,
        "priority": 3,
        "sys_updated_on": NOW,
    }
    values.update(overrides)
    return Incident(**values)


@pytest.fixture(scope="session")
def make_incident() -> IncidentFactory:
    """A factory (session-scoped so Hypothesis tests may use it): ``make_incident(category="network")``."""
    return build_incident
