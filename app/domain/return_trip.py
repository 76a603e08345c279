"""Return trip: an Autotask ticket's status/priority change -> one PATCH to its ServiceNow incident.

This direction has its own table (``[return_trip]``), never the inverse of the outbound mapping: value
sets are not reflexive (ServiceNow's 5 priorities become 4 Autotask priorities, so 4 and 5 both map to
Low, and Low cannot say which it came from). Only ticket values that changed since the last sync are
acted on; the outbound push stores its own values as the first "last synced" ones, so a freshly created
ticket never echoes back (a Planning incident pushed as Low stays Planning).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TypeVar

from app.config import ReturnTripConfig
from app.domain.records import INCIDENT_STATES, Incident, Ticket, TicketMetadata
from app.domain.text import TemplateError, render_template, show, strip_control, truncate, utf16_len

# ServiceNow's default max length of close_notes.
CLOSE_NOTES_LIMIT = 4000
RESOLVING_STATES = frozenset({6, 7})
# Closed and Canceled incidents are read-only in a stock instance; writing to them only fails.
FINAL_STATES = frozenset({7, 8})
# The ticket values the return trip reacts to (resolution only feeds close_notes).
TRACKED: tuple[str, ...] = ("status", "priority")

_T = TypeVar("_T")


# ServiceNow's impact and urgency choices (the same three for both), for sentences a person reads.
IMPACT_URGENCY_LABELS: dict[int, str] = {1: "High", 2: "Medium", 3: "Low"}


@dataclass(frozen=True)
class FieldChange:
    """One incident field the update sets, and the ticket change that caused it."""

    field: str
    old: str | None
    new: str
    reason: str


@dataclass(frozen=True)
class ReturnUpdate:
    """What to PATCH on the incident (all strings) and what to store as last synced afterwards."""

    patch: dict[str, str]
    changes: tuple[FieldChange, ...]
    synced: dict[str, str]
    warnings: tuple[str, ...] = ()

    @property
    def empty(self) -> bool:
        return not self.patch


def _tracked_ids(ticket: Ticket) -> dict[str, int | None]:
    return {"status": ticket.status, "priority": ticket.priority}


def unknown_ids(ticket: Ticket, metadata: TicketMetadata) -> list[tuple[str, int]]:
    """Tracked values whose id the picklists do not know (added or renamed in Autotask since they
    were read): refresh the picklists before planning."""
    return [
        (name, value)
        for name, value in _tracked_ids(ticket).items()
        if value is not None and metadata.label_for_id(name, value) is None
    ]


def ticket_values(ticket: Ticket, metadata: TicketMetadata) -> dict[str, str]:
    """The ticket's return-trip values as labels (ids differ by tenant; the config speaks labels).
    A value whose id has no label is left out: it is never stored or compared as "#id"."""
    values = {"resolution": ticket.resolution}
    for name, value in _tracked_ids(ticket).items():
        label = metadata.label_for_id(name, value) if value is not None else ""
        if label is not None:
            values[name] = label
    return values


def _lookup(table: Mapping[str, _T], label: str) -> _T | None:
    """Exact label first, then case-insensitively (Autotask labels are matched that way too)."""
    if label in table:
        return table[label]
    wanted = label.casefold()
    return next((value for key, value in table.items() if key.casefold() == wanted), None)


@dataclass
class _Plan:
    fields: dict[str, tuple[str, str]] = field(default_factory=dict)  # name -> (value, reason)
    warnings: list[str] = field(default_factory=list)
    mentions: dict[str, tuple[str, set[str]]] = field(default_factory=dict)  # work note line, its fields


def _close_notes(
    ticket: Ticket, config: ReturnTripConfig, from_resolution: bool, plan: _Plan
) -> tuple[str, str]:
    resolution, removed = strip_control(ticket.resolution)
    if from_resolution and resolution.strip():
        if removed:
            plan.warnings.append(f"removed {removed} control characters from the ticket resolution")
        if utf16_len(resolution.strip()) > CLOSE_NOTES_LIMIT:
            plan.warnings.append(f"ticket resolution cut to {CLOSE_NOTES_LIMIT} characters for close_notes")
        return truncate(resolution.strip(), CLOSE_NOTES_LIMIT), "the ticket's resolution"
    number = ticket.ticket_number or f"#{ticket.id}"
    try:
        notes = render_template(
            config.default_close_notes, {"ticket_number": number, "ticket_id": str(ticket.id)}
        )
    except TemplateError as exc:
        plan.warnings.append(f"return_trip.default_close_notes: {exc}; sent as written")
        notes = config.default_close_notes
    return truncate(notes, CLOSE_NOTES_LIMIT), "return_trip.default_close_notes"


def _plan_status(label: str, ticket: Ticket, config: ReturnTripConfig, plan: _Plan) -> None:
    rule = _lookup(config.status, label)
    if rule is None:
        plan.warnings.append(
            f"no return-trip rule for Autotask status {show(label)}; incident left unchanged"
        )
        return
    source = f"Autotask status {show(label)}"
    state_name = INCIDENT_STATES.get(rule.state, str(rule.state))
    plan.fields["state"] = (str(rule.state), f"{source} -> state {rule.state} ({state_name})")
    if rule.hold_reason:
        plan.fields["hold_reason"] = (rule.hold_reason, f"{source} -> hold reason {rule.hold_reason}")
    if rule.state in RESOLVING_STATES:
        # Data policies refuse a resolve without these, so they travel in the same PATCH as the state.
        code = rule.close_code or config.default_close_code
        origin = "the status rule" if rule.close_code else "return_trip.default_close_code"
        plan.fields["close_code"] = (code, f"{source} resolves the incident; close code from {origin}")
        notes, notes_origin = _close_notes(ticket, config, rule.close_notes_from_resolution, plan)
        plan.fields["close_notes"] = (
            notes,
            f"{source} resolves the incident; close notes from {notes_origin}",
        )


def _plan_priority(label: str, config: ReturnTripConfig, plan: _Plan) -> None:
    rule = _lookup(config.priority, label)
    if rule is None:
        plan.warnings.append(
            f"no return-trip rule for Autotask priority {show(label)}; incident left unchanged"
        )
        return
    # Never send priority itself: ServiceNow derives it from impact and urgency.
    impact = IMPACT_URGENCY_LABELS.get(rule.impact, str(rule.impact))
    urgency = IMPACT_URGENCY_LABELS.get(rule.urgency, str(rule.urgency))
    reason = (
        f"Autotask priority {show(label)} -> impact {rule.impact} ({impact}), "
        f"urgency {rule.urgency} ({urgency})"
    )
    plan.fields["impact"] = (str(rule.impact), reason)
    plan.fields["urgency"] = (str(rule.urgency), reason)


def plan_update(
    ticket: Ticket,
    metadata: TicketMetadata,
    last_synced: Mapping[str, str],
    config: ReturnTripConfig,
    incident: Incident | None = None,
) -> ReturnUpdate:
    """Plan the incident PATCH for a ticket. Pure: the caller sends ``patch`` (when not empty) and then
    stores ``synced`` as the link's last-synced values.

    With the return trip disabled the update is empty and ``synced`` stays as it was, so changes made
    meanwhile are applied once it is enabled again."""
    if not config.enabled:
        return ReturnUpdate(patch={}, changes=(), synced=dict(last_synced))
    current = ticket_values(ticket, metadata)
    synced = {**last_synced, **current}
    plan = _Plan()
    for name, value in unknown_ids(ticket, metadata):
        plan.warnings.append(
            f"Autotask {name} id {value} is not in the picklists (new or renamed in Autotask?); "
            f"incident left unchanged until it is known"
        )
    changed = [name for name in TRACKED if current.get(name) and current[name] != last_synced.get(name)]
    if not changed:
        return ReturnUpdate(patch={}, changes=(), synced=synced, warnings=tuple(plan.warnings))

    number = ticket.ticket_number or f"#{ticket.id}"
    if incident is not None and incident.state in FINAL_STATES:
        plan.warnings.append(
            f"incident {incident.number} is {incident.state_label}; Autotask changes "
            f"({', '.join(changed)}) are not written back"
        )
        return ReturnUpdate(patch={}, changes=(), synced=synced, warnings=tuple(plan.warnings))

    for name in changed:
        before = set(plan.fields)
        if name == "status":
            _plan_status(current[name], ticket, config, plan)
        else:
            _plan_priority(current[name], config, plan)
        old = last_synced.get(name)
        line = f"{name} {show(old)} -> {show(current[name])}" if old else f"{name} now {show(current[name])}"
        plan.mentions[name] = (line, set(plan.fields) - before)

    fields = plan.fields
    if incident is not None:
        fields = {key: item for key, item in fields.items() if incident.field_text(key) != item[0]}
        if "state" not in fields:  # not resolving now: leave existing close fields alone
            fields.pop("close_code", None)
            fields.pop("close_notes", None)
    changes = tuple(
        FieldChange(
            field=key,
            old=incident.field_text(key) if incident is not None else None,
            new=value,
            reason=reason,
        )
        for key, (value, reason) in fields.items()
    )
    patch = {key: value for key, (value, _reason) in fields.items()}
    if patch:
        lines = [line for line, keys in plan.mentions.values() if keys & patch.keys()]
        patch["work_notes"] = f"Autotask ticket {number} changed: {', '.join(lines)} (Triage Sync)."
    return ReturnUpdate(patch=patch, changes=changes, synced=synced, warnings=tuple(plan.warnings))


def configured_close_codes(config: ReturnTripConfig) -> dict[str, str]:
    """Every close code the return trip may write -> the config key it comes from."""
    codes = {config.default_close_code: "return_trip.default_close_code"}
    for label, rule in config.status.items():
        if rule.state in RESOLVING_STATES and rule.close_code:
            codes.setdefault(rule.close_code, f"return_trip.status.{label!r}.close_code")
    return codes


def close_code_problems(config: ReturnTripConfig, instance_codes: list[str]) -> list[str]:
    """One sentence per configured close code the instance does not offer (its ``sys_choice``)."""
    if not config.enabled:
        return []
    offered = set(instance_codes)
    listing = ", ".join(instance_codes) or "none"
    return [
        f"{key}: close code {code!r} is not one of the instance's resolution codes ({listing})"
        for code, key in configured_close_codes(config).items()
        if code not in offered
    ]
