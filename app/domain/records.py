"""Typed records for the fields we use of a ServiceNow incident and an Autotask ticket.

Both systems' wire formats are parsed here, at the edge, by pure functions:
ServiceNow sends every value as a string (``"active": "false"``) and reference fields in several
shapes; Autotask sends ints on records and ISO 8601 UTC times. Unknown extra fields are ignored and
missing optional fields take defaults, so a payload change never breaks us.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict

from app.domain.metadata import TICKET_FIELDS, CaseBlind, FieldInfo, PicklistValue, TicketMetadata

SN_TIME_FORMAT = "%Y-%m-%d %H:%M:%S"

# ServiceNow incident state codes (ServiceNowDocs c_IncidentManagementStateModel.md).
INCIDENT_STATES: dict[int, str] = {
    1: "New",
    2: "In Progress",
    3: "On Hold",
    6: "Resolved",
    7: "Closed",
    8: "Canceled",
}
INCIDENT_PRIORITIES: dict[int, str] = {
    1: "1 - Critical",
    2: "2 - High",
    3: "3 - Moderate",
    4: "4 - Low",
    5: "5 - Planning",
}
# The fields we ask ServiceNow for (sysparm_fields); anything else is ignored.
INCIDENT_FIELDS: tuple[str, ...] = (
    "sys_id",
    "number",
    "short_description",
    "description",
    "category",
    "subcategory",
    "active",
    "state",
    "impact",
    "urgency",
    "priority",
    "caller_id",
    "assignment_group",
    "cmdb_ci",
    "correlation_id",
    "correlation_display",
    "hold_reason",
    "close_code",
    "close_notes",
    "opened_at",
    "sys_created_on",
    "sys_updated_on",
    "sys_mod_count",
)
# Names a template, copy or value_map rule may use besides INCIDENT_FIELDS (labels for display).
DERIVED_INCIDENT_FIELDS: tuple[str, ...] = ("priority_label", "state_label", "caller_name")
TEMPLATE_FIELDS: tuple[str, ...] = INCIDENT_FIELDS + DERIVED_INCIDENT_FIELDS


_SYS_ID = re.compile(r"[0-9a-fA-F]{32}")


def is_sys_id(value: str) -> bool:
    """A ServiceNow sys_id: exactly 32 hexadecimal characters (nothing that could add a path
    segment or an encoded-query term)."""
    return _SYS_ID.fullmatch(value) is not None


class WireFormatError(ValueError):
    """A field's value is not in the shape the API documents (names the field and the value)."""


def parse_sn_time(value: str) -> datetime:
    """Parse ServiceNow's zone-less ``YYYY-MM-DD HH:MM:SS`` (always UTC for a GMT integration user)."""
    try:
        return datetime.strptime(value.strip(), SN_TIME_FORMAT).replace(tzinfo=UTC)
    except ValueError as exc:
        raise WireFormatError(f"expected 'YYYY-MM-DD HH:MM:SS', got {value!r}") from exc


def format_sn_time(moment: datetime) -> str:
    return to_utc(moment).strftime(SN_TIME_FORMAT)


def parse_iso_time(value: str) -> datetime:
    """Parse Autotask's ISO 8601 (``2019-09-05T08:23:00.000Z``); a zone-less value is taken as UTC."""
    text = value.strip()
    if text.endswith("Z"):
        text = text[:-1] + "+00:00"
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError as exc:
        raise WireFormatError(f"expected an ISO 8601 time, got {value!r}") from exc
    return to_utc(parsed)


def format_iso_time(moment: datetime) -> str:
    """Autotask accepts ``yyyy-mm-ddThh:mm:ss.ms``; we always send UTC with a Z."""
    return to_utc(moment).strftime("%Y-%m-%dT%H:%M:%S.") + f"{to_utc(moment).microsecond // 1000:03d}Z"


def to_utc(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def sn_reference_value(raw: Any) -> str:
    """Accept every shape ServiceNow uses for a reference: ``""``, ``"<sys_id>"``,
    ``{"link","value"}``, ``{"display_value","value"[,"link"]}``, or ``{"display_value","link"}``."""
    if raw is None:
        return ""
    if isinstance(raw, Mapping):
        for key in ("value", "display_value"):
            candidate = raw.get(key)
            if isinstance(candidate, str) and candidate:
                return candidate
        return ""
    return str(raw)


def sn_display_value(raw: Any) -> str:
    """The display value of a field read with ``sysparm_display_value=all`` ("" when absent)."""
    if isinstance(raw, Mapping):
        candidate = raw.get("display_value")
        return candidate if isinstance(candidate, str) else ""
    return ""


def sn_scalar(raw: Any) -> str:
    """A plain ServiceNow field as a string; with ``display_value=all`` take the raw ``value``."""
    if raw is None:
        return ""
    if isinstance(raw, Mapping):
        return str(raw.get("value", raw.get("display_value", "")) or "")
    return str(raw)


def sn_bool(raw: Any, field: str) -> bool:
    text = sn_scalar(raw).strip().lower()
    if text in ("true", "1"):
        return True
    if text in ("false", "0", ""):
        return False
    raise WireFormatError(f"{field}: expected 'true' or 'false', got {text!r}")


def sn_int(raw: Any, field: str, default: int) -> int:
    text = sn_scalar(raw).strip()
    if not text:
        return default
    try:
        return int(text)
    except ValueError as exc:
        raise WireFormatError(f"{field}: expected a whole number, got {text!r}") from exc


class Incident(BaseModel):
    """A ServiceNow incident, typed. Reference fields hold the referenced sys_id (or display value)."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    sys_id: str
    number: str
    short_description: str = ""
    description: str = ""
    category: str = ""
    subcategory: str = ""
    active: bool = True
    state: int = 1
    impact: int = 3
    urgency: int = 3
    priority: int = 5
    caller_id: str = ""
    caller_name: str = ""  # the caller's display value, when the API sent one
    assignment_group: str = ""
    cmdb_ci: str = ""  # the configuration item (sys_id), what suspected duplicates compare
    cmdb_ci_name: str = ""  # its display value, when the API sent one
    correlation_id: str = ""
    correlation_display: str = ""
    hold_reason: str = ""
    close_code: str = ""
    close_notes: str = ""
    opened_at: datetime | None = None
    sys_created_on: datetime | None = None
    sys_updated_on: datetime
    sys_mod_count: int = 0

    @classmethod
    def from_wire(cls, raw: Mapping[str, Any]) -> Incident:
        """Parse one Table API record (``sysparm_display_value=false`` or ``all``)."""
        sys_id = sn_scalar(raw.get("sys_id")).strip()
        if not sys_id:
            raise WireFormatError("incident record has no sys_id")
        updated = sn_scalar(raw.get("sys_updated_on"))
        if not updated:
            raise WireFormatError(f"incident {sys_id} has no sys_updated_on")

        def optional_time(name: str) -> datetime | None:
            text = sn_scalar(raw.get(name))
            return parse_sn_time(text) if text else None

        return cls(
            sys_id=sys_id,
            number=sn_scalar(raw.get("number")),
            short_description=sn_scalar(raw.get("short_description")),
            description=sn_scalar(raw.get("description")),
            category=sn_scalar(raw.get("category")),
            subcategory=sn_scalar(raw.get("subcategory")),
            active=sn_bool(raw.get("active", "true"), "active"),
            state=sn_int(raw.get("state"), "state", 1),
            impact=sn_int(raw.get("impact"), "impact", 3),
            urgency=sn_int(raw.get("urgency"), "urgency", 3),
            priority=sn_int(raw.get("priority"), "priority", 5),
            caller_id=sn_reference_value(raw.get("caller_id")),
            caller_name=sn_display_value(raw.get("caller_id")),
            assignment_group=sn_reference_value(raw.get("assignment_group")),
            cmdb_ci=sn_reference_value(raw.get("cmdb_ci")),
            cmdb_ci_name=sn_display_value(raw.get("cmdb_ci")),
            correlation_id=sn_scalar(raw.get("correlation_id")),
            correlation_display=sn_scalar(raw.get("correlation_display")),
            hold_reason=sn_scalar(raw.get("hold_reason")),
            close_code=sn_scalar(raw.get("close_code")),
            close_notes=sn_scalar(raw.get("close_notes")),
            opened_at=optional_time("opened_at"),
            sys_created_on=optional_time("sys_created_on"),
            sys_updated_on=parse_sn_time(updated),
            sys_mod_count=sn_int(raw.get("sys_mod_count"), "sys_mod_count", 0),
        )

    def field_text(self, name: str) -> str:
        """The value of a field as ServiceNow would send it (strings; booleans as 'true'/'false')."""
        value = getattr(self, name)
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, datetime):
            return format_sn_time(value)
        return "" if value is None else str(value)

    def field_values(self) -> dict[str, str]:
        """Every field a rule may name (TEMPLATE_FIELDS) as text, for templates and value maps."""
        return {name: self.field_text(name) for name in TEMPLATE_FIELDS}

    @property
    def state_label(self) -> str:
        return INCIDENT_STATES.get(self.state, str(self.state))

    @property
    def priority_label(self) -> str:
        return INCIDENT_PRIORITIES.get(self.priority, str(self.priority))


def _at_int(raw: Mapping[str, Any], name: str) -> int | None:
    value = raw.get(name)
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise WireFormatError(f"{name}: expected a number, got {value!r}")
    try:
        return int(value)
    except (TypeError, ValueError) as exc:
        raise WireFormatError(f"{name}: expected a number, got {value!r}") from exc


def _at_str(raw: Mapping[str, Any], name: str) -> str:
    value = raw.get(name)
    return "" if value is None else str(value)


def _at_time(raw: Mapping[str, Any], name: str) -> datetime | None:
    value = raw.get(name)
    if value is None or value == "":
        return None
    return parse_iso_time(str(value))


class Ticket(BaseModel):
    """An Autotask ticket, typed. Picklist fields (status, priority, queueID...) hold ids."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    id: int
    ticket_number: str = ""
    title: str = ""
    description: str = ""
    company_id: int | None = None
    status: int | None = None
    priority: int | None = None
    queue_id: int | None = None
    issue_type: int | None = None
    sub_issue_type: int | None = None
    external_id: str = ""
    resolution: str = ""
    due_date_time: datetime | None = None
    create_date: datetime | None = None
    last_activity_date: datetime | None = None
    completed_date: datetime | None = None

    @classmethod
    def from_wire(cls, wire: Mapping[str, Any]) -> Ticket:
        """Field names match in any case; a field the answer leaves out is null."""
        raw = CaseBlind(wire)
        ticket_id = _at_int(raw, "id")
        if ticket_id is None:
            raise WireFormatError("ticket record has no id")
        return cls(
            id=ticket_id,
            ticket_number=_at_str(raw, "ticketNumber"),
            title=_at_str(raw, "title"),
            description=_at_str(raw, "description"),
            company_id=_at_int(raw, "companyID"),
            status=_at_int(raw, "status"),
            priority=_at_int(raw, "priority"),
            queue_id=_at_int(raw, "queueID"),
            issue_type=_at_int(raw, "issueType"),
            sub_issue_type=_at_int(raw, "subIssueType"),
            external_id=_at_str(raw, "externalID"),
            resolution=_at_str(raw, "resolution"),
            due_date_time=_at_time(raw, "dueDateTime"),
            create_date=_at_time(raw, "createDate"),
            last_activity_date=_at_time(raw, "lastActivityDate"),
            completed_date=_at_time(raw, "completedDate"),
        )


__all__ = [
    "DERIVED_INCIDENT_FIELDS",
    "INCIDENT_FIELDS",
    "INCIDENT_PRIORITIES",
    "INCIDENT_STATES",
    "SN_TIME_FORMAT",
    "TEMPLATE_FIELDS",
    "TICKET_FIELDS",  # the metadata names live in app.domain.metadata; re-exported for callers
    "CaseBlind",
    "FieldInfo",
    "Incident",
    "PicklistValue",
    "Ticket",
    "TicketMetadata",
    "WireFormatError",
    "format_iso_time",
    "format_sn_time",
    "parse_iso_time",
    "parse_sn_time",
    "sn_bool",
    "sn_display_value",
    "sn_int",
    "sn_reference_value",
    "sn_scalar",
    "to_utc",
]
