"""The queue as the desktop list shows it: the list's columns only, as plain rows.

Why not ``Store.list_items``: that builds an ORM object per item, snapshot (the incident's JSON)
included; for a 100,000-item queue that is ~100 MB of JSON the list never reads and seconds of
object construction. A Core select of the shown columns is several times faster on SQLite and
PostgreSQL alike.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import select
from sqlmodel import col

from app.store.models import QueueItem, QueueState
from app.store.store import Store

# What a QueueRow is made of (app/engine/convert.py: queue_row_from_columns).
LIST_COLUMNS = (
    col(QueueItem.id),
    col(QueueItem.sys_id),
    col(QueueItem.number),
    col(QueueItem.short_description),
    col(QueueItem.category),
    col(QueueItem.priority),
    col(QueueItem.caller),
    col(QueueItem.state),
    col(QueueItem.attempts),
    col(QueueItem.last_error),
    col(QueueItem.next_retry_at),
    col(QueueItem.queued_at),
    col(QueueItem.updated_at),
    col(QueueItem.sn_updated_on),
    col(QueueItem.decided_by),
    col(QueueItem.drop_reason),
    col(QueueItem.forced_reason),
    col(QueueItem.duplicate_of),
    col(QueueItem.duplicate_note),
    col(QueueItem.overrides),  # JSON: the engine turns it into values and who set them
)


def list_queue_columns(
    store: Store, states: Iterable[QueueState | str] | None = None
) -> list[dict[str, Any]]:
    """Newest first, like ``Store.list_items``; one mapping of column name to value per item."""
    query = select(*LIST_COLUMNS)
    if states is not None:
        query = query.where(col(QueueItem.state).in_([QueueState(state) for state in states]))
    query = query.order_by(col(QueueItem.queued_at).desc(), col(QueueItem.id).desc())
    with store.engine.connect() as connection:
        return [dict(row._mapping) for row in connection.execute(query)]
