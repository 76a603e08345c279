"""Reads an attached desk makes when the change feed says something changed: only the rows
changed since the last look, so a refresh costs one small query, not a reload."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import Engine, and_, or_
from sqlmodel import Session, col, select

from app.store.models import AuditEvent, Link, QueueItem


def items_updated_since(
    engine: Engine,
    since: datetime | None,
    *,
    after: tuple[datetime, int] | None = None,
    limit: int = 1000,
) -> list[QueueItem]:
    """Queue items updated at or after ``since`` (all when None), ordered by (updated_at, id);
    ``after`` continues a page: only rows beyond that (updated_at, id) key."""
    query = select(QueueItem)
    if since is not None:
        query = query.where(col(QueueItem.updated_at) >= since)
    if after is not None:
        at, item_id = after
        query = query.where(
            or_(
                col(QueueItem.updated_at) > at,
                and_(col(QueueItem.updated_at) == at, col(QueueItem.id) > item_id),
            )
        )
    query = query.order_by(col(QueueItem.updated_at), col(QueueItem.id)).limit(limit)
    with Session(engine, expire_on_commit=False) as session:
        return list(session.exec(query).all())


def newest_item_update(engine: Engine) -> datetime | None:
    query = select(QueueItem.updated_at).order_by(col(QueueItem.updated_at).desc()).limit(1)
    with Session(engine) as session:
        return session.exec(query).first()


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
