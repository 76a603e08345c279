"""The session and audit helpers the desk modules (duplicates, overrides) share.

Kept apart from app/store/store.py so the desk tools add no lines to it: the same one-transaction-
per-call pattern (``BEGIN IMMEDIATE`` on SQLite for read-then-write), the same audit row shape.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Engine, or_
from sqlmodel import Session, col, select

from app.store.db import IMMEDIATE
from app.store.models import AuditDirection, AuditEvent, AuditOutcome, QueueItem

WAITING = ("pending", "approved", "failed")


@dataclass(frozen=True)
class DeskResult:
    """The outcome of one desk change (``item``: the stored row after it, when there is one)."""

    key: str
    ok: bool
    message: str
    item: QueueItem | None = None


class DeskSession:
    """Mixed into :class:`app.store.Store` (which provides ``engine``)."""

    engine: Engine

    @contextmanager
    def _desk_read(self) -> Iterator[Session]:
        with Session(self.engine, expire_on_commit=False) as session:
            yield session

    @contextmanager
    def _desk_write(self) -> Iterator[Session]:
        with Session(self.engine, expire_on_commit=False) as session:
            session.connection(execution_options={IMMEDIATE: True})
            yield session
            session.commit()

    @staticmethod
    def _desk_item(session: Session, key: str) -> QueueItem | None:
        """By sys_id or incident number (any case)."""
        text = key.strip()
        if not text:
            return None
        query = select(QueueItem).where(
            or_(col(QueueItem.sys_id) == text, col(QueueItem.number) == text.upper())
        )
        return session.exec(query).first()

    @staticmethod
    def _desk_audit(
        session: Session, item: QueueItem, *, now: datetime, kind: str, outcome: AuditOutcome, summary: str
    ) -> None:
        session.add(
            AuditEvent(
                at=now,
                direction=AuditDirection.OUTBOUND,
                kind=kind,
                outcome=outcome,
                sys_id=item.sys_id,
                incident_number=item.number,
                summary=summary,
            )
        )
