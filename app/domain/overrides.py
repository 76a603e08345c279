"""Per-ticket overrides: a person changes a few ticket fields of one queued incident before approving.

The mapping decides queue, priority, issue type and title for every incident alike; a triage person
sometimes knows better for one of them ("this one is for the network team", "make it High"). An
override replaces the mapped value of that field for that ticket only. It is kept with the queue
item, applied by :func:`app.domain.outbound.preview` (so the preview, the pre-flight check and the
body sent are one and the same), and the field's explanation says who overrode it.

Picklist overrides are tenant *labels* (like the mapping), resolved to ids when the preview is built.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from app.domain.records import TicketMetadata, parse_iso_time
from app.domain.text import strip_control, utf16_len

# Ticket fields a person may override, in the order the editor shows them.
OVERRIDABLE: tuple[str, ...] = ("title", "queueID", "priority", "issueType", "subIssueType")
PICKLIST_OVERRIDES: frozenset[str] = frozenset(OVERRIDABLE) - {"title"}
TITLE_MAX = 255  # Autotask's ticket title length when the tenant's metadata does not say


@dataclass(frozen=True)
class FieldOverride:
    """One field's value for one ticket, with who set it and when."""

    value: str
    by: str
    at: datetime

    def to_json(self) -> dict[str, str]:
        return {"value": self.value, "by": self.by, "at": self.at.isoformat()}


Overrides = Mapping[str, FieldOverride]


def overrides_from_json(raw: Mapping[str, Any] | None) -> dict[str, FieldOverride]:
    """The stored JSON back into overrides; unknown fields and malformed entries are left out."""
    found: dict[str, FieldOverride] = {}
    for target, entry in (raw or {}).items():
        if target not in OVERRIDABLE or not isinstance(entry, Mapping):
            continue
        value, by, at = entry.get("value"), entry.get("by"), entry.get("at")
        if not isinstance(value, str) or not isinstance(by, str) or not isinstance(at, str):
            continue
        try:
            moment = parse_iso_time(at)
        except ValueError:
            continue
        found[target] = FieldOverride(value, by, moment)
    return found


def overrides_to_json(overrides: Overrides) -> dict[str, dict[str, str]]:
    return {target: item.to_json() for target, item in overrides.items()}


def title_limit(metadata: TicketMetadata | None) -> int:
    info = metadata.field("title") if metadata is not None else None
    return info.length if info is not None and info.length else TITLE_MAX


def check_override(target: str, value: str, metadata: TicketMetadata | None) -> str | None:
    """Why ``value`` cannot be ``target``'s override (None: it can). Picklist labels must be active
    labels of the tenant; a title must be 1 to the title length characters, without control
    characters."""
    if target not in OVERRIDABLE:
        return f"{target} cannot be overridden (only {', '.join(OVERRIDABLE)})"
    if target == "title":
        text = value.strip()
        if not text:
            return "the title must not be empty"
        cleaned, _removed = strip_control(text)
        if any(unicodedata.category(ch) == "Cc" for ch in text):
            return "the title must not contain control characters (tabs, line breaks)"
        limit = title_limit(metadata)
        if utf16_len(cleaned) > limit:
            return f"the title may have at most {limit} characters (it has {utf16_len(cleaned)})"
        return None
    if not value.strip():
        return f"choose a {target} value"
    if metadata is None:
        return "the Autotask picklists are not loaded yet; try again in a moment"
    if metadata.id_for_label(target, value) is None:
        return f"{value!r} is not an active Autotask {target} label"
    return None
