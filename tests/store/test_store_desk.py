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
    assert [item.number for item in candidates] == ["INC0000001", "INC0000002", "INC0000003"]

    compared = [item.sys_id for item in candidates]
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
