"""The one session/transaction helper every aggregate of the store shares.

Why one session per call: the engine calls the store through ``asyncio.to_thread``, so calls come
from several threads, and a shared Session is not thread-safe. Write transactions take the store's
write lock first (``BEGIN IMMEDIATE`` on SQLite, the advisory write lock on PostgreSQL: see
:data:`app.store.db.IMMEDIATE`), so a read-decide-write call never interleaves with another writer.
Results are detached copies (``expire_on_commit=False``): read them anywhere, change state only
through the store's methods.
"""

from __future__ import annotations

import gc
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any, TypeVar

from sqlalchemy import ColumnElement, Engine, or_
from sqlmodel import Session, col

from app.store.db import IMMEDIATE

T = TypeVar("T")
_CHUNK = 500  # stay far below SQLite's bound-parameter limit
_YOUNG_EVERY = 2_000  # rows between the young garbage collections of young_collected()

#: How callers name a queue item: incident number, sys_id, or queue id.
Key = str | int


class StoreSession:
    """Base of the store's aggregate mixins: owns ``engine`` and the read/write transactions."""

    engine: Engine

    @contextmanager
    def _read(self) -> Iterator[Session]:
        with Session(self.engine, expire_on_commit=False) as session:
            yield session

    @contextmanager
    def _write(self) -> Iterator[Session]:
        """One writing transaction, committed when the block ends (rolled back if it raises)."""
        with Session(self.engine, expire_on_commit=False) as session:
            session.connection(execution_options={IMMEDIATE: True})
            yield session
            session.commit()


def chunks(values: Sequence[T]) -> Iterator[Sequence[T]]:
    """Split an ``IN`` list so no query exceeds the backend's bound-parameter limit."""
    for start in range(0, len(values), _CHUNK):
        yield values[start : start + _CHUNK]


def young_collected(rows: Iterable[T]) -> Iterator[T]:
    """``rows``, with a young garbage collection every 2,000 of them.

    Python starts a young collection when allocations outnumber deallocations by 700. A loop that
    keeps one new tuple per row while freeing a temporary (a database row, a parsed model) never
    gets there: with 100,000 rows the young generation held 106,000 tuples, and the collection
    that finally came walked them all in one go (17 ms holding every thread, the GUI's included).
    Collected as they come, tuples of plain values also leave the collector's sight early."""
    for count, row in enumerate(rows, 1):
        yield row
        if count % _YOUNG_EVERY == 0:
            gc.collect(0)


def release_in_slices(values: list[Any]) -> None:
    """Empty ``values`` a slice at a time. Freeing 100,000 rows (with their snapshots) at once is
    one uninterrupted piece of C that holds the interpreter lock for up to 70 ms, while the
    desktop's GUI thread waits for it; between slices any waiting thread gets its turn."""
    while values:
        del values[-_CHUNK:]


def due(column: Any, now: datetime) -> ColumnElement[bool]:
    """A "not before" column that is unset or already passed."""
    return or_(col(column).is_(None), col(column) <= now)


def utcnow() -> datetime:
    """Aware UTC now (a helper for callers; store methods take ``now`` explicitly for tests)."""
    return datetime.now(UTC)
