"""The outbound push, step by step (DESIGN: Outbound push): pushing before the create call, the
unknown outcome, the failure, and the link recorded with ``pushed`` in one transaction."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from app.store.audit import AuditStore
from app.store.links import LinkConflict, link_by_sys_id, link_by_ticket_id
from app.store.models import AuditDirection, AuditOutcome, Link, QueueItem, QueueState, WritebackState
from app.store.queue import InvalidTransition, move_item, require_item
from app.store.types import require_utc

_PUSHABLE = frozenset({QueueState.PENDING, QueueState.APPROVED, QueueState.PUSHING})
_FAILABLE = frozenset({QueueState.PENDING, QueueState.APPROVED, QueueState.PUSHING, QueueState.FAILED})


class PushStore(AuditStore):
    """Mixed into :class:`app.store.Store`."""

    def mark_pushing(self, sys_id: str, *, now: datetime, by: str = "auto-push") -> int:
        """Step 1 of a push, committed BEFORE the create call. Returns the attempt number.

        approved|pending|pushing -> pushing. From pending (auto-push) the decision is recorded
        as ``by``. An attempt number > 1 means: search Autotask for the sys_id before creating.
        """
        now = require_utc(now, "now")
        with self._write() as session:
            item = require_item(session, sys_id)
            if item.state not in _PUSHABLE:
                raise InvalidTransition(f"{item.number}: cannot push while {item.state}")
            decided_by = by if item.state == QueueState.PENDING else None
            move_item(item, QueueState.PUSHING, now, decided_by=decided_by)
            item.attempts += 1
            return item.attempts

    def mark_push_uncertain(
        self,
        sys_id: str,
        error: str,
        next_retry_at: datetime,
        *,
        now: datetime,
        request_body: str | None = None,
        response_body: str | None = None,
    ) -> QueueItem:
        """Unknown outcome (timeout/reset/5xx after send): stays pushing; the next try searches first."""
        now = require_utc(now, "now")
        next_retry_at = require_utc(next_retry_at, "next_retry_at")
        with self._write() as session:
            item = require_item(session, sys_id)
            if item.state != QueueState.PUSHING:
                raise InvalidTransition(f"{item.number}: not pushing (is {item.state})")
            item.last_error = error
            item.next_retry_at = next_retry_at
            item.updated_at = now
            self._audit(
                session,
                now=now,
                direction=AuditDirection.OUTBOUND,
                kind="push",
                outcome=AuditOutcome.RETRY,
                summary=f"{item.number}: outcome unknown ({error}); will check Autotask before trying again",
                item=item,
                request_body=request_body,
                response_body=response_body,
            )
            return item

    def mark_failed(
        self,
        sys_id: str,
        error: str,
        next_retry_at: datetime | None,
        *,
        now: datetime,
        request_body: str | None = None,
        response_body: str | None = None,
    ) -> QueueItem:
        """Record a push/pre-flight failure.

        ``next_retry_at`` None: permanent (validation, permission) -> failed, waits for a user retry.
        A datetime: retryable and nothing was created -> pushing goes back to approved (pending and
        approved keep their state) with ``next_retry_at`` and ``last_error``.
        """
        now = require_utc(now, "now")
        with self._write() as session:
            item = require_item(session, sys_id)
            if item.state not in _FAILABLE:
                raise InvalidTransition(f"{item.number}: cannot record a failure while {item.state}")
            if next_retry_at is None:
                move_item(item, QueueState.FAILED, now)
                outcome, summary = AuditOutcome.FAILED, f"{item.number}: push refused: {error}"
            else:
                if item.state == QueueState.PUSHING:
                    move_item(item, QueueState.APPROVED, now)
                item.next_retry_at = require_utc(next_retry_at, "next_retry_at")
                outcome = AuditOutcome.RETRY
                summary = f"{item.number}: {error}; next try at {item.next_retry_at:%H:%M:%S} UTC"
            item.last_error = error
            item.updated_at = now
            self._audit(
                session,
                now=now,
                direction=AuditDirection.OUTBOUND,
                kind="failure",
                outcome=outcome,
                summary=summary,
                item=item,
                request_body=request_body,
                response_body=response_body,
            )
            return item

    def record_pushed(
        self,
        sys_id: str,
        *,
        ticket_id: int,
        ticket_number: str,
        outbound_values: dict[str, Any],
        return_synced: dict[str, str],
        now: datetime,
        kind: str = "create",
        summary: str | None = None,
        request_body: str | None = None,
        response_body: str | None = None,
        adopted: bool = False,
        writeback_done: bool = False,
        note: str | None = None,
        ticket_title: str = "",
    ) -> Link:
        """Step 4: link + state pushed + audit event, in ONE transaction; write-back pending (done
        when ``writeback_done``: the incident already names the ticket). ``adopted``: the ticket was
        found in Autotask, not created by this store.

        Accepted from any state: the ticket exists, so recording it is what prevents a duplicate.
        Idempotent: the same (sys_id, ticket_id) again returns the existing link and adds no event.
        Raises LinkConflict when either side is already linked to something else.
        """
        now = require_utc(now, "now")
        with self._write() as session:
            item = require_item(session, sys_id)
            existing = link_by_sys_id(session, sys_id)
            if existing is not None:
                if existing.ticket_id != ticket_id:
                    theirs = existing.ticket_number or existing.ticket_id
                    raise LinkConflict(f"{item.number} is already linked to ticket {theirs}")
                if item.state != QueueState.PUSHED:
                    move_item(item, QueueState.PUSHED, now)
                return existing
            other = link_by_ticket_id(session, ticket_id)
            if other is not None:
                ours = ticket_number or ticket_id
                raise LinkConflict(
                    f"ticket {ours} is already linked to {other.incident_number or other.sys_id}"
                )
            link = Link(
                sys_id=sys_id,
                incident_number=item.number,
                ticket_id=ticket_id,
                ticket_number=ticket_number,
                linked_at=now,
                outbound_values=dict(outbound_values),
                return_synced=dict(return_synced),
                writeback_state=WritebackState.DONE if writeback_done else WritebackState.PENDING,
                last_outbound_at=now,
                adopted=adopted,
                note=note,
                ticket_title=ticket_title,
            )
            session.add(link)
            move_item(item, QueueState.PUSHED, now)
            self._audit(
                session,
                now=now,
                direction=AuditDirection.OUTBOUND,
                kind=kind,
                outcome=AuditOutcome.OK,
                summary=summary or f"{item.number} -> ticket {ticket_number or ticket_id}",
                item=item,
                ticket_id=ticket_id,
                ticket_number=ticket_number,
                request_body=request_body,
                response_body=response_body,
            )
            return link
