"""The config checks added for the domain: names used by rules must be fields the app reads."""

from __future__ import annotations

from typing import Any

import pytest

from app.config import ConfigError, parse_config


@pytest.mark.parametrize(
    ("data", "problem"),
    [
        (
            {"trigger": {"conditions": [{"field": "u_department", "op": "equals", "value": "IT"}]}},
            "trigger.conditions[0].field: 'u_department' is not an incident field Triage Sync reads",
        ),
        (
            {"outbound": {"fields": {"title": {"rule": "template", "template": "{short_descripton}"}}}},
            "outbound.fields.title.template: unknown placeholder {short_descripton}",
        ),
        (
            {"outbound": {"fields": {"title": {"rule": "template", "template": "{number.__class__}"}}}},
            "outbound.fields.title.template: placeholder {number.__class__} must be a plain field name",
        ),
        (
            {"outbound": {"fields": {"title": {"rule": "copy", "source": "caller"}}}},
            "outbound.fields.title.source: 'caller' is not an incident field",
        ),
        (
            {"outbound": {"fields": {"dueDateTime": {"rule": "due_in_hours", "by": "urgency"}}}},
            "outbound.fields.dueDateTime.by: 'urgency' must name another field under outbound.fields",
        ),
        (
            {"return_trip": {"default_close_notes": "See {ticket}"}},
            "return_trip.default_close_notes: unknown placeholder {ticket}; "
            "use one of ticket_number, ticket_id",
        ),
    ],
)
def test_unknown_names_are_refused_at_load(data: dict[str, Any], problem: str) -> None:
    with pytest.raises(ConfigError) as err:
        parse_config(data, "config.toml")
    assert any(line.startswith(problem) for line in err.value.problems), err.value.problems


def test_derived_names_are_accepted_in_templates() -> None:
    data = {
        "outbound": {"fields": {"title": {"rule": "template", "template": "[{priority_label}] {number}"}}}
    }
    config = parse_config(data, "config.toml")
    assert config.outbound.fields["title"].rule == "template"
