"""A poll stores each ServiceNow page in one store transaction, not one per incident, on SQLite and
PostgreSQL: its events follow the commit in page order, and a crash in the middle of a page stores
none of that page and leaves the watermark where it was, so the next poll queues the rest once."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from engine_harness import Harness
from pg_harness import backend_store_url
from sqlalchemy import Engine, event

import app.store.queue as queue_module
from app.domain.records import Incident
from app.engine.engine import SyncEngine
from app.engine.events import EngineEvent, ItemQueued
from app.engine.outbound import PollCounts
from app.store import QueueItem, Store

PAGE = 500  # ServiceNow's page size (the default)


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """Named before ``harness`` in the tests, so the engines close before the schema is dropped."""
    with backend_store_url(request.param, tmp_path / "batch.sqlite3") as url:
        yield url


class QueueWrites:
    """Committed transactions of one SQLAlchemy engine that wrote to ``queue_item`` (kept per
    connection, like the change feed's hooks: the store is called from several threads)."""

    def __init__(self, engine: Engine) -> None:
        self.count = 0
        event.listen(engine, "after_cursor_execute", self._note)
        event.listen(engine, "commit", self._commit)
        event.listen(engine, "rollback", self._forget)

    def _note(self, connection: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if statement.lstrip().upper().startswith(("INSERT INTO QUEUE_ITEM", "UPDATE QUEUE_ITEM")):
            connection.info["test_queue_write"] = True

    def _commit(self, connection: Any) -> None:
        if connection.info.pop("test_queue_write", False):
            self.count += 1

    def _forget(self, connection: Any) -> None:
        connection.info.pop("test_queue_write", None)


def _engine(harness: Harness, store_url: str, events: list[EngineEvent]) -> SyncEngine:
    return harness.engine(harness.config(store={"url": store_url}), events=events)


def _queued(events: Sequence[EngineEvent]) -> list[str]:
    return [e.row.sys_id for e in events if isinstance(e, ItemQueued)]


async def test_a_poll_stores_each_page_in_one_transaction(store_url: str, harness: Harness) -> None:
    created = [harness.incident(short_description=f"Disk {n}")["sys_id"] for n in range(2 * PAGE)]
    events: list[EngineEvent] = []
    engine = _engine(harness, store_url, events)
    writes = QueueWrites(engine.store.engine)
    pages: list[list[str]] = []
    ingest = engine.outbound.ingest

    async def recording(incidents: Sequence[Incident], counts: PollCounts | None = None) -> None:
        pages.append([incident.sys_id for incident in incidents])
        await ingest(incidents, counts)

    engine.outbound.ingest = recording  # type: ignore[method-assign]
    reader = Store.open(store_url)  # another connection: sees only what was committed
    visible: list[bool] = []
    engine.bus.subscribe(
        lambda e: (
            visible.append(reader.get_item(e.row.sys_id) is not None) if isinstance(e, ItemQueued) else None
        )
    )
    try:
        report = await engine.run_once()
    finally:
        reader.close()
    assert report.ok and report.queued == 2 * PAGE, report.failures
    assert [len(page) for page in pages] == [PAGE, PAGE]
    assert writes.count == len(pages)  # not one per incident (1,000 before)
    assert _queued(events) == [sys_id for page in pages for sys_id in page]  # page order
    assert sorted(_queued(events)) == sorted(created)
    assert len(visible) == 2 * PAGE and all(visible)  # each event after its page's commit


async def test_a_crash_in_the_middle_of_a_page_stores_none_of_it(
    store_url: str, harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    total = PAGE + 200
    created = [harness.incident(short_description=f"Disk {n}")["sys_id"] for n in range(total)]
    events: list[EngineEvent] = []
    engine = _engine(harness, store_url, events)
    made: list[str] = []
    real_new_item = queue_module.new_item

    def new_item_then_crash(incident: Incident, now: datetime) -> QueueItem:
        made.append(incident.sys_id)
        if len(made) == PAGE + 100:  # the second page, 99 rows in
            raise RuntimeError("killed in the middle of a page")
        return real_new_item(incident, now)

    with monkeypatch.context() as patch:
        patch.setattr(queue_module, "new_item", new_item_then_crash)
        crashed = await engine.run_once()
    assert any("killed in the middle of a page" in f for f in crashed.failures), crashed.failures
    assert len(made) == PAGE + 100  # the crash did happen inside the second page's batch
    stored = engine.store.states_by_sys_id(created)
    assert len(stored) == PAGE  # the first page whole, nothing of the second
    assert len(_queued(events)) == PAGE
    assert engine.store.get_cursor("servicenow").watermark is None  # not moved

    again = await engine.run_once()
    assert again.ok and again.queued == total - PAGE, again.failures
    assert len(engine.store.states_by_sys_id(created)) == total
    assert sorted(_queued(events)) == sorted(created)  # each exactly once over both polls
    queued_lines = [e.sys_id for e in engine.store.list_audit(limit=10 * total) if e.kind == "queued"]
    assert sorted(queued_lines) == sorted(created)
    assert engine.store.get_cursor("servicenow").watermark is not None


async def test_a_page_is_sorted_and_its_rows_built_off_the_event_loop(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    """In the desktop the event loop is the GUI thread: running the trigger over a 500-incident page
    and building its 500 queue rows there were ~18 and ~15 ms without a repaint."""
    import threading

    import app.engine.outbound as outbound

    on_loop: list[str] = []

    def recording(real: Any, name: str) -> Any:
        def call(*args: Any, **kwargs: Any) -> Any:
            if threading.current_thread() is threading.main_thread():
                on_loop.append(name)
            return real(*args, **kwargs)

        return call

    monkeypatch.setattr(outbound, "evaluate", recording(outbound.evaluate, "trigger"))
    monkeypatch.setattr(outbound, "queue_row", recording(outbound.queue_row, "queue row"))
    monkeypatch.setattr(outbound, "is_sys_id", recording(outbound.is_sys_id, "open ids"))
    for n in range(30):
        harness.incident(short_description=f"Disk {n}")
    events: list[EngineEvent] = []
    engine = harness.engine(harness.config(), events=events)
    await engine.run_once()
    assert len(_queued(events)) == 30
    await engine.run_once()  # now with 30 open items to look at again
    assert on_loop == []
