"""Outbound mapping: a ServiceNow incident -> the body of a new Autotask ticket, with a per-field preview.

The preview is what the user approves, so it must be exactly what is sent: :attr:`Preview.payload` is
the JSON body POSTed to ``/Tickets`` (camelCase names, picklist ids as ints, never a JSON null, which
Autotask answers with HTTP 500). Each :class:`FieldPreview` says where its value came from and why, and
carries the warnings and errors that concern it. Errors are the pre-flight check: a preview with errors
is never pushed, because Autotask would refuse it anyway (with an HTTP 500 and a terse message).

Picklists are configured by *label* and resolved to the tenant's ids through :class:`TicketMetadata`,
because ids differ between tenants (public sources even disagree on the default priority ids).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from app.config import (
    ConstantRule,
    CopyRule,
    DueInHoursRule,
    OutboundConfig,
    TemplateRule,
    ValueMapRule,
)
from app.domain.overrides import Overrides
from app.domain.records import Incident, TicketMetadata, format_iso_time, to_utc
from app.domain.text import (
    TemplateError,
    render_template,
    show,
    strip_control,
    template_fields,
    truncate,
    utf16_len,
)

PICKLIST_FIELDS: frozenset[str] = frozenset(
    {
        "status",
        "priority",
        "queueID",
        "issueType",
        "subIssueType",
        "source",
        "ticketType",
        "ticketCategory",
        "serviceLevelAgreementID",
    }
)
# Autotask refuses a create without these, whatever the tenant's metadata says.
ALWAYS_REQUIRED: tuple[str, ...] = ("title", "status", "priority", "companyID")
# Set by the app itself, never by a rule.
APP_FIELDS: frozenset[str] = frozenset({"companyID", "externalID", "id"})
FIELD_ORDER: tuple[str, ...] = (
    "title",
    "description",
    "status",
    "priority",
    "queueID",
    "dueDateTime",
    "companyID",
    "externalID",
)
DEFAULT_QUEUE = "@default_queue"
NOT_SENT = "(not sent)"
_INTEGER_TYPES = frozenset({"integer", "int", "int32", "int64", "long", "short", "byte"})


@dataclass(frozen=True)
class FieldPreview:
    """One target field: the wire value (None = not sent), what the user reads, and why."""

    target: str
    value: object
    display: str
    sources: tuple[tuple[str, str], ...]
    rule: str
    warnings: tuple[str, ...] = ()
    error: str | None = None
    overridden_by: str | None = None  # a person set this field for this ticket (app.domain.overrides)

    @property
    def sent(self) -> bool:
        return self.value is not None


@dataclass(frozen=True)
class Preview:
    """The ticket a push would create, field by field, with the pre-flight verdict."""

    sys_id: str
    number: str
    payload: dict[str, object]
    fields: tuple[FieldPreview, ...]
    warnings: tuple[str, ...]
    errors: tuple[str, ...]

    @property
    def ok(self) -> bool:
        return not self.errors

    def to_json(self) -> str:
        """The body as it is sent, pretty-printed (keys in the preview's field order)."""
        return json.dumps(self.payload, indent=2, ensure_ascii=False)

    def field(self, target: str) -> FieldPreview | None:
        return next((item for item in self.fields if item.target == target), None)


@dataclass
class _Draft:
    """A field being built; frozen into a FieldPreview at the end."""

    target: str
    rule: str = ""
    value: object = None
    display: str = NOT_SENT
    label: str | None = None  # the resolved picklist label (what due_in_hours keys on)
    sources: list[tuple[str, str]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    overridden_by: str | None = None

    def fail(self, message: str) -> None:
        self.errors.append(message)

    def freeze(self) -> FieldPreview:
        return FieldPreview(
            target=self.target,
            value=self.value,
            display=self.display,
            sources=tuple(self.sources),
            rule=self.rule,
            warnings=tuple(self.warnings),
            error="; ".join(self.errors) if self.errors else None,
            overridden_by=self.overridden_by,
        )


def _order_key(target: str) -> tuple[int, str]:
    return (FIELD_ORDER.index(target), "") if target in FIELD_ORDER else (len(FIELD_ORDER), target)


def _hours(value: float) -> str:
    return f"{value:g}"


def _source_value(draft: _Draft, values: dict[str, str], source: str) -> str | None:
    if source not in values:
        draft.fail(f"{show(source)} is not an incident field Triage Sync reads")
        return None
    draft.sources.append((source, values[source]))
    return values[source]


def _raw_value(
    draft: _Draft,
    rule: CopyRule | TemplateRule | ValueMapRule | ConstantRule,
    values: dict[str, str],
    outbound: OutboundConfig,
) -> str | int | None:
    """The rule's output before picklist resolution and text hygiene (None: nothing to send)."""
    if isinstance(rule, CopyRule):
        draft.rule = f"copy of {rule.source}"
        return _source_value(draft, values, rule.source)
    if isinstance(rule, TemplateRule):
        draft.rule = f"template {show(rule.template)}"
        try:
            names = template_fields(rule.template)
            text = render_template(rule.template, values)
        except TemplateError as exc:
            draft.fail(f"template error: {exc}")
            return None
        draft.sources.extend((name, values[name]) for name in dict.fromkeys(names))
        return text
    if isinstance(rule, ValueMapRule):
        source = _source_value(draft, values, rule.source)
        if source is None:
            draft.rule = f"value map on {rule.source}"
            return None
        if source in rule.map:
            label = rule.map[source]
            draft.rule = f"value map on {rule.source}: {show(source)} -> {show(label)}"
            return label
        if rule.default is None:
            draft.rule = f"value map on {rule.source}: no entry for {show(source)} and no default"
            draft.warnings.append(
                f"unmapped value {show(source)} for {rule.source} and no default; field left out"
            )
            return None
        default, origin = rule.default, "default"
        if default == DEFAULT_QUEUE:
            default, origin = outbound.default_queue, "outbound.default_queue"
            if not default:
                draft.rule = f"value map on {rule.source}: no entry for {show(source)}"
                draft.fail("outbound.default_queue is not set")
                return None
        # A configured default is a decision someone made, not something a person must decide per
        # incident: the rule says it (under "How was this mapped?"), no warning. Warnings that fire on
        # almost every item teach people to ignore yellow.
        draft.rule = f"value map on {rule.source}: no entry for {show(source)}, {origin} {show(default)}"
        return default
    draft.rule = f"constant {show(rule.value) if isinstance(rule.value, str) else rule.value}"
    return rule.value


def _resolve_picklist(draft: _Draft, raw: str | int, metadata: TicketMetadata | None) -> None:
    target = draft.target
    if isinstance(raw, int):
        label = metadata.label_for_id(target, raw) if metadata is not None else None
        if metadata is not None and label is None:
            draft.fail(f"id {raw} is not an Autotask {target} value")
            return
        draft.value, draft.label = raw, label
        draft.display = label if label is not None else f"#{raw}"
        return
    draft.label = raw.strip() or None  # the intended label; replaced by Autotask's spelling below
    if metadata is None:
        draft.display = raw
        draft.fail("picklists not loaded yet")
        return
    if not raw.strip():
        draft.display = ""
        return  # empty label: the required-field check reports it when it matters
    picked = metadata.id_for_label(target, raw)
    if picked is None:
        valid = metadata.labels(target)
        listing = ", ".join(valid) if valid else "none (Autotask reports no values for this field)"
        draft.display = raw
        draft.fail(f"{show(raw)} is not an active Autotask {target} label; valid labels: {listing}")
        return
    label = metadata.label_for_id(target, picked) or raw
    draft.value, draft.label, draft.display = picked, label, label


def _resolve_child(
    draft: _Draft, raw: str | int, metadata: TicketMetadata | None, parent: _Draft | None, parent_field: str
) -> None:
    """A child picklist label (subIssueType) is looked up under its parent's value (issueType):
    labels such as "Other" repeat under several parents, each with its own id."""
    if metadata is None or isinstance(raw, int) or not raw.strip():
        _resolve_picklist(draft, raw, metadata)
        return
    target = draft.target
    parent_value = None
    if parent is not None and not parent.errors and isinstance(parent.value, int):
        parent_value = parent.value
    if parent_value is None:
        parents = metadata.parents_for_label(target, raw)
        if len(parents) > 1:
            names = ", ".join(metadata.label_for_id(parent_field, value) or f"#{value}" for value in parents)
            draft.display = raw
            draft.fail(
                f"{show(raw)} exists under several {parent_field} values ({names}); "
                f"add an outbound.fields.{parent_field} rule to choose one"
            )
            return
        _resolve_picklist(draft, raw, metadata)
        return
    parent_label = (parent.label if parent is not None else None) or f"#{parent_value}"
    draft.label = raw.strip()
    picked = metadata.id_for_label(target, raw, parent=parent_value)
    if picked is None:
        valid = metadata.labels(target, parent=parent_value)
        listing = ", ".join(valid) if valid else "none"
        draft.display = f"{parent_label} › {raw}"
        draft.fail(
            f"{show(raw)} is not an active Autotask {target} label under {parent_field} "
            f"{show(parent_label)}; valid labels: {listing}"
        )
        return
    label = metadata.label_for_id(target, picked) or raw
    draft.value, draft.label, draft.display = picked, label, f"{parent_label} › {label}"


def _finish_text(draft: _Draft, raw: str, max_length: int | None, metadata: TicketMetadata | None) -> None:
    info = metadata.field(draft.target) if metadata is not None else None
    text, removed = strip_control(raw)
    if removed:
        draft.warnings.append(f"removed {removed} control character{'s' if removed != 1 else ''}")
    if info is not None and info.data_type.lower() in _INTEGER_TYPES:
        if not text.strip():
            draft.display = ""
            return  # not sent; the required-field check reports it when it matters
        try:
            number = int(text.strip())
        except ValueError:
            draft.display = text
            draft.fail(f"Autotask expects a whole number here, got {show(text)}")
            return
        draft.value, draft.display = number, str(number)
        return
    limits = [(limit, "rule max_length") for limit in (max_length,) if limit is not None]
    if info is not None and info.length is not None:
        limits.append((info.length, "Autotask field length"))
    if limits:
        limit = min(value for value, _origin in limits)
        origin = " and ".join(name for value, name in limits if value == limit)
        original = utf16_len(text)
        if original > limit:
            text = truncate(text, limit)
            draft.warnings.append(f"cut to {limit} characters ({origin}); the text had {original}")
    draft.display = text
    draft.value = text if text else None  # an empty optional text is simply not sent


def _due(draft: _Draft, rule: DueInHoursRule, drafts: dict[str, _Draft], now: datetime) -> None:
    by = drafts.get(rule.by)
    label: str | None = None
    if by is not None and by.label is not None:
        label = by.label  # a picklist's label, even when its id could not be resolved
    elif by is not None and not by.errors and by.value is not None:
        label = by.display
    hours = rule.default_hours
    if label is None:
        draft.rule = f"due {_hours(hours)} h after now (default; {rule.by} has no value)"
        draft.warnings.append(f"{rule.by} has no value; due time uses the default {_hours(hours)} h")
    else:
        draft.sources.append((rule.by, label))
        wanted = label.casefold()
        match = next((value for key, value in rule.hours.items() if key.casefold() == wanted), None)
        if match is None:
            draft.rule = f"due {_hours(hours)} h after now (default; no entry for {rule.by} {show(label)})"
            draft.warnings.append(
                f"no due-time entry for {rule.by} {show(label)}; used the default {_hours(hours)} h"
            )
        else:
            hours = match
            draft.rule = f"due {_hours(hours)} h after now because {rule.by} is {label}"
    due = to_utc(now) + timedelta(hours=hours)
    draft.value = format_iso_time(due)
    draft.display = due.strftime("%Y-%m-%d %H:%M UTC")


def _empty(value: object) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def _override(draft: _Draft, raw: str | int | None, overrides: Overrides) -> str | int | None:
    """A person's value for this field of this ticket replaces the mapped one; the rule says so."""
    chosen = overrides.get(draft.target)
    if chosen is None:
        return raw
    mapped = "no value" if raw is None or draft.errors else show(str(raw))
    draft.errors.clear()  # the mapping's problem with this field no longer matters
    draft.warnings.clear()
    draft.sources = []  # not from the incident: the rule says who chose it
    draft.rule = f"overridden by {chosen.by} (the mapping gave {mapped})"
    draft.overridden_by = chosen.by
    return chosen.value


def preview(
    incident: Incident,
    outbound: OutboundConfig,
    metadata: TicketMetadata | None,
    *,
    now: datetime,
    overrides: Overrides | None = None,
) -> Preview:
    """Build the ticket body for ``incident`` and explain every field. Never raises for bad data:
    problems become warnings (sent anyway) or errors (blocks the push). ``overrides`` (a person's
    values for this ticket) replace the mapped values of their fields."""
    values = incident.field_values()
    drafts: dict[str, _Draft] = {}
    ignored: list[str] = []
    due_rules: list[tuple[str, DueInHoursRule]] = []
    children: list[tuple[_Draft, str | int, str]] = []  # child picklists, resolved after their parents
    overrides = overrides or {}
    rules: dict[str, object] = dict(outbound.fields)
    rules.update((target, None) for target in overrides if target not in rules)

    for target, rule in rules.items():
        if target in APP_FIELDS:
            ignored.append(f"outbound.fields.{target} is ignored: the app sets {target} itself")
            continue
        if isinstance(rule, DueInHoursRule):
            due_rules.append((target, rule))
            continue
        draft = drafts[target] = _Draft(target)
        raw: str | int | None = None
        if isinstance(rule, CopyRule | TemplateRule | ValueMapRule | ConstantRule):
            raw = _raw_value(draft, rule, values, outbound)
        raw = _override(draft, raw, overrides)
        if raw is None or draft.errors:
            continue
        info = metadata.field(target) if metadata is not None else None
        if info is not None and info.parent_field:
            children.append((draft, raw, info.parent_field))
        elif target in PICKLIST_FIELDS:
            _resolve_picklist(draft, raw, metadata)
        elif isinstance(raw, int):
            draft.value, draft.display = raw, str(raw)
        else:
            overridden = draft.overridden_by is not None
            max_length = (
                rule.max_length if isinstance(rule, CopyRule | TemplateRule) and not overridden else None
            )
            _finish_text(draft, raw, max_length, metadata)

    for draft, raw, parent_field in children:
        _resolve_child(draft, raw, metadata, drafts.get(parent_field), parent_field)

    for target, due_rule in due_rules:
        draft = drafts[target] = _Draft(target)
        _due(draft, due_rule, drafts, now)

    company = drafts["companyID"] = _Draft("companyID", rule="from configuration outbound.company_id")
    if outbound.company_id <= 0:
        company.fail("outbound.company_id is not set")
    else:
        company.value = outbound.company_id
        name = outbound.company_name.strip()
        company.display = f"{name} ({outbound.company_id})" if name else str(outbound.company_id)

    external = drafts["externalID"] = _Draft(
        "externalID",
        rule="incident sys_id (prevents duplicate tickets)",
        sources=[("sys_id", incident.sys_id)],
    )
    external.display = incident.sys_id
    info = metadata.field("externalID") if metadata is not None else None
    if info is not None and info.length is not None and utf16_len(incident.sys_id) > info.length:
        # Cutting it would break the duplicate search, so refuse instead.
        external.fail(f"the sys_id is longer than Autotask's externalID limit of {info.length}")
    else:
        external.value = incident.sys_id

    _preflight(drafts, metadata)

    fields = tuple(drafts[target].freeze() for target in sorted(drafts, key=_order_key))
    payload = {item.target: item.value for item in fields if item.value is not None}
    warnings = ignored + [f"{item.target}: {warning}" for item in fields for warning in item.warnings]
    errors = [f"{item.target}: {item.error}" for item in fields if item.error]
    return Preview(
        sys_id=incident.sys_id,
        number=incident.number,
        payload=payload,
        fields=fields,
        warnings=tuple(warnings),
        errors=tuple(errors),
    )


def _preflight(drafts: dict[str, _Draft], metadata: TicketMetadata | None) -> None:
    """Refuse locally what Autotask would refuse: required fields, and queue-or-resource."""
    required = list(ALWAYS_REQUIRED)
    if metadata is not None:
        required += [
            name for name, info in metadata.fields.items() if info.is_required and not info.is_read_only
        ]
    by_folded = {key.casefold(): key for key in drafts}
    for name in dict.fromkeys(by_folded.get(name.casefold(), name) for name in required):
        draft = drafts.get(name)
        if draft is None:
            draft = drafts[name] = _Draft(name, rule="no rule in outbound.fields")
        if not draft.errors and _empty(draft.value):
            draft.fail(f"required field {name} is empty")

    def sent(name: str) -> bool:
        item = drafts.get(name)
        return item is not None and not _empty(item.value)

    resources = [name for name in ("assignedResourceID", "assignedResourceRoleID") if sent(name)]
    if len(resources) == 1:
        drafts[resources[0]].fail(
            "Autotask needs both assignedResourceID and assignedResourceRoleID, or neither"
        )
    elif not sent("queueID") and not resources:
        queue = drafts.get("queueID")
        if queue is None:
            queue = drafts["queueID"] = _Draft("queueID", rule="no rule in outbound.fields")
        if not queue.errors:
            queue.fail("Autotask needs a queueID, or both assignedResourceID and assignedResourceRoleID")


def outbound_synced_values(preview: Preview) -> dict[str, str]:
    """The ticket-side labels our push sets, to store as the link's last-synced return-trip values:
    the return trip then only acts on what a technician changed, never on our own values."""
    synced: dict[str, str] = {}
    for target in ("status", "priority"):
        item = preview.field(target)
        if item is not None and item.sent and item.error is None:
            synced[target] = item.display
    return synced
