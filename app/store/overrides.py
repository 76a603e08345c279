"""Per-ticket overrides on a queue item (revision 0009): set, replace or clear, with who and when.

The values are checked against the tenant's picklists by the engine (it has them); the store keeps
them, refuses them once the item is on its way to Autotask, and records each change in the audit.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from app.domain.overrides import FieldOverride, overrides_from_json, overrides_to_json
from app.store.desk_session import WAITING, DeskResult, DeskSession
from app.store.models import AuditOutcome
from app.store.types import require_utc


class OverrideStore(DeskSession):
    def set_overrides(
        self, key: str, values: Mapping[str, str | None], by: str, *, now: datetime
    ) -> DeskResult:
        """Set (a string) or clear (None) the override of each named field of one waiting item.
        Fields not named keep their override. Each change is audited with who made it."""
        now = require_utc(now, "now")
        with self._desk_write() as session:
            item = self._desk_item(session, key)
            if item is None:
                return DeskResult(key, False, f"{key}: not in the queue")
            if item.state not in WAITING:
                return DeskResult(
                    key, False, f"{item.number}: fields cannot be changed while {item.state}", item
                )
            current = overrides_from_json(item.overrides)
            changes: list[str] = []
            for target, value in values.items():
                before = current.get(target)
                if value is None:
                    if before is not None:
                        del current[target]
                        changes.append(f"{target} back to the mapping (was {before.value!r})")
                    continue
                value = value.strip()
                if before is not None and before.value == value:
                    continue
                current[target] = FieldOverride(value, by, now)
                changes.append(f"{target} {value!r}")
            if not changes:
                return DeskResult(key, True, f"{item.number}: nothing changed", item)
            item.overrides = overrides_to_json(current) or None
            item.updated_at = now
            session.add(item)
            summary = f"{item.number}: ticket fields overridden by {by}: " + "; ".join(changes)
            self._desk_audit(
                session, item, now=now, kind="override", outcome=AuditOutcome.OK, summary=summary
            )
            return DeskResult(key, True, summary, item)

    def clear_overrides(self, key: str, by: str, *, now: datetime) -> DeskResult:
        """Every field of the item back to what the mapping gives."""
        with self._desk_read() as session:
            item = self._desk_item(session, key)
            names = list(overrides_from_json(item.overrides)) if item is not None else []
        return self.set_overrides(key, dict.fromkeys(names), by, now=now)
