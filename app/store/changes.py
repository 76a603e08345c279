"""The change feed: the store wakes the other processes when something that matters changed.

Team mode makes the store the only channel between the engine and the desks. Polling tables for
news would cost every desk queries every second; instead every write transaction announces which
*topics* it touched, and readers wait for that announcement:

- **PostgreSQL**: ``pg_notify`` on one channel per schema, sent inside the writing transaction (so
  it is delivered on commit, and never for a rollback). A :class:`ChangeFeed` LISTENs on its own
  connection in a thread and reconnects when the server goes away; idle, it sends no queries.
- **SQLite**: the same transaction appends a row to ``store_change``. A :class:`ChangeFeed` asks
  ``PRAGMA data_version`` (a header read, no table scan) every :data:`SQLITE_POLL_SECONDS` on a
  dedicated connection and reads the new rows only after another connection committed.

Each announcement names its *origin* (one per SQLAlchemy engine, so one per Store), so the engine
can ignore its own writes and still see a desk's approval written in the same process.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import re
import socket
import sqlite3
import threading
import uuid
import weakref
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine, event
from sqlalchemy.engine import Connection
from sqlmodel import Field, SQLModel

log = logging.getLogger(__name__)

#: Tables whose writes other processes care about, and the topic each belongs to.
TOPICS: dict[str, str] = {
    "queue_item": "queue",
    "link": "links",
    "audit_event": "audit",
    "sync_cursor": "cursors",
    "engine_lease": "lease",
    "engine_state": "state",
}
ALL_TOPICS = frozenset(TOPICS.values())


def watch_table(table: str, topic: str) -> None:
    """Announce writes to another table (a new aggregate: claims, desk requests) under ``topic``.
    Call at import time of the module that defines the table, before any store is opened."""
    global ALL_TOPICS
    TOPICS[table] = topic
    ALL_TOPICS = frozenset(TOPICS.values())


SQLITE_POLL_SECONDS = 0.2
RECONNECT_SECONDS = (0.5, 1.0, 2.0, 5.0, 10.0)
PRUNE_EVERY = 200  # store_change rows: every Nth append trims the table
KEEP_ROWS = 2000
_PENDING = "triage_sync_changed_topics"
_CHANNEL = "triage_sync_channel"
_WRITE = re.compile(r'^\s*(?:INSERT\s+INTO|UPDATE|DELETE\s+FROM)\s+"?(\w+)"?', re.IGNORECASE)


class StoreChange(SQLModel, table=True):
    """One announced change on SQLite (revision 0009): a topic and whose write it was. Rows are
    appended by the write hook below and trimmed to the last :data:`KEEP_ROWS`."""

    __tablename__ = "store_change"

    id: int | None = Field(default=None, primary_key=True)
    topic: str = Field(max_length=32)
    origin: str = Field(max_length=96)
    at: str = Field(max_length=40)  # ISO time of the write; text so the hook needs no converter


_origins: weakref.WeakKeyDictionary[Engine, str] = weakref.WeakKeyDictionary()


def new_origin() -> str:
    return f"{socket.gethostname()[:40]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def origin_of(engine: Engine) -> str:
    """This engine's origin tag (what its announcements carry)."""
    return _origins.setdefault(engine, new_origin())


def channel_for(schema: str) -> str:
    """One channel per schema: two stores on one server (or parallel tests) never wake each other."""
    return f"triage_sync:{schema}"[:63]


def install_change_hooks(engine: Engine) -> None:
    """Make every committed write on ``engine`` announce its topics (called by create_store_engine)."""
    origin = origin_of(engine)
    postgres = engine.dialect.name == "postgresql"

    @event.listens_for(engine, "after_cursor_execute")
    def _note_write(
        connection: Connection, _cursor: Any, statement: str, _params: Any, _context: Any, _many: bool
    ) -> None:
        match = _WRITE.match(statement)
        topic = TOPICS.get(match.group(1).lower()) if match else None
        if topic is not None:
            connection.info.setdefault(_PENDING, set()).add(topic)

    @event.listens_for(engine, "commit")
    def _announce(connection: Connection) -> None:
        topics: set[str] | None = connection.info.pop(_PENDING, None)
        if not topics:
            return
        raw = connection.connection.dbapi_connection
        if raw is None:
            return
        try:
            if postgres:
                _notify_postgres(raw, connection.info, sorted(topics), origin)
            else:
                _append_sqlite(raw, sorted(topics), origin)
        except Exception as exc:  # never fail the user's write for a wake-up (readers also resync)
            log.warning("change announcement not sent: %s", exc)

    @event.listens_for(engine, "rollback")
    def _forget(connection: Connection) -> None:
        connection.info.pop(_PENDING, None)


def _notify_postgres(raw: Any, info: dict[str, Any], topics: list[str], origin: str) -> None:
    with raw.cursor() as cursor:
        channel = info.get(_CHANNEL)
        if channel is None:
            cursor.execute("SELECT current_schema()")
            row = cursor.fetchone()
            channel = info[_CHANNEL] = channel_for(str(row[0] if row else "public"))
        cursor.execute("SELECT pg_notify(%s, %s)", (channel, f"{','.join(topics)}|{origin}"))


def _append_sqlite(raw: Any, topics: list[str], origin: str) -> None:
    at = datetime.now(UTC).isoformat()
    cursor = raw.cursor()
    try:
        last = 0
        for topic in topics:
            cursor.execute(
                "INSERT INTO store_change (topic, origin, at) VALUES (?, ?, ?)", (topic, origin, at)
            )
            last = int(cursor.lastrowid or 0)
        if last and last % PRUNE_EVERY < len(topics):
            cursor.execute("DELETE FROM store_change WHERE id <= ?", (last - KEEP_ROWS,))
    except sqlite3.OperationalError as exc:
        if "no such table" not in str(exc):  # a store being migrated: nobody is listening yet
            raise
    finally:
        cursor.close()


@dataclass(frozen=True)
class Change:
    """What changed since the last delivery: topics, and whose writes (origins) they were."""

    topics: frozenset[str]
    origins: frozenset[str] = frozenset()
    resync: bool = False  # the feed (re)connected: anything may have changed meanwhile
    at: datetime = field(default_factory=lambda: datetime.now(UTC))

    def foreign_to(self, origin: str) -> bool:
        """Whether someone other than ``origin`` wrote (a resync counts: we cannot tell)."""
        return self.resync or bool(self.origins - {origin})


Subscriber = Callable[[Change], None]


class ChangeFeed:
    """Wakes this process when another store connection commits a change that matters.

    ``await feed.start()`` on the event loop that should receive the changes; subscribers run on
    that loop. ``await feed.wait(...)`` returns the next matching change (or None at the timeout).
    ``connected`` says whether the feed currently listens (False: the database is unreachable and
    the feed reconnects on its own, delivering a ``resync`` change when it is back).
    """

    def __init__(self, engine: Engine, *, poll_seconds: float = SQLITE_POLL_SECONDS) -> None:
        self.engine = engine
        self.origin = origin_of(engine)
        self.poll_seconds = poll_seconds
        self.connected = False
        self.last_error: str | None = None
        self._subscribers: list[Subscriber] = []
        self._waiters: list[tuple[asyncio.Future[Change], Callable[[Change], bool]]] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()

    @property
    def backend(self) -> str:
        return self.engine.dialect.name

    async def start(self) -> None:
        """Start listening; returns once the first connection was tried (connected or not)."""
        if self._thread is not None:
            return
        self._loop = asyncio.get_running_loop()
        self._stop.clear()
        target = self._listen_postgres if self.backend == "postgresql" else self._watch_sqlite
        self._thread = threading.Thread(target=self._guarded(target), name="store-change-feed", daemon=True)
        self._thread.start()
        await asyncio.to_thread(self._ready.wait, 15.0)

    async def close(self) -> None:
        self._stop.set()
        thread, self._thread = self._thread, None
        if thread is not None:
            await asyncio.to_thread(thread.join, 15.0)
        for future, _match in self._waiters:
            if not future.done():
                future.cancel()
        self._waiters.clear()

    def subscribe(self, callback: Subscriber) -> Callable[[], None]:
        self._subscribers.append(callback)
        return lambda: self._subscribers.remove(callback) if callback in self._subscribers else None

    async def wait(
        self,
        topics: Collection[str] | None = None,
        *,
        timeout: float | None = None,
        foreign_only: bool = True,
    ) -> Change | None:
        """The next change touching any of ``topics`` (all when None), by someone else unless
        ``foreign_only`` is False; None when ``timeout`` seconds pass first."""
        wanted = frozenset(topics) if topics is not None else ALL_TOPICS

        def match(change: Change) -> bool:
            if foreign_only and not change.foreign_to(self.origin):
                return False
            return bool(change.topics & wanted)

        future: asyncio.Future[Change] = asyncio.get_running_loop().create_future()
        entry = (future, match)
        self._waiters.append(entry)
        try:
            return await asyncio.wait_for(future, timeout)
        except TimeoutError:
            return None
        finally:
            with contextlib.suppress(ValueError):
                self._waiters.remove(entry)

    # ---- delivery (thread -> loop) -----------------------------------------------------------

    def _emit(self, change: Change) -> None:
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
            loop.call_soon_threadsafe(self._deliver, change)

    def _deliver(self, change: Change) -> None:
        for future, match in list(self._waiters):
            if not future.done() and match(change):
                future.set_result(change)
        for callback in list(self._subscribers):
            try:
                callback(change)
            except Exception:
                log.exception("change feed subscriber failed")

    def _set_connected(self, connected: bool, error: str | None = None) -> None:
        self.connected = connected
        self.last_error = error
        self._ready.set()

    def _guarded(self, target: Callable[[], None]) -> Callable[[], None]:
        def run() -> None:
            try:
                target()
            except Exception:
                log.exception("change feed stopped")
            finally:
                self._ready.set()

        return run

    def _backoff(self, attempt: int) -> bool:
        """Wait before reconnecting; False when asked to stop."""
        delay = RECONNECT_SECONDS[min(attempt, len(RECONNECT_SECONDS) - 1)]
        return not self._stop.wait(delay)

    # ---- PostgreSQL: LISTEN ------------------------------------------------------------------

    def _listen_postgres(self) -> None:
        import psycopg
        from psycopg import sql

        url = self.engine.url.set(drivername="postgresql")
        conninfo = url.render_as_string(hide_password=False)
        attempt = 0
        first = True
        while not self._stop.is_set():
            try:
                with psycopg.connect(conninfo, autocommit=True) as connection:
                    row = connection.execute("SELECT current_schema()").fetchone()
                    channel = channel_for(str(row[0] if row else "public"))
                    connection.execute(sql.SQL("LISTEN {}").format(sql.Identifier(channel)))
                    self._set_connected(True)
                    if not first:
                        self._emit(Change(ALL_TOPICS, resync=True))
                    first, attempt = False, 0
                    while not self._stop.is_set():
                        for note in connection.notifies(timeout=0.5):
                            self._emit(parse_payload(note.payload))
            except psycopg.Error as exc:
                message = " ".join(str(exc).split()) or type(exc).__name__
                if self.connected or first:
                    log.warning("change feed: database connection lost (%s); reconnecting", message)
                first = False
                self._set_connected(False, message)
                if not self._backoff(attempt):
                    return
                attempt += 1

    # ---- SQLite: data_version + store_change -------------------------------------------------

    def _watch_sqlite(self) -> None:
        path = self.engine.url.database
        if not path or path == ":memory:":
            self._set_connected(False, "an in-memory store has no other processes to hear")
            return
        attempt = 0
        first = True
        while not self._stop.is_set():
            try:
                connection = sqlite3.connect(path, timeout=5.0, isolation_level=None)
            except sqlite3.Error as exc:
                self._set_connected(False, str(exc))
                if not self._backoff(attempt):
                    return
                attempt += 1
                continue
            try:
                self._watch_connection(connection, resync=not first)
                return
            except sqlite3.Error as exc:
                self._set_connected(False, str(exc))
                first = False
                if not self._backoff(attempt):
                    return
                attempt += 1
            finally:
                connection.close()

    def _watch_connection(self, connection: sqlite3.Connection, *, resync: bool) -> None:
        version = _data_version(connection)
        row = connection.execute("SELECT COALESCE(MAX(id), 0) FROM store_change").fetchone()
        last_id = int(row[0]) if row else 0
        self._set_connected(True)
        if resync:
            self._emit(Change(ALL_TOPICS, resync=True))
        while not self._stop.wait(self.poll_seconds):
            current = _data_version(connection)
            if current == version:
                continue
            version = current
            rows = connection.execute(
                "SELECT id, topic, origin FROM store_change WHERE id > ? ORDER BY id", (last_id,)
            ).fetchall()
            if not rows:
                continue
            gap = last_id and int(rows[0][0]) > last_id + 1 and _pruned_past(connection, last_id)
            last_id = int(rows[-1][0])
            self._emit(
                Change(
                    frozenset(str(r[1]) for r in rows),
                    frozenset(str(r[2]) for r in rows),
                    resync=bool(gap),
                )
            )


def _data_version(connection: sqlite3.Connection) -> int:
    row = connection.execute("PRAGMA data_version").fetchone()
    return int(row[0]) if row else 0


def _pruned_past(connection: sqlite3.Connection, last_id: int) -> bool:
    """Rows after ``last_id`` were trimmed before we read them (we lagged far behind)."""
    row = connection.execute("SELECT MIN(id) FROM store_change").fetchone()
    return row is not None and row[0] is not None and int(row[0]) > last_id + 1


def parse_payload(payload: str) -> Change:
    topics, _, origin = payload.partition("|")
    names = frozenset(t for t in topics.split(",") if t in ALL_TOPICS)
    return Change(names or ALL_TOPICS, frozenset({origin}) if origin else frozenset(), resync=not origin)


__all__ = [
    "ALL_TOPICS",
    "TOPICS",
    "Change",
    "ChangeFeed",
    "channel_for",
    "install_change_hooks",
    "origin_of",
    "parse_payload",
]
