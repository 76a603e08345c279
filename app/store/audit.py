"""The audit trail: every push, update, skip and failure, for the activity view and ``log``.

Bodies are the exact JSON sent or received, never headers: nothing here holds a credential.
Other aggregates write their event in their own transaction with :func:`record_audit`.
"""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Session, col, select

from app.store.models import AuditDirection, AuditEvent, AuditOutcome, Link, QueueItem
from app.store.session import StoreSession
from app.store.types import require_utc


def record_audit(
    session: Session,
    *,
    now: datetime,
    direction: AuditDirection | str,
    kind: str,
    outcome: AuditOutcome | str,
    summary: str,
    item: QueueItem | None = None,
    link: Link | None = None,
    sys_id: str | None = None,
    incident_number: str | None = None,
    ticket_id: int | None = None,
    ticket_number: str | None = None,
    request_body: str | None = None,
    response_body: str | None = None,
) -> AuditEvent:
    """Add one event to ``session`` (the caller's transaction); ids and numbers default to the
    item's and the link's."""
    if item is not None:
        sys_id = sys_id or item.sys_id
        incident_number = incident_number or item.number
    if link is not None:
        sys_id = sys_id or link.sys_id
        incident_number = incident_number or link.incident_number
        ticket_id = ticket_id if ticket_id is not None else link.ticket_id
        ticket_number = ticket_number or link.ticket_number
    event = AuditEvent(
        at=now,
        direction=AuditDirection(direction),
        kind=kind,
        outcome=AuditOutcome(outcome),
        sys_id=sys_id,
        incident_number=incident_number,
        ticket_id=ticket_id,
        ticket_number=ticket_number,
        summary=summary,
        request_body=request_body,
        response_body=response_body,
    )
    session.add(event)
    return event


class AuditStore(StoreSession):
    """Mixed into :class:`app.store.Store`; the aggregates that audit what they change (queue,
    decisions, push, links) build on it and write their event with ``self._audit(session, ...)``."""

    _audit = staticmethod(record_audit)

    def add_audit(
        self,
        *,
        direction: AuditDirection | str,
        kind: str,
        outcome: AuditOutcome | str,
        summary: str,
        now: datetime,
        sys_id: str | None = None,
        incident_number: str | None = None,
        ticket_id: int | None = None,
        ticket_number: str | None = None,
        request_body: str | None = None,
        response_body: str | None = None,
    ) -> AuditEvent:
        """Append one event (skips, auth failures, recoveries...). Bodies: exact JSON, no headers."""
        now = require_utc(now, "now")
        with self._write() as session:
            return self._audit(
                session,
                now=now,
                direction=direction,
                kind=kind,
                outcome=outcome,
                summary=summary,
                sys_id=sys_id,
                incident_number=incident_number,
                ticket_id=ticket_id,
                ticket_number=ticket_number,
                request_body=request_body,
                response_body=response_body,
            )

    def list_audit(
        self,
        *,
        direction: AuditDirection | str | None = None,
        sys_id: str | None = None,
        ticket_id: int | None = None,
        limit: int = 200,
        before_id: int | None = None,
    ) -> list[AuditEvent]:
        """Newest first; page further back with ``before_id`` = the last id you got."""
        query = select(AuditEvent)
        if direction is not None:
            query = query.where(col(AuditEvent.direction) == AuditDirection(direction))
        if sys_id is not None:
            query = query.where(col(AuditEvent.sys_id) == sys_id)
        if ticket_id is not None:
            query = query.where(col(AuditEvent.ticket_id) == ticket_id)
        if before_id is not None:
            query = query.where(col(AuditEvent.id) < before_id)
        query = query.order_by(col(AuditEvent.id).desc()).limit(limit)
        with self._read() as session:
            return list(session.exec(query).all())
