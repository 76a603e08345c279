"""The values an incident field takes, for rule editors: ServiceNow's stock choices, plus every value
seen in the incidents we hold (an instance adds its own categories), plus those the rules already
name. Pure: callers pass what they have read.
"""

from __future__ import annotations

from collections.abc import Iterable

from app.domain.records import INCIDENT_PRIORITIES, INCIDENT_STATES, Incident

# Choice lists of a stock instance (sys_choice for incident); values are what the API sends.
STOCK_CHOICES: dict[str, dict[str, str]] = {
    "priority": {str(value): label for value, label in INCIDENT_PRIORITIES.items()},
    "state": {str(value): label for value, label in INCIDENT_STATES.items()},
    "impact": {"1": "1 - High", "2": "2 - Medium", "3": "3 - Low"},
    "urgency": {"1": "1 - High", "2": "2 - Medium", "3": "3 - Low"},
    "active": {"true": "active", "false": "not active"},
    "category": {
        "inquiry": "Inquiry / Help",
        "software": "Software",
        "hardware": "Hardware",
        "network": "Network",
        "database": "Database",
    },
    "hold_reason": {
        "1": "Awaiting Caller",
        "3": "Awaiting Problem",
        "4": "Awaiting Vendor",
        "5": "Awaiting Change",
    },
}
# Free-text fields: listing their values would list every incident's text.
FREE_TEXT = frozenset(
    {"sys_id", "number", "short_description", "description", "close_notes", "correlation_id"}
)


def field_choices(
    field: str, seen: Iterable[Incident] = (), named: Iterable[str] = ()
) -> list[tuple[str, str]]:
    """``(value, label)`` pairs for ``field``: stock choices first, then values seen or already named
    in the rules (their label is the value itself). Empty for free-text fields."""
    if field in FREE_TEXT:
        return []
    choices = dict(STOCK_CHOICES.get(field, {}))
    for incident in seen:
        value = incident.field_text(field) if hasattr(incident, field) else ""
        if value and field not in ("opened_at", "sys_created_on", "sys_updated_on"):
            choices.setdefault(value, value)
    for value in named:
        if value:
            choices.setdefault(value, value)
    return list(choices.items())
