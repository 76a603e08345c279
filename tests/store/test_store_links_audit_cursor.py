"""Links (write-back, return trip), audit paging, cursors."""

from __future__ import annotations

from datetime import timedelta

import pytest
from store_helpers import T0, IncidentFactory, sys_id

from app.store import (
    AuditDirection,
    AuditOutcome,
    LinkNotFound,
    Store,
    WritebackState,
)


def _link(store: Store, make_incident: IncidentFactory, n: int, *, minutes: int = 0) -> None:
    store.upsert_from_incident(make_incident(n), now=T0)
    store.mark_pushing(sys_id(n), now=T0)
    store.record_pushed(
        sys_id(n),
        ticket_id=1000 + n,
        ticket_number=f"T2025.{n:04d}",
        outbound_values={"status": "New", "priority": "Medium"},
        return_synced={"status": "New", "priority": "Medium"},
        now=T0 + timedelta(minutes=minutes),
    )


def test_link_queries(store: Store, make_incident: IncidentFactory) -> None:
    for n in (1, 2, 3):
        _link(store, make_incident, n, minutes=n)
    store.upsert_from_incident(make_incident(4), now=T0)
    assert set(store.links_for_ticket_ids([1001, 1003, 5555])) == {1001, 1003}
    assert store.links_for_ticket_ids([]) == {}
    assert store.linked_sys_ids_among([sys_id(1), sys_id(4), "x"]) == {sys_id(1)}
    assert [link.ticket_id for link in store.list_links()] == [1003, 1002, 1001]
    assert [link.ticket_id for link in store.list_links(limit=1, offset=1)] == [1002]
    assert [link.ticket_id for link in store.list_links(search="T2025.0002")] == [1002]
    assert [link.ticket_id for link in store.list_links(search="1003")] == [1003]
    assert store.count_links() == 3 and store.count_links(search="INC0000001") == 1


def test_many_ticket_ids_chunked(store: Store, make_incident: IncidentFactory) -> None:
    _link(store, make_incident, 1)
    assert set(store.links_for_ticket_ids(range(2500))) == {1001}


def test_writeback_lifecycle(store: Store, make_incident: IncidentFactory) -> None:
    _link(store, make_incident, 1)
    _link(store, make_incident, 2, minutes=1)
    assert [link.ticket_id for link in store.writebacks_due(T0)] == [1001, 1002]

    assert store.begin_writeback(sys_id(1)).writeback_attempts == 1  # counted before the PATCH
    link = store.mark_writeback(sys_id(1), "pending", now=T0, error="502", next_at=T0 + timedelta(minutes=1))
    assert (link.writeback_attempts, link.writeback_error) == (1, "502")
    assert [link.ticket_id for link in store.writebacks_due(T0)] == [1002]
    assert [link.ticket_id for link in store.writebacks_due(T0 + timedelta(minutes=1))] == [1001, 1002]

    store.begin_writeback(sys_id(1))
    link = store.mark_writeback(
        sys_id(1), WritebackState.DONE, now=T0, request_body='{"correlation_id": "1"}'
    )
    assert (link.writeback_state, link.writeback_attempts, link.writeback_error) == (
        WritebackState.DONE,
        2,
        None,
    )
    link = store.mark_writeback(sys_id(2), WritebackState.FAILED, now=T0, error="403 ACL")
    assert store.writebacks_due(T0 + timedelta(days=1)) == []
    store.mark_writeback(sys_id(2), "pending", now=T0)  # a user asks again
    assert [link.ticket_id for link in store.writebacks_due(T0)] == [1002]

    outcomes = [(e.kind, e.outcome) for e in store.list_audit(sys_id=sys_id(1))][:2]
    assert outcomes == [("writeback", AuditOutcome.OK), ("writeback", AuditOutcome.RETRY)]
    with pytest.raises(LinkNotFound):
        store.mark_writeback("nope", "done", now=T0)


def test_return_synced_merges_and_audits(store: Store, make_incident: IncidentFactory) -> None:
    _link(store, make_incident, 1)
    later = T0 + timedelta(hours=1)
    link = store.update_return_synced(1001, {"status": "Complete"}, now=later, request_body='{"state": "6"}')
    assert link.return_synced == {"status": "Complete", "priority": "Medium"}
    assert link.last_return_at == later
    again = store.get_link(ticket_id=1001)
    assert again is not None and again.return_synced == {"status": "Complete", "priority": "Medium"}
    event = store.list_audit(direction="return")[0]
    assert (event.kind, event.ticket_id, event.sys_id, event.request_body) == (
        "update",
        1001,
        sys_id(1),
        '{"state": "6"}',
    )
    assert "status Complete" in event.summary
    with pytest.raises(LinkNotFound):
        store.update_return_synced(4242, {}, now=later)


def test_audit_paging_and_filters(store: Store) -> None:
    for i in range(7):
        store.add_audit(
            direction=AuditDirection.RETURN if i % 2 else "system",
            kind="skip",
            outcome="skipped",
            summary=f"event {i}",
            now=T0 + timedelta(seconds=i),
            ticket_id=i,
        )
    page = store.list_audit(limit=3)
    assert [e.summary for e in page] == ["event 6", "event 5", "event 4"]
    assert page[0].id is not None
    older = store.list_audit(limit=3, before_id=page[-1].id)
    assert [e.summary for e in older] == ["event 3", "event 2", "event 1"]
    assert [e.summary for e in store.list_audit(direction="return")] == ["event 5", "event 3", "event 1"]
    assert [e.summary for e in store.list_audit(ticket_id=2)] == ["event 2"]
    with pytest.raises(ValueError):
        store.add_audit(direction="sideways", kind="x", outcome="ok", summary="", now=T0)


def test_cursor_success_and_failure(store: Store) -> None:
    fresh = store.get_cursor("servicenow")
    assert (fresh.watermark, fresh.seen, fresh.last_success_at) == (None, {}, None)

    store.cursor_failure("servicenow", "401 Unauthorized", now=T0)
    cursor = store.get_cursor("servicenow")
    assert (cursor.watermark, cursor.last_error, cursor.last_failure_at) == (None, "401 Unauthorized", T0)

    later = T0 + timedelta(minutes=1)
    store.save_cursor("servicenow", T0, {sys_id(1): "3"}, now=later)
    cursor = store.get_cursor("servicenow")
    assert (cursor.watermark, cursor.seen, cursor.last_success_at) == (T0, {sys_id(1): "3"}, later)
    assert cursor.last_failure_at == T0  # history kept; the health view compares the two times
    store.save_cursor("servicenow", later, {}, now=later)
    assert store.get_cursor("servicenow").seen == {}
    assert store.get_cursor("autotask").watermark is None


def test_ticket_titles_are_stored_and_refreshed_only_when_they_differ(
    store: Store, make_incident: IncidentFactory
) -> None:
    store.upsert_from_incident(make_incident(1), now=T0)
    store.mark_pushing(sys_id(1), now=T0)
    store.record_pushed(
        sys_id(1),
        ticket_id=1001,
        ticket_number="T2025.0001",
        outbound_values={},
        return_synced={},
        now=T0,
        ticket_title="Printer 1 on fire",
    )
    _link(store, make_incident, 2)  # created without a title (an old caller)
    link = store.get_link(ticket_id=1001)
    assert link is not None and link.ticket_title == "Printer 1 on fire"
    changed = store.refresh_ticket_titles({1001: "Printer 1 on fire", 1002: "Retitled", 9999: "not ours"})
    assert [(link.ticket_id, link.ticket_title) for link in changed] == [(1002, "Retitled")]
    again = store.get_link(ticket_id=1002)
    assert again is not None and again.ticket_title == "Retitled"
    assert store.refresh_ticket_titles({}) == []
