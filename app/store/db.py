"""Engine creation and schema migration (Alembic, driven from code: no alembic.ini at runtime).

SQLite is the default (one file in the user data dir, WAL so the GUI/CLI can read while the
engine writes); the URL is any SQLAlchemy URL so a team can move to a server database later.
"""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util.exc import CommandError
from sqlalchemy import Connection, Engine, create_engine, event, inspect
from sqlalchemy.engine import URL, make_url
from sqlalchemy.pool import StaticPool

from app.files import private_dir, private_opener
from app.store.changes import install_change_hooks
from app.store.connect import resolve_server_url
from app.store.errors import SchemaBehind, SchemaTooNew, StoreError

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
# Alembic drives env.py through module-level proxies (alembic.context, alembic.op): two migrations
# in one process at once would trample each other, whatever the database. One at a time.
_MIGRATION_LOCK = threading.Lock()
BUSY_TIMEOUT_MS = 10_000
#: Execution option: this transaction writes. SQLite starts it with BEGIN IMMEDIATE; PostgreSQL takes
#: the store's write lock first. Either way, one writing transaction at a time.
IMMEDIATE = "triage_sync_immediate"
#: PostgreSQL advisory lock that plays the part of SQLite's single writer (any constant; ours: "TSYN").
WRITE_LOCK_KEY = 0x5453594E


def sqlite_path(url: str | URL) -> Path | None:
    """The file behind a SQLite URL, or None (server database or in-memory SQLite)."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return None
    database = parsed.database or ""
    if database in ("", ":memory:") or database.startswith("file:"):
        return None
    return Path(database)


def _prepare_sqlite_file(path: Path) -> None:
    """Private parent dir (0700) and file (0600): the queue holds incident text."""
    private_dir(path.parent)
    if not path.exists():
        os.close(private_opener(str(path), os.O_CREAT | os.O_WRONLY))


def create_store_engine(url: str | URL, *, busy_timeout_ms: int = BUSY_TIMEOUT_MS) -> Engine:
    """An engine safe to use from worker threads; for SQLite: WAL, foreign keys, busy timeout.

    pysqlite's own implicit BEGIN is turned off and we emit BEGIN ourselves, so write transactions
    can use BEGIN IMMEDIATE: a deferred transaction that reads and then writes can fail at once
    with SQLITE_BUSY under WAL, whatever the busy timeout.
    """
    parsed = make_url(url)
    if parsed.get_backend_name() == "postgresql":
        server = create_engine(resolve_server_url(parsed), pool_pre_ping=True)

        @event.listens_for(server, "begin")
        def _on_pg_begin(connection: Connection) -> None:
            # The store's writes read, decide and write (a transition, an upsert). SQLite runs them one
            # at a time (BEGIN IMMEDIATE); on a shared server a transaction-scoped advisory lock gives
            # the same guarantee to every process, so two desks cannot both win one decision.
            if connection.get_execution_options().get(IMMEDIATE, False):
                connection.exec_driver_sql(f"SELECT pg_advisory_xact_lock({WRITE_LOCK_KEY})")

        install_change_hooks(server)  # NOTIFY on commit: desks and the engine wake at once
        return server
    if parsed.get_backend_name() != "sqlite":
        return create_engine(url, pool_pre_ping=True)

    path = sqlite_path(url)
    kwargs: dict[str, Any] = {"connect_args": {"check_same_thread": False}}
    if path is None:
        kwargs["poolclass"] = StaticPool  # one shared in-memory database
    else:
        _prepare_sqlite_file(path)
    engine = create_engine(url, **kwargs)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # we issue BEGIN ourselves (see docstring)
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
            cursor.execute("PRAGMA foreign_keys = ON")
            if path is not None:
                _use_wal(cursor, busy_timeout_ms)
                # FULL, not NORMAL: a 'pushing' mark lost to a power cut would let a restart create a
                # second ticket (DESIGN: never duplicate). Our write rate is tiny; the cost is nil.
                cursor.execute("PRAGMA synchronous = FULL")
        finally:
            cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Connection) -> None:
        immediate = connection.get_execution_options().get(IMMEDIATE, False)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

    install_change_hooks(engine)  # a store_change row per write: other processes see the change
    return engine


def _use_wal(cursor: Any, busy_timeout_ms: int) -> None:
    """Switch the file to WAL (persistent: once one connection did, the others find it set).
    Changing the journal mode needs a lock SQLite does not wait for with the busy handler, so
    connections opening a new file at the same moment try again until the busy timeout."""
    deadline = time.monotonic() + busy_timeout_ms / 1000
    while True:
        try:
            if str(cursor.execute("PRAGMA journal_mode").fetchone()[0]).lower() != "wal":
                cursor.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc).lower() or time.monotonic() >= deadline:
                raise
            time.sleep(0.01)


def alembic_config(connection: Connection | None = None, url: str | None = None) -> Config:
    """An Alembic config built in code; the migration scripts ship inside the package."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    if url is not None:
        config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def head_revision() -> str:
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    if head is None:  # pragma: no cover - the package always ships revisions
        raise StoreError("no schema revisions found in the installed package")
    return head


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


SchemaState = Literal["current", "behind", "newer", "empty", "foreign"]


@dataclass(frozen=True)
class SchemaStatus:
    """Where a database's schema stands against this app's migrations (``store check``)."""

    current: str | None
    head: str
    state: SchemaState

    def describe(self, shown_url: str) -> str:
        return {
            "current": f"{shown_url}: schema at revision {self.head} (current)",
            "behind": f"{shown_url}: schema at revision {self.current}, this app needs {self.head} "
            "(behind: run triage-sync store migrate)",
            "newer": f"{shown_url}: schema at revision {self.current}, which this app does not know "
            f"(it knows up to {self.head}): a newer Triage Sync wrote it; upgrade the app",
            "empty": f"{shown_url}: no schema yet (triage-sync store migrate creates it at {self.head})",
            "foreign": f"{shown_url}: has tables but no schema revision: not a Triage Sync database",
        }[self.state]


def schema_status(engine: Engine) -> SchemaStatus:
    """Read the revision (one short read, no lock) and compare it with the installed migrations."""
    head = head_revision()
    with engine.connect() as connection:
        current = MigrationContext.configure(connection).get_current_revision()
        tables = inspect(connection).get_table_names() if current is None else []
    if current == head:
        return SchemaStatus(current, head, "current")
    if current is None:
        return SchemaStatus(None, head, "foreign" if tables else "empty")
    try:
        known = ScriptDirectory.from_config(alembic_config()).get_revision(current)
    except CommandError:
        known = None
    return SchemaStatus(current, head, "behind" if known is not None else "newer")


def require_current(engine: Engine) -> None:
    """For ``store.auto_migrate = false``: use the schema as it is, or say why not. Never writes."""
    status = schema_status(engine)
    if status.state == "current":
        return
    shown = engine.url.render_as_string(hide_password=True)
    error = SchemaTooNew if status.state == "newer" else SchemaBehind
    hint = "" if status.state == "newer" else " (store.auto_migrate is off: an administrator migrates it)"
    raise error(status.describe(shown) + hint)


def backup_sqlite(path: Path, old_revision: str, *, now: datetime | None = None) -> Path:
    """Copy a live SQLite file consistently (backup API, WAL content included) next to itself."""
    stamp = (now or datetime.now(UTC)).astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")
    target = path.with_name(f"{path.name}.bak-{old_revision}-{stamp}")
    os.close(os.open(target, os.O_CREAT | os.O_WRONLY, 0o600))
    source = sqlite3.connect(path)
    try:
        destination = sqlite3.connect(target)
        try:
            source.backup(destination)
        finally:
            destination.close()
    finally:
        source.close()
    return target


@contextmanager
def _foreign_keys_off(connection: Connection) -> Iterator[None]:
    """SQLite batch migrations copy and drop tables; with FKs on that would cascade or fail.

    The PRAGMA is a no-op inside a transaction, so it is sent on the raw connection first.
    """
    if connection.dialect.name != "sqlite":
        yield
        return
    raw = connection.connection.dbapi_connection
    assert raw is not None
    raw.cursor().execute("PRAGMA foreign_keys = OFF")
    try:
        yield
    finally:
        raw.cursor().execute("PRAGMA foreign_keys = ON")


def migrate(engine: Engine, *, now: datetime | None = None) -> Path | None:
    """Bring the schema to head; back up an existing SQLite file first. Returns the backup path.

    A revision this code does not know means a newer app wrote the file: refuse, do not guess.

    Opened at the same moment by two processes (the GUI and ``triage-sync run``) or two threads,
    exactly one migrates: the check and the upgrade run in one transaction holding the database's
    write lock (``BEGIN IMMEDIATE`` on SQLite, the advisory write lock on PostgreSQL), so the other waits
    and then finds the schema at head. Within one process Alembic itself is not re-entrant, so a
    process-wide lock comes first.
    """
    if current_revision(engine) == head_revision():
        return None  # the common case: no lock taken
    with _MIGRATION_LOCK, engine.connect() as connection, _foreign_keys_off(connection):
        connection.execution_options(**{IMMEDIATE: True})
        with connection.begin():  # the store's write lock (see IMMEDIATE)
            backup = _migrate_locked(engine, connection, now)
    return backup


def _migrate_locked(engine: Engine, connection: Connection, now: datetime | None) -> Path | None:
    script = ScriptDirectory.from_config(alembic_config())
    head = head_revision()
    current = MigrationContext.configure(connection).get_current_revision()
    if current == head:
        return None  # another process or thread migrated while we waited for the lock
    tables = inspect(connection).get_table_names()
    if current is not None:
        try:
            known = script.get_revision(current)
        except CommandError:
            known = None
        if known is None:
            raise SchemaTooNew(
                f"the database {engine.url.render_as_string(hide_password=True)} has schema revision "
                f"{current!r}, which this version of Triage Sync does not know (it knows up to {head!r}): "
                "it was written by a newer Triage Sync. Upgrade the app (or point store.url elsewhere)."
            )
    elif tables:
        existing = ", ".join(sorted(tables))
        raise StoreError(
            f"the database {engine.url.render_as_string(hide_password=True)} has tables ({existing}) "
            "but no schema revision: it is not a Triage Sync database, or it was damaged."
        )

    backup: Path | None = None
    path = sqlite_path(engine.url.render_as_string(hide_password=False))
    if current is not None and path is not None:
        backup = backup_sqlite(path, current, now=now)  # a reader: WAL lets it beside our write lock
    command.upgrade(alembic_config(connection), "head")
    if connection.dialect.name == "sqlite":
        problems = connection.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
        if problems:
            raise StoreError(f"migration left broken references: {problems[:5]}")
    return backup
