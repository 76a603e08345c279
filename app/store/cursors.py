"""Poll positions per system (``sync_cursor``): watermark, the overlap's ``seen`` ids, the last
success and failure, and the reconciliation pass's schedule and last result."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlmodel import Session

from app.store.models import Cursor
from app.store.session import StoreSession
from app.store.types import require_utc


def _cursor(session: Session, system: str) -> Cursor:
    """The stored cursor, or a fresh one added to the session."""
    cursor = session.get(Cursor, system) or Cursor(system=system, seen={})
    session.add(cursor)
    return cursor


class CursorStore(StoreSession):
    """Mixed into :class:`app.store.Store`."""

    def get_cursor(self, system: str) -> Cursor:
        """The poll position; a fresh (unsaved) cursor with no watermark when never polled."""
        with self._read() as session:
            cursor = session.get(Cursor, system)
            return cursor if cursor is not None else Cursor(system=system, seen={})

    def save_cursor(
        self,
        system: str,
        watermark: datetime | None,
        seen: dict[str, str],
        *,
        now: datetime,
        covered_since: datetime | None = None,
    ) -> Cursor:
        """A successful poll: store the watermark (only after its records are stored) and ``seen``.
        ``covered_since`` (where this poll began reading) is kept only by the very first poll."""
        now = require_utc(now, "now")
        with self._write() as session:
            cursor = _cursor(session, system)
            if cursor.covered_since is None and covered_since is not None:
                cursor.covered_since = require_utc(covered_since, "covered_since")
            cursor.watermark = require_utc(watermark, "watermark") if watermark is not None else None
            cursor.seen = dict(seen)
            cursor.last_success_at = now
            return cursor

    def schedule_reconcile(
        self, system: str, due_at: datetime, *, ran_at: datetime | None = None, found: Sequence[str] = ()
    ) -> Cursor:
        """Set when the next reconciliation pass runs; with ``ran_at``, also record this pass and
        what it found (record names, e.g. incident numbers), for ``status`` and the poll report."""
        with self._write() as session:
            cursor = _cursor(session, system)
            cursor.reconcile_due_at = require_utc(due_at, "due_at")
            if ran_at is not None:
                cursor.reconciled_at = require_utc(ran_at, "ran_at")
                cursor.reconcile_found = len(found)
                cursor.reconcile_summary = ", ".join(found)[:2000] if found else None
            return cursor

    def cursor_failure(self, system: str, error: str, *, now: datetime) -> Cursor:
        """A failed poll: the watermark stays; the error and time are kept for the health view."""
        now = require_utc(now, "now")
        with self._write() as session:
            cursor = _cursor(session, system)
            cursor.last_failure_at = now
            cursor.last_error = error
            return cursor
