"""Links: incident <-> ticket, with the last values synced each way, the incident write-back's
own small state (pending, done, failed) and the return trip's in-flight marker.

A link is created with its queue item's ``pushed`` state in one transaction (:mod:`app.store.push`);
everything after that (write-back, return trip) lives here and never touches the queue item: a
failed write-back never causes a second create.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import ColumnElement, func, or_
from sqlmodel import Session, col, select

from app.store.audit import AuditStore
from app.store.errors import StoreError
from app.store.models import AuditDirection, AuditOutcome, Link, WritebackState
from app.store.session import chunks, due
from app.store.types import require_utc


class LinkNotFound(StoreError, LookupError):
    """No link for that sys_id / ticket id."""


class LinkConflict(StoreError):
    """The incident is linked to another ticket, or the ticket to another incident."""


def link_by_sys_id(session: Session, sys_id: str) -> Link | None:
    return session.exec(select(Link).where(col(Link.sys_id) == sys_id)).first()


def link_by_ticket_id(session: Session, ticket_id: int) -> Link | None:
    return session.exec(select(Link).where(col(Link.ticket_id) == ticket_id)).first()


def _require_sys_id(session: Session, sys_id: str) -> Link:
    link = link_by_sys_id(session, sys_id)
    if link is None:
        raise LinkNotFound(f"no link for sys_id {sys_id!r}")
    return link


def _require_ticket_id(session: Session, ticket_id: int) -> Link:
    link = link_by_ticket_id(session, ticket_id)
    if link is None:
        raise LinkNotFound(f"no link for ticket id {ticket_id}")
    return link


def _link_search(text: str) -> ColumnElement[bool]:
    conditions = [
        col(Link.incident_number).icontains(text, autoescape=True),
        col(Link.ticket_number).icontains(text, autoescape=True),
        col(Link.sys_id).icontains(text, autoescape=True),
    ]
    if text.isdigit():
        conditions.append(col(Link.ticket_id) == int(text))
    return or_(*conditions)


class LinkStore(AuditStore):
    """Mixed into :class:`app.store.Store`."""

    # ---- reads -----------------------------------------------------------------------------------

    def get_link(
        self, *, sys_id: str | None = None, ticket_id: int | None = None, number: str | None = None
    ) -> Link | None:
        """By incident sys_id, ticket id, or a number (incident number or ticket number)."""
        given = [value is not None for value in (sys_id, ticket_id, number)]
        if sum(given) != 1:
            raise ValueError("get_link: pass exactly one of sys_id, ticket_id, number")
        query = select(Link)
        if sys_id is not None:
            query = query.where(col(Link.sys_id) == sys_id)
        elif ticket_id is not None:
            query = query.where(col(Link.ticket_id) == ticket_id)
        else:
            text = (number or "").strip()
            query = query.where(
                or_(
                    col(Link.incident_number) == text,
                    col(Link.incident_number) == text.upper(),
                    col(Link.ticket_number) == text,
                    col(Link.ticket_number) == text.upper(),
                )
            )
        with self._read() as session:
            return session.exec(query).first()

    def links_for_ticket_ids(self, ticket_ids: Iterable[int]) -> dict[int, Link]:
        """The links among these tickets (return trip: filter a polled page to our tickets)."""
        ids = sorted(set(ticket_ids))
        found: dict[int, Link] = {}
        with self._read() as session:
            for chunk in chunks(ids):
                for link in session.exec(select(Link).where(col(Link.ticket_id).in_(chunk))).all():
                    found[link.ticket_id] = link
        return found

    def linked_sys_ids_among(self, sys_ids: Iterable[str]) -> set[str]:
        """Which of these incidents are already linked (trigger rule: require_unlinked)."""
        ids = sorted(set(sys_ids))
        linked: set[str] = set()
        with self._read() as session:
            for chunk in chunks(ids):
                linked.update(session.exec(select(Link.sys_id).where(col(Link.sys_id).in_(chunk))).all())
        return linked

    def list_links(self, search: str | None = None, limit: int | None = None, offset: int = 0) -> list[Link]:
        """Newest link first; ``search`` matches numbers, sys_id, or the ticket id."""
        query = select(Link)
        if search and search.strip():
            query = query.where(_link_search(search.strip()))
        query = query.order_by(col(Link.linked_at).desc(), col(Link.id).desc()).offset(offset)
        if limit is not None:
            query = query.limit(limit)
        with self._read() as session:
            return list(session.exec(query).all())

    def count_links(self, search: str | None = None) -> int:
        query = select(func.count()).select_from(Link)
        if search and search.strip():
            query = query.where(_link_search(search.strip()))
        with self._read() as session:
            return int(session.exec(query).one())

    def writebacks_due(self, now: datetime, limit: int | None = None) -> list[Link]:
        """Links whose incident write-back is pending and due (oldest link first)."""
        now = require_utc(now, "now")
        query = (
            select(Link)
            .where(col(Link.writeback_state) == WritebackState.PENDING, due(Link.writeback_next_at, now))
            .order_by(col(Link.linked_at), col(Link.id))
        )
        if limit is not None:
            query = query.limit(limit)
        with self._read() as session:
            return list(session.exec(query).all())

    def pending_writebacks(self) -> list[Link]:
        """Every link whose write-back is not done yet, due or not (what a run leaves undone)."""
        query = (
            select(Link)
            .where(col(Link.writeback_state) == WritebackState.PENDING)
            .order_by(col(Link.linked_at), col(Link.id))
        )
        with self._read() as session:
            return list(session.exec(query).all())

    # ---- writes ----------------------------------------------------------------------------------

    def set_ticket_number(self, ticket_id: int, ticket_number: str) -> Link:
        """Fill in the ticket number of a link recorded right after the create (the create answer
        carries only the id; numbers are read for a whole batch at once, before the write-back)."""
        with self._write() as session:
            link = _require_ticket_id(session, ticket_id)
            link.ticket_number = ticket_number
            return link

    def begin_writeback(self, sys_id: str) -> Link:
        """Count a write-back attempt BEFORE its PATCH: after a kill mid-request the next try sees an
        attempt and reads the incident first instead of appending the work note again."""
        with self._write() as session:
            link = _require_sys_id(session, sys_id)
            link.writeback_attempts += 1
            return link

    def begin_return(self, ticket_id: int) -> Link:
        """Mark a return-trip PATCH in flight (cleared by :meth:`update_return_synced`)."""
        with self._write() as session:
            link = _require_ticket_id(session, ticket_id)
            link.return_in_flight = True
            return link

    def mark_writeback(
        self,
        sys_id: str,
        state: WritebackState | str,
        *,
        now: datetime,
        error: str | None = None,
        next_at: datetime | None = None,
        summary: str | None = None,
        request_body: str | None = None,
        response_body: str | None = None,
        note: str | None = None,
    ) -> Link:
        """Record a write-back outcome (with its audit event, one transaction); ``note`` replaces
        the link's note when given.

        done: finished. pending + ``next_at``: retry then. failed: gave up until a user asks again
        (``mark_writeback(sys_id, "pending")``). Attempts are counted by :meth:`begin_writeback`.
        Never touches the queue item: a failed write-back never causes a second create.
        """
        now = require_utc(now, "now")
        wanted = WritebackState(state)
        with self._write() as session:
            link = _require_sys_id(session, sys_id)
            link.writeback_state = wanted
            if note is not None:
                link.note = note
            link.writeback_error = None if wanted == WritebackState.DONE else error
            link.writeback_next_at = require_utc(next_at, "next_at") if next_at is not None else None
            if wanted == WritebackState.DONE:
                link.writeback_next_at = None
            outcome = {
                WritebackState.DONE: AuditOutcome.OK,
                WritebackState.PENDING: AuditOutcome.RETRY if error else AuditOutcome.OK,
                WritebackState.FAILED: AuditOutcome.FAILED,
            }[wanted]
            default_summary = {
                WritebackState.DONE: f"{link.incident_number} now names ticket {link.ticket_number}",
                WritebackState.PENDING: (
                    f"{link.incident_number}: write-back failed ({error}); will retry"
                    if error
                    else f"{link.incident_number}: write-back queued again"
                ),
                WritebackState.FAILED: f"{link.incident_number}: write-back failed: {error}",
            }[wanted]
            self._audit(
                session,
                now=now,
                direction=AuditDirection.OUTBOUND,
                kind="writeback",
                outcome=outcome,
                summary=summary or default_summary,
                link=link,
                request_body=request_body,
                response_body=response_body,
            )
            return link

    def update_return_synced(
        self,
        ticket_id: int,
        synced: dict[str, str],
        *,
        now: datetime,
        summary: str | None = None,
        request_body: str | None = None,
        response_body: str | None = None,
        kind: str = "update",
        outcome: AuditOutcome = AuditOutcome.OK,
        note: str | None = None,
    ) -> Link:
        """Return trip step 2: merge the values just synced back into the link, with the audit event.

        Merged (not replaced) so a PATCH that sent only the changed field keeps the others. The
        link's note becomes ``note`` (None clears it: the last round had nothing to say).
        """
        now = require_utc(now, "now")
        with self._write() as session:
            link = _require_ticket_id(session, ticket_id)
            merged = dict(link.return_synced)
            merged.update(synced)
            link.return_synced = merged  # a new dict: JSON columns do not track in-place changes
            link.return_in_flight = False
            link.last_return_at = now
            link.note = note
            changes = ", ".join(f"{name} {value}" for name, value in synced.items())
            self._audit(
                session,
                now=now,
                direction=AuditDirection.RETURN,
                kind=kind,
                outcome=outcome,
                summary=summary
                or f"{link.incident_number} updated from ticket {link.ticket_number}: {changes}",
                link=link,
                request_body=request_body,
                response_body=response_body,
            )
            return link
