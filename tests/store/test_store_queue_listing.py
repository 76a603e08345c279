"""The queue list's columns (app/store/queue_listing.py): the same rows ``list_items`` gives, read
without ORM objects or snapshots, on SQLite and PostgreSQL (``db_url``)."""

from __future__ import annotations

from datetime import timedelta

from store_helpers import T0, IncidentFactory, sys_id

from app.engine.convert import queue_row, queue_row_from_columns
from app.store import QueueState, Store
from app.store.queue_listing import list_queue_columns


def _queue(store: Store, make_incident: IncidentFactory) -> None:
    for n in range(1, 6):
        store.upsert_from_incident(make_incident(n, caller_name=f"Caller {n}"), now=T0 + timedelta(minutes=n))
    store.reject(["INC0000002"], "ada", now=T0, reason="duplicate")
    store.mark_pushing(sys_id(3), now=T0)
    store.mark_failed(sys_id(3), "queueID invalid", None, now=T0)


def test_listing_equals_the_orm_rows_in_the_same_order(store: Store, make_incident: IncidentFactory) -> None:
    _queue(store, make_incident)
    states = ["pending", "failed", "rejected"]
    expected = [queue_row(item) for item in store.list_items(states)]
    listed = [queue_row_from_columns(columns) for columns in list_queue_columns(store, states)]
    assert listed == expected
    assert [row.number for row in listed] == [
        "INC0000005",
        "INC0000004",
        "INC0000003",
        "INC0000002",
        "INC0000001",
    ]
    by_number = {row.number: row for row in listed}
    assert by_number["INC0000002"].state == "rejected" and by_number["INC0000002"].decided_by == "ada"
    assert by_number["INC0000003"].last_error == "queueID invalid"
    assert by_number["INC0000001"].queued_at.tzinfo is not None  # UTC-aware, as the ORM gives them


def test_listing_filters_by_state(store: Store, make_incident: IncidentFactory) -> None:
    _queue(store, make_incident)
    failed = list_queue_columns(store, [QueueState.FAILED])
    assert [columns["number"] for columns in failed] == ["INC0000003"]
    assert len(list_queue_columns(store)) == 5
    assert list_queue_columns(store, []) == []
