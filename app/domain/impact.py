"""What a rule change does to the records we hold, before it is saved.

Given the saved rules and the edited ones (trigger, outbound mapping, return-trip mapping), the
queued items' snapshots, the tenant's picklists and the linked tickets' current values, this says
which queued tickets would be built differently (and in which fields), which incidents would newly
match or stop matching the trigger, which items would newly fail (or newly pass) the pre-flight
check, and how the return trip would map the linked tickets' current values differently.

Pure: the caller reads the store; nothing here does IO. Both rule sets are evaluated at the same
``now`` so a due time never counts as a difference by itself.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from app.config import AppConfig, ReturnTripConfig
from app.domain.outbound import Preview, preview
from app.domain.records import INCIDENT_STATES, Incident, TicketMetadata
from app.domain.return_trip import TRACKED, _lookup
from app.domain.text import show
from app.domain.triggers import evaluate

# The config sections the Rules editor changes (everything else in the file is the connections').
RULE_SECTIONS: tuple[str, ...] = ("trigger", "outbound", "return_trip")
NO_RULE = "(no rule)"
NOT_SENT = "(not sent)"


@dataclass(frozen=True)
class HeldIncident:
    """An incident the store holds a snapshot of: queued (pending, approved, failed) or set aside
    (dropped because it stopped matching, or rejected)."""

    incident: Incident
    queued: bool
    linked: bool = False


@dataclass(frozen=True)
class LinkedValues:
    """A linked ticket's current return-trip values as labels (``status``, ``priority``)."""

    incident_number: str
    ticket_number: str
    values: Mapping[str, str]


@dataclass(frozen=True)
class FieldDiff:
    field: str
    before: str
    after: str


@dataclass(frozen=True)
class ItemImpact:
    """One record and what the edited rules change about it."""

    number: str
    diffs: tuple[FieldDiff, ...] = ()
    detail: str = ""


@dataclass(frozen=True)
class ImpactReport:
    rules_changed: tuple[str, ...]
    altered: tuple[ItemImpact, ...] = ()  # queued tickets built differently
    newly_matching: tuple[ItemImpact, ...] = ()
    no_longer_matching: tuple[ItemImpact, ...] = ()
    newly_failing: tuple[ItemImpact, ...] = ()  # pass pre-flight with the saved rules, fail with the new
    newly_passing: tuple[ItemImpact, ...] = ()
    returns_altered: tuple[ItemImpact, ...] = ()  # linked tickets whose values would come back differently
    notes: tuple[str, ...] = ()
    queued_checked: int = 0
    links_checked: int = 0
    field_counts: Mapping[str, int] = field(default_factory=dict)
    return_field_counts: Mapping[str, int] = field(default_factory=dict)

    @property
    def changes_queued(self) -> bool:
        """Something queued (or set aside) would change: a ticket, a trigger verdict, a pre-flight."""
        return bool(
            self.altered
            or self.newly_matching
            or self.no_longer_matching
            or self.newly_failing
            or self.newly_passing
        )

    @property
    def changes_anything(self) -> bool:
        return self.changes_queued or bool(self.returns_altered)

    def summary(self) -> list[str]:
        """The report as sentences, most important first."""
        lines: list[str] = []
        if not self.rules_changed:
            lines.append("the rules are unchanged")
        if self.altered:
            lines.append(
                f"this change alters {_count(len(self.altered), 'queued ticket')} "
                f"({_by_field(self.field_counts)})"
            )
        elif self.rules_changed:
            lines.append(f"no queued ticket changes ({_count(self.queued_checked, 'queued item')} checked)")
        if self.newly_matching:
            lines.append(f"{_count(len(self.newly_matching), 'incident')} would newly match the trigger")
        if self.no_longer_matching:
            lines.append(
                f"{_count(len(self.no_longer_matching), 'queued incident')} would no longer match the "
                "trigger (dropped from the queue on the next poll)"
            )
        for label, items in (
            ("would fail pre-flight", self.newly_failing),
            ("would pass pre-flight again", self.newly_passing),
        ):
            if items:
                first = f": {items[0].detail}" if items[0].detail else ""
                lines.append(f"{_count(len(items), 'queued item')} {label}{first}")
        if self.returns_altered:
            lines.append(
                f"the return trip would map {_count(len(self.returns_altered), 'linked ticket')}'s current "
                f"values differently ({_by_field(self.return_field_counts)}); applied when they next change"
            )
        elif self.rules_changed:
            lines.append(
                f"no linked ticket comes back differently ({_count(self.links_checked, 'link')} checked)"
            )
        return lines + list(self.notes)

    def details(self) -> list[str]:
        """One line per affected record, under its heading."""
        lines: list[str] = []
        groups = (
            ("queued tickets that change", self.altered),
            ("incidents that would newly match the trigger", self.newly_matching),
            ("queued incidents that would no longer match", self.no_longer_matching),
            ("queued items that would fail pre-flight", self.newly_failing),
            ("queued items that would pass pre-flight again", self.newly_passing),
            ("linked tickets that would come back differently", self.returns_altered),
        )
        for heading, items in groups:
            if not items:
                continue
            lines.append(f"{heading}:")
            for item in items:
                changes = "; ".join(f"{d.field} {show(d.before)} -> {show(d.after)}" for d in item.diffs)
                text = ", ".join(part for part in (changes, item.detail) if part)
                lines.append(f"  {item.number}: {text}" if text else f"  {item.number}")
        return lines


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}" + ("" if number == 1 else "s")


def _by_field(counts: Mapping[str, int]) -> str:
    return ", ".join(f"{name} on {number}" for name, number in sorted(counts.items(), key=lambda i: -i[1]))


def changed_rules(old: AppConfig, new: AppConfig) -> tuple[str, ...]:
    """The rule keys that differ, e.g. ``outbound.fields.priority``, ``trigger.conditions``,
    ``return_trip.status.Complete`` (for the impact report and the audit trail)."""
    changed: list[str] = []
    for section in RULE_SECTIONS:
        before = getattr(old, section).model_dump(mode="json")
        after = getattr(new, section).model_dump(mode="json")
        for key in dict.fromkeys([*before, *after]):
            was, now = before.get(key), after.get(key)
            if was == now:
                continue
            if key in ("fields", "status", "priority") and isinstance(was, dict) and isinstance(now, dict):
                changed += [
                    f"{section}.{key}.{name}"
                    for name in dict.fromkeys([*was, *now])
                    if was.get(name) != now.get(name)
                ]
            else:
                changed.append(f"{section}.{key}")
    return tuple(changed)


def _ticket_diffs(before: Preview, after: Preview) -> tuple[FieldDiff, ...]:
    """Fields whose sent value differs (what the user would read: labels, not ids)."""
    diffs: list[FieldDiff] = []
    names = dict.fromkeys([*(f.target for f in before.fields), *(f.target for f in after.fields)])
    for name in names:
        old, new = before.field(name), after.field(name)
        old_value = old.value if old is not None else None
        new_value = new.value if new is not None else None
        if old_value == new_value:
            continue
        old_text = old.display if old is not None and old.sent else NOT_SENT
        new_text = new.display if new is not None and new.sent else NOT_SENT
        diffs.append(FieldDiff(name, old_text, new_text))
    return tuple(diffs)


def return_targets(config: ReturnTripConfig, values: Mapping[str, str]) -> dict[str, str]:
    """What the return trip would set on the incident for these ticket labels: ``state`` (with its
    hold reason and close code) from ``status``, ``impact``/``urgency`` from ``priority``."""
    targets: dict[str, str] = {}
    if not config.enabled:
        return {name: "(return trip off)" for name in TRACKED if values.get(name)}
    status = values.get("status")
    if status:
        rule = _lookup(config.status, status)
        if rule is None:
            targets["state"] = NO_RULE
        else:
            text = f"{rule.state} ({INCIDENT_STATES.get(rule.state, rule.state)})"
            if rule.hold_reason:
                text += f", hold reason {rule.hold_reason}"
            if rule.state in (6, 7):
                text += f", close code {rule.close_code or config.default_close_code}"
            targets["state"] = text
    priority = values.get("priority")
    if priority:
        target = _lookup(config.priority, priority)
        targets["impact/urgency"] = NO_RULE if target is None else f"{target.impact}/{target.urgency}"
    return targets


def held_impact(
    old: AppConfig,
    new: AppConfig,
    held: Sequence[HeldIncident],
    metadata: TicketMetadata | None,
    *,
    now: datetime,
) -> ImpactReport:
    """The part of the report about held incidents (queued or set aside). Callers with a big queue
    may compute it in slices and :func:`combine` the parts."""
    altered: list[ItemImpact] = []
    newly_matching: list[ItemImpact] = []
    no_longer: list[ItemImpact] = []
    failing: list[ItemImpact] = []
    passing: list[ItemImpact] = []
    counts: Counter[str] = Counter()
    queued = 0
    # Two previews per item are the expensive part: skip them when the mapping is the same.
    mapping_changed = old.outbound != new.outbound
    for entry in held:
        incident = entry.incident
        was = evaluate(old.trigger, incident, linked=entry.linked)
        will = evaluate(new.trigger, incident, linked=entry.linked)
        if entry.queued:
            queued += 1
            if was.matched and not will.matched:
                no_longer.append(ItemImpact(incident.number, detail="; ".join(will.reasons())))
                continue
        elif not was.matched and will.matched:
            newly_matching.append(ItemImpact(incident.number))
            continue
        if not entry.queued or not mapping_changed:
            continue
        before = preview(incident, old.outbound, metadata, now=now)
        after = preview(incident, new.outbound, metadata, now=now)
        diffs = _ticket_diffs(before, after)
        if diffs:
            altered.append(ItemImpact(incident.number, diffs))
            counts.update(diff.field for diff in diffs)
        new_errors = [error for error in after.errors if error not in before.errors]
        if before.ok and not after.ok:
            failing.append(ItemImpact(incident.number, detail="; ".join(new_errors)))
        elif not before.ok and after.ok:
            passing.append(ItemImpact(incident.number))
    return ImpactReport(
        rules_changed=changed_rules(old, new),
        altered=tuple(altered),
        newly_matching=tuple(newly_matching),
        no_longer_matching=tuple(no_longer),
        newly_failing=tuple(failing),
        newly_passing=tuple(passing),
        queued_checked=queued,
        field_counts=dict(counts),
    )


def links_impact(old: AppConfig, new: AppConfig, links: Sequence[LinkedValues]) -> ImpactReport:
    """The part of the report about the return trip: linked tickets' current values, both mappings."""
    returns: list[ItemImpact] = []
    return_counts: Counter[str] = Counter()
    for link in links:
        before_targets = return_targets(old.return_trip, link.values)
        after_targets = return_targets(new.return_trip, link.values)
        diffs = tuple(
            FieldDiff(name, before_targets.get(name, NO_RULE), after_targets.get(name, NO_RULE))
            for name in dict.fromkeys([*before_targets, *after_targets])
            if before_targets.get(name) != after_targets.get(name)
        )
        if diffs:
            labels = ", ".join(f"{name} {show(value)}" for name, value in link.values.items() if value)
            returns.append(
                ItemImpact(f"{link.incident_number} (ticket {link.ticket_number})", diffs, f"ticket {labels}")
            )
            return_counts.update(diff.field for diff in diffs)
    return ImpactReport(
        rules_changed=changed_rules(old, new),
        returns_altered=tuple(returns),
        links_checked=len(links),
        return_field_counts=dict(return_counts),
    )


def combine(parts: Sequence[ImpactReport], *, picklists_known: bool) -> ImpactReport:
    """One report from its parts (slices of the held incidents, the links)."""
    notes: list[str] = []
    if not picklists_known:
        notes.append(
            "the Autotask picklists are not in the store yet, so picklist labels were not checked "
            "(the engine keeps them once it has run)"
        )
    counts: Counter[str] = Counter()
    return_counts: Counter[str] = Counter()
    for part in parts:
        counts.update(part.field_counts)
        return_counts.update(part.return_field_counts)
    return ImpactReport(
        rules_changed=parts[0].rules_changed if parts else (),
        altered=tuple(item for part in parts for item in part.altered),
        newly_matching=tuple(item for part in parts for item in part.newly_matching),
        no_longer_matching=tuple(item for part in parts for item in part.no_longer_matching),
        newly_failing=tuple(item for part in parts for item in part.newly_failing),
        newly_passing=tuple(item for part in parts for item in part.newly_passing),
        returns_altered=tuple(item for part in parts for item in part.returns_altered),
        notes=tuple(notes),
        queued_checked=sum(part.queued_checked for part in parts),
        links_checked=sum(part.links_checked for part in parts),
        field_counts=dict(counts),
        return_field_counts=dict(return_counts),
    )


def compute_impact(
    old: AppConfig,
    new: AppConfig,
    held: Sequence[HeldIncident],
    links: Sequence[LinkedValues],
    metadata: TicketMetadata | None,
    *,
    now: datetime,
) -> ImpactReport:
    """Compare what the saved rules and the edited ones do to the records the store holds."""
    parts = [held_impact(old, new, held, metadata, now=now), links_impact(old, new, links)]
    return combine(parts, picklists_known=metadata is not None)
