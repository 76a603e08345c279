"""Queue life cycle: upsert/refresh, user transitions, push bookkeeping, record_pushed."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from sqlalchemy.orm.exc import StaleDataError
from sqlmodel import Session
from store_helpers import T0, IncidentFactory, sys_id

import app.store.queue as queue_module
from app.domain.records import Incident
from app.store import (
    AuditOutcome,
    InvalidTransition,
    ItemNotFound,
    LinkConflict,
    QueueItem,
    QueueState,
    Store,
)
from app.store.changes import Change, ChangeFeed
from app.store.store import Store as StoreClass

S1 = sys_id(1)


def _state(store: Store, key: str | int) -> QueueState:
    item = store.get_item(key)
    assert item is not None
    return item.state


def _set_state(store: Store, key: str, state: QueueState) -> None:
    """Drive an item into a state through the public API."""
    if state is QueueState.PENDING:
        return
    if state is QueueState.APPROVED:
        store.approve([key], "user", now=T0)
    elif state is QueueState.REJECTED:
        store.reject([key], "user", now=T0)
    elif state is QueueState.DROPPED:
        store.drop(key, "cancelled", now=T0)
    elif state is QueueState.PUSHING:
        store.mark_pushing(key, now=T0)
    elif state is QueueState.FAILED:
        store.mark_pushing(key, now=T0)
        store.mark_failed(key, "bad queue", None, now=T0)
    elif state is QueueState.PUSHED:
        store.mark_pushing(key, now=T0)
        store.record_pushed(
            key, ticket_id=1, ticket_number="T1", outbound_values={}, return_synced={}, now=T0
        )
    assert _state(store, key) is state


# ---- upsert ---------------------------------------------------------------------------------------


def test_upsert_refresh_only_when_newer(store: Store, make_incident: IncidentFactory) -> None:
    store.upsert_from_incident(make_incident(1, mod=1), now=T0)
    _, created, changed = store.upsert_from_incident(make_incident(1, mod=1), now=T0)
    assert (created, changed) == (False, False)

    newer = make_incident(1, mod=2, minutes=5, short_description="Now smoking")
    item, created, changed = store.upsert_from_incident(newer, now=T0 + timedelta(minutes=6))
    assert (created, changed) == (False, True)
    assert item.short_description == "Now smoking" and item.sn_mod_count == 2
    assert item.incident() == newer

    older = make_incident(1, mod=1, short_description="stale read")
    item, _, changed = store.upsert_from_incident(older, now=T0 + timedelta(minutes=7))
    assert not changed and item.short_description == "Now smoking"
    kinds = [e.kind for e in store.list_audit(sys_id=S1)]
    assert kinds == ["refreshed", "queued"]


@pytest.mark.parametrize(
    "state", [QueueState.APPROVED, QueueState.FAILED, QueueState.REJECTED, QueueState.PUSHING]
)
def test_upsert_refresh_keeps_state(store: Store, make_incident: IncidentFactory, state: QueueState) -> None:
    store.upsert_from_incident(make_incident(1), now=T0)
    _set_state(store, S1, state)
    item, _, changed = store.upsert_from_incident(make_incident(1, mod=5), now=T0)
    assert changed and item.state is state and item.sn_mod_count == 5


def test_upsert_pushed_item_untouched(store: Store, make_incident: IncidentFactory) -> None:
    store.upsert_from_incident(make_incident(1), now=T0)
    _set_state(store, S1, QueueState.PUSHED)
    item, created, changed = store.upsert_from_incident(make_incident(1, mod=9), now=T0)
    assert (created, changed, item.state, item.sn_mod_count) == (False, False, QueueState.PUSHED, 0)


def test_upsert_dropped_item_requeued(store: Store, make_incident: IncidentFactory) -> None:
    store.upsert_from_incident(make_incident(1), now=T0)
    store.drop(S1, "re-categorised to HR", now=T0)
    item, created, changed = store.upsert_from_incident(make_incident(1, mod=2), now=T0)
    assert (created, changed, item.state, item.drop_reason) == (False, True, QueueState.PENDING, None)


# ---- a page of incidents in one transaction ------------------------------------------------------


def test_upsert_batch_takes_each_incident_as_if_stored_alone(
    store: Store, make_incident: IncidentFactory
) -> None:
    """One transaction for a page, with every per-incident rule of the single upsert: new ->
    pending with its audit line, dropped -> pending again, refreshable states refreshed only when
    newer, pushed left alone, and the same sys_id twice sees its first copy."""
    states = [QueueState.DROPPED, QueueState.REJECTED, QueueState.APPROVED, QueueState.PUSHED]
    for n, state in enumerate(states, start=1):
        store.upsert_from_incident(make_incident(n, mod=1), now=T0)
        _set_state(store, sys_id(n), state)
    later = T0 + timedelta(minutes=10)
    page = [
        make_incident(1, mod=1),  # dropped, not newer: back in the queue, snapshot kept
        make_incident(2, mod=2, short_description="newer"),  # rejected: refreshed, stays rejected
        make_incident(3, mod=0, short_description="older"),  # approved: an older read changes nothing
        make_incident(4, mod=9),  # pushed: the link owns it
        make_incident(5),  # new
        make_incident(5, mod=3, short_description="again"),  # the same page names it twice
    ]
    results = store.upsert_from_incidents(page, now=later)
    assert [(item.sys_id, created, changed) for item, created, changed in results] == [
        (sys_id(1), False, True),
        (sys_id(2), False, True),
        (sys_id(3), False, False),
        (sys_id(4), False, False),
        (sys_id(5), True, False),
        (sys_id(5), False, True),
    ]
    expected = {
        1: (QueueState.PENDING, 1, "Printer 1 on fire"),
        2: (QueueState.REJECTED, 2, "newer"),
        3: (QueueState.APPROVED, 1, "Printer 3 on fire"),
        4: (QueueState.PUSHED, 1, "Printer 4 on fire"),
        5: (QueueState.PENDING, 3, "again"),
    }
    for n, (state, mod, text) in expected.items():
        item = store.get_item(sys_id(n))
        assert item is not None and (item.state, item.sn_mod_count, item.short_description) == (
            state,
            mod,
            text,
        )
    assert [e.kind for e in store.list_audit(sys_id=sys_id(5))] == ["refreshed", "queued"]
    assert store.list_audit(sys_id=sys_id(1), limit=1)[0].summary.endswith(
        "matches the trigger again; back in the queue"
    )
    assert store.upsert_from_incidents([], now=later) == []


def test_upsert_batch_that_fails_midway_stores_nothing(
    store: Store, make_incident: IncidentFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    store.upsert_from_incident(make_incident(1), now=T0)
    audit_before = len(store.list_audit(limit=1000))
    made: list[str] = []

    def new_item_then_crash(incident: Incident, now: datetime) -> QueueItem:
        made.append(incident.sys_id)
        if len(made) == 3:
            raise RuntimeError("crash in the middle of the page")
        return real_new_item(incident, now)

    real_new_item = queue_module.new_item
    monkeypatch.setattr(queue_module, "new_item", new_item_then_crash)
    page = [make_incident(1, mod=4), *(make_incident(n) for n in range(2, 6))]
    with pytest.raises(RuntimeError, match="crash in the middle"):
        store.upsert_from_incidents(page, now=T0 + timedelta(minutes=1))
    assert made == [sys_id(2), sys_id(3), sys_id(4)]  # two new rows (and a refresh) before the crash
    assert store.states_by_sys_id([sys_id(n) for n in range(1, 6)]) == {S1: QueueState.PENDING}
    item = store.get_item(S1)
    assert item is not None and item.sn_mod_count == 0  # the refresh went with the rest
    assert len(store.list_audit(limit=1000)) == audit_before


def test_a_stale_read_fails_after_a_batch_refresh(store: Store, make_incident: IncidentFactory) -> None:
    """The row version (revision 0012) moves on a batch refresh as on any other UPDATE."""
    store.upsert_from_incident(make_incident(1), now=T0)
    with Session(store.engine, expire_on_commit=False) as session:
        stale = session.get(QueueItem, 1)
        assert stale is not None and stale.version == 1
        session.commit()
        [(item, _, changed)] = store.upsert_from_incidents([make_incident(1, mod=2)], now=T0)
        assert changed and item.version == 2
        stale.state = QueueState.REJECTED
        with pytest.raises(StaleDataError):
            session.commit()
    assert _state(store, S1) is QueueState.PENDING


async def test_a_batch_wakes_another_connection_once(
    store: Store, db_url: str, make_incident: IncidentFactory
) -> None:
    """A page is one commit, so one announcement (NOTIFY on PostgreSQL): desks still see new items."""
    other = Store.open(db_url)
    feed = ChangeFeed(store.engine)
    await feed.start()
    seen: list[Change] = []
    feed.subscribe(seen.append)
    try:
        waiting = feed.wait({"queue"}, timeout=10.0)
        other.upsert_from_incidents([make_incident(n) for n in range(1, 51)], now=T0)
        change = await waiting
        assert change is not None and {"queue", "audit"} <= change.topics and change.foreign_to(feed.origin)
        assert len(store.states_by_sys_id([sys_id(n) for n in range(1, 51)])) == 50
        assert len([c for c in seen if "queue" in c.topics]) == 1
    finally:
        await feed.close()
        other.close()


# ---- user transitions -----------------------------------------------------------------------------

ALL = list(QueueState)
ALLOWED = {
    "approve": ({QueueState.PENDING, QueueState.FAILED}, QueueState.APPROVED),
    "reject": ({QueueState.PENDING, QueueState.APPROVED, QueueState.FAILED}, QueueState.REJECTED),
    "restore": ({QueueState.REJECTED, QueueState.DROPPED}, QueueState.PENDING),
    "retry": ({QueueState.FAILED}, QueueState.APPROVED),
}


@pytest.mark.parametrize("action", sorted(ALLOWED))
@pytest.mark.parametrize("start", ALL)
def test_transition_table(
    store: Store, make_incident: IncidentFactory, action: str, start: QueueState
) -> None:
    store.upsert_from_incident(make_incident(1), now=T0)
    _set_state(store, S1, start)
    allowed, target = ALLOWED[action]
    [result] = getattr(store, action)(["INC0000001"], "cli", now=T0 + timedelta(minutes=1))
    assert result.key == "INC0000001" and result.from_state is start
    if start is target:
        assert result.status == "unchanged" and result.ok
    elif start in allowed:
        assert result.status == "changed" and result.ok
        assert result.item is not None and result.item.state is target
        assert result.item.decided_by == "cli" and result.item.decided_at == T0 + timedelta(minutes=1)
        kinds = {"approve": "approved", "reject": "rejected", "restore": "restored", "retry": "retry"}
        assert store.list_audit(sys_id=S1, limit=1)[0].kind == kinds[action]
    else:
        assert result.status == "invalid" and not result.ok
        assert "cannot be" in result.message
    assert _state(store, S1) is (target if start in allowed else start)


def test_transition_per_key_results(store: Store, make_incident: IncidentFactory) -> None:
    for n in (1, 2):
        store.upsert_from_incident(make_incident(n), now=T0)
    store.reject(["INC0000002"], "user", now=T0)
    results = store.approve(["INC0000001", "INC0000002", "INC9999999"], "user", now=T0)
    assert [r.status for r in results] == ["changed", "invalid", "unknown"]
    assert "not in the queue" in results[2].message
    assert _state(store, "INC0000001") is QueueState.APPROVED


def test_reject_keeps_its_reason_and_who_until_restored(store: Store, make_incident: IncidentFactory) -> None:
    store.upsert_from_incident(make_incident(1), now=T0)
    [result] = store.reject([S1], "alice", now=T0, reason="  duplicate of INC0000007 ")
    assert result.item is not None
    assert (result.item.decided_by, result.item.drop_reason) == ("alice", "duplicate of INC0000007")
    [audit] = [row for row in store.list_audit(sys_id=S1) if row.kind == "rejected"]
    assert audit.summary == "INC0000001 rejected by alice (was pending): duplicate of INC0000007"
    [restored] = store.restore([S1], "bob", now=T0)
    assert restored.item is not None
    assert (restored.item.decided_by, restored.item.drop_reason) == ("bob", None)


def test_push_anyway_is_approved_with_who_and_why_and_never_dropped(
    store: Store, make_incident: IncidentFactory
) -> None:
    incident = make_incident(1)
    assert store.push_anyway(incident, "alice", "   ", now=T0).status == "invalid"
    result = store.push_anyway(incident, "alice", "VIP caller", now=T0)
    assert result.item is not None and result.status == "changed"
    assert (result.item.state, result.item.decided_by, result.item.forced_reason) == (
        QueueState.APPROVED,
        "alice",
        "VIP caller",
    )
    assert store.drop(S1, "no longer matches the trigger", now=T0).status == "unchanged"
    assert _state(store, S1) is QueueState.APPROVED
    store.mark_pushing(S1, now=T0)
    assert store.push_anyway(incident, "bob", "again", now=T0).status == "invalid"


def test_approve_clears_retry_and_error(store: Store, make_incident: IncidentFactory) -> None:
    store.upsert_from_incident(make_incident(1), now=T0)
    store.mark_pushing(S1, now=T0)
    store.mark_failed(S1, "403 no permission", None, now=T0)
    [result] = store.retry([S1], "user", now=T0)
    assert result.item is not None
    assert (result.item.state, result.item.last_error, result.item.next_retry_at) == (
        QueueState.APPROVED,
        None,
        None,
    )


def test_drop(store: Store, make_incident: IncidentFactory) -> None:
    for n in (1, 2):
        store.upsert_from_incident(make_incident(n), now=T0)
    store.reject([sys_id(2)], "user", now=T0)
    assert store.drop(S1, "cancelled in ServiceNow", now=T0).status == "changed"
    assert store.drop(S1, "again", now=T0).status == "unchanged"
    assert store.drop(sys_id(2), "cancelled", now=T0).status == "invalid"  # the user's decision stands
    assert store.drop("nope", "x", now=T0).status == "unknown"
    item = store.get_item(S1)
    assert item is not None and item.drop_reason == "cancelled in ServiceNow"
    event = store.list_audit(sys_id=S1, limit=1)[0]
    assert (event.kind, event.outcome) == ("dropped", AuditOutcome.SKIPPED)


def test_list_and_counts(store: Store, make_incident: IncidentFactory) -> None:
    for n in range(1, 6):
        store.upsert_from_incident(make_incident(n), now=T0 + timedelta(minutes=n))
    store.approve(["INC0000002", "INC0000003"], "user", now=T0)
    store.reject(["INC0000004"], "user", now=T0)
    counts = store.counts_by_state()
    assert counts[QueueState.PENDING] == 2 and counts[QueueState.APPROVED] == 2
    assert counts[QueueState.REJECTED] == 1 and counts[QueueState.PUSHED] == 0
    assert set(counts) == set(QueueState)
    assert [i.number for i in store.list_items()] == [f"INC000000{n}" for n in (5, 4, 3, 2, 1)]
    assert [i.number for i in store.list_items(states=["approved"])] == ["INC0000003", "INC0000002"]
    assert [i.number for i in store.list_items(limit=2, offset=1)] == ["INC0000004", "INC0000003"]
    assert [i.number for i in store.list_items(search="printer 3")] == ["INC0000003"]
    assert store.list_items(search="100%_") == []


# ---- pushing --------------------------------------------------------------------------------------


def test_items_to_push_order_and_retry_timing(store: Store, make_incident: IncidentFactory) -> None:
    for n in range(1, 5):
        store.upsert_from_incident(make_incident(n), now=T0 + timedelta(minutes=n))
    store.approve(["INC0000003", "INC0000002"], "user", now=T0)
    # 2 fails retryably: back to approved, due in 5 minutes
    store.mark_pushing(sys_id(2), now=T0)
    store.mark_failed(sys_id(2), "503", T0 + timedelta(minutes=5), now=T0)
    assert _state(store, sys_id(2)) is QueueState.APPROVED

    numbers = [i.number for i in store.items_to_push(T0, auto_push=False)]
    assert numbers == ["INC0000003"]
    numbers = [i.number for i in store.items_to_push(T0 + timedelta(minutes=5), auto_push=False)]
    assert numbers == ["INC0000002", "INC0000003"]
    numbers = [i.number for i in store.items_to_push(T0 + timedelta(minutes=5), auto_push=True)]
    assert numbers == ["INC0000002", "INC0000003", "INC0000001", "INC0000004"]
    assert len(store.items_to_push(T0 + timedelta(minutes=5), auto_push=True, limit=3)) == 3


def test_mark_pushing_counts_attempts_and_records_auto_push(
    store: Store, make_incident: IncidentFactory
) -> None:
    store.upsert_from_incident(make_incident(1), now=T0)
    assert store.mark_pushing(S1, now=T0) == 1
    item = store.get_item(S1)
    assert item is not None and item.decided_by == "auto-push" and item.state is QueueState.PUSHING
    assert store.mark_pushing(S1, now=T0) == 2  # a recovery re-attempt: search first
    store.upsert_from_incident(make_incident(2), now=T0)
    store.reject([sys_id(2)], "user", now=T0)
    with pytest.raises(InvalidTransition):
        store.mark_pushing(sys_id(2), now=T0)
    with pytest.raises(ItemNotFound):
        store.mark_pushing("missing", now=T0)


def test_mark_failed_permanent_and_retryable(store: Store, make_incident: IncidentFactory) -> None:
    store.upsert_from_incident(make_incident(1), now=T0)
    store.mark_pushing(S1, now=T0)
    item = store.mark_failed(S1, "queueID is required", None, now=T0, request_body="{}", response_body="{}")
    assert (item.state, item.last_error, item.next_retry_at) == (
        QueueState.FAILED,
        "queueID is required",
        None,
    )
    event = store.list_audit(sys_id=S1, limit=1)[0]
    assert (event.kind, event.outcome, event.request_body) == ("failure", AuditOutcome.FAILED, "{}")

    store.upsert_from_incident(make_incident(2), now=T0)  # pending, auto-push pre-flight failure
    item = store.mark_failed(sys_id(2), "stale snapshot", T0 + timedelta(minutes=1), now=T0)
    assert item.state is QueueState.PENDING and item.next_retry_at == T0 + timedelta(minutes=1)
    assert store.items_to_push(T0, auto_push=True) == []


def test_push_uncertain_stays_pushing(store: Store, make_incident: IncidentFactory) -> None:
    store.upsert_from_incident(make_incident(1), now=T0)
    store.approve([S1], "user", now=T0)
    store.mark_pushing(S1, now=T0)
    store.mark_push_uncertain(S1, "read timeout", T0 + timedelta(minutes=2), now=T0)
    assert _state(store, S1) is QueueState.PUSHING
    assert [i.sys_id for i in store.stuck_pushing()] == [S1]
    assert store.stuck_pushing(T0) == []
    assert [i.sys_id for i in store.stuck_pushing(T0 + timedelta(minutes=2))] == [S1]
    assert store.items_to_push(T0 + timedelta(hours=1), auto_push=True) == []
    assert store.reject([S1], "user", now=T0)[0].status == "invalid"  # a ticket may exist: no reject


def test_record_pushed_links_and_is_idempotent(store: Store, make_incident: IncidentFactory) -> None:
    store.upsert_from_incident(make_incident(1), now=T0)
    store.mark_pushing(S1, now=T0)
    args = {"ticket_id": 9, "ticket_number": "T9", "outbound_values": {"status": "New"}}
    link = store.record_pushed(S1, **args, return_synced={"status": "New"}, now=T0)  # type: ignore[arg-type]
    again = store.record_pushed(S1, **args, return_synced={"status": "New"}, now=T0)  # type: ignore[arg-type]
    assert again.id == link.id
    assert _state(store, S1) is QueueState.PUSHED
    assert [e.kind for e in store.list_audit(sys_id=S1)].count("create") == 1
    assert store.count_links() == 1

    with pytest.raises(LinkConflict, match="already linked to ticket T9"):
        store.record_pushed(
            S1, ticket_id=10, ticket_number="T10", outbound_values={}, return_synced={}, now=T0
        )
    store.upsert_from_incident(make_incident(2), now=T0)
    store.mark_pushing(sys_id(2), now=T0)
    with pytest.raises(LinkConflict, match="ticket T9 is already linked to INC0000001"):
        store.record_pushed(
            sys_id(2), ticket_id=9, ticket_number="T9", outbound_values={}, return_synced={}, now=T0
        )
    assert _state(store, sys_id(2)) is QueueState.PUSHING


def test_record_pushed_is_atomic(
    store: Store, make_incident: IncidentFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    store.upsert_from_incident(make_incident(1), now=T0)
    store.mark_pushing(S1, now=T0)

    def broken_audit(*_args: object, **_kwargs: object) -> None:
        raise RuntimeError("disk full")

    monkeypatch.setattr(StoreClass, "_audit", staticmethod(broken_audit))
    with pytest.raises(RuntimeError, match="disk full"):
        store.record_pushed(S1, ticket_id=9, ticket_number="T9", outbound_values={}, return_synced={}, now=T0)
    monkeypatch.undo()
    assert store.get_link(sys_id=S1) is None
    assert _state(store, S1) is QueueState.PUSHING
    assert store.list_audit(sys_id=S1)[0].kind == "queued"


def test_user_actions_default_to_now(store: Store, make_incident: IncidentFactory) -> None:
    store.upsert_from_incident(make_incident(1), now=T0)
    [result] = store.approve([S1], "user")
    assert result.item is not None and result.item.decided_at is not None and result.item.decided_at > T0


def test_open_sys_ids_come_sorted_by_the_database(store: Store, make_incident: IncidentFactory) -> None:
    """The poller asks ServiceNow about the open items in chunks of sorted ids; the database sorts
    them (sorting 100,000 in Python held the interpreter lock, and the desktop's GUI thread)."""
    for n in (7, 3, 11, 5):  # ids 2e.., 59.., 03.., 13..: not inserted in order
        store.upsert_from_incident(make_incident(n, sys_id=f"{(n * 7919) % 97:02x}" + "a" * 30), now=T0)
    store.reject(["INC0000005"], "anna", now=T0)  # not open
    ids = store.open_sys_ids()
    assert len(ids) == 3 and ids == sorted(ids)
