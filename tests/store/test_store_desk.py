"""Desk tools in the store (revision 0009), on SQLite and PostgreSQL: per-ticket overrides with who
and when, and the suspected-duplicate marks."""

from __future__ import annotations

from datetime import timedelta

from store_helpers import T0, IncidentFactory, sys_id

from app.domain.overrides import FieldOverride, overrides_from_json
from app.store import QueueState, Store


def test_overrides_are_kept_with_who_and_audited_and_cleared(
    store: Store, make_incident: IncidentFactory
) -> None:
    store.upsert_from_incident(make_incident(1), now=T0)
    result = store.set_overrides("inc0000001", {"priority": "High", "title": " Mail down "}, "anna", now=T0)
    assert result.ok and result.item is not None
    stored = store.get_item("INC0000001")
    assert stored is not None
    assert overrides_from_json(stored.overrides) == {
        "priority": FieldOverride("High", "anna", T0),
        "title": FieldOverride("Mail down", "anna", T0),
    }
    later = T0 + timedelta(minutes=5)
    store.set_overrides("INC0000001", {"priority": "Low", "title": None}, "ben", now=later)
    stored = store.get_item("INC0000001")
    assert stored is not None
    assert overrides_from_json(stored.overrides) == {"priority": FieldOverride("Low", "ben", later)}
    same = store.set_overrides("INC0000001", {"priority": "Low"}, "ben", now=later)
    assert same.message == "INC0000001: nothing changed"

    summaries = [event.summary for event in store.list_audit(sys_id=sys_id(1)) if event.kind == "override"]
    assert "INC0000001: ticket fields overridden by anna: priority 'High'; title 'Mail down'" in summaries
    assert (
        "INC0000001: ticket fields overridden by ben: priority 'Low'; "
        "title back to the mapping (was 'Mail down')" in summaries
    )

    cleared = store.clear_overrides(sys_id(1), "ben", now=later)
    assert cleared.ok
    stored = store.get_item("INC0000001")
    assert stored is not None and stored.overrides is None


def test_overrides_are_refused_once_the_item_is_on_its_way(
    store: Store, make_incident: IncidentFactory
) -> None:
    store.upsert_from_incident(make_incident(2), now=T0)
    store.approve(["INC0000002"], "anna", now=T0)
    store.mark_pushing(sys_id(2), now=T0)
    result = store.set_overrides("INC0000002", {"priority": "High"}, "anna", now=T0)
    assert not result.ok and result.message == "INC0000002: fields cannot be changed while pushing"
    assert not store.set_overrides("INC0009999", {"priority": "High"}, "anna", now=T0).ok


def test_duplicate_marks_are_set_once_audited_and_cleared(
    store: Store, make_incident: IncidentFactory
) -> None:
    for n in (1, 2, 3):
        store.upsert_from_incident(make_incident(n), now=T0 + timedelta(minutes=n))
    store.upsert_from_incident(make_incident(4), now=T0 + timedelta(minutes=4))
    store.reject(["INC0000003"], "anna", now=T0)
    store.drop(sys_id(4), "cancelled", now=T0)
    candidates = store.duplicate_candidates(T0 + timedelta(minutes=2))
    # Waiting items whatever their age, recent rejected ones (a repeat of a rejected report still
    # waits for a person); never a dropped one.
    assert [number for _sys_id, number, _version, _snapshot in candidates] == [
        "INC0000001",
        "INC0000002",
        "INC0000003",
    ]

    compared = [item_sys_id for item_sys_id, _number, _version, _snapshot in candidates]
    note = "possible duplicate of INC0000001: same caller x, 80 % of the words alike, opened 5 min apart"
    changed = store.mark_duplicates(compared, {sys_id(2): ("INC0000001", note)}, now=T0)
    assert [item.number for item in changed] == ["INC0000002"]
    assert store.mark_duplicates(compared, {sys_id(2): ("INC0000001", note)}, now=T0) == []  # no churn
    item = store.get_item("INC0000002")
    assert item is not None and (item.duplicate_of, item.duplicate_note) == ("INC0000001", note)
    audits = [e.summary for e in store.list_audit(sys_id=sys_id(2)) if e.kind == "duplicate"]
    assert audits == [f"INC0000002: {note}; auto-push leaves it for a person"]

    cleared = store.mark_duplicates(compared, {}, now=T0)
    assert [i.number for i in cleared] == ["INC0000002"]
    item = store.get_item("INC0000002")
    assert item is not None and item.duplicate_of is None and item.state == QueueState.PENDING


def test_duplicate_candidates_leave_out_the_snapshots_the_reader_has(
    store: Store, make_incident: IncidentFactory
) -> None:
    """Each poll compares every waiting item: with 100,000 waiting, reading all their snapshots to
    parse the few new ones was most of the check. Known versions come without their text; a newer
    update of an incident comes with its text and the version that text is."""
    for n in (1, 2, 3):
        store.upsert_from_incident(make_incident(n, minutes=n), now=T0 + timedelta(minutes=n))
    first = store.duplicate_candidates(T0)
    assert all(snapshot is not None for _id, _number, _version, snapshot in first)
    known = {item_sys_id: version for item_sys_id, _number, version, _snapshot in first}

    assert [snapshot for *_, snapshot in store.duplicate_candidates(T0, known)] == [None, None, None]

    store.upsert_from_incident(make_incident(2, mod=1, minutes=9, short_description="Printer 2 jams"), now=T0)
    store.upsert_from_incident(make_incident(4, minutes=4), now=T0 + timedelta(minutes=4))
    again = {number: (version, text) for _id, number, version, text in store.duplicate_candidates(T0, known)}
    assert [number for number, (_version, text) in again.items() if text is not None] == [
        "INC0000002",
        "INC0000004",
    ]
    version, text = again["INC0000002"]
    assert version == (1, T0 + timedelta(minutes=9))
    assert text is not None and "Printer 2 jams" in text
    assert again["INC0000001"] == (known[sys_id(1)], None)


def test_an_item_deleted_between_listing_and_reading_its_snapshot_is_left_out(
    store: Store, make_incident: IncidentFactory
) -> None:
    """Reading the versions and then the snapshots are two statements: on PostgreSQL another
    connection's delete can land in between. The item is left out (it was returned without a
    snapshot, which the engine takes for "already parsed", and its comparison failed the poll)."""
    from sqlalchemy import delete, event

    from app.store import QueueItem

    for n in (1, 2, 3):
        store.upsert_from_incident(make_incident(n, minutes=n), now=T0 + timedelta(minutes=n))
    deleted: list[str] = []

    def delete_one(_conn: object, _cursor: object, statement: str, *_args: object) -> None:
        if "snapshot" in statement and not deleted:
            deleted.append(sys_id(2))
            with store.engine.begin() as other:  # another connection, committed at once
                other.execute(delete(QueueItem).where(QueueItem.sys_id == sys_id(2)))

    event.listen(store.engine, "before_cursor_execute", delete_one)
    try:
        candidates = store.duplicate_candidates(T0)
    finally:
        event.remove(store.engine, "before_cursor_execute", delete_one)
    assert deleted == [sys_id(2)]
    numbers = [number for _id, number, _version, _snapshot in candidates]
    assert numbers in (["INC0000001", "INC0000003"], ["INC0000001", "INC0000002", "INC0000003"])
    assert all(snapshot is not None for *_, snapshot in candidates)  # none passed off as known
