"""Schema versioning: upgrade an old file with a backup, refuse a newer one, models == migrations."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlmodel import SQLModel
from store_helpers import T0, make_incident, sys_id

from app.store import QueueState, SchemaTooNew, Store, StoreError, head_revision
from app.store.db import alembic_config, create_store_engine


def _build_at_0001(url: str) -> None:
    engine = create_store_engine(url)
    try:
        with engine.connect() as conn, conn.begin():
            command.upgrade(alembic_config(conn), "0001")
            snapshot = make_incident(1).model_dump_json()
            at = "2025-03-01 09:00:00.000000"
            conn.exec_driver_sql(
                "INSERT INTO queue_item (sys_id, number, short_description, category, priority, caller, "
                "snapshot, sn_updated_on, sn_mod_count, state, attempts, queued_at, updated_at, decided_by) "
                "VALUES (?, 'INC0000001', 'Printer 1 on fire', 'hardware', 3, 'c', ?, ?, 0, 'pushed', 1, "
                "?, ?, "
                "'user')",
                (sys_id(1), snapshot, at, at, at),
            )
            conn.exec_driver_sql(
                "INSERT INTO link (sys_id, incident_number, ticket_id, ticket_number, linked_at, "
                "outbound_values, return_synced, writeback_state, writeback_attempts) "
                "VALUES (?, 'INC0000001', 77, 'T77', ?, ?, ?, 'done', 1)",
                (sys_id(1), at, '{"status": "New"}', '{"status": "New"}'),
            )
            conn.exec_driver_sql(
                "INSERT INTO audit_event (at, direction, kind, outcome, sys_id, ticket_id, summary) "
                "VALUES (?, 'outbound', 'create', 'ok', ?, 77, 'made')",
                (at, sys_id(1)),
            )
            conn.exec_driver_sql(
                "INSERT INTO sync_cursor (system, watermark, seen) VALUES ('servicenow', ?, ?)",
                (at, '{"a": "1"}'),
            )
    finally:
        engine.dispose()


def _file(url: str) -> Path:
    return Path(url.removeprefix("sqlite:///"))


def test_upgrade_from_0001_keeps_data_and_backs_up(sqlite_url: str) -> None:
    _build_at_0001(sqlite_url)
    with Store.open(sqlite_url) as store:
        assert store.backup_path is not None and store.backup_path.exists()
        assert store.backup_path.name.startswith("triage-sync.sqlite3.bak-0001-")
        item = store.get_item("INC0000001")
        assert item is not None
        assert (item.state, item.decided_by, item.decided_at) == (QueueState.PUSHED, "user", None)
        assert item.queued_at == T0 and item.incident() == make_incident(1)
        link = store.get_link(ticket_id=77)
        assert link is not None and link.return_synced == {"status": "New"} and link.linked_at.tzinfo
        assert link.ticket_title == ""  # revision 0011: filled in by the next return-trip read
        assert store.list_audit(ticket_id=77)[0].summary == "made"
        assert store.get_cursor("servicenow").seen == {"a": "1"}
        with store.engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
            assert conn.exec_driver_sql("SELECT version_num FROM alembic_version").scalar() == head_revision()
        backup = sqlite3.connect(store.backup_path)
        try:
            assert backup.execute("SELECT version_num FROM alembic_version").fetchone() == ("0001",)
            assert backup.execute("SELECT count(*) FROM queue_item").fetchone() == (1,)
        finally:
            backup.close()
    with Store.open(sqlite_url) as again:  # at head: no second backup
        assert again.backup_path is None


def test_newer_database_refused(sqlite_url: str) -> None:
    Store.open(sqlite_url).close()
    connection = sqlite3.connect(_file(sqlite_url))
    connection.execute("UPDATE alembic_version SET version_num = '0099'")
    connection.commit()
    connection.close()
    with pytest.raises(SchemaTooNew, match="newer Triage Sync.*Upgrade the app"):
        Store.open(sqlite_url)


def test_foreign_database_refused(sqlite_url: str) -> None:
    _file(sqlite_url).parent.mkdir(parents=True)
    connection = sqlite3.connect(_file(sqlite_url))
    connection.execute("CREATE TABLE something (id INTEGER)")
    connection.close()
    with pytest.raises(StoreError, match="no schema revision"):
        Store.open(sqlite_url)


def test_models_match_migrations(store: Store) -> None:
    with store.engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        assert compare_metadata(context, SQLModel.metadata) == []


def test_downgrade_then_upgrade(db_url: str) -> None:
    Store.open(db_url).close()
    engine = create_store_engine(db_url)
    try:
        with engine.connect() as conn, conn.begin():
            command.downgrade(alembic_config(conn), "base")
        with engine.connect() as conn, conn.begin():
            command.upgrade(alembic_config(conn), "head")
    finally:
        engine.dispose()


def test_threads_opening_a_new_database_at_once_all_succeed(tmp_path: Path) -> None:
    """The engine and a short read in another thread of one process may both open (and so migrate)
    a new database; alembic's context is a module global, so they take turns."""
    import threading

    for attempt in range(3):
        url = f"sqlite:///{tmp_path / f'race-{attempt}' / 'store.sqlite3'}"
        errors: list[BaseException] = []

        def open_once(url: str = url, errors: list[BaseException] = errors) -> None:
            try:
                Store.open(url).close()
            except BaseException as exc:  # noqa: BLE001 - any failure fails the test below
                errors.append(exc)

        threads = [threading.Thread(target=open_once) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        assert errors == []


def test_concurrent_first_opens_migrate_once(db_url: str) -> None:
    """A GUI and a `triage-sync run` (or two threads of one process) opening a new database at the
    same moment: one migrates, the others wait for it and find the schema at head."""
    import threading

    start = threading.Barrier(4)
    errors: list[BaseException] = []

    def open_store() -> None:
        start.wait()
        try:
            Store.open(db_url).close()
        except BaseException as exc:  # noqa: BLE001 - collected for the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=open_store) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert errors == [], errors
    with Store.open(db_url) as store:
        assert store.list_items() == []
