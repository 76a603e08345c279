"""Round trips for every table, aware UTC datetimes, SQLite settings, file permissions."""

from __future__ import annotations

import os
import stat
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlmodel import Session, select
from store_helpers import T0, IncidentFactory

from app.store import (
    AuditDirection,
    AuditEvent,
    AuditOutcome,
    Cursor,
    EngineLease,
    EngineState,
    Link,
    QueueItem,
    QueueState,
    Store,
    WritebackState,
)
from app.store.db import head_revision, sqlite_path


def test_sqlite_pragmas_are_on(sqlite_url: str) -> None:
    with Store.open(sqlite_url) as store, store.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 10_000


def test_foreign_keys_enforced(store: Store) -> None:
    with Session(store.engine) as session:
        session.add(Link(sys_id="nope", ticket_id=1, linked_at=T0))
        with pytest.raises(Exception, match="(?i)foreign key"):
            session.commit()


def test_private_dir_and_file(sqlite_url: str) -> None:
    Store.open(sqlite_url).close()
    path = sqlite_path(sqlite_url)
    assert path is not None and path.exists()
    assert stat.S_IMODE(os.stat(path.parent).st_mode) == 0o700
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600


def test_queue_item_round_trip(store: Store, make_incident: IncidentFactory) -> None:
    incident = make_incident(7, mod=3, opened_at=T0 - timedelta(hours=1))
    item, created, changed = store.upsert_from_incident(incident, now=T0)
    assert (created, changed) == (True, False)
    got = store.get_item(incident.number)
    assert got is not None
    assert got.id == item.id
    assert got.state is QueueState.PENDING
    assert got.sn_updated_on == incident.sys_updated_on
    assert got.sn_updated_on.tzinfo is not None and got.queued_at.tzinfo is not None
    assert got.incident() == incident
    assert (got.number, got.category, got.priority) == ("INC0000007", "hardware", 3)
    assert got.caller == "caller-sys-id"


def test_lookup_by_sys_id_number_and_id(store: Store, make_incident: IncidentFactory) -> None:
    item, _, _ = store.upsert_from_incident(make_incident(5), now=T0)
    assert item.id is not None
    for key in (item.sys_id, "INC0000005", "inc0000005", item.id, str(item.id)):
        found = store.get_item(key)
        assert found is not None and found.sys_id == item.sys_id, key
    assert store.get_item("INC404") is None
    assert store.get_item("") is None


def test_datetimes_come_back_aware_utc(store: Store, make_incident: IncidentFactory) -> None:
    other_zone = timezone(timedelta(hours=5))
    moment = datetime(2025, 3, 1, 14, 0, tzinfo=other_zone)
    store.upsert_from_incident(make_incident(1), now=moment)
    item = store.get_item("INC0000001")
    assert item is not None
    assert item.queued_at == moment
    assert item.queued_at.utcoffset() == timedelta(0)
    assert item.queued_at.hour == 9


def test_naive_datetime_refused(store: Store, make_incident: IncidentFactory) -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        store.upsert_from_incident(make_incident(1), now=datetime(2025, 1, 1))


def test_link_audit_cursor_lease_round_trip(store: Store, make_incident: IncidentFactory) -> None:
    store.upsert_from_incident(make_incident(1), now=T0)
    store.mark_pushing("0" * 31 + "1", now=T0)
    link = store.record_pushed(
        "0" * 31 + "1",
        ticket_id=4711,
        ticket_number="T20250301.0001",
        outbound_values={"status": "New", "priority": "Low", "queueID": 29682833},
        return_synced={"status": "New", "priority": "Low"},
        now=T0,
        request_body='{"title": "x"}',
        response_body='{"itemId": 4711}',
    )
    got = store.get_link(ticket_id=4711)
    assert got is not None
    assert got.id == link.id
    assert got.outbound_values == {"status": "New", "priority": "Low", "queueID": 29682833}
    assert got.return_synced == {"status": "New", "priority": "Low"}
    assert got.writeback_state is WritebackState.PENDING
    assert got.linked_at == T0 and got.linked_at.tzinfo is not None
    assert store.get_link(sys_id="0" * 31 + "1") == got
    assert store.get_link(number="INC0000001") == got
    assert store.get_link(number="T20250301.0001") == got
    with pytest.raises(ValueError):
        store.get_link()

    events = store.list_audit(ticket_id=4711)
    create = next(e for e in events if e.kind == "create")
    assert create.direction is AuditDirection.OUTBOUND and create.outcome is AuditOutcome.OK
    assert create.request_body == '{"title": "x"}' and create.response_body == '{"itemId": 4711}'
    assert create.at == T0 and create.at.tzinfo is not None

    store.save_cursor("autotask", T0, {"4711": "2025-03-01T09:00:00Z"}, now=T0)
    cursor = store.get_cursor("autotask")
    assert cursor.watermark == T0 and cursor.watermark.tzinfo is not None
    assert cursor.seen == {"4711": "2025-03-01T09:00:00Z"}

    lease = store.acquire_engine_lease("test engine")
    info = store.lease_info()
    assert info is not None and info.holder == "test engine" and info.heartbeat_at.tzinfo is not None
    lease.release()
    assert store.lease_info() is None


def test_returned_objects_are_detached(store: Store, make_incident: IncidentFactory) -> None:
    store.upsert_from_incident(make_incident(1), now=T0)
    item = store.list_items()[0]
    item.state = QueueState.REJECTED  # changing a copy changes nothing stored
    again = store.get_item(item.sys_id)
    assert again is not None and again.state is QueueState.PENDING


def test_tables_declared(store: Store) -> None:
    with Session(store.engine) as session:
        for model in (QueueItem, Link, AuditEvent, Cursor, EngineLease, EngineState):
            assert session.exec(select(model)).all() == []
        version = session.execute(text("select version_num from alembic_version")).scalar()
    assert version == head_revision()


def test_in_memory_url_works(make_incident: IncidentFactory) -> None:
    with Store.open("sqlite://") as memory:
        memory.upsert_from_incident(make_incident(1), now=T0)
        assert memory.counts_by_state()[QueueState.PENDING] == 1


def test_default_url_uses_data_dir(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr("app.config.default_data_dir", lambda: tmp_path / "userdata")
    with Store.open() as opened:
        assert "userdata" in opened.url
    assert (tmp_path / "userdata" / "triage-sync.sqlite3").exists()


def test_utc_now_helper() -> None:
    from app.store import utcnow

    assert utcnow().tzinfo is UTC
