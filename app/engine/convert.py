"""Store rows -> the read-only views the UI and CLI get (no SQLModel object leaks upward)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from app.domain.overrides import overrides_from_json
from app.engine.views import AuditRow, LinkRow, QueueRow
from app.store import AuditEvent, Link, QueueItem


def queue_row(item: QueueItem) -> QueueRow:
    assert item.id is not None, "a stored item has an id"
    overrides, overridden_by = _overrides(item.overrides)
    return QueueRow(
        id=item.id,
        sys_id=item.sys_id,
        number=item.number,
        short_description=item.short_description,
        category=item.category,
        priority=item.priority,
        caller=item.caller,
        state=str(item.state),
        attempts=item.attempts,
        last_error=item.last_error,
        next_retry_at=item.next_retry_at,
        queued_at=item.queued_at,
        updated_at=item.updated_at,
        sn_updated_on=item.sn_updated_on,
        decided_by=item.decided_by,
        drop_reason=item.drop_reason,
        forced_reason=item.forced_reason,
        duplicate_of=item.duplicate_of,
        duplicate_note=item.duplicate_note,
        overrides=overrides,
        overridden_by=overridden_by,
    )


def _overrides(stored: Any) -> tuple[dict[str, Any], str | None]:
    """The per-ticket overrides' values and who set the latest one."""
    overrides = overrides_from_json(stored)
    latest = max(overrides.values(), key=lambda o: o.at, default=None)
    return {target: chosen.value for target, chosen in overrides.items()}, latest.by if latest else None


def queue_row_from_columns(columns: Mapping[str, Any]) -> QueueRow:
    """A row of ``list_queue_columns`` (the list's columns only, no ORM object)."""
    values = dict(columns)
    values["overrides"], values["overridden_by"] = _overrides(values["overrides"])
    values["state"] = str(values["state"])
    return QueueRow(**values)


def link_row(link: Link) -> LinkRow:
    assert link.id is not None, "a stored link has an id"
    return LinkRow(
        id=link.id,
        sys_id=link.sys_id,
        incident_number=link.incident_number,
        ticket_id=link.ticket_id,
        ticket_number=link.ticket_number,
        linked_at=link.linked_at,
        writeback_state=str(link.writeback_state),
        writeback_error=link.writeback_error,
        last_outbound_at=link.last_outbound_at,
        last_return_at=link.last_return_at,
        return_synced=dict(link.return_synced),
        adopted=link.adopted,
        note=link.note,
        ticket_title=link.ticket_title,
    )


def audit_row(event: AuditEvent) -> AuditRow:
    assert event.id is not None, "a stored event has an id"
    return AuditRow(
        id=event.id,
        at=event.at,
        direction=str(event.direction),
        kind=event.kind,
        outcome=str(event.outcome),
        sys_id=event.sys_id,
        incident_number=event.incident_number,
        ticket_id=event.ticket_id,
        ticket_number=event.ticket_number,
        summary=event.summary,
        request_body=event.request_body,
        response_body=event.response_body,
    )
