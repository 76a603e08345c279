"""Reads an attached desk makes when the change feed says something changed: only the rows
changed since the last look, so a refresh costs one small query, not a reload."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import Engine
from sqlmodel import Session, col, select

from app.store.models import AuditEvent, Link, QueueItem


def items_updated_since(engine: Engine, since: datetime | None, limit: int = 2000) -> list[QueueItem]:
    """Queue items updated at or after ``since`` (all when None), oldest change first."""
    query = select(QueueItem)
    if since is not None:
        query = query.where(col(QueueItem.updated_at) >= since)
    query = query.order_by(col(QueueItem.updated_at), col(QueueItem.id)).limit(limit)
    with Session(engine, expire_on_commit=False) as session:
        return list(session.exec(query).all())


def audit_after(engine: Engine, after_id: int, limit: int = 500) -> list[AuditEvent]:
    """Audit rows with an id above ``after_id``, oldest first."""
    query = select(AuditEvent).where(col(AuditEvent.id) > after_id).order_by(col(AuditEvent.id)).limit(limit)
    with Session(engine, expire_on_commit=False) as session:
        return list(session.exec(query).all())


def last_audit_id(engine: Engine) -> int:
    query = select(AuditEvent.id).order_by(col(AuditEvent.id).desc()).limit(1)
    with Session(engine) as session:
        found = session.exec(query).first()
    return int(found or 0)


def links_for(engine: Engine, sys_ids: Iterable[str]) -> list[Link]:
    wanted = sorted(set(sys_ids))
    if not wanted:
        return []
    with Session(engine, expire_on_commit=False) as session:
        return list(session.exec(select(Link).where(col(Link.sys_id).in_(wanted))).all())
