"""Desk requests: live reads a desk asks of the engine through the store.

Desks hold no API credentials (team mode). When a desk needs something only a live API read can
give (explaining an incident the store does not know, re-reading one now), it writes a request row;
the engine that holds the lease answers it (``answer`` JSON, or ``error`` in words) and the desk
reads the answer. :func:`app.engine.desk_requests.ask_engine` wraps the round trip for callers.

Requests are small and short-lived: the engine skips (answers with an error) any request older than
:data:`REQUEST_MAX_AGE`, nobody waits for it any more, and :meth:`DeskRequestStore.purge_requests`
removes answered ones.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete
from sqlmodel import col, select

from app.store.changes import watch_table
from app.store.models import DeskRequest
from app.store.session import StoreSession
from app.store.types import require_utc

#: A request nobody answered within this long is stale: its desk has given up waiting.
REQUEST_MAX_AGE = timedelta(minutes=2)

watch_table("desk_request", "requests")  # the change feed wakes the engine (and the asking desk)


class DeskRequestStore(StoreSession):
    """Mixed into :class:`app.store.Store`."""

    def ask(
        self, kind: str, key: str, asked_by: str, *, now: datetime, params: dict[str, Any] | None = None
    ) -> int:
        """File a request for the engine; returns its id (wait for the answer with it)."""
        now = require_utc(now, "now")
        with self._write() as session:
            row = DeskRequest(
                kind=kind[:16],
                key=key.strip()[:255],
                asked_by=asked_by[:40],
                asked_at=now,
                params=dict(params) if params is not None else None,
            )
            session.add(row)
            session.flush()
            assert row.id is not None
            return row.id

    def get_request(self, request_id: int) -> DeskRequest | None:
        with self._read() as session:
            return session.get(DeskRequest, request_id)

    def pending_requests(self, limit: int = 20) -> list[DeskRequest]:
        """Unanswered requests, oldest first (what the engine answers next)."""
        query = (
            select(DeskRequest)
            .where(col(DeskRequest.answered_at).is_(None))
            .order_by(col(DeskRequest.id))
            .limit(limit)
        )
        with self._read() as session:
            return list(session.exec(query).all())

    def answer_request(
        self,
        request_id: int,
        *,
        now: datetime,
        answer: dict[str, Any] | None = None,
        error: str | None = None,
    ) -> bool:
        """Record the engine's answer (or ``error``). False when it was answered already (two
        engines never both hold the lease, but a handover may answer a request twice: first wins)."""
        now = require_utc(now, "now")
        with self._write() as session:
            row = session.get(DeskRequest, request_id)
            if row is None or row.answered_at is not None:
                return False
            row.answered_at = now
            row.answer = dict(answer) if answer is not None else None
            row.error = error
            return True

    def purge_requests(self, *, before: datetime) -> int:
        """Delete requests asked before ``before`` (answered or abandoned). Returns how many."""
        before = require_utc(before, "before")
        with self._write() as session:
            result = session.execute(delete(DeskRequest).where(col(DeskRequest.asked_at) < before))
            return int(getattr(result, "rowcount", 0) or 0)
